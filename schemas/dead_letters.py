"""Dead-letter contract: the original bytes, and headers that say why and where from.

A dead letter keeps the source message's key, value and headers untouched and adds
the ``x-dead-letter-*`` headers below, so it can be inspected and replayed as it came.
"""

from __future__ import annotations

from typing import Literal, get_args

DeadLetterReason = Literal[
    "undecodable",  # not UTF-8 JSON
    "invalid",  # JSON that breaks the contract
    "unknown_event_type",
    "out_of_range",  # event time before the floor, or (live) too far ahead of the clock
    "late",  # older than the allowed lateness
    "processing_error",  # the engine raised: a bug, kept for replay
]
DEAD_LETTER_REASONS: tuple[str, ...] = get_args(DeadLetterReason)

HEADER_REASON = "x-dead-letter-reason"  # one of DEAD_LETTER_REASONS
HEADER_ERROR = "x-dead-letter-error"  # human-readable detail
HEADER_TOPIC = "x-dead-letter-topic"
HEADER_PARTITION = "x-dead-letter-partition"
HEADER_OFFSET = "x-dead-letter-offset"


def why(
    reason: DeadLetterReason, error: str, topic: str, partition: int, offset: int
) -> tuple[tuple[str, bytes], ...]:
    """The headers a dead letter adds to the original's.

    >>> dict(why("invalid", "no id", "t", 1, 7))[HEADER_OFFSET]
    b'7'
    """
    return (
        (HEADER_REASON, reason.encode()),
        (HEADER_ERROR, error.encode()),
        (HEADER_TOPIC, topic.encode()),
        (HEADER_PARTITION, str(partition).encode()),
        (HEADER_OFFSET, str(offset).encode()),
    )
