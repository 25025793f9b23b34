"""Small input logs for the reader tests, and what every reader promises about rejects."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from replay.sources import Record, Reject, read_log
from schemas.dead_letters import DEAD_LETTER_REASONS

WriteLog = Callable[..., Path]
ReadRows = Callable[..., list[Record | Reject]]


@pytest.fixture
def write_log(tmp_path: Path) -> WriteLog:
    """``write_log(name, *rows)``: a file of ``rows``, one a line, gzipped if ``.gz``."""

    def write(name: str, *rows: str | bytes) -> Path:
        path = tmp_path / name
        data = b"".join((r if isinstance(r, bytes) else r.encode()) + b"\n" for r in rows)
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        return path

    return write


@pytest.fixture
def read_rows() -> ReadRows:
    """``read_rows(path, **options)``: every row of ``read_log``, rejects checked."""

    def read(path: Path, **options: Any) -> list[Record | Reject]:
        items = list(read_log(path, **options))
        for item in items:
            if isinstance(item, Reject):
                assert item.reason in DEAD_LETTER_REASONS
                assert item.error and "\n" not in item.error
                item.raw.encode("utf-8")  # writable as it is
        return items

    return read
