"""Synthetic behavioural stream with planted customer groups and their true labels.

Every customer belongs to one :class:`Persona`. Each customer's sessions, email
opens and support contacts are Poisson processes at the persona's weekly rates,
restricted to the persona's active part of the window (lapsed customers stop
early, new visitors start late). A :class:`Shift` makes a share of one persona's
customers behave like another from a point in event time on: a planted abrupt drift.

Pure and deterministic: the same arguments give the same messages. Randomness is a
``random.Random`` re-seeded from ``(seed, customer, step)`` before every expansion, so
customers are independent of each other and streaming holds only a few pending
events per customer. The default personas give about 7 behaviour events per
customer-day (1,000 customers x 30 days is about 215,000 events, ~4 s).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

__all__ = [
    "DEFAULT_PERSONAS",
    "DEFAULT_START_MS",
    "INCOME_BANDS",
    "Persona",
    "Shift",
    "customer_id",
    "generate",
    "labels",
    "with_timing",
]

DEFAULT_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
INCOME_BANDS: tuple[str, ...] = ("low", "lower_middle", "middle", "upper_middle", "high")
_DAY_MS = 86_400_000
_WEEK_MS = 7 * _DAY_MS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VIEW_GAP_MS = 40_000.0  # mean time between views in a session
_SEARCH_P = 0.15  # chance of a search before a view
_PRODUCT_VIEW_P = 0.65  # share of views that are product views
_RATES = {"session": "sessions_per_week", "email": "email_open_rate", "support": "support_rate"}
_CITIES = {"DE": ("Berlin", "Hamburg", "Munich", "Cologne"), "AT": ("Vienna", "Graz"),
           "CH": ("Zurich", "Geneva"), "FR": ("Paris", "Lyon", "Marseille"),
           "NL": ("Amsterdam", "Rotterdam"), "ES": ("Madrid", "Barcelona"),
           "IT": ("Milan", "Rome"), "PL": ("Warsaw", "Krakow")}  # fmt: skip
_LANGUAGES = {"DE": "de", "AT": "de", "CH": "de", "FR": "fr", "NL": "nl", "ES": "es",
              "IT": "it", "PL": "pl"}  # fmt: skip

Message = dict[str, Any]
_Event = tuple[int, str, float | None, dict[str, str]]  # time, type, amount, properties
_Segment = tuple[float, float, "Persona"]  # [from, until) in ms, behaving as persona


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
        return start_ms + int(self.at_fraction * int(days * _DAY_MS))


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


def customer_id(index: int, customers: int) -> str:
    """Id of customer ``index`` of ``customers``: ``c`` and at least six digits.

    >>> customer_id(123, 1000)
    'c000123'
    """
    return f"c{index:0{max(6, len(str(customers - 1)))}d}"


@lru_cache(maxsize=64)
def _date(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).date().isoformat()


def _iso(ms: int) -> str:
    """ISO-8601 UTC with milliseconds: ``2026-01-01T10:00:00.123+00:00``."""
    day, rest = divmod(ms, _DAY_MS)
    seconds, milli = divmod(rest, 1000)
    minutes, sec = divmod(seconds, 60)
    return f"{_date(day)}T{minutes // 60:02d}:{minutes % 60:02d}:{sec:02d}.{milli:03d}+00:00"


def _check(personas: Sequence[Persona], shift: Shift | None) -> dict[str, Persona]:
    by_name = {p.name: p for p in personas}
    if not personas or len(by_name) != len(personas):
        raise ValueError("need at least one persona, with unique names")
    if shift is not None and not {shift.from_persona, shift.to_persona} <= by_name.keys():
        raise ValueError(f"shift names unknown personas; known: {sorted(by_name)}")
    return by_name


def _assign(
    rng: random.Random, seed: int, index: int, personas: Sequence[Persona], shift: Shift | None
) -> tuple[Persona, Persona, float, float]:
    """Planted persona before and after the shift, and window jitters, of one customer."""
    rng.seed(f"{seed}:{index}:assign")
    before = rng.choices(personas, weights=[p.weight for p in personas])[0]
    switch = rng.random()  # drawn with or without a shift: labels before it never change
    jitters = (rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1))
    after = before
    if shift is not None and before.name == shift.from_persona and switch < shift.share:
        after = next(p for p in personas if p.name == shift.to_persona)
    return before, after, *jitters


def labels(
    customers: int,
    seed: int,
    personas: Sequence[Persona] = DEFAULT_PERSONAS,
    shift: Shift | None = None,
    after_shift: bool = True,
) -> dict[str, str]:
    """Planted persona name of every customer of :func:`generate` with the same arguments.

    Parameters
    ----------
    after_shift
        Label a switched customer with the persona it ends with (default), else with
        the one it starts with; both are the same for everyone else.

    Examples
    --------
    >>> labels(3, seed=7)
    {'c000000': 'new_visitors', 'c000001': 'high_value_loyal', 'c000002': 'window_shoppers'}
    """
    _check(personas, shift)
    rng = random.Random()
    out = {}
    for i in range(customers):
        before, after, _, _ = _assign(rng, seed, i, personas, shift)
        out[customer_id(i, customers)] = (after if after_shift else before).name
    return out


@dataclass(frozen=True)
class _Context:
    customers: int
    seed: int
    start: int
    end: int
    personas: tuple[Persona, ...]
    shift: Shift | None
    with_profiles: bool

    def window(self, p: Persona, jitter: tuple[float, float], lo: float, hi: float) -> _Segment:
        """The part of [lo, hi) in which ``p`` is active, for one customer's jitter."""
        span = self.end - self.start
        frm = 0.0 if p.active_from == 0 else min(1.0, max(0.0, p.active_from + jitter[0]))
        until = 1.0 if p.active_until == 1 else min(1.0, max(0.0, p.active_until + jitter[1]))
        return max(lo, self.start + frm * span), min(hi, self.start + until * span), p


def _plan(ctx: _Context, rng: random.Random, index: int) -> tuple[list[_Segment], Persona]:
    """Active segments of one customer (in time order) and its starting persona."""
    before, after, *jitter = _assign(rng, ctx.seed, index, ctx.personas, ctx.shift)
    j = (jitter[0], jitter[1])
    end = float(ctx.end)
    if after is before or ctx.shift is None:
        parts = [ctx.window(before, j, ctx.start, end)]
    else:
        at = float(ctx.start + int(ctx.shift.at_fraction * (ctx.end - ctx.start)))
        parts = [ctx.window(before, j, ctx.start, at), ctx.window(after, j, at, end)]
    return [s for s in parts if s[0] < s[1]], before


def _next_arrival(rng: random.Random, t: float, segments: list[_Segment], source: str) -> float:
    """Next arrival after ``t`` of a Poisson process with each segment's persona's rate."""
    for lo, hi, p in segments:
        rate = getattr(p, _RATES[source]) / _WEEK_MS
        if hi <= t or rate <= 0:
            continue
        arrival = max(t, lo) + rng.expovariate(rate)
        if arrival < hi:
            return arrival
    return math.inf


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k, prod = k + 1, prod * rng.random()
    return k


def _session(rng: random.Random, p: Persona, t0: int, sid: str) -> tuple[list[_Event], float]:
    """Events of one session from ``t0`` (a refund may follow much later) and its end."""
    base = {"channel": rng.choice(p.channels), "device": rng.choice(p.devices), "session_id": sid}
    category = rng.choice(p.categories)
    out: list[_Event] = [(t0, "session_start", None, base)]
    t = float(t0)
    for _ in range(max(1, _poisson(rng, p.views_per_session))):
        t += rng.expovariate(1 / _VIEW_GAP_MS)
        if rng.random() < _SEARCH_P:
            out.append((int(t), "search", None, base))
            t += rng.expovariate(1 / _VIEW_GAP_MS)
        if rng.random() < _PRODUCT_VIEW_P:
            cat = category if rng.random() < 0.75 else rng.choice(p.categories)
            out.append((int(t), "product_view", None, {**base, "category": cat}))
        else:
            out.append((int(t), "page_view", None, base))
    if rng.random() < p.cart_rate:
        t = _cart(rng, p, t, {**base, "category": category}, out)
    return out, t


def _cart(
    rng: random.Random, p: Persona, t: float, props: dict[str, str], out: list[_Event]
) -> float:
    """Append add/remove, maybe checkout and purchase (and a later refund); return the end."""
    steps = ["add_to_cart"] * (1 + (rng.random() < 0.3))
    if len(steps) == 2 and rng.random() < 0.3:
        steps.append("remove_from_cart")  # one of two: the cart never empties
    checkout_p = min(1.0, 1.25 * p.purchase_rate)
    bought = rng.random() < checkout_p
    if bought:
        steps.append("checkout")
        bought = rng.random() * checkout_p < p.purchase_rate
    for step in steps:
        t += rng.expovariate(1 / _VIEW_GAP_MS)
        out.append((int(t), step, None, props))
    if bought:
        t += rng.expovariate(1 / _VIEW_GAP_MS)
        amount = round(max(1.0, rng.lognormvariate(math.log(p.basket_mean) - 0.125, 0.5)), 2)
        out.append((int(t), "purchase", amount, props))  # lognormal(sigma 0.5), mean basket_mean
        if rng.random() < p.refund_share:  # full or partial, one to seven days later
            part = min(amount, round(amount * (1.0 if rng.random() < 0.7 else rng.random()), 2))
            when = int(t + rng.uniform(1, 7) * _DAY_MS)
            out.append((when, "refund", part, {"category": props["category"]}))
    return t


def _expand(
    rng: random.Random, source: str, p: Persona, t0: int, sid: str
) -> tuple[list[_Event], float]:
    """Events of one arrival of ``source`` at ``t0`` and when the source may fire again."""
    if source == "session":
        return _session(rng, p, t0, sid)
    if source == "support":
        return [(t0, "support_contact", None, {"channel": rng.choice(("chat", "phone"))})], t0
    email = {"channel": "email"}
    out: list[_Event] = [(t0, "email_open", None, email)]
    if rng.random() < p.email_click_share:
        out.append((int(t0 + rng.expovariate(1 / 120_000)), "email_click", None, email))
    return out, t0


def _profile(
    rng: random.Random, ctx: _Context, index: int, p: Persona, cid: str, ts: int
) -> Message:
    rng.seed(f"{ctx.seed}:{index}:profile")
    country = rng.choice(p.countries)
    attributes: dict[str, Any] = {
        "age": rng.randint(*p.age_range),
        "gender": rng.choices(("female", "male", "other"), weights=(0.49, 0.48, 0.03))[0],
        "country": country,
        "city": rng.choice(_CITIES.get(country, ("unknown",))),
        "income_band": rng.choice(p.income_bands),
        "language": _LANGUAGES.get(country, "en"),
    }
    value = {"customer_id": cid, "timestamp": _iso(ts), "attributes": attributes}
    return {"topic": "profile", "key": cid, "value": value}


def _behaviour(ctx: _Context, cid: str, n: int, event: _Event) -> Message:
    ts, etype, amount, props = event
    value: dict[str, Any] = {"event_id": f"s{ctx.seed}-{cid}-{n}", "customer_id": cid,
                             "type": etype, "timestamp": _iso(ts)}  # fmt: skip
    if amount is not None:
        value["amount"], value["currency"] = amount, "EUR"
    value["properties"] = dict(props)
    return {"topic": "behaviour", "key": cid, "value": value}


def _customer(
    ctx: _Context, rng: random.Random, index: int
) -> Iterator[tuple[int, int, int, Message]]:
    """One customer's messages in time order, as (time, customer, n, message)."""
    cid = customer_id(index, ctx.customers)
    segments, first = _plan(ctx, rng, index)
    rng.seed(f"{ctx.seed}:{index}:clock")
    clocks = {s: _next_arrival(rng, float(ctx.start), segments, s) for s in _RATES}
    pending: list[tuple[int, int, _Event]] = []
    pushed = seq = n = 0
    while True:
        source = min(clocks, key=clocks.__getitem__)
        due = clocks[source]
        if pending and pending[0][0] <= due:
            event = heapq.heappop(pending)[2]
            if event[0] > ctx.end:
                return
            if n == 0 and ctx.with_profiles:
                yield event[0], index, n, _profile(rng, ctx, index, first, cid, event[0])
                n += 1
            yield event[0], index, n, _behaviour(ctx, cid, n, event)
            n += 1
            continue
        if due == math.inf:
            return
        pushed += 1  # every expansion draws from its own seed: nothing leaks across yields
        rng.seed(f"{ctx.seed}:{index}:{pushed}")
        persona = next(p for lo, hi, p in segments if lo <= due < hi)
        events, resume = _expand(rng, source, persona, int(due), f"{cid}-s{pushed}")
        for event in events:
            seq += 1
            heapq.heappush(pending, (event[0], seq, event))
        clocks[source] = _next_arrival(rng, max(due, resume), segments, source)


def generate(
    customers: int,
    days: float,
    seed: int,
    start_ms: int = DEFAULT_START_MS,
    personas: Sequence[Persona] = DEFAULT_PERSONAS,
    shift: Shift | None = None,
    with_profiles: bool = True,
) -> Iterator[Message]:
    """Stream synthetic messages in non-decreasing event time, lazily.

    Parameters
    ----------
    customers, days, seed
        How many customers (``c000000`` ...), how long a window, which stream.
    start_ms
        Event time (epoch ms) the window starts at; events lie in ``[start, start + days]``.
    personas, shift
        The planted groups and an optional planted abrupt shift.
    with_profiles
        Emit one profile update per customer, with (just before) its first event.

    Returns
    -------
    Iterator of ``{"topic": "behaviour" | "profile", "key": customer_id, "value": {...}}``
    whose values follow the behaviour-event and profile-update contracts. The planted
    truth is :func:`labels` with the same arguments.

    Examples
    --------
    >>> stream = list(generate(customers=20, days=7, seed=1))
    >>> stream == list(generate(customers=20, days=7, seed=1))
    True
    >>> first = stream[0]["value"]
    >>> stream[0]["topic"], first["timestamp"] >= "2026-01-01T00:00:00.000+00:00"
    ('profile', True)
    """
    _check(personas, shift)
    if customers < 0 or not (math.isfinite(days) and days > 0):
        raise ValueError("customers must be >= 0 and days a finite number > 0")
    end = start_ms + int(days * _DAY_MS)
    ctx = _Context(customers, seed, start_ms, end, tuple(personas), shift, with_profiles)
    return _merge(ctx)


def _merge(ctx: _Context) -> Iterator[Message]:
    rng = random.Random()  # shared: each step re-seeds it and finishes before yielding
    streams = [_customer(ctx, rng, i) for i in range(ctx.customers)]
    for *_, message in heapq.merge(*streams):
        yield message
