"""CSV logs (``.csv``, also gzipped): a header row, then one event a row.

Columns are named like contract fields or mapped onto them, and fields the file lacks
may be set for every row (:mod:`replay.mapping`); cells are trimmed, and an empty cell
is a missing value.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from replay.errors import SourceError
from replay.mapping import plan_columns
from replay.readers.base import Record, Reject, check_readable, file_errors, open_text, reject
from replay.readers.tabular import Layout, row_event
from schemas.decode import Rejected

__all__ = ["read"]


def read(
    path: Path,
    columns: Mapping[str, str],
    types: Mapping[str, str],
    constants: Mapping[str, str],
    context: dict[str, Any],
) -> Iterator[Record | Reject]:
    """The log's rows; reads the header and checks the mapping against it before returning."""
    header = _header(path)
    plan = plan_columns(path, header, columns, constants)
    index = {column: i for i, column in reversed(list(enumerate(header)))}
    return _read(path, header, Layout.of(plan, index, constants), types, context)


def _header(path: Path) -> list[str]:
    check_readable(path)
    with file_errors(path, csv.Error), open_text(path) as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise SourceError(f"{path}: empty file (no header row)")
    return [name.strip() for name in header]


def _read(
    path: Path,
    header: list[str],
    layout: Layout,
    types: Mapping[str, str],
    context: dict[str, Any],
) -> Iterator[Record | Reject]:
    name, width, position = path.name, len(header), 0
    with file_errors(path), open_text(path) as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in _rows(reader):
            origin = f"{name}:{reader.line_num}"
            if isinstance(row, csv.Error):
                unreadable = Rejected("undecodable", f"unreadable row: {row}")
                yield reject(position, origin, unreadable, "")
                position += 1
                continue
            if not row:  # a blank line
                continue
            result = _broken(row, width) or row_event(
                [cell.strip() for cell in row], layout, origin, types, context
            )
            if isinstance(result, Rejected):
                shown = dict(zip(header, row, strict=True)) if len(row) == width else row
                raw = json.dumps(shown, ensure_ascii=False)
                yield reject(position, origin, result, raw)
            else:
                yield Record(position, origin, result)
            position += 1


def _rows(reader: Iterator[list[str]]) -> Iterator[list[str] | csv.Error]:
    """The rows, and in place of a row that the csv module refuses (a cell over its
    field size limit, 128 KiB), the error: the next row is read from the next line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield exc


def _broken(row: list[str], width: int) -> Rejected | None:
    if len(row) != width:
        return Rejected("undecodable", f"row has {len(row)} cells, the header has {width}")
    try:
        "".join(row).encode("utf-8")
    except UnicodeEncodeError:
        return Rejected("undecodable", "row is not UTF-8")
    return None
