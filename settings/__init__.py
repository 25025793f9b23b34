"""The one settings object every command and the worker start from, and its errors.

Both ``streams`` (the worker) and ``replay`` read settings, so they live here, below
both, rather than in either.
"""

from settings.model import (
    MIB,
    ConfigError,
    KafkaSecurity,
    RocksDBOptions,
    Settings,
    TopicNames,
    load_settings,
    one_line,
)

__all__ = [
    "MIB",
    "ConfigError",
    "KafkaSecurity",
    "RocksDBOptions",
    "Settings",
    "TopicNames",
    "load_settings",
    "one_line",
]
