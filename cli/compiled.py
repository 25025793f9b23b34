"""Whether the engine compiled in place (setup.py, ``make compile``) is current.

Python loads a compiled module in preference to its source, so after an edit to an
engine module the old code would run until it is compiled again. Checked only in a
source checkout (a ``setup.py`` beside ``engine/``): an installed wheel's files carry
install times, not edit times.
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES
from importlib.util import find_spec
from pathlib import Path

# Found without importing it: a stale compiled module may not even import.
_ENGINE = find_spec("engine")
assert _ENGINE is not None and _ENGINE.submodule_search_locations
ENGINE_DIR = Path(next(iter(_ENGINE.submodule_search_locations))).resolve()


def compiled_engine_files(package: Path = ENGINE_DIR) -> list[tuple[Path, Path]]:
    """(extension module, its source) for every compiled module under ``package``."""
    found = []
    for extension in package.rglob("*.so"):
        # This interpreter's longest suffix: ".cpython-311-x86_64-linux-gnu.so", not ".so".
        # Another interpreter's modules are not ours to judge.
        suffix = max((s for s in EXTENSION_SUFFIXES if extension.name.endswith(s)), key=len)
        if suffix == ".so" and ".cpython-" in extension.name:
            continue
        found.append((extension, extension.with_name(extension.name[: -len(suffix)] + ".py")))
    return sorted(found)


def stale_engine_sources(package: Path = ENGINE_DIR) -> list[Path]:
    """Sources edited after they were compiled, or deleted with their compiled module left."""
    return [
        source
        for extension, source in compiled_engine_files(package)
        if not source.exists() or source.stat().st_mtime > extension.stat().st_mtime
    ]


def stale_engine_message(package: Path = ENGINE_DIR) -> str | None:
    """One line if the compiled engine of this source checkout is older than its sources."""
    if not (package.parent / "setup.py").exists():
        return None
    stale = stale_engine_sources(package)
    if not stale:
        return None
    name = stale[0].relative_to(package.parent)
    what = (
        "changed after it was compiled" if stale[0].exists() else "is gone, its compiled module not"
    )
    return (
        f"{name} {what}, so the old code would run: run `make compile` "
        "(or delete engine's *.so files to run the pure modules)"
    )
