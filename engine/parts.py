"""The engine's stateful parts, built from its config: the learned segmenter and the
drift monitor (with the features it watches) and the input drift watch."""

from __future__ import annotations

import re

from engine.drift import DriftMonitor, InputMix
from engine.segmenter import LearnedSegmenter
from schemas.config import EngineConfig, LearnedSegmentsConfig

__all__ = ["GROWING_FEATURES", "make_drift", "make_input_drift", "make_segmenter"]

GROWING_FEATURES = frozenset({"tenure_days", "recency_days"})
SETTLED_WINDOW_DAYS = 30
_WINDOW = re.compile(r"_(\d+)d$")


def window_days(feature: str) -> int | None:
    """The window of a windowed feature (``frequency_30d``: 30), else None."""
    found = _WINDOW.search(feature)
    return int(found.group(1)) if found else None


def make_segmenter(learned: LearnedSegmentsConfig) -> LearnedSegmenter:
    return LearnedSegmenter(
        learned.features,
        model=learned.model,
        n_segments=learned.n_segments,
        seed=learned.seed,
        warmup_updates=learned.warmup_updates,
        publish_every=learned.publish_every,
        publish_min_interval_ms=int(learned.publish_min_interval_seconds * 1000),
        publish_min_shift=learned.publish_min_shift,
        hysteresis_margin=learned.hysteresis_margin,
        silent_margin=learned.silent_margin,
        hysteresis_evaluations=learned.hysteresis_evaluations,
        hysteresis_spacing_ms=int(learned.hysteresis_spacing_seconds * 1000),
        match_overlap=learned.match_overlap,
        names=learned.names,
        rename_margin=learned.rename_margin,
        merge_distance=learned.merge_distance,
        continue_distance=learned.continue_distance,
        near_distance=learned.near_distance,
        near_margin=learned.near_margin,
        model_options=learned.model_options(),
    )


def make_drift(config: EngineConfig) -> tuple[tuple[str, ...], DriftMonitor | None]:
    """The features drift is watched on, and the monitor (None when drift is off)."""
    drift = config.drift
    # Tenure and recency grow for everyone by construction: growth, not drift. A
    # windowed feature is ~86% settled twice its window after a customer's first event,
    # and ramps up before that: watched by default only up to SETTLED_WINDOW_DAYS, so a
    # log has a reference within about two months, not six.
    features = drift.features or tuple(
        f for f in config.learned.features
        if f not in GROWING_FEATURES and (window_days(f) or 0) <= SETTLED_WINDOW_DAYS
    )  # fmt: skip
    delay_s = drift.reference_delay_seconds
    if delay_s is None:
        windows = [d for d in map(window_days, features) if d is not None]
        delay_s = 2 * max(windows, default=0) * 86400
    monitor = DriftMonitor(features, drift, int(delay_s * 1000)) if drift.enabled else None
    return tuple(features), monitor


def make_input_drift(config: EngineConfig) -> InputMix | None:
    """The input drift watch (None when drift, or input drift, is off)."""
    drift = config.drift
    return InputMix(drift) if drift.enabled and drift.input_reference_days > 0 else None
