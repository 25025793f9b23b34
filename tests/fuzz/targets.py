"""Fuzz targets: one function per decoder of bytes from outside, each raising only when
the decoder breaks its promise. Atheris drives them (``tests/fuzz/run.py``, ``make
fuzz``); ``test_targets.py`` runs them over the seed corpus (``corpus/TARGET/``).

A target takes any ``bytes``. The decoders' promises:

- ``decode``: ``schemas.decode.decode`` gives an event bound to its key that reads back
  from its own JSON as itself, or a rejection with a known reason.
- ``jsonl``, ``csv``, ``parquet``: ``replay.sources.read_log`` gives a ``Record`` or a
  ``Reject`` (known reason, one-line error) per row, in order, or a one-line
  ``SourceError`` for the file: at once, or for Parquet, at a corrupt page.
- ``mapping``: a mapping file or ``--map``/``--type-map`` flags give a ``ColumnMap`` or
  a one-line ``SourceError``.
- ``times``: ``parse_time`` gives an aware UTC datetime or a ``ValueError``;
  ``parse_range_time`` epoch milliseconds or a ``SourceError``.
- ``model_wire``: the trainer's lessons and models messages decode, or raise what their
  readers dead-letter (``ValueError``, ``TypeError``, ``KeyError``).
- ``settings``: a config file gives ``Settings`` or one ``ConfigError`` line.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from replay.sources import (
    ColumnMap,
    Record,
    Reject,
    SourceError,
    parse_range_time,
    parse_time,
    read_log,
)
from schemas.dead_letters import DEAD_LETTER_REASONS
from schemas.decode import CONTRACTS, Rejected, decode
from schemas.events import InputEvent, allowed_types_context
from settings import ConfigError, Settings, load_settings
from streams.model_wire import decode_contributions, decode_record

__all__ = ["TARGETS"]

_CONTEXT = allowed_types_context()
_SOURCES = sorted(CONTRACTS)
_MAPPED = ColumnMap.parse(["customer_id=user", "category=cat"], ["view=page_view"])
_CAUGHT = (ValueError, TypeError, KeyError)  # what the trainer and the worker dead-letter


@functools.cache
def _folder() -> Path:
    """Where the file-reading targets write their input, one file over and over."""
    folder = tempfile.TemporaryDirectory(prefix="segment-engine-fuzz-")
    atexit.register(folder.cleanup)
    return Path(folder.name)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def check_decode(data: bytes) -> None:
    """``schemas.decode``: the first byte picks the source and how long the key is."""
    head = data[0] if data else 0
    source = _SOURCES[head % len(_SOURCES)]
    split = 1 + (head >> 2) % 9
    key, value = (None if head & 0x80 else data[1:split]), data[split:]
    result = decode(source, key, value, _CONTEXT)
    if isinstance(result, Rejected):
        assert result.reason in DEAD_LETTER_REASONS and result.error, result
        return
    assert key == result.customer_id.encode()
    again = CONTRACTS[source].model_validate_json(result.model_dump_json(), context=_CONTEXT)
    assert again == result, (again, result)


def _read_log(name: str, data: bytes, mapped: bool) -> None:
    path = _folder() / name
    path.write_bytes(data)
    options = {"columns": _MAPPED.columns, "types": _MAPPED.types} if mapped else {}
    try:
        rows = read_log(path, **options)  # type: ignore[arg-type]
        # Parquet's pages are read as the rows are: a corrupt one ends the read there.
        rows = list(rows) if name.endswith(".parquet") else rows
    except SourceError as exc:
        assert "\n" not in str(exc), exc
        return
    check_rows(list(rows), name)  # a plain text file: nothing raises out of the rows


def check_rows(rows: list[Record | Reject], name: str) -> None:
    """What every reader promises of the rows it gives."""
    assert [row.position for row in rows] == list(range(len(rows)))
    numbers = [int(row.origin.rpartition(":")[2]) for row in rows]
    assert all(row.origin.startswith(f"{name}:") for row in rows)
    assert numbers == sorted(set(numbers)), numbers
    for row in rows:
        if isinstance(row, Reject):
            assert row.reason in DEAD_LETTER_REASONS, row
            assert row.error and "\n" not in row.error and "\r" not in row.error, row
            row.error.encode("utf-8")
            row.raw.encode("utf-8")
        else:
            assert isinstance(row.event, InputEvent)


def check_jsonl(data: bytes) -> None:
    _read_log("log.jsonl", data[1:], mapped=data[:1] == b"m")


def check_csv(data: bytes) -> None:
    _read_log("log.csv", data[1:], mapped=data[:1] == b"m")


def check_parquet(data: bytes) -> None:
    _read_log("log.parquet", data, mapped=False)


def check_mapping(data: bytes) -> None:
    """A mapping file (first byte ``t``: TOML, else JSON), then the lines as flags."""
    path = _folder() / ("map.toml" if data[:1] == b"t" else "map.json")
    path.write_bytes(data[1:])
    for read in (lambda: ColumnMap.load(path), lambda: ColumnMap.parse(*_halves(data))):
        try:
            mapping = read()
        except SourceError as exc:
            assert "\n" not in str(exc), exc
            continue
        assert isinstance(mapping, ColumnMap)


def _halves(data: bytes) -> tuple[list[str], list[str]]:
    lines = _text(data).splitlines()
    return lines[::2], lines[1::2]


def check_times(data: bytes) -> None:
    text = _text(data)
    try:
        moment = parse_time(text)
    except ValueError as exc:
        assert "\n" not in str(exc), exc
    else:
        assert isinstance(moment, datetime) and moment.tzinfo is UTC
    digits = text.strip()
    if digits.isascii() and digits.isdigit() and len(digits) < 30:
        with contextlib.suppress(ValueError):  # the same digits as a number
            parse_time(int(digits))
    try:
        assert isinstance(parse_range_time(text), int)
    except SourceError as exc:
        assert "\n" not in str(exc), exc


def check_model_wire(data: bytes) -> None:
    for decoder in (decode_contributions, decode_record):
        with contextlib.suppress(_CAUGHT):
            decoder(data)


def check_settings(data: bytes) -> None:
    path = _folder() / "settings.toml"
    path.write_bytes(data)
    try:
        assert isinstance(load_settings(path), Settings)
    except ConfigError as exc:
        assert "\n" not in str(exc), exc


TARGETS: dict[str, Callable[[bytes], None]] = {
    "csv": check_csv,
    "decode": check_decode,
    "jsonl": check_jsonl,
    "mapping": check_mapping,
    "model_wire": check_model_wire,
    "parquet": check_parquet,
    "settings": check_settings,
    "times": check_times,
}


def clean_environment() -> None:
    """The settings target reads ``SEGMENT_ENGINE_*`` too: none from outside."""
    for name in list(os.environ):
        if name.startswith("SEGMENT_ENGINE_"):
            del os.environ[name]
