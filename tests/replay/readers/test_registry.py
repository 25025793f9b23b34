"""The format registry: a reader per suffix; whole-file problems raise one line at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from replay.readers import FORMATS, format_of, log_format
from replay.sources import SourceError, read_log

CSV = ("customer_id,timestamp,type", "c1,2026-01-01,page_view")
WriteLog = Callable[..., Path]

# (file name, its lines or None for no file, read_log options, the error)
LOG_ERRORS: list[tuple[str, tuple[str, ...] | None, dict[str, Any], str]] = [
    ("missing.jsonl", None, {}, "missing.jsonl: no such file"),
    ("missing.csv", None, {}, "missing.csv: no such file"),
    ("missing.parquet", None, {}, "missing.parquet: no such file"),
    ("log.txt", ("{}",), {}, "unknown log format"),
    ("log.parquet.gz", ("{}",), {}, "unknown log format"),
    ("log.parquet", ("not parquet",), {}, "not a readable Parquet file"),
    ("events.csv", ("",), {}, "empty file"),
    (
        "events.csv",
        CSV,
        {"columns": {"customer_id": "user"}},
        "column 'user' (mapped to customer_id)",
    ),
    (
        "events.csv",
        ("customer_id,timestamp", "c1,2026-01-01"),
        {},
        "no column for type (columns: customer_id, timestamp); map one with --map type=COLUMN",
    ),
    (
        "events.csv",
        CSV,
        {"types": {"view": "pageview"}},
        "view=pageview: 'pageview' is not a known",
    ),
]


@pytest.mark.parametrize(("name", "rows", "options", "error"), LOG_ERRORS)
def test_whole_file_problems_raise_one_line_at_once(
    tmp_path: Path,
    write_log: WriteLog,
    name: str,
    rows: tuple[str, ...] | None,
    options: dict[str, Any],
    error: str,
) -> None:
    path = tmp_path / name if rows is None else write_log(name, *rows)
    with pytest.raises(SourceError) as caught:
        read_log(path, **options)  # not iterated: the error must come from the call
    assert error in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.jsonl", "jsonl"),
        ("a.NDJSON", "jsonl"),
        ("a.json.gz", "jsonl"),
        ("a.csv", "csv"),
        ("a.csv.GZ", "csv"),
        ("a.parquet", "parquet"),
    ],
)
def test_the_suffix_picks_the_format(name: str, kind: str) -> None:
    assert log_format(Path(name)) == kind
    assert format_of(Path(name)) is FORMATS[Path(name.lower().removesuffix(".gz")).suffix]


@pytest.mark.parametrize("name", ["a", "a.gz", "a.txt", "a.csv.zip", "a.parquet.gz", "a.gz.gz"])
def test_unknown_suffixes_name_every_known_one(name: str) -> None:
    with pytest.raises(SourceError) as caught:
        format_of(Path(name))
    assert str(caught.value) == (
        f"{name}: unknown log format (expected .jsonl, .ndjson, .json or .csv, "
        "optionally gzipped, or .parquet)"
    )
