"""Summaries of py-spy's collapsed stacks (``py-spy record --format raw``).

    .venv/bin/python -m bench.flame FILE [--top 30] [--under FUNC] [--by function|file]

Prints the functions (or source files) with the largest inclusive and self share
of samples. ``--under FUNC`` keeps only stacks through a function whose name
contains FUNC, with shares relative to those stacks (e.g. ``--under Pipeline._handle``).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def frame_name(frame: str, by: str = "function") -> str:
    """``func (path/file.py:12)`` -> ``func (path/file.py)``, or just the file."""
    name = _LINE.sub(")", frame.strip())
    if by == "file":
        start = name.rfind(" (")
        return name[start + 2 : -1] if start >= 0 else name
    return name


def read_stacks(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def summarise(
    stacks: Iterable[tuple[list[str], int]], by: str = "function", under: str | None = None
) -> tuple[int, Counter[str], Counter[str]]:
    """Total samples, inclusive samples and self samples per name."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for frames, count in stacks:
        if under is not None:
            cut = next((i for i, f in enumerate(frames) if under in f), None)
            if cut is None:
                continue
            frames = frames[cut:]
        names = [frame_name(f, by) for f in frames]
        total += count
        for name in set(names):
            inclusive[name] += count
        own[names[-1]] += count
    return total, inclusive, own


def report(path: Path, top: int = 30, by: str = "function", under: str | None = None) -> str:
    total, inclusive, own = summarise(read_stacks(path), by, under)
    lines = [f"{path}: {total} samples" + (f" under {under!r}" if under else "")]
    if not total:
        return lines[0]
    lines.append(f"\n  inclusive (top {top})")
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    lines.append(f"\n  self (top {top})")
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--by", choices=("function", "file"), default="function")
    parser.add_argument("--under")
    args = parser.parse_args()
    print(report(args.file, args.top, args.by, args.under))


if __name__ == "__main__":
    main()
