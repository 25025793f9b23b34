"""Turn a raw Kafka message into a validated input event, or a reason to reject it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

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
    """The typed rejection of a failed validation: the first error, and how many more."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    detail = f"{where}: {first['msg']}" if where else first["msg"]
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    if first["type"] in ("json_invalid", "json_type", "model_type"):
        return Rejected("undecodable", detail)
    if any(error["type"] == "unknown_event_type" for error in errors):
        return Rejected("unknown_event_type", detail)
    return Rejected("invalid", detail)
