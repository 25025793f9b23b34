"""The changes the engine decides for one customer: their learned segment (with
hysteresis) and an erasure's exits. Rule segments decide theirs in
:mod:`engine.rule_segments`."""

from __future__ import annotations

from collections.abc import Mapping

from engine.changes import Change, lifetime
from engine.health import ModelHealth
from engine.rule_segments import number
from engine.segmenter import Decision, LearnedSegmenter, PublishedModel
from engine.state import CustomerState
from schemas.changes import ChangeReason, SegmentRef

__all__ = ["decide_learned", "erasure_changes"]

Features = Mapping[str, float | str | None]


def decide_learned(
    seg: LearnedSegmenter, health: ModelHealth, state: CustomerState, x: Features,
    now_ms: int, trigger: str | None, out: list[Change], model: PublishedModel | None,
    segments: Mapping[str, SegmentRef], silent: bool = False,
    placed: PublishedModel | None = None, early: bool = False,
    opening_margin: float | None = None,
) -> bool:  # fmt: skip
    """Decide ``state``'s learned segment against ``model`` (``segments``: every learned
    segment by id; ``silent``: at a timer; ``placed``: the model of
    ``state.placed_version``; ``early``, ``opening_margin``: see
    ``LearnedSegmenter.decide``), appending a change if it moves; whether a challenger
    now waits out hysteresis."""
    waiting = Decision(state.pending_segment_id, None, state.pending_count, state.pending_at_ms)
    decision = seg.decide(x, now_ms, state.segment_id, waiting, model, silent, placed, early,
                          opening_margin)  # fmt: skip
    health.record(decision)
    state.pending_segment_id = decision.pending_id
    state.pending_count, state.pending_at_ms = decision.pending_count, decision.pending_at_ms
    # Held once, the next re-check that finds them astray moves them. Too early to count
    # (``early``), the re-check leaves the model they were placed with as it was.
    if model is not None and not early:
        state.placed_version = None if decision.held else model.version
    if decision.segment_id != state.segment_id and decision.segment_id is not None:
        previous = segments.get(state.segment_id) if state.segment_id else None
        reason: ChangeReason = "assigned" if previous is None else "reassigned"
        snapshot = {name: number(x[name]) for name in seg.features}
        out.append(Change(state.customer_id, previous, segments[decision.segment_id],
                          now_ms, model.version if model else 0, reason, trigger, snapshot,
                          lifetime(state)))  # fmt: skip
        state.segment_id = decision.segment_id
    return decision.pending_id is not None


def erasure_changes(
    state: CustomerState | None, learned: Mapping[str, SegmentRef],
    rules: Mapping[str, SegmentRef], at_ms: int, version: int, request_id: str,
) -> list[Change]:  # fmt: skip
    """An exit (to no segment) from every segment an erased customer was in."""
    if state is None:
        return []
    refs = [learned.get(state.segment_id or "")]
    refs += [rules[rid] for rid in state.rule_segments if rid in rules]
    return [Change(state.customer_id, ref, None, at_ms, version, "erased", request_id, {})
            for ref in refs if ref is not None]  # fmt: skip
