"""What the engine tells its callers: a batch's results, and a read model of itself.

Callers (the worker, replay, the tools) read these and nothing else of the engine,
so its internals can change without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from engine.changes import Change
from engine.drift import DriftReading
from engine.epochs import Contribution
from engine.segmenter import Lineage, PublishedModel
from schemas.changes import SegmentKind, SegmentRef

__all__ = [
    "BatchResult",
    "EngineStatus",
    "Outcome",
    "SegmentInfo",
    "count_changes",
    "learned_sizes",
    "segment_infos",
]

Outcome = Literal["accepted", "duplicate", "late", "erased", "failed", "held"]


@dataclass(slots=True)
class BatchResult:
    """One outcome per input event, in input order, and the changes they caused.

    ``errors`` maps the index of each ``failed`` event to what went wrong, so one
    poison event cannot take the rest of its batch down with it. ``distances`` and
    ``centroid_shifts`` are the model-health observations made during the batch,
    drained: each is reported in exactly one batch.
    """

    outcomes: list[Outcome] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    sweeps: list[int] = field(default_factory=list)  # event times of sweeps run
    sweep_sizes: list[dict[str, int]] = field(default_factory=list)  # segment sizes at each
    sweep_errors: list[str] = field(default_factory=list)  # customers a sweep could not refresh
    drift: list[DriftReading] = field(default_factory=list)  # detections and sweep readings
    distances: list[float] = field(default_factory=list)  # customer to own centroid
    centroid_shifts: list[float] = field(default_factory=list)  # per matched segment
    # With a remote trainer: the lessons and seals to send it, in order.
    contributions: list[Contribution] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """One segment as the engine knows it: every learned segment ever born (``live``
    while the published model has it) and every rule segment."""

    id: str
    name: str
    kind: SegmentKind
    size: int  # customers in it now
    live: bool


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """The engine as of its latest event: model, event time, segments and health."""

    model_version: int
    watermark_ms: int | None  # latest event time seen
    lessons: int  # vectors the model has learned from
    learned_features: tuple[str, ...]
    segments: tuple[SegmentInfo, ...]  # learned in birth order, then rules in config order
    lineage: tuple[Lineage, ...]
    published: PublishedModel | None
    silhouette: float | None  # smoothed simplified silhouette of assignments
    near_boundary: float | None  # smoothed share of assignments near a boundary
    drift_reference_ready: bool | None  # None: drift watch off

    @property
    def sizes(self) -> dict[str, int]:
        """Customers per segment with members, by segment id (sorted)."""
        return {s.id: s.size for s in sorted(self.segments, key=_id) if s.size}

    @property
    def learned_sizes(self) -> dict[str, int]:
        """:attr:`sizes` of learned segments only."""
        return {s.id: s.size for s in sorted(self.segments, key=_id)
                if s.size and s.kind == "learned"}  # fmt: skip

    @property
    def live_ids(self) -> tuple[str, ...]:
        return self.published.ids if self.published is not None else ()


def learned_sizes(sizes: Mapping[str, int], learned: Mapping[str, object]) -> dict[str, int]:
    """The entries of ``sizes`` that are learned segments, in ``sizes``' own order (the
    drift monitor sums shares in this order, so it is part of the output)."""
    return {k: n for k, n in sizes.items() if k in learned}


def count_changes(sizes: dict[str, int], changes: list[Change], start: int) -> None:
    """Apply ``changes[start:]`` to the customers-per-segment counts ``sizes``."""
    for change in changes[start:]:
        if change.previous is not None:
            left = sizes.get(change.previous.id, 0) - 1
            if left > 0:
                sizes[change.previous.id] = left
            else:
                sizes.pop(change.previous.id, None)
        if change.segment is not None:
            sizes[change.segment.id] = sizes.get(change.segment.id, 0) + 1


def segment_infos(
    learned: Mapping[str, SegmentRef], live_ids: tuple[str, ...],
    rules: Mapping[str, SegmentRef], sizes: Mapping[str, int],
) -> tuple[SegmentInfo, ...]:  # fmt: skip
    """Every learned segment ever born (birth order), then the rule segments."""
    live = set(live_ids)
    return (
        *(SegmentInfo(r.id, r.name, "learned", sizes.get(r.id, 0), r.id in live)
          for r in learned.values()),
        *(SegmentInfo(r.id, r.name, "rule", sizes.get(r.id, 0), True) for r in rules.values()),
    )  # fmt: skip


def _id(segment: SegmentInfo) -> str:
    return segment.id
