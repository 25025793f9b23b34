"""A dead letter always fits a Kafka record: an original too large is cut, and says so."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import dead_letters as dl

HEADERS = st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=400)), max_size=5).map(tuple)


def weight(key: bytes | None, value: bytes | None, headers: dl.Headers) -> int:
    return len(key or b"") + len(value or b"") + sum(len(n) + len(d) for n, d in headers)


@settings(max_examples=200)
@given(
    key=st.none() | st.binary(max_size=3_000),
    value=st.none() | st.binary(max_size=5_000),
    headers=HEADERS,
    budget=st.integers(2_000, 6_000),
)
def test_a_dead_letter_fits_its_budget_and_keeps_the_start_of_the_original(
    key: bytes | None, value: bytes | None, headers: dl.Headers, budget: int
) -> None:
    why = dl.why("too_large", "message is too large", "events", 3, 17)
    out_key, out_value, out_headers = dl.fitted(key, value, headers, why, budget)
    assert weight(out_key, out_value, out_headers) <= budget
    assert out_headers[-len(why) - 1 :][: len(why)] == why or out_headers[-len(why) :] == why
    if weight(key, value, (*headers, *why)) <= budget:  # fits: exactly as it came
        assert (out_key, out_value, out_headers) == (key, value, (*headers, *why))
        return
    assert (value is None) == (out_value is None)
    assert (out_value or b"") == (value or b"")[: len(out_value or b"")]
    assert dict(out_headers)[dl.HEADER_TRUNCATED] == str(len(value or b"")).encode()
    assert key is None or key.startswith(out_key or b"")
