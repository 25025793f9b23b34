"""Benchmarks of the segment engine: the suite, profiles, quality and drift evaluations.

Run from the repository root as modules, e.g. ``.venv/bin/python -m bench.suite --smoke``;
each module's docstring gives its command line and ``bench/PROFILE.md`` the figures.
``bench`` may import every package of the tree (``tests/test_layers.py``); the scripts
that measure another checkout (``--src DIR``) do it through :mod:`bench.source`.
"""

__all__ = [
    "broker_latency",
    "broker_parts",
    "cluster",
    "drift_eval",
    "experiments",
    "flame",
    "limits",
    "live",
    "memory",
    "naive_agent",
    "profiling",
    "quality",
    "relay",
    "replay_rate",
    "replay_stream",
    "replay_throughput",
    "report",
    "source",
    "suite",
    "worker_variants",
    "workload",
]
