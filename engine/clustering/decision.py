"""A customer's decision after one evaluation, and how well they fit their segment."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Decision", "fit"]


@dataclass(slots=True)
class Decision:
    """Where a customer stands after one evaluation (hysteresis included); as input,
    ``segment_id`` is the challenger waiting out the hysteresis.

    Not frozen: two are made per event, and a frozen dataclass's ``__init__`` costs
    about five times as much."""

    segment_id: str | None
    pending_id: str | None
    pending_count: int
    pending_at_ms: int | None
    # How well the customer fits, when a model is published: distance to their
    # segment's centroid, simplified silhouette ((b - a) / max(a, b), b the nearest
    # other centroid) and whether the two nearest centroids are within the margin.
    # Not part of the decision: equal decisions may come from different distances.
    distance: float | None = field(default=None, compare=False)
    silhouette: float | None = field(default=None, compare=False)
    near_boundary: bool = field(default=False, compare=False)
    # A silent re-check kept the customer as the model they were placed with would.
    held: bool = field(default=False, compare=False)


def fit(
    ids: tuple[str, ...], margin: float, d: list[float], own: int, pending: str | None,
    count: int, at: int | None,
) -> Decision:  # fmt: skip
    """The decision for segment number ``own`` of ``ids`` (``d``: distances to each
    centroid), with how well the customer fits it; ``margin`` is the hysteresis
    margin, within which the two nearest centroids count as a boundary."""
    segment = ids[own]
    a = d[own]
    if len(d) < 2:
        return Decision(segment, pending, count, at, a, None, False)
    first, second = sorted(d)[:2]
    b = second if a == first else first  # the nearest other centroid: distances are >= 0
    near = first >= (1 - margin) * second
    furthest = b if b > a else a  # max(a, b), without the call
    silhouette = (b - a) / furthest if furthest > 0 else 0.0
    return Decision(segment, pending, count, at, a, silhouette, near)
