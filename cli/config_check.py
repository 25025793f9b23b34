"""``segment-engine config check [FILE]``: the resolved settings and where each came from.

Secrets are hidden. An invalid configuration prints every field error, one line each,
and exits 2, as a worker started with it would (which names only the first).
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine.rules import RuleError
from engine.segment_engine import SegmentEngine
from settings.sources import ConfigErrors, resolve


def config_check(config_file: Path | None) -> int:
    try:
        settings, rows = resolve(config_file)
        SegmentEngine(settings.engine)  # compiles the rule segments, as the worker does
    except ConfigErrors as exc:
        for line in exc.errors:
            print(f"segment-engine config: {line}", file=sys.stderr)
        return 2
    except RuleError as exc:
        print(f"segment-engine config: {exc}", file=sys.stderr)
        return 2
    width = max(len(row.path) for row in rows)
    print(f"{'setting':<{width}}  source       value")
    for row in rows:
        print(f"{row.path:<{width}}  {row.source:<11}  {row.value}"
              + (f"  [{row.variable}]" if row.variable else ""))  # fmt: skip
    return 0
