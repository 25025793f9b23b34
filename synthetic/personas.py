"""The planted customer groups: :class:`Persona`, the default six, :class:`Shift` and
:class:`InputShift`.

A persona is a group's behaviour as rates per customer (sessions, baskets, email,
support) and the ranges its profiles are drawn from; a shift makes a share of one
persona's customers behave like another from a point in event time on; an input
shift changes every customer's input (event-type mix, funnel conversion) from one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

__all__ = [
    "DAY_MS",
    "DEFAULT_PERSONAS",
    "DEFAULT_START_MS",
    "INCOME_BANDS",
    "InputShift",
    "Persona",
    "Shift",
    "with_timing",
]

DEFAULT_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
INCOME_BANDS: tuple[str, ...] = ("low", "lower_middle", "middle", "upper_middle", "high")
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Persona:
    """One planted customer group; rates are per customer.

    ``active_from``/``active_until`` bound (as fractions of the window, jittered by up
    to 0.1 per customer) when the persona's customers are active at all.
    """

    name: str
    weight: float  # share of customers (normalised over the personas)
    sessions_per_week: float
    views_per_session: float  # page_view + product_view per session
    cart_rate: float  # P(add_to_cart) per session
    purchase_rate: float  # P(checkout -> purchase | cart)
    basket_mean: float  # mean purchase amount, EUR (lognormal)
    email_open_rate: float  # email opens per week
    email_click_share: float  # P(click | open)
    support_rate: float  # support contacts per week
    refund_share: float  # P(refund | purchase)
    categories: tuple[str, ...]
    channels: tuple[str, ...]
    devices: tuple[str, ...]
    countries: tuple[str, ...]  # ISO 3166-1 alpha-2
    age_range: tuple[int, int]
    active_from: float = 0.0
    active_until: float = 1.0
    income_bands: tuple[str, ...] = INCOME_BANDS

    def __post_init__(self) -> None:
        rates = (self.weight, self.sessions_per_week, self.views_per_session,
                 self.basket_mean, self.email_open_rate, self.support_rate)  # fmt: skip
        shares = (self.cart_rate, self.purchase_rate, self.email_click_share, self.refund_share)
        if not self.name or self.weight <= 0 or not all(0 <= r < math.inf for r in rates):
            raise ValueError(f"persona {self.name!r}: needs a name, weight > 0, finite rates >= 0")
        if not all(0.0 <= s <= 1.0 for s in shares):
            raise ValueError(f"persona {self.name!r}: rates of chance must be within [0, 1]")
        if not (self.categories and self.channels and self.devices and self.countries):
            raise ValueError(f"persona {self.name!r}: categories, channels, devices, countries")
        if not 0 <= self.age_range[0] <= self.age_range[1] <= 130:
            raise ValueError(f"persona {self.name!r}: age_range must be ordered within 0..130")
        if not 0.0 <= self.active_from < self.active_until <= 1.0:
            raise ValueError(f"persona {self.name!r}: need 0 <= active_from < active_until <= 1")
        if not self.income_bands or not set(self.income_bands) <= set(INCOME_BANDS):
            raise ValueError(f"persona {self.name!r}: income_bands must come from {INCOME_BANDS}")


@dataclass(frozen=True)
class Shift:
    """A planted abrupt shift: from ``at_fraction`` of the window on (by event time), a
    ``share`` of ``from_persona``'s customers behave like ``to_persona``."""

    at_fraction: float
    from_persona: str
    to_persona: str
    share: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.at_fraction <= 1.0 and 0.0 <= self.share <= 1.0):
            raise ValueError("Shift.at_fraction and Shift.share must be within [0, 1]")

    def at_ms(self, days: float, start_ms: int = DEFAULT_START_MS) -> int:
        """Event time (epoch ms) of the shift in a stream of ``days`` from ``start_ms``."""
        return start_ms + int(self.at_fraction * int(days * DAY_MS))


_WEB = ("web", "app")
_DEVICES = ("desktop", "mobile", "tablet")
DEFAULT_PERSONAS: tuple[Persona, ...] = (
    Persona("high_value_loyal", 0.15, 5.0, 9.0, 0.6, 0.75, 140.0, 1.5, 0.3, 0.1, 0.04,
            ("electronics", "home", "fashion"), _WEB, _DEVICES, ("DE", "AT", "CH"), (35, 60),
            income_bands=("upper_middle", "high")),
    Persona("bargain_hunters", 0.2, 4.0, 11.0, 0.55, 0.5, 22.0, 1.0, 0.3, 0.2, 0.12,
            ("fashion", "beauty", "toys"), _WEB, ("mobile", "desktop"), ("DE", "PL", "ES"),
            (20, 45), income_bands=("low", "lower_middle", "middle")),
    Persona("window_shoppers", 0.2, 4.0, 20.0, 0.1, 0.05, 55.0, 0.3, 0.05, 0.02, 0.0,
            ("electronics", "fashion", "sports"), _WEB, _DEVICES, ("DE", "FR", "NL"), (18, 40),
            income_bands=("lower_middle", "middle")),
    Persona("lapsed", 0.15, 5.0, 6.0, 0.6, 0.8, 90.0, 0.2, 0.05, 0.05, 0.1,
            ("home", "garden"), ("web",), ("desktop",), ("DE", "FR", "IT"), (40, 75),
            active_until=0.3),
    Persona("new_visitors", 0.15, 5.0, 7.0, 0.3, 0.15, 35.0, 0.5, 0.2, 0.05, 0.02,
            ("fashion", "beauty", "sports"), ("app", "web"), ("mobile",), ("DE", "NL", "ES"),
            (18, 35), active_from=0.75, income_bands=("low", "lower_middle", "middle")),
    Persona("email_engaged", 0.15, 1.5, 5.0, 0.5, 0.7, 75.0, 7.0, 0.55, 0.05, 0.05,
            ("books", "home", "garden"), ("email", "web"), ("desktop", "tablet"),
            ("DE", "AT", "FR"), (45, 70), income_bands=("middle", "upper_middle")),
)  # fmt: skip


def with_timing(
    new_from: float, lapsed_until: float, personas: Sequence[Persona] = DEFAULT_PERSONAS
) -> tuple[Persona, ...]:
    """``personas`` with new visitors arriving from ``new_from`` and lapsed customers
    stopping at ``lapsed_until`` (fractions of the window), so that every group is
    present and recognisable well before the end of a short stream.

    >>> [p.active_from for p in with_timing(0.3, 0.2) if p.name == "new_visitors"]
    [0.3]
    """
    return tuple(
        replace(p, active_from=new_from) if p.name == "new_visitors"
        else replace(p, active_until=lapsed_until) if p.name == "lapsed" else p
        for p in personas
    )  # fmt: skip


@dataclass(frozen=True)
class InputShift:
    """A planted abrupt input-level shift: from ``at_fraction`` of the window on (by
    event time), every customer opens ``email_factor`` times as many emails (a change
    of the event-type mix that leaves the funnel alone) and adds to cart, and checks
    out, ``conversion_factor`` times as often (a conversion drop when below 1).

    >>> InputShift(0.5, conversion_factor=0.5).apply(DEFAULT_PERSONAS[0]).cart_rate
    0.3
    """

    at_fraction: float
    email_factor: float = 1.0
    conversion_factor: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.at_fraction <= 1.0:
            raise ValueError("InputShift.at_fraction must be within [0, 1]")
        if not (0 <= self.email_factor < math.inf and 0 <= self.conversion_factor <= 1):
            raise ValueError("InputShift: email_factor finite >= 0, conversion_factor in [0, 1]")

    def at_ms(self, days: float, start_ms: int = DEFAULT_START_MS) -> int:
        """Event time (epoch ms) of the shift in a stream of ``days`` from ``start_ms``."""
        return start_ms + int(self.at_fraction * int(days * DAY_MS))

    def apply(self, p: Persona) -> Persona:
        """How ``p`` behaves after the shift."""
        return replace(p, email_open_rate=p.email_open_rate * self.email_factor,
                       cart_rate=p.cart_rate * self.conversion_factor,
                       purchase_rate=p.purchase_rate * self.conversion_factor)  # fmt: skip
