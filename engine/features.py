"""The feature vector a customer is segmented on, computed from state at event time."""

from __future__ import annotations

from engine.state import CustomerState

DAY_MS = 86_400_000
# Recency of a customer who never bought: far enough to sit apart from buyers.
NEVER_PURCHASED_DAYS = 365.0


def features(state: CustomerState, now_ms: int) -> dict[str, float]:
    """RFM and engagement of ``state`` as of event time ``now_ms``.

    Values are in their natural units (days, counts, money) so the snapshot in a
    segment change reads plainly; the model rescales them itself.

    >>> s = CustomerState("c1", purchase_count=3, total_spend=90.0, last_purchase_ms=0)
    >>> features(s, 2 * DAY_MS)["recency_days"], features(s, 2 * DAY_MS)["avg_order_value"]
    (2.0, 30.0)
    """
    counts = state.counts
    if state.last_purchase_ms is None:
        recency = NEVER_PURCHASED_DAYS
    else:
        recency = max(0.0, (now_ms - state.last_purchase_ms) / DAY_MS)
    aov = state.total_spend / state.purchase_count if state.purchase_count else 0.0
    email = counts.get("email_open", 0) + 2 * counts.get("email_click", 0)
    return {
        "recency_days": recency,
        "frequency": float(state.purchase_count),
        "monetary": float(state.total_spend),
        "avg_order_value": aov,
        "sessions": float(counts.get("session_start", 0)),
        "product_views": float(counts.get("product_view", 0) + counts.get("page_view", 0)),
        "cart_adds": float(counts.get("add_to_cart", 0)),
        "email_engagement": float(email),
    }
