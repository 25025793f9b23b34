"""Read a replay's input log (JSON Lines, CSV or Parquet) as records, in file order.

Every row becomes either a :class:`Record` (a validated input event) or a
:class:`Reject` (why it could not be read, with the dead-letter vocabulary): no row is
dropped silently. JSON Lines follow the input contracts exactly, as the live topics
do; CSV and Parquet rows are adapted by a :class:`ColumnMap` and read times in the
common formats that :func:`parse_time` understands.

Problems with the input as a whole (a missing file, a mapped column the header lacks)
raise :class:`SourceError` at once, from :func:`read_log` itself, with one line.

This module gathers the names callers use; the work is done by concern in
:mod:`replay.readers` (a reader per format, found by file suffix),
:mod:`replay.mapping`, :mod:`replay.timeparse` and :mod:`replay.errors`.
"""

from __future__ import annotations

from replay.errors import SourceError
from replay.mapping import ColumnMap
from replay.readers import Record, Reject, read_log
from replay.readers.tabular import derived_event_id
from replay.timeparse import parse_range_time, parse_time

__all__ = [
    "ColumnMap",
    "Record",
    "Reject",
    "SourceError",
    "derived_event_id",
    "parse_range_time",
    "parse_time",
    "read_log",
]
