"""Compiles the pure engine with Cython at install time; the .py modules stay the fallback.

The modules are compiled as they are (``annotation_typing`` off): Cython keeps Python's
semantics, so compiled and pure give byte-identical outputs (tests/engine/
test_compiled.py) and only the interpreter's overhead goes. ``PURE_PYTHON_ENGINE=1``
skips the build; without Cython or a C compiler a fresh build leaves the engine pure,
except under ``ENGINE_COMPILE_STRICT=1`` (``make compile``), where a failure is an error.
"""

import hashlib
import json
import os
from pathlib import Path

from setuptools import Extension, setup

DIRECTIVES = {
    "language_level": 3,
    "annotation_typing": False,
    "binding": True,
    # pytest collects the doctests from the .py files; no second copy in __test__.
    "autotestdict": False,
}
# Cython's build flag: its code trips GCC's bounds heuristics on CPython's own headers.
COMPILE_ARGS = ["-Wno-array-bounds"]


def engine_extensions() -> list[Extension]:
    if os.environ.get("PURE_PYTHON_ENGINE"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    sources = sorted(str(p) for p in Path("engine").rglob("*.py") if p.name != "__init__.py")
    # Generated C is reused while newer than its source: a folder per set of options, so
    # that changing them compiles everything again.
    options = hashlib.sha256(json.dumps([DIRECTIVES, COMPILE_ARGS]).encode()).hexdigest()[:12]
    extensions = cythonize(
        sources,
        build_dir=f"build/cython-{options}",
        compiler_directives=DIRECTIVES,
        nthreads=os.cpu_count() or 1,
        quiet=True,
    )
    for extension in extensions:
        # A pip install without a compiler falls back to pure; `make compile` (strict)
        # must fail loudly instead, or an old compiled module would stay in place.
        extension.optional = not os.environ.get("ENGINE_COMPILE_STRICT")
        extension.extra_compile_args.extend(COMPILE_ARGS)
    return extensions


setup(
    ext_modules=engine_extensions(),
    options={"build_ext": {"parallel": os.cpu_count() or 1}},
)
