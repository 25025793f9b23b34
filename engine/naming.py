"""Human-readable segment names from what sets a segment apart.

A name is read off the segment's centroid in standardised space, where each
coordinate already says how far the segment sits from the population in that
feature. Features are grouped into signals (value, frequency, lapse, newness, ...);
a short list of rules, first match wins, turns the signals into a name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

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

Signals = Mapping[str, float]
RULES: tuple[tuple[Callable[[Signals], bool], str], ...] = (
    (lambda s: s["lapse"] > 0.8 and s["value"] > 0.3, "lapsed big spenders"),
    (lambda s: s["lapse"] > 0.8, "lapsed customers"),
    (lambda s: s["tenure"] < -0.8 and s["frequency"] < 0.3, "new browsers"),
    (lambda s: s["tenure"] < -0.8, "new buyers"),
    (lambda s: s["value"] > 0.5 and s["frequency"] > 0.5, "high-value loyal"),
    (lambda s: s["frequency"] > 0.5, "frequent bargain hunters"),
    (lambda s: s["email"] > 0.8, "email engaged"),
    (lambda s: s["browsing"] > 0.5 and s["frequency"] < 0.0, "window shoppers"),
    (lambda s: s["abandonment"] > 0.8, "cart abandoners"),
    (lambda s: s["support"] > 1.0, "support heavy"),
    (lambda s: s["value"] > 0.5, "big-ticket occasional buyers"),
)


def signals(z: Mapping[str, float]) -> dict[str, float]:
    """Mean standardised score of the features behind each signal (0 when absent)."""
    out = {}
    for signal, prefixes in SIGNALS.items():
        scores = [v for name, v in z.items() if any(name.startswith(p) for p in prefixes)]
        out[signal] = sum(scores) / len(scores) if scores else 0.0
    return out


def segment_name(z: Mapping[str, float], taken: Collection[str] = ()) -> str:
    """A name for a segment whose centroid has standardised scores ``z``.

    >>> segment_name({"monetary_90d": 1.4, "frequency_90d": 1.1, "tenure_days": 0.2})
    'high-value loyal'
    >>> segment_name({"days_since_last_seen": 2.0}, taken={"lapsed customers"})
    'lapsed customers (2)'
    """
    s = signals(z)
    base = next((name for rule, name in RULES if rule(s)), "casual customers")
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base} ({n})"
    return name
