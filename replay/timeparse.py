"""Times as input logs write them: ISO-8601, ``YYYYMMDD`` and epoch numbers of any unit.

:func:`parse_time` reads an event's time from a CSV or Parquet cell (JSON Lines follow
the contract instead); :func:`parse_range_time` reads ``--from``/``--to``.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, date, datetime, timedelta

from replay.errors import SourceError

__all__ = ["parse_range_time", "parse_time"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?")


def parse_time(value: str | float | datetime | date) -> datetime:
    """Read a time in a common format; an aware UTC datetime. Naive times are UTC.

    ISO-8601 (``Z``, an offset, or none; a space instead of ``T``), ``YYYYMMDD``, and
    epoch numbers told apart by magnitude: seconds below 1e11, then milliseconds,
    microseconds, nanoseconds. An 8-digit number that is a valid date is read as
    ``YYYYMMDD`` (as epoch seconds it would be in 1970-73).

    >>> parse_time("2026-01-02T03:04:05+01:00").isoformat()
    '2026-01-02T02:04:05+00:00'
    >>> parse_time("2026-01-02 03:04:05").isoformat()
    '2026-01-02T03:04:05+00:00'
    >>> parse_time("20260102").isoformat()
    '2026-01-02T00:00:00+00:00'
    >>> parse_time(1767312245) == parse_time("1767312245000") == parse_time("2026-01-02T00:04:05Z")
    True
    """
    try:
        moment = _moment(value)
        # In UTC, a time of year 1 east of Greenwich or of year 9999 west of it is not
        # a datetime either.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (OverflowError, OSError):
        raise ValueError("time is out of range") from None


def _moment(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, int | float):
        return _from_number(value)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            return _from_number(float(text) if "." in text else int(text))
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{text[:40]!r} is not a time (ISO-8601, YYYY-MM-DD HH:MM:SS, YYYYMMDD, "
                "epoch seconds or milliseconds)"
            ) from None
    raise ValueError(f"cannot read a time from {type(value).__name__}")


def _from_number(number: float) -> datetime:
    if isinstance(number, float) and not abs(number) < float("inf"):
        raise ValueError("time is not a finite number")
    if isinstance(number, int) and 10_000_000 <= number <= 99_999_999:
        with contextlib.suppress(ValueError):
            return datetime.strptime(str(number), "%Y%m%d")
    size = abs(number)
    if size < 1e11:
        return _EPOCH + timedelta(seconds=number)
    if size < 1e14:
        return _EPOCH + timedelta(milliseconds=number)
    if size < 1e17:
        return _EPOCH + timedelta(microseconds=number)
    return _EPOCH + timedelta(microseconds=number // 1000)


def parse_range_time(text: str) -> int:
    """``--from``/``--to``: ISO-8601 (naive is UTC) or epoch milliseconds, as epoch ms.

    >>> parse_range_time("2026-01-01T00:00:00Z"), parse_range_time("1767225600000")
    (1767225600000, 1767225600000)
    """
    text = text.strip()
    try:
        if text.isdigit():
            return int(text)
        moment = datetime.fromisoformat(text)
    except ValueError:  # not a time; or digits int() will not read ("²", over 4,300 of them)
        raise SourceError(
            f"time {text[:40]!r}: expected ISO-8601 (e.g. 2026-01-31T00:00:00Z) or epoch ms"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)
