"""Parquet logs (``.parquet``; never gzipped: Parquet compresses inside the file).

Columns are named like contract fields or mapped onto them (:mod:`replay.mapping`);
native timestamps and numbers are used as they are, except numbers that feed text
fields (ids, mostly), which are read as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from replay.errors import SourceError
from replay.mapping import KNOWN_FIELDS, plan_columns
from replay.readers.base import Record, Reject, check_readable, file_errors, reject
from replay.readers.tabular import Layout, row_event
from schemas.decode import Rejected

__all__ = ["read"]

_TEXT_FIELDS = frozenset(KNOWN_FIELDS) - {"timestamp", "amount", "attributes.age"}
_BATCH_ROWS = 8192  # Parquet rows turned into Python objects at a time


def read(
    path: Path, columns: Mapping[str, str], types: Mapping[str, str], context: dict[str, Any]
) -> Iterator[Record | Reject]:
    """The log's rows; reads the schema and checks the mapping against it before returning."""
    header = _header(path)
    return _read(path, plan_columns(path, header, columns), types, context)


def _header(path: Path) -> list[str]:
    check_readable(path)
    try:
        return list(pq.read_schema(path).names)
    except pa.ArrowException as exc:
        raise SourceError(f"{path}: not a readable Parquet file ({exc})") from None


def _read(
    path: Path, plan: dict[str, str], types: Mapping[str, str], context: dict[str, Any]
) -> Iterator[Record | Reject]:
    wanted = sorted(set(plan.values()))
    layout = Layout.of(plan, {column: i for i, column in enumerate(wanted)})
    texts = {column for target, column in plan.items() if target in _TEXT_FIELDS}
    name, position = path.name, 0
    with file_errors(path, pa.ArrowException), pq.ParquetFile(path) as source:
        for batch in source.iter_batches(batch_size=_BATCH_ROWS, columns=wanted):
            cells = [_as_cells(batch.column(c), c in texts) for c in wanted]
            for row in zip(*cells, strict=True):
                origin = f"{name}:{position + 1}"
                result = row_event(row, layout, origin, types, context)
                if isinstance(result, Rejected):
                    shown = dict(zip(wanted, row, strict=True))
                    raw = json.dumps(shown, default=str, ensure_ascii=False)
                    yield reject(position, origin, result, raw)
                else:
                    yield Record(position, origin, result)
                position += 1


def _as_cells(column: pa.Array, text: bool) -> list[Any]:
    """A column's values; numbers that feed text fields (ids, mostly) as text."""
    kind = column.type
    if text and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        column = column.cast(pa.string())
    values: list[Any] = column.to_pylist()
    return values
