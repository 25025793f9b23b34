"""Parquet logs (``.parquet``; never gzipped: Parquet compresses inside the file).

Columns are named like contract fields or mapped onto them, and fields the file lacks
may be set for every row (:mod:`replay.mapping`);
native timestamps and numbers are used as they are, except numbers that feed text
fields (ids, mostly), which are read as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from itertools import repeat
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from replay.errors import SourceError
from replay.mapping import KNOWN_FIELDS, plan_columns
from replay.readers.base import Record, Reject, check_readable, file_errors, one_line, reject
from replay.readers.tabular import Layout, row_event
from schemas.decode import Rejected

__all__ = ["read"]

_TEXT_FIELDS = frozenset(KNOWN_FIELDS) - {"timestamp", "amount", "attributes.age"}
_BATCH_ROWS = 8192  # Parquet rows turned into Python objects at a time


def read(
    path: Path,
    columns: Mapping[str, str],
    types: Mapping[str, str],
    constants: Mapping[str, str],
    context: dict[str, Any],
) -> Iterator[Record | Reject]:
    """The log's rows; reads the schema and checks the mapping against it before returning."""
    schema = _schema(path)
    plan = plan_columns(path, schema.names, columns, constants)
    _check_columns(path, schema, sorted(set(plan.values())))
    return _read(path, plan, types, constants, context)


def _schema(path: Path) -> pa.Schema:
    check_readable(path)
    try:
        return pq.read_schema(path)
    # A broken footer: ArrowException, OSError (thrift), UnicodeDecodeError (a name).
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise SourceError(f"{path}: not a readable Parquet file ({one_line(str(exc))})") from None


def _check_columns(path: Path, schema: pa.Schema, wanted: list[str]) -> None:
    """What would stop every row of a column being read: a name two columns have, a
    time zone Python does not know."""
    for column in wanted:
        count = schema.names.count(column)
        if count > 1:
            raise SourceError(f"{path}: {count} columns are named {column!r}")
        kind = schema.field(column).type
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            try:
                pa.scalar(0, kind).as_py()
            except (LookupError, ValueError, pa.ArrowException):  # KeyError: pytz, zoneinfo
                raise SourceError(
                    f"{path}: column {column!r}: unknown time zone {kind.tz!r}"
                ) from None


def _read(
    path: Path,
    plan: dict[str, str],
    types: Mapping[str, str],
    constants: Mapping[str, str],
    context: dict[str, Any],
) -> Iterator[Record | Reject]:
    wanted = sorted(set(plan.values()))
    layout = Layout.of(plan, {column: i for i, column in enumerate(wanted)}, constants)
    texts = {column for target, column in plan.items() if target in _TEXT_FIELDS}
    name, position = path.name, 0
    with file_errors(path, pa.ArrowException), pq.ParquetFile(path) as source:
        # Every field set (--set), none read: one column still counts the rows.
        read = wanted or source.schema_arrow.names[:1]
        for batch in source.iter_batches(batch_size=_BATCH_ROWS, columns=read):
            broken: dict[int, Rejected] = {}  # rows with a cell Python cannot hold
            cells = [_as_cells(batch.column(c), c, c in texts, broken) for c in wanted]
            rows = zip(*cells, strict=True) if cells else repeat((), batch.num_rows)
            for index, row in enumerate(rows):
                origin = f"{name}:{position + 1}"
                result = (broken.get(index) if broken else None) or row_event(
                    row, layout, origin, types, context
                )
                if isinstance(result, Rejected):
                    shown = dict(zip(wanted, row, strict=True))
                    raw = json.dumps(shown, default=str, ensure_ascii=False)
                    yield reject(position, origin, result, raw)
                else:
                    yield Record(position, origin, result)
                position += 1


def _as_cells(column: pa.Array, name: str, text: bool, broken: dict[int, Rejected]) -> list[Any]:
    """A column's values; numbers that feed text fields (ids, mostly) as text. A value
    Python cannot hold (a date past year 9999, text that is not UTF-8) spoils the
    whole column's conversion: then cell by cell, such a cell ``None`` and its row in
    ``broken``."""
    kind = column.type
    if text and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        column = column.cast(pa.string())
    try:
        values: list[Any] = column.to_pylist()
    except (OverflowError, ValueError):
        values = [_cell(column, i, name, broken) for i in range(len(column))]
    return values


def _cell(column: pa.Array, index: int, name: str, broken: dict[int, Rejected]) -> Any:
    try:
        return column[index].as_py()
    except OverflowError as exc:
        broken.setdefault(index, Rejected("out_of_range", f"column {name!r}: out of range ({exc})"))
    except UnicodeDecodeError:
        broken.setdefault(index, Rejected("undecodable", f"column {name!r}: text is not UTF-8"))
    except ValueError as exc:
        broken.setdefault(index, Rejected("invalid", f"column {name!r}: {exc}"))
    return None
