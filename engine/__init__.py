"""Pure, deterministic segmentation logic: no Kafka, no I/O, no clock.

Time enters only as event time in the arguments, so the live worker and replay
give the same answers for the same input.
"""

from engine.aggregates import SegmentAggregates, segment_profiles
from engine.changes import Change
from engine.features import FeatureMaker
from engine.profiles import SegmentProfile
from engine.results import BatchResult, EngineStatus, Outcome, SegmentInfo
from engine.rules import Rule, RuleError, compile_rule
from engine.segment_engine import SegmentEngine
from engine.segmenter import Decision, LearnedSegmenter, Lineage, PublishedModel
from engine.state import CustomerState, MemoryStore, StateStore

__all__ = [
    "BatchResult",
    "Change",
    "CustomerState",
    "Decision",
    "EngineStatus",
    "FeatureMaker",
    "LearnedSegmenter",
    "Lineage",
    "MemoryStore",
    "Outcome",
    "PublishedModel",
    "Rule",
    "RuleError",
    "SegmentAggregates",
    "SegmentEngine",
    "SegmentInfo",
    "SegmentProfile",
    "StateStore",
    "compile_rule",
    "segment_profiles",
]
