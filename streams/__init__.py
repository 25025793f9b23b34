"""The Faust worker: its app and agent, the batch pipeline, the state table, metrics.

Modules are imported where needed (``streams.app`` pulls in Faust), so ``__all__``
names the modules rather than re-exporting from them. ``pipeline``, ``ports``,
``metrics`` and ``testing`` need no Faust; every use of Faust's private API is in
``faust_compat``.
"""

__all__ = [
    "app",
    "faust_adapters",
    "faust_compat",
    "metrics",
    "pipeline",
    "ports",
    "table_store",
    "testing",
]
