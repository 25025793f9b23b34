"""Compiles the pure engine with Cython at install time; the .py modules stay the fallback.

The modules are compiled as they are (``annotation_typing`` off): Cython keeps Python's
semantics, so compiled and pure give byte-identical outputs (tests/engine/
test_compiled.py) and only the interpreter's overhead goes. ``PURE_PYTHON_ENGINE=1``
at install time skips the build; a failed build leaves the pure modules in place.
"""

import os
from pathlib import Path

from setuptools import Extension, setup


def engine_extensions() -> list[Extension]:
    if os.environ.get("PURE_PYTHON_ENGINE"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    sources = sorted(str(p) for p in Path("engine").rglob("*.py") if p.name != "__init__.py")
    extensions = cythonize(
        sources,
        build_dir="build/cython",
        # autotestdict off: pytest already collects the doctests from the .py files.
        compiler_directives={
            "language_level": 3,
            "annotation_typing": False,
            "binding": True,
            "autotestdict": False,
        },
        nthreads=os.cpu_count() or 1,
        quiet=True,
    )
    for extension in extensions:
        extension.optional = True
        # Cython's generated code trips GCC's bounds heuristics on CPython's own headers.
        extension.extra_compile_args.append("-Wno-array-bounds")
    return extensions


setup(ext_modules=engine_extensions(), options={"build_ext": {"parallel": os.cpu_count() or 1}})
