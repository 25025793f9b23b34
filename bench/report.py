"""How the suite shows its figures: a line per part as it finishes, a table at the end.

The table has one row per measurement: its figure, its ratio to the reference it is
judged against, the target and pass/fail. ``--smoke`` runs look for each part's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Row:
    measurement: str
    figure: str
    ratio: str = ""
    target: str = ""
    verdict: str = ""


def table(r: dict[str, Any]) -> list[Row]:
    rows = [Row("   broker (parts 1-3)", r["broker"])] if "broker" in r else []
    limit = r.get("limit", {}).get("rate")
    if "limit" in r:
        rows.append(
            Row("1. limit: aiokafka getmany + json.loads", _rate(r["limit"]), "1.00", "reference")
        )
        pydantic = r["limit_pydantic"]
        rows.append(Row("   (info) aiokafka + pydantic model_validate_json", _rate(pydantic),
                        _ratio(pydantic["rate"], limit)))  # fmt: skip
    naive = r.get("naive", {}).get("rate")
    if "naive" in r:
        rows.append(Row("2. naive: bare Faust agent + River KMeans", _rate(r["naive"]),
                        _ratio(naive, limit), "reference"))  # fmt: skip
    if "live" in r:
        live = r["live"]
        partial = "" if live.get("complete") else f" (first {live['events']:,.0f} events)"
        rows.append(
            Row(
                "3. live pipeline, sustained (x limit)",
                _rate(live) + partial,
                _ratio(live["rate"], limit),
                ">= 0.30",
                _verdict(live["rate"], limit, 0.30),
            )
        )
        rows.append(Row("   live pipeline (x naive)", "", _ratio(live["rate"], naive, "x"), ">= 8x",
                        _verdict(live["rate"], naive, 8.0)))  # fmt: skip
    if "latency" in r:
        lat = r["latency"]
        figure = (f"p50 {lat['p50_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms "
                  f"({lat['matched']} changes at {lat['achieved_rate']:,.0f} ev/s)")  # fmt: skip
        ok = lat["matched"] > 0 and lat["p99_ms"] <= 100
        rows.append(Row("   latency at half the live rate", figure, "", "p99 <= 100 ms",
                        "pass" if ok else "FAIL"))  # fmt: skip
        if floor := lat.get("floor"):
            rows.append(Row("   (info) broker floor: relay, no engine, same pace",
                            f"p50 {floor['p50_ms']:.0f} ms, p99 {floor['p99_ms']:.0f} ms",
                            _ratio(lat["p99_ms"], floor["p99_ms"], "x p99")))  # fmt: skip
    if "replay" in r:
        rd, rp = r["replay"]["read_decode"], r["replay"]["replay"]
        rows.append(
            Row("4. read + decode (replay's reader), no broker", _rate(rd), "1.00", "reference")
        )
        rows.append(Row(f"   replay: read, order, engine ({rp['events']:,} events)", _rate(rp),
                        _ratio(rp["rate"], rd["rate"]), ">= 0.25",
                        _verdict(rp["rate"], rd["rate"], 0.25)))  # fmt: skip
    rows += memory_rows(r.get("memory", {}))
    return rows


def memory_rows(memory: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for store, variant in [(s, v) for s in ("memory", "rocksdb") for v in ("mature", "new")]:
        m = memory.get(store, {}).get(variant)
        if not m:
            continue
        what = "after 2 weeks" if variant == "mature" else "after 3 events"
        per = m["rss_bytes_per_customer"]
        rows.append(Row(f"5. RSS per customer, {store}://, {what} ({m['customers']:,})",
                        f"{per:,.0f} B ({m['rss_total_mb']:,.0f} MB)", f"{per / 1024:.2f} KiB",
                        "<= 1 KiB", "pass" if per <= 1024 else "FAIL"))  # fmt: skip
        disk = f"changelog {m['changelog_bytes_per_customer']:,.0f} B"
        if "disk_bytes_per_customer" in m:
            disk += f", RocksDB dir {m['disk_bytes_per_customer']:,.0f} B"
        rows.append(Row(f"   bytes on disk per customer, {store}://, {what}", disk))
    return rows


def render(rows: list[Row]) -> str:
    head = Row("measurement", "figure", "ratio", "target", "pass/fail")
    cells = [[x.measurement, x.figure, x.ratio, x.target, x.verdict] for x in [head, *rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(5)).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _rate(figures: dict[str, Any]) -> str:
    cpu = f", {figures['cpu_us']:.0f} µs CPU/ev" if figures.get("cpu_us") else ""
    return f"{figures['rate']:,.0f} ev/s{cpu}"


def _ratio(value: float | None, reference: float | None, suffix: str = "") -> str:
    if not value or not reference:
        return "n/a"
    return f"{value / reference:.2f}{suffix}"


def _verdict(value: float | None, reference: float | None, target: float) -> str:
    if not value or not reference:
        return "n/a"
    return "pass" if value / reference >= target else "FAIL"


def say(name: str, figures: dict[str, Any]) -> None:
    """One line of figures, as a part finishes."""
    shown = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in figures.items()}
    print(f"  {name}: {shown}", flush=True)
