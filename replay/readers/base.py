"""What every log reader yields, and the file handling the readers share.

A reader turns each row into a :class:`Record` or a :class:`Reject`, never dropping one
silently; a problem with the file as a whole is a :class:`~replay.errors.SourceError`.
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from replay.errors import SourceError
from schemas.dead_letters import DeadLetterReason, one_line
from schemas.decode import Rejected
from schemas.events import BehaviourEvent, ErasureRequest, InputEvent, ProfileUpdate

__all__ = [
    "Contract",
    "LogFormat",
    "Reader",
    "Record",
    "Reject",
    "check_readable",
    "file_errors",
    "one_line",
    "open_binary",
    "open_text",
    "reject",
]

Contract = type[BehaviourEvent | ProfileUpdate | ErasureRequest]


@dataclass(frozen=True, slots=True)
class Record:
    """One input event. ``position`` (0-based, over all rows) breaks event-time ties."""

    position: int
    origin: str  # "events.csv:13" (1-based line, or row for Parquet) or "topic:partition:offset"
    event: InputEvent


@dataclass(frozen=True, slots=True)
class Reject:
    """One row that could not be read, and why (``reason`` as in dead letters)."""

    position: int
    origin: str
    reason: DeadLetterReason
    error: str
    raw: str


# (path, columns, types, constants, validation context) -> rows. Whole-file problems
# raise at the call, before the first row is asked for: the iterator does the reading.
Reader = Callable[
    [Path, Mapping[str, str], Mapping[str, str], Mapping[str, str], dict[str, Any]],
    Iterator[Record | Reject],
]


@dataclass(frozen=True, slots=True)
class LogFormat:
    """A kind of input log: its name and its reader; ``gzip`` if ``NAME.gz`` is read too."""

    name: str
    read: Reader
    gzip: bool = True


def check_readable(path: Path) -> None:
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except OSError as exc:
        raise SourceError(f"{path}: {exc.strerror or exc}") from None


def open_text(path: Path) -> IO[str]:
    # surrogateescape: a byte that is not UTF-8 spoils its row, not the whole file.
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="surrogateescape", newline="")
    return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")


def open_binary(path: Path) -> IO[bytes]:
    if path.suffix.lower() == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


@contextlib.contextmanager
def file_errors(path: Path, *errors: type[Exception]) -> Iterator[None]:
    """A broken file (truncated gzip, corrupt Parquet) ends the read with one line.

    ``errors`` are the format's own "broken file" exceptions, besides I/O errors.
    """
    caught: tuple[type[Exception], ...] = (OSError, EOFError, *errors)
    try:
        yield
    except caught as exc:
        raise SourceError(f"{path}: {one_line(str(exc))}") from None


def reject(position: int, origin: str, rejected: Rejected, raw: str) -> Reject:
    # Lone surrogates (bytes that were not UTF-8) would break whoever writes `raw` out.
    safe = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return Reject(position, origin, rejected.reason, one_line(rejected.error), safe)
