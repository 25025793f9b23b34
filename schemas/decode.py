"""Turn a raw Kafka message into a validated input event, or a reason to reject it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas._types import BYTES_CONTEXT_KEY, MAX_MESSAGE_BYTES
from schemas.dead_letters import DeadLetterReason
from schemas.events import BehaviourEvent, ErasureRequest, InputEvent, ProfileUpdate

CONTRACTS: Mapping[str, type[BehaviourEvent | ProfileUpdate | ErasureRequest]] = {
    "behaviour": BehaviourEvent,
    "profiles": ProfileUpdate,
    "erasures": ErasureRequest,
}


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: DeadLetterReason
    error: str


def decode(
    source: str, key: bytes | None, value: bytes | None, context: Mapping[str, Any]
) -> InputEvent | Rejected:
    """Validate ``value`` against the contract of ``source``; the key must be the customer."""
    if value is None:
        return Rejected("undecodable", "message has no value")
    limit = context.get(BYTES_CONTEXT_KEY, MAX_MESSAGE_BYTES)
    if len(value) > limit:
        return Rejected("too_large", f"message is {len(value):,} bytes; the limit is {limit:,}")
    try:
        event = CONTRACTS[source].model_validate_json(value, context=dict(context))
    except ValidationError as exc:
        return rejection(exc)
    if key is None or key != event.customer_id.encode():
        return Rejected(
            "invalid", "message key must equal customer_id (state is partitioned by customer)"
        )
    return event


def rejection(exc: ValidationError) -> Rejected:
    """The typed rejection of a failed validation: the deciding error, and how many more.

    Unreadable input is ``undecodable``; else an unknown event type, then event time out
    of range, then a bag too large, decide the reason over any other error; the rest is
    ``invalid``.
    """
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    if first["type"] in ("json_invalid", "json_type", "model_type"):
        return Rejected("undecodable", _detail(first, len(errors)))
    for reason in _DECIDING:
        deciding = next((error for error in errors if error["type"] == reason), None)
        if deciding is not None:
            return Rejected(reason, _detail(deciding, len(errors)))
    return Rejected("invalid", _detail(first, len(errors)))


# Error types (raised as ``PydanticCustomError``) that are a reason of their own.
_DECIDING: tuple[DeadLetterReason, ...] = ("unknown_event_type", "out_of_range", "too_large")


def _detail(error: ErrorDetails, count: int) -> str:
    where = ".".join(str(part) for part in error["loc"])
    detail = f"{where}: {error['msg']}" if where else error["msg"]
    return detail + (f" (and {count - 1} more)" if count > 1 else "")
