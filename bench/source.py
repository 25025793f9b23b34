"""The code a benchmark measures: this checkout, or another one given by ``--src DIR``.

The scripts that take ``--src`` (``bench.suite``, ``bench.experiments``,
``bench.profiling``) measure the product's packages (``engine``, ``streams``, ``cli``,
...) of DIR with this checkout's benchmarks, e.g. a ``git archive`` of an older
commit. Both halves are explicit:

- in the script's own process, :func:`use` puts DIR first on ``sys.path``; its
  ``main()`` calls it before importing any product package (it refuses otherwise),
  so ``bench`` modules import product packages inside functions;
- child processes (workers, the naive agent, the relay, memory measurements) run as
  ``python -m bench.X`` or ``-m cli.main`` with :func:`child_env` and from
  :func:`child_cwd`: DIR's packages, and ``bench`` from this checkout (through a
  directory holding only a link to it, so DIR's own ``bench/``, if any, is not used).

The workers are started through DIR's own ``cli.local`` (the harness the tests use),
so the worker parts need a DIR whose ``WorkerProcess`` takes ``module``, ``env`` and
``cwd``; an older one says so at the first worker. Without ``--src`` nothing changes:
this checkout, run from its root.
"""

from __future__ import annotations

import os
import sys
import tempfile
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("schemas", "engine", "synthetic", "settings", "brokers", "streams", "replay", "cli")


def use(src: Path) -> None:
    """Import the product's packages from ``src`` in this process from now on."""
    src = src.resolve()
    if src == ROOT:
        return
    if loaded := [name for name in PRODUCT if name in sys.modules]:
        raise RuntimeError(f"imported from {ROOT} before --src {src}: {', '.join(loaded)}")
    sys.path.insert(0, str(src))


def child_env(src: Path, **extra: str) -> dict[str, str]:
    """Environment for a child process measuring ``src``: no ``SEGMENT_ENGINE_*``
    settings of this one, ``src`` first on ``PYTHONPATH`` (after this ``bench``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENT_ENGINE_")}
    src = src.resolve()
    path = [str(ROOT)] if src == ROOT else [str(_bench_only()), str(src)]
    env["PYTHONPATH"] = os.pathsep.join(path)
    env.update(extra)
    return env


def child_cwd(src: Path) -> Path:
    """Working directory for a child of :func:`child_env` (``python -m`` puts it first
    on ``sys.path``)."""
    return ROOT if src.resolve() == ROOT else _bench_only()


@cache
def _bench_only() -> Path:
    """A directory holding nothing but a link to this checkout's ``bench``."""
    where = Path(tempfile.mkdtemp(prefix="bench-src-"))
    (where / "bench").symlink_to(ROOT / "bench", target_is_directory=True)
    return where
