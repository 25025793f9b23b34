"""Replay and backtests: event logs through the same engine, in-process, deterministically.

Modules are imported where needed (Parquet and plotting are heavy), so ``__all__``
names the modules rather than re-exporting from them.
"""

__all__ = [
    "errors",
    "kafka_range",
    "mapping",
    "model",
    "outputs",
    "plots",
    "quality",
    "readers",
    "report",
    "run",
    "sources",
    "timeparse",
]
