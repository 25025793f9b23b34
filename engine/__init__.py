"""Pure, deterministic segmentation logic: no Kafka, no I/O, no clock.

Time enters only as event time in the arguments, so the live worker and replay
give the same answers for the same input.
"""

from engine.changes import Change
from engine.features import features
from engine.segment_engine import BatchResult, Outcome, SegmentEngine
from engine.segmenter import LearnedSegmenter, Snapshot
from engine.state import CustomerState, MemoryStore, StateStore

__all__ = [
    "BatchResult",
    "Change",
    "CustomerState",
    "LearnedSegmenter",
    "MemoryStore",
    "Outcome",
    "SegmentEngine",
    "Snapshot",
    "StateStore",
    "features",
]
