"""The worker's HTTP port serves the project's own routes only: the probes and
``/metrics`` to anyone, customer data behind a bearer token (or on loopback only),
and no profile of a segment small enough to read one customer off it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from brokers.clients import ensure_topics, producer
from brokers.embedded import EmbeddedBroker
from cli.local import wait_for_count
from synthetic import DEFAULT_START_MS

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
RULES = {
    "learned": {"warmup_updates": 100_000},  # no model: rule segments only
    "rules": [
        {"id": "recent", "name": "Recent", "expression": "recency_days < 7"},
        {"id": "big", "name": "Big spenders", "expression": "total_spend > 1000"},
    ],
}


@pytest.fixture
def broker(tansu: EmbeddedBroker) -> EmbeddedBroker:
    return tansu  # the routes are the worker's, whatever the broker


def get(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, body.decode(errors="replace")


def base(worker: Any) -> str:
    url: str = worker.metrics_url
    return url.removesuffix("/metrics")


def ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (answer := get(f"{url}/readyz"))[0] != 200:
        assert answer[0] == 503 and answer[1]["reasons"], answer
        assert time.monotonic() < deadline, f"never ready: {answer}"
        time.sleep(0.2)


def test_faust_routes_are_gone_and_the_probes_answer(start_worker: Callable[..., Any]) -> None:
    worker = start_worker()
    url = base(worker)
    assert get(f"{url}/healthz") == (200, {"status": "alive"})
    ready(url)
    for path in ("/table/customer-state/c1/", "/router/", "/graph/", "/stats/"):
        assert get(url + path)[0] == 404, path
    assert get(f"{url}/") == (200, {"status": "OK"})  # Faust's index: nothing more
    assert get(f"{url}/segments")[0] == 200  # loopback, no token set: open


def test_customer_data_needs_the_token_and_small_segments_are_withheld(
    start_worker: Callable[..., Any],
) -> None:
    worker = start_worker(engine=RULES, web_token="s3cret-t0ken", min_published_segment_size=3)
    url, t = base(worker), worker.settings.topics
    ensure_topics(worker.settings, [t.behaviour])
    with producer(worker.settings) as client:
        for c in range(4):  # four recent customers, one of them a big spender
            amount = 5_000.0 if c == 0 else 10.0
            event = {"event_id": f"e{c}", "customer_id": f"c{c}", "type": "purchase",
                     "amount": amount, "timestamp": DEFAULT_START_MS + c}  # fmt: skip
            client.send(t.behaviour, key=f"c{c}".encode(), value=json.dumps(event).encode())
    wait_for_count(worker.metrics_url, 4)

    for token in (None, "wrong", "s3cret-t0ke"):
        assert get(f"{url}/segments", token)[0] == 401
        assert get(f"{url}/customers/c0/segments", token)[0] == 401
    status, body = get(f"{url}/segments", "s3cret-t0ken")
    assert status == 200
    assert {p["segment"]["id"]: p["size"] for p in body["segments"]} == {"recent": 4}
    status, body = get(f"{url}/customers/c0/segments", "s3cret-t0ken")
    assert status == 200 and {r["id"] for r in body["rules"]} == {"recent", "big"}
    with urllib.request.urlopen(worker.metrics_url, timeout=10) as response:
        assert response.status == 200  # /metrics and the probes need no token
    ready(url)


def test_off_loopback_without_a_token_no_customer_data_is_served(
    start_worker: Callable[..., Any],
) -> None:
    worker = start_worker(web_bind="0.0.0.0")
    url = base(worker)
    status, body = get(f"{url}/segments")
    assert status == 403 and "web_token" in body["error"]
    assert get(f"{url}/customers/c0/segments")[0] == 403
    assert get(f"{url}/healthz")[0] == 200
