"""Input contracts: behavioural events, profile updates and erasure requests.

All three arrive as JSON values keyed by ``customer_id``. Unknown behavioural event
types are rejected unless the deployment lists them in ``extra_event_types``, and event
time before the deployment's floor is out of range; pass both as validation context
(see :func:`allowed_types_context`). A boolean is never read as a number.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schemas._types import (
    ATTRIBUTES_CONTEXT_KEY,
    BYTES_CONTEXT_KEY,
    FLOOR_CONTEXT_KEY,
    LENGTH_CONTEXT_KEY,
    MAX_AMOUNT,
    MAX_ATTRIBUTES,
    MAX_MESSAGE_BYTES,
    MAX_VALUE_LENGTH,
    NOT_BOOL,
    TIMESTAMP_FLOOR,
    EventTime,
    Identifier,
    Scalar,
    bounded_bag,
)

EventType = Literal[
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "checkout",
    "purchase",
    "refund",
    "email_open",
    "email_click",
    "session_start",
    "support_contact",
]
EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))

IncomeBand = Literal["low", "lower_middle", "middle", "upper_middle", "high"]
CompanySize = Literal["1-9", "10-49", "50-249", "250-999", "1000+"]


def allowed_types_context(
    extra_event_types: Iterable[str] = (),
    timestamp_floor: datetime = TIMESTAMP_FLOOR,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    max_attributes: int = MAX_ATTRIBUTES,
    max_value_length: int = MAX_VALUE_LENGTH,
) -> dict[str, Any]:
    """Validation context that admits ``extra_event_types`` beside the vocabulary,
    refuses event time before ``timestamp_floor`` (aware) as out of range, and a larger
    message or open bag than the limits as too large.

    >>> from datetime import UTC
    >>> context = allowed_types_context(["wishlist"], datetime(2020, 1, 1, tzinfo=UTC))
    >>> context["timestamp_floor"].year, context["max_attributes"]
    (2020, 64)
    """
    if timestamp_floor.tzinfo is None:
        raise ValueError("timestamp_floor needs a UTC offset")
    return {
        "event_types": EVENT_TYPES | frozenset(extra_event_types),
        FLOOR_CONTEXT_KEY: timestamp_floor,
        BYTES_CONTEXT_KEY: max_message_bytes,
        ATTRIBUTES_CONTEXT_KEY: max_attributes,
        LENGTH_CONTEXT_KEY: max_value_length,
    }


class EventProperties(BaseModel):
    """Context of a behavioural event. Known keys are typed; other scalar keys are kept."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, Scalar]

    category: str | None = Field(None, max_length=128)
    channel: str | None = Field(None, max_length=64)
    device: str | None = Field(None, max_length=64)
    session_id: str | None = Field(None, max_length=256)
    product_id: str | None = Field(None, max_length=256)
    campaign_id: str | None = Field(None, max_length=256)
    query: str | None = Field(None, max_length=512)

    _bounded = model_validator(mode="before")(bounded_bag)


class BehaviourEvent(BaseModel):
    """Something a customer did, at event time ``timestamp``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Identifier = Field(
        description="Unique per event; replays with the same id count once."
    )
    customer_id: Identifier
    type: str = Field(
        json_schema_extra={"enum": list[JsonValue](sorted(EVENT_TYPES))},
        description="Event type; deployments may admit more through extra_event_types.",
    )
    timestamp: EventTime
    amount: Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False), NOT_BOOL] | None = (
        None
    )
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")
    properties: EventProperties | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str, info: ValidationInfo) -> str:
        allowed = EVENT_TYPES
        if isinstance(info.context, dict):
            allowed = info.context.get("event_types", EVENT_TYPES)
        if value not in allowed:
            raise PydanticCustomError(
                "unknown_event_type", "unknown event type '{type}'", {"type": value[:64]}
            )
        return value


class ProfileAttributes(BaseModel):
    """Demographic, geographic and firmographic attributes. ``null`` clears one."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, Scalar]

    age: Annotated[int, Field(ge=0, le=130), NOT_BOOL] | None = None
    gender: str | None = Field(None, max_length=32)
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")
    region: str | None = Field(None, max_length=128)
    city: str | None = Field(None, max_length=128)
    income_band: IncomeBand | None = None
    company_size: CompanySize | None = None
    industry: str | None = Field(None, max_length=128)
    language: str | None = Field(None, max_length=16)

    _bounded = model_validator(mode="before")(bounded_bag)


class ProfileUpdate(BaseModel):
    """New values for some of a customer's profile attributes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: Identifier
    timestamp: EventTime
    attributes: ProfileAttributes

    def changed(self) -> dict[str, Any]:
        """The attributes this update sets (``None`` means clear)."""
        return self.attributes.model_dump(exclude_unset=True)


class ErasureRequest(BaseModel):
    """Right-to-erasure: forget everything held about ``customer_id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: Identifier
    timestamp: EventTime
    request_id: Identifier


InputEvent = BehaviourEvent | ProfileUpdate | ErasureRequest
