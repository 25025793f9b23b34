"""Synthetic behavioural stream with planted customer groups and their true labels.

Every customer belongs to one :class:`Persona`. Each customer's sessions, email
opens and support contacts are Poisson processes at the persona's weekly rates,
restricted to the persona's active part of the window (lapsed customers stop
early, new visitors start late). A :class:`Shift` makes a share of one persona's
customers behave like another from a point in event time on: a planted abrupt drift;
an :class:`InputShift` changes every customer's event-type mix or funnel conversion
from a point on: a planted input drift. Without them the stream is as it always was.

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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from synthetic.personas import (
    DAY_MS,
    DEFAULT_PERSONAS,
    DEFAULT_START_MS,
    InputShift,
    Persona,
    Shift,
)
from synthetic.sessions import Event, expand
from synthetic.truth import assign, check_personas, customer_id

__all__ = ["Message", "generate"]

_WEEK_MS = 7 * DAY_MS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RATES = {"session": "sessions_per_week", "email": "email_open_rate", "support": "support_rate"}
_CITIES = {"DE": ("Berlin", "Hamburg", "Munich", "Cologne"), "AT": ("Vienna", "Graz"),
           "CH": ("Zurich", "Geneva"), "FR": ("Paris", "Lyon", "Marseille"),
           "NL": ("Amsterdam", "Rotterdam"), "ES": ("Madrid", "Barcelona"),
           "IT": ("Milan", "Rome"), "PL": ("Warsaw", "Krakow")}  # fmt: skip
_LANGUAGES = {"DE": "de", "AT": "de", "CH": "de", "FR": "fr", "NL": "nl", "ES": "es",
              "IT": "it", "PL": "pl"}  # fmt: skip

Message = dict[str, Any]
_Segment = tuple[float, float, Persona]  # [from, until) in ms, behaving as persona
_Plans = tuple[list[_Segment], list[_Segment]]  # without and with the input shift


@lru_cache(maxsize=64)
def _date(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).date().isoformat()


def _iso(ms: int) -> str:
    """ISO-8601 UTC with milliseconds: ``2026-01-01T10:00:00.123+00:00``."""
    day, rest = divmod(ms, DAY_MS)
    seconds, milli = divmod(rest, 1000)
    minutes, sec = divmod(seconds, 60)
    return f"{_date(day)}T{minutes // 60:02d}:{minutes % 60:02d}:{sec:02d}.{milli:03d}+00:00"


@dataclass(frozen=True)
class _Context:
    customers: int
    seed: int
    start: int
    end: int
    personas: tuple[Persona, ...]
    shift: Shift | None
    with_profiles: bool
    input_shift: InputShift | None = None

    @property
    def input_at(self) -> float:
        """Event time of the input shift (the end without one)."""
        fraction = 1.0 if self.input_shift is None else self.input_shift.at_fraction
        return float(self.start + int(fraction * (self.end - self.start)))

    def window(self, p: Persona, jitter: tuple[float, float], lo: float, hi: float) -> _Segment:
        """The part of [lo, hi) in which ``p`` is active, for one customer's jitter."""
        span = self.end - self.start
        frm = 0.0 if p.active_from == 0 else min(1.0, max(0.0, p.active_from + jitter[0]))
        until = 1.0 if p.active_until == 1 else min(1.0, max(0.0, p.active_until + jitter[1]))
        return max(lo, self.start + frm * span), min(hi, self.start + until * span), p


def _plan(ctx: _Context, rng: random.Random, index: int) -> tuple[list[_Segment], Persona]:
    """Active segments of one customer (in time order) and its starting persona."""
    before, after, *jitter = assign(rng, ctx.seed, index, ctx.personas, ctx.shift)
    j = (jitter[0], jitter[1])
    end = float(ctx.end)
    if after is before or ctx.shift is None:
        parts = [ctx.window(before, j, ctx.start, end)]
    else:
        at = float(ctx.start + int(ctx.shift.at_fraction * (ctx.end - ctx.start)))
        parts = [ctx.window(before, j, ctx.start, at), ctx.window(after, j, at, end)]
    return [s for s in parts if s[0] < s[1]], before


def _input_shifted(ctx: _Context, parts: list[_Segment]) -> list[_Segment]:
    """``parts`` cut at the input shift, the later pieces' personas shifted."""
    shift, at = ctx.input_shift, ctx.input_at
    if shift is None:
        return parts
    out: list[_Segment] = []
    for lo, hi, p in parts:
        if lo < at:
            out.append((lo, min(hi, at), p))
        if hi > at:
            out.append((max(lo, at), hi, shift.apply(p)))
    return out


def _arrival(
    ctx: _Context, rng: random.Random, index: int, t: float, plans: _Plans, source: str
) -> float:
    """Next arrival of ``source`` after ``t``. The plain stream's draw comes first, so
    ``rng`` moves as it would without an input shift; an arrival past the shift is drawn
    again from the shift on, from a seed of its own (a Poisson process forgets its past),
    so that nothing before the shift changes."""
    plain, shifted = plans
    arrival = _next_arrival(rng, t, plain, source)
    if ctx.input_shift is None or arrival < ctx.input_at:
        return arrival
    side = random.Random(f"{ctx.seed}:{index}:{source}:{t!r}:input")
    return _next_arrival(side, max(t, ctx.input_at), shifted, source)


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


def _behaviour(ctx: _Context, cid: str, n: int, event: Event) -> Message:
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
    plain, first = _plan(ctx, rng, index)
    segments = _input_shifted(ctx, plain)
    plans = (plain, segments)
    rng.seed(f"{ctx.seed}:{index}:clock")
    clocks = {s: _arrival(ctx, rng, index, float(ctx.start), plans, s) for s in _RATES}
    pending: list[tuple[int, int, Event]] = []
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
        events, resume = expand(rng, source, persona, int(due), f"{cid}-s{pushed}")
        for event in events:
            seq += 1
            heapq.heappush(pending, (event[0], seq, event))
        clocks[source] = _arrival(ctx, rng, index, max(due, resume), plans, source)


def generate(
    customers: int,
    days: float,
    seed: int,
    start_ms: int = DEFAULT_START_MS,
    personas: Sequence[Persona] = DEFAULT_PERSONAS,
    shift: Shift | None = None,
    with_profiles: bool = True,
    input_shift: InputShift | None = None,
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
    input_shift
        An optional planted input-level shift (event-type mix, funnel conversion).

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
    check_personas(personas, shift)
    if customers < 0 or not (math.isfinite(days) and days > 0):
        raise ValueError("customers must be >= 0 and days a finite number > 0")
    end = start_ms + int(days * DAY_MS)
    ctx = _Context(customers, seed, start_ms, end, tuple(personas), shift, with_profiles,
                   input_shift)  # fmt: skip
    return _merge(ctx)


def _merge(ctx: _Context) -> Iterator[Message]:
    rng = random.Random()  # shared: each step re-seeds it and finishes before yielding
    streams = [_customer(ctx, rng, i) for i in range(ctx.customers)]
    for *_, message in heapq.merge(*streams):
        yield message
