"""Which reader reads a log: a registry keyed by file suffix, and :func:`read_log`.

Adding a format is one module with a ``read`` function (see
:data:`~replay.readers.base.Reader`) and one entry in :data:`FORMATS` per suffix.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from replay.errors import SourceError
from replay.mapping import ERASURE_TYPE, PROFILE_TYPE, ColumnMap, checked_constants
from replay.readers import csv_file, json_lines, parquet_file
from replay.readers.base import LogFormat, Record, Reject
from schemas.config import InputBoundsConfig

__all__ = ["FORMATS", "format_of", "log_format", "read_log"]

_JSON_LINES = LogFormat("jsonl", json_lines.read)
# Suffix (lower case) -> format; in this order in the message naming what is expected.
FORMATS: Mapping[str, LogFormat] = MappingProxyType(
    {
        ".jsonl": _JSON_LINES,
        ".ndjson": _JSON_LINES,
        ".json": _JSON_LINES,
        ".csv": LogFormat("csv", csv_file.read),
        ".parquet": LogFormat("parquet", parquet_file.read, gzip=False),
    }
)
_EMPTY: Mapping[str, str] = MappingProxyType({})


_BOUNDS = InputBoundsConfig()


def read_log(
    path: Path | str,
    columns: Mapping[str, str] = _EMPTY,
    types: Mapping[str, str] = _EMPTY,
    extra_event_types: Iterable[str] = (),
    bounds: InputBoundsConfig = _BOUNDS,
    constants: Mapping[str, str] = _EMPTY,
) -> Iterator[Record | Reject]:
    """Records and rejects of a log, in file order; the format follows the extension.

    ``.jsonl``/``.ndjson``/``.json`` (JSON Lines), ``.csv`` (both also ``.gz``) and
    ``.parquet``. Checks the file and the mapping before returning. Rows are decoded
    under ``bounds`` (``engine.input_bounds``): dated before its floor, they are
    ``out_of_range``; with larger bags than it allows, ``too_large``. ``constants``
    are fields set for every row (``--set``), checked against the contracts here.
    """
    path = Path(path)
    log = format_of(path)
    context = bounds.context(extra_event_types)
    allowed = context["event_types"]
    for written, meant in types.items():
        if meant not in allowed | {PROFILE_TYPE, ERASURE_TYPE}:
            raise SourceError(f"type map {written}={meant}: {meant!r} is not a known event type")
    ColumnMap(columns, types, constants)  # a field mapped and set, an id set: one line
    constants = checked_constants(constants, types, context)
    return log.read(path, columns, types, constants, context)


def format_of(path: Path) -> LogFormat:
    """The format of a log, from its file name (``NAME.SUFFIX``, or ``NAME.SUFFIX.gz``)."""
    suffix = path.suffix.lower()
    gzipped = suffix == ".gz"
    if gzipped:
        suffix = Path(path.stem).suffix.lower()
    found = FORMATS.get(suffix)
    if found is None or (gzipped and not found.gzip):
        raise SourceError(f"{path}: unknown log format (expected {_expected()})")
    return found


def log_format(path: Path) -> str:
    """``jsonl``, ``csv`` or ``parquet``, from the file name."""
    return format_of(path).name


def _expected() -> str:
    """``.jsonl, .ndjson, .json or .csv, optionally gzipped, or .parquet``."""
    zipped = [suffix for suffix, log in FORMATS.items() if log.gzip]
    plain = [suffix for suffix, log in FORMATS.items() if not log.gzip]
    parts = [_either(zipped) + ", optionally gzipped"] if zipped else []
    return ", or ".join(parts + ([_either(plain)] if plain else []))


def _either(names: Sequence[str]) -> str:
    return " or ".join(filter(None, [", ".join(names[:-1]), names[-1]]))
