"""Readers shared by the deploy/ tests: the Dockerfile's instructions, the files its
build stage copies from the context (``.dockerignore`` applied), and the Kubernetes
objects under deploy/kubernetes/."""

from __future__ import annotations

import posixpath
import re
import shlex
import shutil
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S = DEPLOY / "kubernetes"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # Docker drops comment lines, even inside a continuation
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def dockerfile_env(instructions: list[tuple[str, str]] | None = None) -> dict[str, str]:
    """The ``ENV`` values of ``instructions`` (default: the whole Dockerfile), in order."""
    env: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions() if instructions is None else instructions:
        if keyword == "ENV":
            for pair in shlex.split(rest):
                name, sep, value = pair.partition("=")
                assert sep, f"use ENV name=value, not the legacy form: {rest!r}"
                env[name] = value
    return env


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object under deploy/kubernetes/, keyed ``Kind/name``."""
    objects: dict[str, dict[str, Any]] = {}
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                objects[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return objects


def the(kind: str) -> dict[str, Any]:
    found = [obj for key, obj in manifests().items() if key.startswith(f"{kind}/")]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = the("StatefulSet")["spec"]["template"]["spec"]
    return spec


def worker_container() -> dict[str, Any]:
    containers = pod_spec()["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def engine_toml() -> str:
    text: str = the("ConfigMap")["data"]["engine.toml"]
    return text


# --- what the image's build stage copies from the context -------------------------

DOCKERIGNORE = ROOT / ".dockerignore"


def stages() -> dict[str, list[tuple[str, str]]]:
    """The Dockerfile's stages by name (``AS name``, else their index), each from its FROM."""
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            words = rest.split()
            named = len(words) == 3 and words[1].upper() == "AS"
            current = found.setdefault(words[2] if named else str(len(found)), [])
        current.append((keyword, rest))
    return found


class DockerIgnore:
    """``.dockerignore`` as Docker reads it (moby's patternmatcher).

    Patterns are Go ``filepath.Match`` globs (``*`` and ``?`` stop at ``/``) where ``**``
    spans directories; a pattern matching a directory matches everything in it; the last
    pattern matching a path or one of its parents decides, ``!`` letting it back in.

    >>> rules = DockerIgnore("*\\n!src/\\n**/__pycache__\\n# a comment")
    >>> [rules.excludes(p) for p in ("setup.py", "src/a.py", "src/__pycache__/a.pyc")]
    [True, False, True]
    """

    def __init__(self, text: str) -> None:
        self._rules: list[tuple[re.Pattern[str], bool]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = posixpath.normpath(line.removeprefix("!").strip()).lstrip("/")
            self._rules.append((_glob_regex(pattern), include))

    def excludes(self, path: str) -> bool:
        parts = PurePosixPath(path).parts
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for regex, include in self._rules:
            if any(regex.fullmatch(candidate) for candidate in candidates):
                excluded = not include
        return excluded


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i + 1)
            out, i = out + "[" + pattern[i + 1 : end].replace("\\", "\\\\") + "]", end + 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out, i = out + re.escape(pattern[i + 1]), i + 2
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


@dataclass(frozen=True)
class StageFiles:
    """A stage's context files laid out as the stage sees them, under ``root``."""

    root: Path
    workdir: Path  # the stage's last WORKDIR, under root
    placed: dict[str, Path]  # context path -> where COPY put it, under root

    def at(self, context_path: str) -> Path:
        assert context_path in self.placed, f"the stage does not copy {context_path}"
        return self.placed[context_path]


COPY_FLAGS = ("--chown=", "--chmod=", "--link")


def copy_stage_files(stage: str, root: Path, context: Path = ROOT) -> StageFiles:
    """Lay out under ``root`` exactly the context files ``stage``'s COPY lines bring in:
    what ``.dockerignore`` leaves out is not in the context, a named source it leaves
    out fails as it does in ``docker build``."""
    # With -f deploy/Dockerfile, BuildKit reads deploy/Dockerfile.dockerignore first.
    assert not DOCKERFILE.with_name("Dockerfile.dockerignore").exists(), "read that one too"
    ignore = DockerIgnore(DOCKERIGNORE.read_text())
    workdir = PurePosixPath("/")
    placed: dict[str, Path] = {}
    for keyword, rest in stages()[stage]:
        assert keyword != "ADD", "use COPY: this reader does not follow ADD"
        if keyword == "WORKDIR":
            workdir = workdir / rest
        if keyword != "COPY" or rest.startswith("--from="):
            continue
        words = [w for w in rest.split() if not w.startswith(COPY_FLAGS)]
        assert not any(w.startswith("-") for w in words), f"unknown COPY flag in {rest!r}"
        *sources, dest = words
        target = workdir / dest
        into = dest.endswith("/") or len(sources) > 1
        for source in sources:
            for path, inside in _context_files(context, source.rstrip("/"), ignore):
                if inside is None:
                    landing = target / path.name if into else target
                else:
                    landing = target / inside
                copied = root / landing.relative_to("/")
                copied.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, copied)
                placed[path.relative_to(context).as_posix()] = copied
    return StageFiles(root, root / workdir.relative_to("/"), placed)


def _context_files(
    context: Path, source: str, ignore: DockerIgnore
) -> list[tuple[Path, PurePosixPath | None]]:
    """A COPY source's files in the context: ``(file, None)`` for a file, ``(file, path
    inside the directory)`` for a directory's."""
    wildcard = any(c in source for c in "*?[")
    matches = sorted(context.glob(source)) if wildcard else [context / source]
    assert matches, f"COPY {source}: no file matches"
    found: list[tuple[Path, PurePosixPath | None]] = []
    for match in matches:
        name = match.relative_to(context).as_posix()
        if match.is_file():
            assert not ignore.excludes(name), f"COPY {source}: {name} is not in the context"
            found.append((match, None))
            continue
        inside = [
            (path, PurePosixPath(path.relative_to(match).as_posix()))
            for path in sorted(p for p in match.rglob("*") if p.is_file())
            if not ignore.excludes(path.relative_to(context).as_posix())
        ]
        assert inside, f"COPY {source}: {name} is not in the context"
        found.extend(inside)
    return found


# --- deploy/requirements.lock ------------------------------------------------------

LOCK = DEPLOY / "requirements.lock"


@dataclass(frozen=True)
class Locked:
    """One requirement of the lock: its specifier, hashes and ``# via`` annotations."""

    specifier: str  # e.g. "==2.7.1"
    hashes: tuple[str, ...]
    via: tuple[str, ...]


def locked() -> dict[str, Locked]:
    """The lock's requirements by name as written (pip-compile's layout: a requirement
    with its ``--hash`` options on continuation lines, then its ``# via`` comments)."""
    logical, pending = [], ""
    for line in LOCK.read_text().splitlines():
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    entries: dict[str, Locked] = {}
    current = ""
    for line in logical:
        if line.startswith("    #") and current:  # pip-compile's annotations of `current`
            comment = line.strip().removeprefix("#").strip()
            if comment != "via":
                via = (*entries[current].via, comment.removeprefix("via ").strip())
                entries[current] = replace(entries[current], via=via)
        elif line.strip() and not line.startswith("#"):
            assert not line[0].isspace(), f"an option outside a requirement: {line!r}"
            words = line.split()
            match = re.fullmatch(r"([A-Za-z0-9._-]+)(.*)", words[0])
            assert match, f"not a requirement: {words[0]!r}"
            hashes = tuple(w.removeprefix("--hash=") for w in words[1:] if w.startswith("--hash="))
            assert len(hashes) == len(words) - 1, f"unexpected options in the lock: {line!r}"
            current = match[1]
            entries[current] = Locked(match[2], hashes, ())
    return entries
