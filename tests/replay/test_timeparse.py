"""Times in the common formats: ISO-8601, ``YYYYMMDD``, epoch numbers of any unit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replay.sources import Record, SourceError, parse_range_time, parse_time, read_log

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TIMES: list[tuple[object, datetime]] = [
    ("2026-01-01T00:00:00Z", T0),
    ("2026-01-01T01:00:00+01:00", T0),
    ("2026-01-01T00:00:00.250+00:00", T0 + timedelta(milliseconds=250)),
    ("2026-01-01T00:00:00", T0),  # naive: UTC
    ("2026-01-01 00:00:00", T0),
    ("2026-01-01", T0),
    ("20260101", T0),
    ("20260101T000000Z", T0),
    ("1767225600", T0),  # epoch seconds
    ("1767225600000", T0),  # epoch milliseconds
    ("1767225600.5", T0 + timedelta(milliseconds=500)),
    ("1767225600000000", T0),  # epoch microseconds
    (" 1767225600 ", T0),
    (1767225600, T0),
    (1767225600000, T0),
    (1767225600000000000, T0),  # epoch nanoseconds
    (20260101, T0),
    (1767225600.25, T0 + timedelta(milliseconds=250)),
    (datetime(2026, 1, 1), T0),
    (datetime(2026, 1, 1, 1, tzinfo=UTC) - timedelta(hours=1), T0),
    (date(2026, 1, 1), T0),
]


@pytest.mark.parametrize(("value", "expected"), TIMES)
def test_parse_time_reads_common_formats(value: object, expected: datetime) -> None:
    moment = parse_time(value)  # type: ignore[arg-type]
    assert moment == expected
    assert moment.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("yesterday", "is not a time"),
        ("", "is not a time"),
        ("2026-13-01", "is not a time"),
        (True, "boolean"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (10**30, "out of range"),
        (None, "cannot read a time"),
        # A datetime, but not one in UTC: year 0 and year 10000 there.
        ("0001-01-01T00:00:00+01:00", "out of range"),
        ("9999-12-31T23:59:59-01:00", "out of range"),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), "out of range"),
        pytest.param("9" * 5000, "digits", id="5000-digits"),
    ],
)
def test_parse_time_refuses_with_one_line(value: object, error: str) -> None:
    with pytest.raises(ValueError, match=error) as caught:
        parse_time(value)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text", [value for value, _ in TIMES if isinstance(value, str)])
def test_every_time_format_reads_from_csv(tmp_path: Path, text: str) -> None:
    path = tmp_path / "events.csv"
    path.write_text(f'customer_id,timestamp,type\nc1,"{text}",page_view\n')
    (item,) = list(read_log(path))
    assert isinstance(item, Record) and item.event.timestamp == parse_time(text)


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))


@given(moments)
def test_parse_time_round_trips(moment: datetime) -> None:
    epoch_ms = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert parse_time(moment.isoformat()) == moment
    assert parse_time(moment.isoformat().replace("+00:00", "Z")) == moment
    assert parse_time(moment.replace(tzinfo=None).isoformat(sep=" ")) == moment
    assert parse_time(epoch_ms) == moment
    assert parse_time(str(epoch_ms)) == moment
    assert parse_time(epoch_ms // 1000) == moment.replace(microsecond=0)
    assert parse_time(moment.strftime("%Y%m%d")) == moment.replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    assert parse_range_time(moment.isoformat()) == epoch_ms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00Z", 1_767_225_600_000),
        ("2026-01-01T01:00:00+01:00", 1_767_225_600_000),
        ("2026-01-01", 1_767_225_600_000),  # naive: UTC
        ("1767225600123", 1_767_225_600_123),
        (" 1767225600123 ", 1_767_225_600_123),
    ],
)
def test_parse_range_time(text: str, expected: int) -> None:
    assert parse_range_time(text) == expected


@pytest.mark.parametrize(
    "text",
    # "²" is a digit to str.isdigit, not to int(); nor are 5,000 digits a number to it.
    ["", "yesterday", "-5", "1.5e12", "²", pytest.param("1" * 5000, id="5000-digits")],
)
def test_parse_range_time_refuses_with_one_line(text: str) -> None:
    with pytest.raises(SourceError, match="expected ISO-8601") as caught:
        parse_range_time(text)
    assert "\n" not in str(caught.value)
