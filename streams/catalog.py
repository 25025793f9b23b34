"""The ``segment-catalog`` entries a process owes (``schemas/catalog.py``): each segment
it knows whose name or liveness differs from what it last sent, every one after a start.

One writer per kind, so entries never go back in time: learned segments come from
whoever publishes the model (the worker with ``trainer = "in_worker"``, a single
process then; the trainer with ``"separate"``), rule segments from every worker (the
same config, the same entries).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from engine.clustering.identity import Lineage
from engine.results import SegmentInfo
from schemas.catalog import SegmentCatalogEntry
from schemas.changes import SegmentKind, SegmentRef

__all__ = ["CatalogSender"]


class CatalogSender:
    """Remembers what it sent; ``entries`` gives (key, value) records of what changed.

    >>> from datetime import UTC
    >>> sender, at = CatalogSender({"learned"}), datetime(2026, 1, 1, tzinfo=UTC)
    >>> one = SegmentInfo("seg-1", "window shoppers", "learned", 3, True)
    >>> [key for key, _ in sender.entries([one], (), 1, at)], sender.entries([one], (), 2, at)
    ([b'seg-1'], [])
    """

    def __init__(self, kinds: Iterable[SegmentKind]) -> None:
        self.kinds = frozenset(kinds)
        self._sent: dict[str, tuple[str, bool]] = {}  # id -> (name, live) last sent

    def entries(
        self, segments: Iterable[SegmentInfo], lineage: Sequence[Lineage], model_version: int,
        emitted_at: datetime,
    ) -> list[tuple[bytes, bytes]]:  # fmt: skip
        sent = self._sent
        changed = [s for s in segments
                   if s.kind in self.kinds and sent.get(s.id) != (s.name, s.live)]  # fmt: skip
        if not changed:  # most batches: no lineage read
            return []
        merged = {e.sources[0]: e.targets[0] for e in lineage if e.kind == "merge"}
        out: list[tuple[bytes, bytes]] = []
        for segment in changed:
            entry = SegmentCatalogEntry(
                segment=SegmentRef(id=segment.id, name=segment.name, kind=segment.kind),
                live=segment.live, model_version=model_version, emitted_at=emitted_at,
                merged_into=None if segment.live else merged.get(segment.id),
            )  # fmt: skip
            out.append((segment.id.encode(), entry.model_dump_json().encode()))
            self._sent[segment.id] = segment.name, segment.live
        return out
