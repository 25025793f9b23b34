"""Field types shared by the event contracts: event time, ids, open property bags."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

# Epoch values below this are almost surely seconds sent where milliseconds were meant.
_EARLIEST_MS = 946_684_800_000  # 2000-01-01T00:00:00Z


def parse_event_time(value: Any) -> datetime:
    """Read event time: ISO-8601 with a UTC offset, or integer epoch milliseconds."""
    try:
        return _parse_event_time(value)
    except (OverflowError, OSError):  # far outside what a datetime can hold
        raise ValueError("timestamp is out of range") from None


def _parse_event_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, bool):
        raise ValueError("timestamp must be an ISO-8601 string or epoch milliseconds")
    elif isinstance(value, int):
        if value < _EARLIEST_MS:
            raise ValueError("epoch timestamp is before 2000-01-01: send milliseconds, not seconds")
        moment = datetime.fromtimestamp(value / 1000, tz=UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"timestamp {value[:40]!r} is not ISO-8601") from None
    else:
        raise ValueError("timestamp must be an ISO-8601 string or epoch milliseconds")
    if moment.tzinfo is None:
        raise ValueError("timestamp has no UTC offset: event time must be unambiguous")
    return moment.astimezone(UTC)


EventTime = Annotated[
    datetime,
    BeforeValidator(parse_event_time),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "integer", "minimum": _EARLIEST_MS},
            ],
            "description": "Event time: ISO-8601 with a UTC offset, or epoch milliseconds.",
        }
    ),
]

Identifier = Annotated[str, Field(min_length=1, max_length=256)]

# Values allowed in the open parts of a contract (extra properties and attributes):
# scalars only, so state stays flat and serialisable.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Scalar = str | int | FiniteFloat | bool | None
