"""The Faust worker: its app and agent, the batch pipeline, the state table, metrics.

Modules are imported where needed (``streams.app`` pulls in Faust), so ``__all__``
names the modules rather than re-exporting from them.
"""

__all__ = ["app", "faust_runtime", "metrics", "pipeline", "table_store"]
