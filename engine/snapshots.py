"""What every stateful engine part offers so it can be kept across restarts.

Shaped like Bytewax's snapshottable state: ``snapshot()`` returns the part's runtime
state as a detached, picklable value (later updates to the part do not change it),
and ``restore()`` puts such a value back into a part built with the same constructor
arguments (hyperparameters are not part of a snapshot: they come from the config).
A restored part continues exactly as the original would have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["SnapshotError", "Snapshottable", "check_snapshot"]


class SnapshotError(ValueError):
    """A snapshot that does not fit the part it is restored into."""


@runtime_checkable
class Snapshottable(Protocol):
    def snapshot(self) -> dict[str, Any]:
        """The runtime state, detached and picklable."""
        ...

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replace the runtime state with ``state`` (from :meth:`snapshot`)."""
        ...


def check_snapshot(state: Mapping[str, Any], kind: str, version: int) -> None:
    """Raise :class:`SnapshotError` unless ``state`` is a ``kind`` snapshot of ``version``.

    >>> check_snapshot({"kind": "memory_store", "version": 1}, "memory_store", 1)
    >>> check_snapshot({"kind": "drift_monitor", "version": 1}, "memory_store", 1)
    Traceback (most recent call last):
    ...
    engine.snapshots.SnapshotError: a drift_monitor snapshot cannot restore a memory_store
    """
    found = state.get("kind")
    if found != kind:
        raise SnapshotError(f"a {found} snapshot cannot restore a {kind}")
    if state.get("version") != version:
        raise SnapshotError(
            f"{kind} snapshot version {state.get('version')} is not {version}, the one this "
            "code reads"
        )
