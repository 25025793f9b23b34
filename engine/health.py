"""Model health: how well customers fit their segments and how far the model moves.

Running figures are exponentially weighted over evaluations (``smoothing`` is the
weight of the newest), so they describe the recent model, not its whole history:
River's own ``metrics.Silhouette`` sums over everything it ever saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.segmenter import Decision, PublishedModel
from engine.snapshots import check_snapshot

__all__ = ["ModelHealth"]

SNAPSHOT_KIND, SNAPSHOT_VERSION = "model_health", 1


class ModelHealth:
    """Simplified silhouette, near-boundary share, assignment distances, centroid shifts.

    >>> health = ModelHealth(smoothing=0.5)
    >>> health.record(Decision("s1", None, 0, None, 1.0, 0.5, True))
    >>> health.record(Decision("s1", None, 0, None, 3.0, 0.1, False))
    >>> health.silhouette, health.near_boundary, health.drain_distances()
    (0.3, 0.5, [1.0, 3.0])
    >>> health.drain_distances()
    []

    Its state can be kept (see :mod:`engine.snapshots`):

    >>> twin = ModelHealth(smoothing=0.5)
    >>> twin.restore(health.snapshot())
    >>> twin.silhouette, twin.near_boundary
    (0.3, 0.5)
    """

    def __init__(self, smoothing: float = 0.001, max_pending: int = 100_000) -> None:
        self.smoothing = smoothing
        self.max_pending = max_pending  # distances kept for a reader that never drains
        self.silhouette: float | None = None
        self.near_boundary: float | None = None
        self._distances: list[float] = []
        self._shifts: list[float] = []

    def record(self, decision: Decision) -> None:
        """One evaluation against a published model."""
        if decision.distance is None:
            return
        if len(self._distances) < self.max_pending:
            self._distances.append(decision.distance)
        self.near_boundary = self._ewma(self.near_boundary, float(decision.near_boundary))
        if decision.silhouette is not None:
            self.silhouette = self._ewma(self.silhouette, decision.silhouette)

    def published(self, old: PublishedModel | None, new: PublishedModel) -> None:
        """How far each continuing segment's centroid moved, in the new model's units."""
        if old is None:
            return
        for i, segment_id in enumerate(new.ids):
            if segment_id in old.ids:
                raw = old.centroids[old.ids.index(segment_id)] * old.scales + old.means
                moved = new.z(raw) - new.centroids[i]
                self._shifts.append(float(np.sqrt((moved**2).sum())))

    def drain_distances(self) -> list[float]:
        """Distances recorded since the last call (for a histogram)."""
        out, self._distances = self._distances, []
        return out

    def drain_shifts(self) -> list[float]:
        """Centroid shifts recorded since the last call."""
        out, self._shifts = self._shifts, []
        return out

    def snapshot(self) -> dict[str, Any]:
        """The running figures and the undrained observations, detached."""
        return {
            "kind": SNAPSHOT_KIND,
            "version": SNAPSHOT_VERSION,
            "silhouette": self.silhouette,
            "near_boundary": self.near_boundary,
            "distances": list(self._distances),
            "shifts": list(self._shifts),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state`` (from :meth:`snapshot`)."""
        check_snapshot(state, SNAPSHOT_KIND, SNAPSHOT_VERSION)
        self.silhouette, self.near_boundary = state["silhouette"], state["near_boundary"]
        self._distances, self._shifts = list(state["distances"]), list(state["shifts"])

    def _ewma(self, current: float | None, value: float) -> float:
        if current is None:
            return value
        return current + self.smoothing * (value - current)
