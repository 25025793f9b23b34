"""What one arrival becomes: a session's funnel, an email open, a support contact.

Each expansion draws only from the ``random.Random`` it is handed, which the generator
re-seeds before every call: the events of one arrival depend on nothing else.
"""

from __future__ import annotations

import math
import random

from synthetic.personas import DAY_MS, Persona

__all__ = ["Event", "expand"]

Event = tuple[int, str, float | None, dict[str, str]]  # time, type, amount, properties
_VIEW_GAP_MS = 40_000.0  # mean time between views in a session
_SEARCH_P = 0.15  # chance of a search before a view
_PRODUCT_VIEW_P = 0.65  # share of views that are product views


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k, prod = k + 1, prod * rng.random()
    return k


def _session(rng: random.Random, p: Persona, t0: int, sid: str) -> tuple[list[Event], float]:
    """Events of one session from ``t0`` (a refund may follow much later) and its end."""
    base = {"channel": rng.choice(p.channels), "device": rng.choice(p.devices), "session_id": sid}
    category = rng.choice(p.categories)
    out: list[Event] = [(t0, "session_start", None, base)]
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
    rng: random.Random, p: Persona, t: float, props: dict[str, str], out: list[Event]
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
            when = int(t + rng.uniform(1, 7) * DAY_MS)
            out.append((when, "refund", part, {"category": props["category"]}))
    return t


def expand(
    rng: random.Random, source: str, p: Persona, t0: int, sid: str
) -> tuple[list[Event], float]:
    """Events of one arrival of ``source`` at ``t0`` and when the source may fire again."""
    if source == "session":
        return _session(rng, p, t0, sid)
    if source == "support":
        return [(t0, "support_contact", None, {"channel": rng.choice(("chat", "phone"))})], t0
    email = {"channel": "email"}
    out: list[Event] = [(t0, "email_open", None, email)]
    if rng.random() < p.email_click_share:
        out.append((int(t0 + rng.expovariate(1 / 120_000)), "email_click", None, email))
    return out, t0
