"""Contracts shared by the engine, the stream workers and replay."""

from schemas.catalog import SegmentCatalogEntry
from schemas.changes import ChangeReason, LifetimeCounters, SegmentChange, SegmentKind, SegmentRef
from schemas.config import DriftConfig, EngineConfig, LearnedSegmentsConfig, RuleSegmentConfig
from schemas.dead_letters import DEAD_LETTER_REASONS, DeadLetterReason
from schemas.drift import DriftDetected
from schemas.events import (
    EVENT_TYPES,
    BehaviourEvent,
    ErasureRequest,
    EventProperties,
    EventType,
    InputEvent,
    ProfileAttributes,
    ProfileUpdate,
    allowed_types_context,
)
from schemas.features import feature_kinds
from schemas.memberships import CustomerSegments

__all__ = [
    "DEAD_LETTER_REASONS",
    "EVENT_TYPES",
    "BehaviourEvent",
    "ChangeReason",
    "CustomerSegments",
    "DeadLetterReason",
    "DriftConfig",
    "DriftDetected",
    "EngineConfig",
    "ErasureRequest",
    "EventProperties",
    "EventType",
    "InputEvent",
    "LearnedSegmentsConfig",
    "LifetimeCounters",
    "ProfileAttributes",
    "ProfileUpdate",
    "RuleSegmentConfig",
    "SegmentCatalogEntry",
    "SegmentChange",
    "SegmentKind",
    "SegmentRef",
    "allowed_types_context",
    "feature_kinds",
]
