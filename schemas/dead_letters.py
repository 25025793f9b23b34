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
