"""Tests of the planted input-level shift: opt-in, nothing changes before it, and after
it the event-type mix or the funnel conversion moves as asked."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from synthetic import DEFAULT_START_MS, InputShift, generate

CUSTOMERS, DAYS, SEED = 150, 20, 5
AT = InputShift(0.5).at_ms(DAYS)


def stream(shift: InputShift | None) -> list[dict[str, Any]]:
    return list(generate(CUSTOMERS, DAYS, SEED, input_shift=shift))


def counts(messages: list[dict[str, Any]], after: bool) -> Counter[str]:
    """Event types before or after the shift (by timestamp text, which sorts as time)."""
    at = stream_time(AT)
    return Counter(
        m["value"]["type"]
        for m in messages
        if m["topic"] == "behaviour" and (m["value"]["timestamp"] >= at) == after
    )


def stream_time(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


@pytest.fixture(scope="module")
def plain() -> list[dict[str, Any]]:
    return stream(None)


def test_a_shift_at_the_very_end_changes_nothing(plain: list[dict[str, Any]]) -> None:
    assert stream(InputShift(1.0, email_factor=5.0, conversion_factor=0.1)) == plain


@pytest.mark.parametrize("shift", [InputShift(0.5, email_factor=8.0),
                                   InputShift(0.5, conversion_factor=0.4)])  # fmt: skip
def test_before_the_shift_the_stream_is_the_plain_one(
    plain: list[dict[str, Any]], shift: InputShift
) -> None:
    at = stream_time(AT)
    shifted = stream(shift)
    before = [m for m in shifted if m["value"]["timestamp"] < at]
    assert before == [m for m in plain if m["value"]["timestamp"] < at]
    assert shifted != plain


def test_more_emails_change_the_mix_not_the_funnel(plain: list[dict[str, Any]]) -> None:
    base, moved = counts(plain, after=True), counts(stream(InputShift(0.5, email_factor=8.0)), True)
    assert moved["email_open"] > 5 * base["email_open"]
    views = ("page_view", "product_view")
    base_rate = base["add_to_cart"] / sum(base[v] for v in views)
    moved_rate = moved["add_to_cart"] / sum(moved[v] for v in views)
    # Another draw of the sessions after the shift: ~200 carts each, so ~10% noise.
    assert moved_rate == pytest.approx(base_rate, rel=0.3)


def test_a_conversion_drop_lowers_every_funnel_step(plain: list[dict[str, Any]]) -> None:
    base = counts(plain, after=True)
    moved = counts(stream(InputShift(0.5, conversion_factor=0.4)), after=True)
    views = ("page_view", "product_view")
    assert moved["add_to_cart"] / sum(moved[v] for v in views) < 0.6 * (
        base["add_to_cart"] / sum(base[v] for v in views)
    )
    assert moved["checkout"] / moved["add_to_cart"] < 0.7 * base["checkout"] / base["add_to_cart"]
    assert counts(plain, after=False) == counts(stream(InputShift(0.5, conversion_factor=0.4)),
                                                after=False)  # fmt: skip


@pytest.mark.parametrize(
    "kwargs",
    [{"at_fraction": 1.5}, {"at_fraction": 0.5, "email_factor": -1.0},
     {"at_fraction": 0.5, "conversion_factor": 1.5}],
)  # fmt: skip
def test_an_impossible_input_shift_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="InputShift"):
        InputShift(**kwargs)


def test_the_shift_time_is_a_fraction_of_the_window() -> None:
    assert InputShift(0.25).at_ms(8) == DEFAULT_START_MS + 2 * 86_400_000
