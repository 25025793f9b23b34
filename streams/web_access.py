"""Who may read what over the worker's HTTP port, and whether the worker is ready.

``/metrics`` and the probes are open: they hold no customer's data (per-segment KPIs
only for segments of ``min_published_segment_size`` customers or more). The routes
that do (``/segments``, ``/customers/{id}/segments``) need ``web_token`` as a bearer
token; without one configured they answer only when the port is bound to loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from settings import Settings
from streams.faust_compat import coordinator_known


def refusal(settings: Settings, authorization: str | None) -> tuple[int, str] | None:
    """None if a request with this ``Authorization`` header may read customer data;
    else the HTTP status and why."""
    token = settings.web_token
    if token is None:
        if _loopback(settings.web_bind):
            return None
        return 403, "customer data is served off loopback only with web_token set"
    expected = f"Bearer {token.get_secret_value()}".encode()
    if authorization is not None and hmac.compare_digest(authorization.encode(), expected):
        return None
    return 401, "a bearer token is required (Authorization: Bearer <web_token>)"


def _loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def not_ready(app: Any) -> list[str]:
    """Why the worker cannot take traffic now (nothing: it can): it has not joined its
    consumer group yet, a rebalance or the table's recovery is under way, or it has
    lost its group coordinator (the broker is unreachable)."""
    reasons = []
    if not app.joined:
        reasons.append("not yet assigned its partitions")
    if app.rebalancing:
        reasons.append("rebalancing")
    if app.in_recovery or not app.tables.recovery.completed.is_set():
        reasons.append("recovering the customer-state table")
    if not coordinator_known(app):
        reasons.append("no group coordinator: the broker is unreachable")
    return reasons
