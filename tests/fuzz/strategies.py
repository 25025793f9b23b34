"""Hypothesis strategies for the property tests over the decoders: JSON of every shape,
the contracts' objects nearly valid, and times at the edges of what a datetime holds.

Shared by ``tests/schemas``, ``tests/replay``, ``tests/engine`` and ``tests/fuzz``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from schemas.events import EVENT_TYPES

__all__ = [
    "CONTRACT_FIELDS",
    "JSON",
    "NEAR_VALID",
    "ROLES",
    "VALID",
    "deep",
    "json_bytes",
    "near_valid",
    "timestamps",
]

# The three contracts by the live decoder's source name, with a valid object of each.
VALID: dict[str, dict[str, Any]] = {
    "behaviour": {
        "event_id": "e1",
        "customer_id": "c1",
        "type": "purchase",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "amount": 10.0,
        "currency": "EUR",
        "properties": {"channel": "web", "category": "shoes"},
    },
    "profiles": {
        "customer_id": "c1",
        "timestamp": 1_767_225_600_000,
        "attributes": {"city": "Berlin", "age": 40, "vip": True},
    },
    "erasures": {"customer_id": "c1", "timestamp": "2026-01-01T00:00:00Z", "request_id": "r1"},
}
# Replay's ``_topic`` for each source.
ROLES = {"behaviour": "behaviour", "profiles": "profile", "erasures": "erasure"}
CONTRACT_FIELDS = sorted({name for value in VALID.values() for name in value} | {"_topic"})

_TEXT = st.text(max_size=12) | st.sampled_from(["", " ", "c1", "EUR", "é", "\x00", "😀"])
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, -0.0, 1e15, 1e15 + 2, 1e308, 5e-324, 2**63, -(2**63) - 1])
    | _TEXT
)
JSON: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(_TEXT | st.sampled_from(CONTRACT_FIELDS), children, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value that ``json.dumps(..., allow_nan=False)`` writes."""

_OFFSETS = st.builds(
    timezone,
    st.timedeltas(
        min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
    ).map(lambda delta: timedelta(minutes=delta // timedelta(minutes=1))),
)
_MOMENTS = st.datetimes(timezones=st.none() | st.just(UTC) | _OFFSETS)
_RECENT_MS = st.integers(1_767_225_600_000 - 10**11, 1_767_225_600_000 + 10**11)


def timestamps() -> st.SearchStrategy[Any]:
    """Event times as JSON carries them: ISO-8601 of every year and offset (naive too),
    epoch milliseconds of every size, the odd other value; often near 2026."""
    return st.one_of(
        _RECENT_MS,
        _RECENT_MS.map(
            lambda ms: (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()
        ),
        _MOMENTS.map(datetime.isoformat),
        st.sampled_from(
            [
                "0001-01-01T00:00:00+01:00",
                "9999-12-31T23:59:59-01:00",
                "2026-02-30T00:00:00Z",
                "2026-01-01",
                "20260101",
                "",
                "now",
            ]
        ),
        st.integers(),
        st.sampled_from([10**20, 10**400, -(10**20), True, 1.5e12, None]),
    )


def deep(depth: int, open_: str = "[", close: str = "]") -> str:
    """A JSON text nested ``depth`` deep (``[[[...]]]`` or ``{"a":{"a":...}}``)."""
    return open_ * depth + ("1" if open_ != "[" else "") + close * depth


@st.composite
def near_valid(draw: st.DrawFn, source: str) -> dict[str, Any]:
    """A valid object of ``source``'s contract with some fields dropped, replaced (by any
    JSON, an edge time, a long or odd string) or added; often still valid."""
    out = dict(VALID[source])
    for name in list(out):
        choice = draw(st.sampled_from(["keep", "keep", "keep", "drop", "json", "edge"]))
        if choice == "drop":
            del out[name]
        elif choice == "json":
            out[name] = draw(JSON)
        elif choice == "edge":
            out[name] = draw(_edge(name))
    out.update(
        draw(
            st.dictionaries(
                st.sampled_from(["extra", "type", "amount", "attributes"]), JSON, max_size=1
            )
        )
    )
    return out


def _edge(name: str) -> st.SearchStrategy[Any]:
    if name == "timestamp":
        return timestamps()
    if name == "type":
        return st.sampled_from(sorted(EVENT_TYPES)) | _TEXT
    if name == "amount":
        return st.floats(min_value=0, allow_nan=False) | st.integers(-1, 2**64)
    if name in ("properties", "attributes"):
        names = st.sampled_from(["category", "channel", "age", "country", "x", "é"]) | _TEXT
        # Past the default limits (64 entries, 1,024 characters), yet a message well
        # under the live decoder's 100,000 bytes.
        values = _SCALARS | st.text(alphabet="ab", min_size=1000, max_size=1100)
        return st.dictionaries(names, values, max_size=70)
    # Ids and codes: empty, long, odd.
    return st.one_of(_TEXT, st.text(min_size=250, max_size=300), st.integers())


NEAR_VALID = {source: near_valid(source) for source in VALID}


def json_bytes(value: Any, ascii_only: bool = True) -> bytes:
    """``value`` as one line of JSON."""
    return json.dumps(value, allow_nan=False, ensure_ascii=ascii_only).encode()
