"""What a replay produces, as plain data: written to files and drawn in the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.drift import DriftReading


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """The state of segmentation at one sweep boundary (event time)."""

    at_ms: int
    sizes: dict[str, int]  # segment id -> customers in it (learned and rule segments)
    changes: int  # segment changes since the previous point
    events: int  # input events since the previous point


@dataclass(slots=True)
class ReplayOutcome:
    """One replay of one log under one config."""

    name: str  # the config's name (file stem), or "replay"
    segment_names: dict[str, str] = field(default_factory=dict)  # id -> name
    segment_kinds: dict[str, str] = field(default_factory=dict)  # id -> learned | rule
    timeline: list[TimelinePoint] = field(default_factory=list)
    drift: list[DriftReading] = field(default_factory=list)
    profiles: list[dict[str, Any]] = field(default_factory=list)  # SegmentProfile.to_dict()
    stats: dict[str, Any] = field(default_factory=dict)  # counts and scores, by name
