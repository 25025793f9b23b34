"""Field types shared by the event contracts: event time, ids, numbers, open property bags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

TIMESTAMP_FLOOR = datetime(1990, 1, 1, tzinfo=UTC)
"""Default earliest event time; a deployment sets its own (``engine.input_bounds``)."""
FLOOR_CONTEXT_KEY = "timestamp_floor"  # validation context key of a deployment's floor
# Size limits, each a deployment's own too (``engine.input_bounds``): a message's bytes,
# and the entries of an open bag (event properties, profile attributes) and their
# names' and string values' length. They bound a customer's state, and so its changelog
# record, far below a Kafka record's 1 MB.
MAX_MESSAGE_BYTES = 100_000
MAX_ATTRIBUTES = 64
MAX_VALUE_LENGTH = 1_024
BYTES_CONTEXT_KEY = "max_message_bytes"
ATTRIBUTES_CONTEXT_KEY = "max_attributes"
LENGTH_CONTEXT_KEY = "max_value_length"
# An amount above this is no purchase or refund but a mistake, and sums of such would
# overflow to infinity: no total can reach float's limit from amounts this size.
MAX_AMOUNT = 1e15
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FLOOR_MS = (TIMESTAMP_FLOOR - _EPOCH) // timedelta(milliseconds=1)
# Epoch seconds of 2001-2286 read as milliseconds land in 1970 before this.
_SECONDS_AS_MS = _EPOCH + timedelta(milliseconds=10**10)


def parse_event_time(value: Any) -> datetime:
    """Read event time: ISO-8601 with a UTC offset, or integer epoch milliseconds."""
    try:
        return _parse_event_time(value)
    except (OverflowError, OSError):  # far outside what a datetime can hold
        raise PydanticCustomError("out_of_range", "timestamp is out of range") from None


def _parse_event_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, bool):  # before int: a bool is an int to Python
        raise ValueError("timestamp must be an ISO-8601 string or epoch milliseconds")
    elif isinstance(value, int):
        moment = _EPOCH + timedelta(milliseconds=value)  # exact: value / 1000 rounds
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


def not_before_floor(moment: datetime, info: ValidationInfo) -> datetime:
    """Refuse event time before the floor: the context's, else :data:`TIMESTAMP_FLOOR`.

    One floor for every form (ISO-8601 and epoch milliseconds alike), so epoch seconds
    sent where milliseconds were meant (1970) fall below it too.
    """
    floor = TIMESTAMP_FLOOR
    if isinstance(info.context, dict):
        floor = info.context.get(FLOOR_CONTEXT_KEY, TIMESTAMP_FLOOR)
    if moment >= floor:
        return moment
    hint = " (epoch seconds? send milliseconds)" if _EPOCH <= moment < _SECONDS_AS_MS else ""
    raise PydanticCustomError(
        "out_of_range",
        "timestamp {timestamp} is before the floor {floor}{hint}",
        {"timestamp": moment.isoformat(), "floor": floor.isoformat(), "hint": hint},
    )


EventTime = Annotated[
    datetime,
    BeforeValidator(parse_event_time),
    AfterValidator(not_before_floor),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "integer", "minimum": _FLOOR_MS},
            ],
            "description": "Event time: ISO-8601 with a UTC offset, or epoch milliseconds; "
            f"not before {TIMESTAMP_FLOOR:%Y-%m-%dT%H:%M:%SZ} unless the deployment sets "
            "engine.input_bounds.timestamp_floor.",
        }
    ),
]


def bounded_bag(value: Any, info: ValidationInfo) -> Any:
    """Refuse an open bag with more entries, or a longer name or string value, than the
    context's limits (else the defaults) as ``too_large``."""
    if not isinstance(value, dict):
        return value  # the model reports the type
    context = info.context if isinstance(info.context, dict) else {}
    most = context.get(ATTRIBUTES_CONTEXT_KEY, MAX_ATTRIBUTES)
    longest = context.get(LENGTH_CONTEXT_KEY, MAX_VALUE_LENGTH)
    if len(value) > most:
        raise PydanticCustomError(
            "too_large",
            "{count} entries; the limit is {limit}",
            {"count": len(value), "limit": most},
        )
    for name, item in value.items():
        for text in (name, item):
            if isinstance(text, str) and len(text) > longest:
                raise PydanticCustomError(
                    "too_large",
                    "'{name}': {length} characters; the limit is {limit}",
                    {"name": str(name)[:40], "length": len(text), "limit": longest},
                )
    return value


def no_bool(value: Any) -> Any:
    """Refuse ``true``/``false`` where a number is expected (pydantic reads them as 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    return value


Identifier = Annotated[str, Field(min_length=1, max_length=256)]
# Numbers of the contracts are never booleans: ``Annotated[float, Field(...), NOT_BOOL]``.
# Last in the metadata, after the constraints, so they stay in the JSON Schema.
NOT_BOOL = BeforeValidator(no_bool)
FiniteFloat = Annotated[float, Field(allow_inf_nan=False), NOT_BOOL]

# Values allowed in the open parts of a contract (extra properties and attributes):
# scalars only, so state stays flat and serialisable. Here a boolean is its own scalar,
# kept as a boolean: the union picks the exact type first.
Scalar = str | int | FiniteFloat | bool | None
