"""Run the fuzz targets (``targets.py``) under atheris, coverage-guided, each for a while.

``python -m tests.fuzz.run`` runs every target for ``--seconds`` (or ``--runs`` inputs),
one process each, from its seed corpus (``corpus/TARGET/``); ``make fuzz`` runs it
briefly as part of ``make test``. What a run finds new goes to ``.cache/fuzz/TARGET/``
(not the committed seeds); an input that breaks a promise is saved as
``.cache/fuzz/crash-TARGET-*``: add it to the target's seeds once fixed. Exits non-zero
if any target failed, after printing how many inputs each one tried.

``--one TARGET`` is the child process: atheris takes the rest of the arguments as
libFuzzer's (``-max_total_time=N``, ``-runs=N``, corpus folders).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = HERE / "corpus"
SCRATCH = ROOT / ".cache" / "fuzz"
# What atheris instruments for coverage: our decoders (the libraries stay as they are).
INSTRUMENTED = ["schemas", "replay", "settings", "streams.model_wire", "tests.fuzz.targets"]
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_SO_FAR = re.compile(r"^#(\d+)\s", re.MULTILINE)  # libFuzzer's progress lines


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--one"] and len(args) > 1:
        return _fuzz_one(args[1], args[2:])
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__)
    parser.add_argument("targets", nargs="*", help="targets to run (default: all)")
    parser.add_argument("--seconds", type=int, default=5, help="per target (default 5)")
    parser.add_argument("--runs", type=int, help="inputs per target, instead of seconds")
    parser.add_argument("--max-len", type=int, default=4096, help="longest input, bytes")
    options = parser.parse_args(args)
    from tests.fuzz.targets import TARGETS

    names = options.targets or sorted(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target {unknown[0]!r} (known: {', '.join(sorted(TARGETS))})")
    bound = f"-runs={options.runs}" if options.runs else f"-max_total_time={options.seconds}"
    failed, total = [], 0
    for name in names:
        ok, runs, seconds = _run_child(name, [bound, f"-max_len={options.max_len}"])
        total += runs
        print(
            f"fuzz {name:<11} {runs:>9,} inputs in {seconds:>5.1f} s"
            f"{'' if ok else '  FAILED (see above)'}",
            flush=True,
        )
        if not ok:
            failed.append(name)
    print(
        f"fuzz: {total:,} inputs over {len(names)} targets; "
        f"{'failed: ' + ', '.join(failed) if failed else 'nothing found'}"
    )
    return 1 if failed else 0


def _run_child(name: str, bounds: list[str]) -> tuple[bool, int, float]:
    """One target in its own process (libFuzzer exits when done); its verdict and runs."""
    scratch = SCRATCH / name
    scratch.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "tests.fuzz.run",
        "--one",
        name,
        *bounds,
        f"-artifact_prefix={SCRATCH}/crash-{name}-",
        "-timeout=20",
        str(scratch),
        str(CORPUS / name),
    ]
    started = time.monotonic()
    child = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    done = _DONE.findall(child.stderr)
    runs = int(done[-1][0]) if done else max(map(int, _SO_FAR.findall(child.stderr)), default=0)
    if child.returncode != 0 or not done:  # atheris prints the input's traceback
        print(child.stderr[-6000:], flush=True)
    return child.returncode == 0 and bool(done), runs, seconds


def _fuzz_one(name: str, libfuzzer_args: list[str]) -> int:
    import atheris

    with atheris.instrument_imports(include=INSTRUMENTED):
        from tests.fuzz.targets import TARGETS, clean_environment

    clean_environment()
    atheris.Setup([sys.argv[0], *libfuzzer_args], TARGETS[name])
    atheris.Fuzz()  # exits the process when done
    return 0


if __name__ == "__main__":
    sys.exit(main())
