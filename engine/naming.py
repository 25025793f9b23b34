"""Human-readable segment names from what sets a segment apart, and only from data it has.

A name is read off the segment's centroid in standardised space, where each
coordinate already says how far the segment sits from the population in that
feature. Features are grouped into signals (value, frequency, lapse, newness, ...);
a short list of rules, first match wins, turns the signals into a base name.

Three things keep names true:

- **Only known signals.** A signal is *unknown* when none of its features carries
  data (``known``): a rule that tests an unknown signal, even negatively ("bargain
  hunters" are frequent buyers *below* average value), never fires. Every rule names
  each signal it relies on, so no name claims a quantity the data does not have.
- **Unique among live segments.** Segments that would share a base name are told
  apart by the signal that separates them most ("lapsed customers, higher value" and
  "lapsed customers, lower value"); a segment id is the last resort, never a counter.
- **Hysteresis.** A segment keeps its base name while its rule still holds within
  ``margin`` (in standard deviations), and no rule before it holds by more than
  ``margin``: a profile oscillating around a threshold keeps its name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

__all__ = ["FALLBACK", "RULES", "SIGNALS", "Rule", "name_segments", "segment_name", "signals"]

SIGNALS: dict[str, tuple[str, ...]] = {
    "value": ("monetary_", "total_spend", "avg_order_value"),
    "frequency": ("frequency_", "purchase_count"),
    "lapse": ("days_since_last_seen", "recency_days"),
    "tenure": ("tenure_days",),
    "browsing": ("product_views_", "sessions_", "searches_"),
    "email": ("email_opens_", "email_clicks_", "email_click_rate"),
    "abandonment": ("cart_abandonment_",),
    "support": ("support_contacts_",),
}

# How a qualifier words a signal: (the highest of a group, in between, the lowest).
QUALIFIERS: dict[str, tuple[str, str, str]] = {
    "value": ("higher value", "mid value", "lower value"),
    "frequency": ("more frequent", "mid frequency", "less frequent"),
    "lapse": ("longer lapsed", "mid recency", "more recently active"),
    "tenure": ("longer-standing", "mid tenure", "newer"),
    "browsing": ("more visits", "mid visits", "fewer visits"),  # sessions, views, searches
    "email": ("more email engaged", "mid email engagement", "less email engaged"),
    "abandonment": ("more cart abandonment", "mid cart abandonment", "less cart abandonment"),
    "support": ("more support contacts", "mid support contacts", "fewer support contacts"),
}

FALLBACK = "casual customers"

Signals = Mapping[str, float | None]


# A name that says "new" or "lapsed" claims a time, not only a rank: the standardised
# scores say who is newest or longest silent, but at the end of a log in which everyone
# joined a year ago the newest are not new. When a segment's typical value in days is
# known (the segmenter hands the standardisation over), these bound it too.
NEW_DAYS = 60.0  # "new": typically first seen less than this many days ago
LAPSED_DAYS = 30.0  # "lapsed": typically silent for more than this many days
DAYS_SLACK = 1.25  # a name already held keeps its bound in days this much looser


@dataclass(frozen=True, slots=True)
class Rule:
    """A name and the bounds it needs: each signal strictly ``above`` or ``below`` a
    threshold (standardised units). It relies on every signal it bounds. Bounds in
    days (``days_under``, ``days_over``, by feature) apply when the days are known.

    >>> rule = Rule("lapsed big spenders", above={"lapse": 0.8, "value": 0.3})
    >>> rule.fit({"lapse": 1.0, "value": 0.5}), rule.fit({"lapse": 1.0, "value": None})
    (0.2, None)
    >>> new = Rule("new customers", below={"tenure": -0.8}, days_under={"tenure_days": 60})
    >>> new.fit({"tenure": -1.0}), new.fit({"tenure": -1.0}, days={"tenure_days": 400})
    (0.2, -inf)
    """

    name: str
    above: Mapping[str, float] = field(default_factory=dict)
    below: Mapping[str, float] = field(default_factory=dict)
    days_under: Mapping[str, float] = field(default_factory=dict)
    days_over: Mapping[str, float] = field(default_factory=dict)

    @property
    def tests(self) -> frozenset[str]:
        """The signals the rule relies on."""
        return frozenset(self.above) | frozenset(self.below)

    def fit(
        self, s: Signals, days: Mapping[str, float] | None = None, slack: float = 1.0
    ) -> float | None:
        """How far inside its bounds ``s`` sits (> 0: the rule holds; < 0: how far
        past a threshold it is), rounded to 1e-9; None when a signal it needs is unknown;
        minus infinity when a known value in ``days`` is out of its bound (widened by
        ``slack``)."""
        days = days or {}
        if any(days.get(f, -math.inf) >= t * slack for f, t in self.days_under.items()) or any(
            days.get(f, math.inf) <= t / slack for f, t in self.days_over.items()
        ):
            return -math.inf
        margins: list[float] = []
        for signal, threshold in self.above.items():
            value = s.get(signal)
            if value is None:
                return None
            margins.append(value - threshold)
        for signal, threshold in self.below.items():
            value = s.get(signal)
            if value is None:
                return None
            margins.append(threshold - value)
        return round(min(margins), 9)


_NEW = {"tenure_days": NEW_DAYS}
_LAPSED = {"days_since_last_seen": LAPSED_DAYS, "recency_days": LAPSED_DAYS}
RULES: tuple[Rule, ...] = (
    Rule("lapsed big spenders", above={"lapse": 0.8, "value": 0.3}, days_over=_LAPSED),
    Rule("lapsed customers", above={"lapse": 0.8}, days_over=_LAPSED),
    Rule("new browsers", below={"tenure": -0.8, "frequency": 0.3}, days_under=_NEW),
    Rule("new buyers", above={"frequency": 0.3}, below={"tenure": -0.8}, days_under=_NEW),
    Rule("new customers", below={"tenure": -0.8}, days_under=_NEW),
    Rule("high-value loyal", above={"value": 0.5, "frequency": 0.5}),
    Rule("frequent bargain hunters", above={"frequency": 0.5}, below={"value": 0.0}),
    Rule("frequent buyers", above={"frequency": 0.5}),
    Rule("email engaged", above={"email": 0.8}),
    Rule("window shoppers", above={"browsing": 0.5}, below={"frequency": 0.0}),
    Rule("cart abandoners", above={"abandonment": 0.8}),
    Rule("support heavy", above={"support": 1.0}),
    Rule("big-ticket occasional buyers", above={"value": 0.5}, below={"frequency": 0.5}),
    Rule("big spenders", above={"value": 0.5}),
)
_RANK = {rule.name: i for i, rule in enumerate(RULES)} | {FALLBACK: len(RULES)}
_BY_NAME = {rule.name: rule for rule in RULES}
_SUFFIX = re.compile(r" \([^()]*\)$")  # an id (or a former "(2)") after the name
_COUNTER = re.compile(r" \(\d+\)$")


def signals(
    z: Mapping[str, float], known: Collection[str] | None = None
) -> dict[str, float | None]:
    """Mean standardised score of the features behind each signal, over the features
    of ``z`` that carry data (``known``; default: all of them); None when none does."""
    out: dict[str, float | None] = {}
    for signal, prefixes in SIGNALS.items():
        scores = [v for name, v in z.items()
                  if (known is None or name in known) and name.startswith(prefixes)]  # fmt: skip
        out[signal] = sum(scores) / len(scores) if scores else None
    return out


def base_name(s: Signals, days: Mapping[str, float] | None = None) -> str:
    """The first rule that holds, or the fallback."""
    return next(
        (rule.name for rule in RULES if (f := rule.fit(s, days)) is not None and f > 0), FALLBACK
    )


def segment_name(z: Mapping[str, float], known: Collection[str] | None = None) -> str:
    """A base name for one segment whose centroid has standardised scores ``z``.

    >>> segment_name({"monetary_90d": 1.4, "frequency_90d": 1.1, "tenure_days": 0.2})
    'high-value loyal'
    >>> segment_name({"frequency_90d": 1.1, "avg_order_value": -0.4})
    'frequent bargain hunters'
    >>> segment_name({"frequency_90d": 1.1, "avg_order_value": 0.0}, known={"frequency_90d"})
    'frequent buyers'
    """
    return base_name(signals(z, known))


def kept_base(
    s: Signals, current: str | None, margin: float, days: Mapping[str, float] | None = None
) -> str:
    """The base name for signals ``s`` of a segment now called ``current``: the current
    base while its rule holds within ``margin`` (its bounds in ``days`` within
    :data:`DAYS_SLACK`) and no rule before it holds by more than ``margin``; otherwise
    the first rule that holds."""
    derived = base_name(s, days)
    base = None if current is None else _SUFFIX.sub("", current.split(", ")[0])
    if base is None or base == derived or base not in _RANK:
        return derived
    rule = _BY_NAME.get(base)
    if rule is not None:
        f = rule.fit(s, days, DAYS_SLACK)
        if f is None or f <= -margin:  # unknown now, or moved past a threshold by the margin
            return derived
    for earlier in RULES[: _RANK[base]]:
        f = earlier.fit(s, days)
        if f is not None and f > margin:
            return derived
    return base


def name_segments(
    profiles: Mapping[str, Mapping[str, float]],
    known: Collection[str] | None = None,
    current: Mapping[str, str] | None = None,
    margin: float = 0.0,
    reserved: Collection[str] = (),
    days: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, str]:
    """Distinct names for the live segments ``profiles`` (id -> standardised centroid).

    ``current`` holds the names they have (kept within ``margin``), ``reserved`` names
    taken by others (overrides), ``days`` each segment's typical value of the features
    counted in days (id -> feature -> days), when known. Deterministic: the same
    arguments, the same names.

    >>> lapsed = {"a": {"days_since_last_seen": 2.0, "avg_order_value": 0.2},
    ...           "b": {"days_since_last_seen": 1.5, "avg_order_value": -0.6}}
    >>> name_segments(lapsed)
    {'a': 'lapsed customers, higher value', 'b': 'lapsed customers, lower value'}
    >>> name_segments({"a": lapsed["a"]}, current={"a": "lapsed customers, higher value"})
    {'a': 'lapsed customers'}
    """
    current = current or {}
    sigs = {i: signals(z, known) for i, z in profiles.items()}
    groups: dict[str, list[str]] = {}
    for i in sorted(profiles):
        base = kept_base(sigs[i], current.get(i), margin, (days or {}).get(i))
        groups.setdefault(base, []).append(i)
    names: dict[str, str] = {}
    for base, members in groups.items():
        names.update(_group_names(base, members, sigs, current))
    return {i: f"{name} ({i})" if name in reserved else name for i, name in sorted(names.items())}


def _group_names(
    base: str, members: list[str], sigs: Mapping[str, Signals], current: Mapping[str, str]
) -> dict[str, str]:
    """Names for the segments sharing ``base``: those that already bear it keep their
    names (while these stay distinct), the others are qualified by the signals that
    separate the group; the group is named afresh only when a fresh name would clash.
    A segment alone with its base drops its qualifiers."""
    if len(members) == 1:
        return {members[0]: base}
    rule = _BY_NAME.get(base)
    used = set(rule.tests) if rule else set()
    fresh = {i: base + "".join(", " + q for q in quals) if quals[-1:] != [i]
             else base + "".join(", " + q for q in quals[:-1]) + f" ({i})"
             for i, quals in _qualify(members, sigs, used).items()}  # fmt: skip
    names = {i: n for i in members if _bears(n := current.get(i, ""), base)}
    if len(set(names.values())) < len(names):
        return fresh
    for i in members:
        if i not in names:
            if fresh[i] in names.values():
                return fresh
            names[i] = fresh[i]
    return names


def _bears(name: str, base: str) -> bool:
    """Whether ``name`` is ``base``, qualified or not (a former counter does not count)."""
    return _SUFFIX.sub("", name.split(", ")[0]) == base and not _COUNTER.search(name)


def _qualify(
    members: list[str], sigs: Mapping[str, Signals], used: set[str]
) -> dict[str, list[str]]:
    """Qualifiers telling ``members`` apart: by the unused signal that spreads them the
    most (highest, in between, lowest), recursively; a member's id when none is left."""
    if len(members) == 1:
        return {members[0]: []}
    best, spread = None, 1e-6
    for signal in SIGNALS:
        values = [sigs[i][signal] for i in members]
        if signal in used or any(v is None for v in values):
            continue
        known = [v for v in values if v is not None]
        if max(known) - min(known) > spread:
            best, spread = signal, max(known) - min(known)
    if best is None:
        return {i: [i] for i in members}
    order = sorted(members, key=lambda i: (-(sigs[i][best] or 0.0), i))
    high, mid, low = QUALIFIERS[best]
    out = {order[0]: [high], order[-1]: [low]}
    if len(order) > 2:
        middle = _qualify(order[1:-1], sigs, used | {best})
        out.update({i: [mid, *quals] for i, quals in middle.items()})
    return out
