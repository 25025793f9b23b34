"""The engine's configuration contract, shared by the live worker and replay.

It is validated once at start; the engine itself only receives the plain values.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.events import EVENT_TYPES

FEATURE_NAMES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "sessions",
    "product_views",
    "cart_adds",
    "email_engagement",
)


class LearnedSegmentsConfig(BaseModel):
    """Online clustering that learns behavioural segments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Literal["kmeans"] = "kmeans"
    n_segments: int = Field(6, ge=2, le=64)
    features: tuple[str, ...] = FEATURE_NAMES
    seed: int = 42
    halflife: float = Field(0.05, gt=0, le=1, description="River KMeans step towards a point.")
    warmup_updates: int = Field(
        500, ge=0, description="Model updates before anyone is assigned: early centroids are noise."
    )
    publish_every: int = Field(
        1000, ge=1, description="Model updates between published snapshots (model versions)."
    )

    @field_validator("features")
    @classmethod
    def _known_features(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(FEATURE_NAMES))
        if unknown:
            raise ValueError(f"unknown features {unknown}; known: {list(FEATURE_NAMES)}")
        if not value:
            raise ValueError("at least one feature is needed")
        return value


class EngineConfig(BaseModel):
    """Everything that decides segments. Same config and input give the same output."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    extra_event_types: tuple[str, ...] = ()
    allowed_lateness_seconds: float = Field(
        7 * 86400, ge=0, description="Events older than a customer's latest by more are late."
    )
    dedup_window: int = Field(
        256, ge=1, description="Recent event ids remembered per customer for deduplication."
    )
    learned: LearnedSegmentsConfig = LearnedSegmentsConfig()

    @field_validator("extra_event_types")
    @classmethod
    def _new_types_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        clash = sorted(set(value) & EVENT_TYPES)
        if clash:
            raise ValueError(f"{clash} are already in the vocabulary")
        return value
