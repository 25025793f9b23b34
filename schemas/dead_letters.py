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
    "too_large",  # more bytes, bag entries or characters than engine.input_bounds allow
    "processing_error",  # the engine raised: a bug, kept for replay
]
DEAD_LETTER_REASONS: tuple[str, ...] = get_args(DeadLetterReason)

HEADER_REASON = "x-dead-letter-reason"  # one of DEAD_LETTER_REASONS
HEADER_ERROR = "x-dead-letter-error"  # human-readable detail
HEADER_TOPIC = "x-dead-letter-topic"
HEADER_PARTITION = "x-dead-letter-partition"
HEADER_OFFSET = "x-dead-letter-offset"
# Set when the original was cut to fit: its value's (or key's) length in bytes.
HEADER_TRUNCATED = "x-dead-letter-truncated"

# What a dead letter may weigh (key, value and headers), below the producer's and a
# default broker's 1 MB limit on a record: an input near that limit, with the headers
# added, would not fit as it came.
DEAD_LETTER_BYTES = 900_000
_KEY_BYTES = 1_024  # a key longer than this is no customer id: cut it too

Headers = tuple[tuple[str, bytes], ...]


def fitted(
    key: bytes | None,
    value: bytes | None,
    headers: Headers,
    why: Headers,
    budget: int = DEAD_LETTER_BYTES,
) -> tuple[bytes | None, bytes | None, Headers]:
    """A dead letter's key, value and headers (the original's, then ``why``): as they
    came if they fit ``budget``; else cut to fit, with a header giving the value's
    original length (the original headers go first if they alone are too many).

    >>> key, value, headers = fitted(b"c1", b"x" * 100, (), (("h", b"v"),), budget=60)
    >>> len(value), dict(headers)[HEADER_TRUNCATED]
    (30, b'100')
    """

    def weight(items: Headers) -> int:
        return sum(len(name) + len(data) for name, data in items)

    if len(key or b"") + len(value or b"") + weight(headers) + weight(why) <= budget:
        return key, value, (*headers, *why)
    if key is not None and len(key) > _KEY_BYTES:
        key = key[:_KEY_BYTES]
    mark = ((HEADER_TRUNCATED, str(len(value or b"")).encode()),)
    kept = (*headers, *why, *mark)
    if len(key or b"") + weight(kept) > budget:
        kept = (*why, *mark)
    room = max(0, budget - len(key or b"") - weight(kept))
    return key, None if value is None else value[:room], kept


def one_line(error: str) -> str:
    """An error as one line (a header value, a rejects-file field). Some quote the value
    they refuse, line breaks and all; some end with one.

    >>> one_line("bad cell 'a\\nb'\\n")
    "bad cell 'a\\\\nb'"
    """
    error = error.strip()
    if "\n" in error or "\r" in error:
        return error.replace("\r", "\\r").replace("\n", "\\n")
    return error


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
