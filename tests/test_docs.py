"""The docs match the repository and the code: named paths exist, links and anchors lead
somewhere, every contract example fits its contract, every alert has its runbook, every
metric is listed, and the configuration reference is the one the settings model writes.
"""

from __future__ import annotations

import gzip
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from engine.changes import Change
from engine.drift import DriftReading
from engine.partitioning import kafka_partition
from engine.segment_engine import SegmentEngine
from engine.trainer import Trainer
from schemas import dead_letters as dl
from schemas.catalog import SegmentCatalogEntry
from schemas.changes import SegmentChange
from schemas.config import EngineConfig
from schemas.decode import Rejected, decode
from schemas.drift import DriftDetected
from schemas.events import BehaviourEvent, ErasureRequest, ProfileUpdate, allowed_types_context
from schemas.memberships import CustomerSegments
from settings import Settings, TopicNames
from settings.reference import main as reference_main
from streams.metrics import Metrics
from streams.model_checkpoint import FORMAT as MODEL_FORMAT
from streams.model_checkpoint import KEY as MODEL_KEY
from streams.model_checkpoint import ModelCheckpoint, encode_model_checkpoint
from streams.model_wire import decode_contributions, decode_record, record_hash
from streams.pipeline import drift_message
from streams.trainer_checkpoint import FORMAT, KEY, Checkpoint, encode_checkpoint

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
LINKED = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *DOCS, ROOT / "deploy" / "README.md"]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "segment-engine.json"

# A backticked repository path: a known top-level folder, then a file or folder name.
PATH = re.compile(
    r"`((?:schemas|engine|settings|brokers|streams|replay|synthetic|cli|bench|deploy|tests"
    r"|docs|examples)/[\w./-]*)`"
)
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^()\s]+)\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --- paths, links and anchors ----------------------------------------------------------


def paths_in(text: str) -> list[str]:
    return PATH.findall(text)


@pytest.mark.parametrize("doc", ["CONTRIBUTING.md", "README.md", *[rel(d) for d in DOCS]])
def test_every_path_a_doc_names_exists(doc: str) -> None:
    named = paths_in((ROOT / doc).read_text())
    assert named, f"{doc} names no paths: the pattern is wrong"
    missing = sorted({p for p in named if not (ROOT / p.rstrip("/")).exists()})
    assert not missing, f"{doc} names paths that do not exist: {missing}"


def test_the_pattern_finds_paths_and_only_paths() -> None:
    text = "see `engine/drift/base.py`, `replay/`, `make test` and `schemas.config`"
    assert paths_in(text) == ["engine/drift/base.py", "replay/"]


def prose(text: str) -> str:
    """The text without its fenced code blocks (no links or headings there)."""
    return FENCE.sub("", text)


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but ``-`` and ``_`` dropped,
    spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(prose(path.read_text())):
        base = anchor(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")  # GitHub numbers repeats
    return frozenset(found)


def test_anchor_follows_github() -> None:
    assert anchor("One model for several workers") == "one-model-for-several-workers"
    assert anchor("`engine.learned`") == "enginelearned"
    assert anchor("The trainer's topics") == "the-trainers-topics"
    assert anchor("SegmentEngineWorkerDown") == "segmentengineworkerdown"


def broken_links(doc: Path) -> list[str]:
    broken = []
    for target in LINK.findall(prose(doc.read_text())):
        parts = urlsplit(target)
        if parts.scheme or target.startswith("//"):
            continue  # the web is not checked here
        path = (doc.parent / parts.path).resolve() if parts.path else doc
        if not path.exists():
            broken.append(f"{target} (no such file)")
        elif parts.fragment and (path.suffix != ".md" or parts.fragment not in anchors(path)):
            broken.append(f"{target} (no such heading)")
    return broken


@pytest.mark.parametrize("doc", [rel(d) for d in LINKED])
def test_every_relative_link_and_anchor_leads_somewhere(doc: str) -> None:
    assert not broken_links(ROOT / doc), f"{doc}: {broken_links(ROOT / doc)}"


def test_a_broken_link_or_anchor_is_found(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("# Here\n\n## There too\n")
    doc = tmp_path / "a.md"
    doc.write_text(
        "[ok](b.md#there-too) [gone](c.md) [bad](b.md#nowhere) [self](#top) [web](https://x.y)"
        "\n\n# Top\n\n```\n[in code](d.md)\n# not a heading\n```\n"
    )
    assert broken_links(doc) == ["c.md (no such file)", "b.md#nowhere (no such heading)"]


def test_the_readme_shows_subscribing_after_the_picture() -> None:
    readme = (ROOT / "README.md").read_text()
    picture = readme.index("## How it fits together")
    assert picture < readme.index("## Subscribing to segment changes") < readme.index("## Replay")


# --- the configuration reference ---------------------------------------------------------


def test_the_configuration_reference_is_the_one_the_settings_model_writes() -> None:
    assert reference_main(["--check"]) == 0, "run python -m settings.reference"


def test_the_check_fails_on_a_stale_reference(tmp_path: Path) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text((ROOT / "docs" / "configuration.md").read_text().replace("`6`", "`7`"))
    assert reference_main(["--check", "--out", str(stale)]) == 1


# --- contract examples -------------------------------------------------------------------


@cache
def examples() -> dict[str, list[dict[str, Any]]]:
    """The example messages of docs/contracts.md, by topic."""
    found: dict[str, list[dict[str, Any]]] = {}
    for block in re.findall(r"^```json\n(.*?)^```", (ROOT / "docs/contracts.md").read_text(),
                            re.M | re.S):  # fmt: skip
        message = json.loads(block)
        if isinstance(message, dict) and set(message) == {"topic", "key", "headers", "value"}:
            found.setdefault(message["topic"], []).append(message)
    return found


TOPICS = TopicNames()
INPUTS = {TOPICS.behaviour: "behaviour", TOPICS.profiles: "profiles", TOPICS.erasures: "erasures"}


def example(topic: str) -> dict[str, Any]:
    found = examples().get(topic, [])
    assert len(found) == 1, f"docs/contracts.md has {len(found)} examples for {topic}"
    return found[0]


def wire(message: dict[str, Any]) -> tuple[bytes, bytes]:
    return message["key"].encode(), json.dumps(message["value"]).encode()


def test_every_topic_has_exactly_one_example() -> None:
    assert set(examples()) == set(TOPICS.model_dump().values())
    assert all(len(found) == 1 for found in examples().values())


@pytest.mark.parametrize(
    ("topic", "contract"),
    [
        (TOPICS.behaviour, BehaviourEvent),
        (TOPICS.profiles, ProfileUpdate),
        (TOPICS.erasures, ErasureRequest),
    ],
)
def test_input_examples_decode_as_the_worker_decodes_them(topic: str, contract: type) -> None:
    message = example(topic)
    event = decode(INPUTS[topic], *wire(message), allowed_types_context())
    assert isinstance(event, contract), event
    assert message["headers"] == {}


def test_the_segment_change_example_is_what_the_engine_publishes() -> None:
    message = example(TOPICS.changes)
    change = SegmentChange.model_validate(message["value"])
    assert message["key"] == change.customer_id
    assert json.loads(change.model_dump_json()) == message["value"]  # the wire form
    decided = Change(
        change.customer_id, change.previous_segment, change.segment,
        round(change.changed_at.timestamp() * 1000), change.model_version, change.reason,
        change.trigger_event_id, change.features,
    )  # fmt: skip
    assert change.change_id == decided.change_id, "change_id is derived from the input"


def test_the_current_segments_example_is_what_the_worker_publishes() -> None:
    message = example(TOPICS.memberships)
    body = CustomerSegments.model_validate(message["value"])
    assert message["key"] == body.customer_id
    assert json.loads(body.model_dump_json()) == message["value"]


def test_the_segment_catalog_example_is_what_the_worker_publishes() -> None:
    message = example(TOPICS.catalog)
    entry = SegmentCatalogEntry.model_validate(message["value"])
    assert message["key"] == entry.segment.id
    assert json.loads(entry.model_dump_json()) == message["value"]


def test_the_drift_example_is_what_the_worker_publishes() -> None:
    message = example(TOPICS.drift)
    drift = DriftDetected.model_validate(message["value"])
    assert message["key"] == drift.subject
    assert json.loads(drift.model_dump_json()) == message["value"]
    since = None if drift.since is None else round(drift.since.timestamp() * 1000)
    reading = DriftReading(round(drift.detected_at.timestamp() * 1000), drift.detector,
                           drift.subject, drift.score, drift.threshold, True, since,
                           drift.model_version)  # fmt: skip
    assert drift_message(reading, drift.emitted_at) == drift, "drift_id is derived from it"


def test_the_dead_letter_example_is_what_the_worker_sends_for_its_value() -> None:
    message = example(TOPICS.dead_letters)
    headers = message["headers"]
    origin = headers[dl.HEADER_TOPIC]
    key, value = wire(message)
    rejected = decode(INPUTS[origin], key, value, allowed_types_context())
    assert isinstance(rejected, Rejected), "the example's value must be refused"
    why = dl.why(rejected.reason, rejected.error, origin, int(headers[dl.HEADER_PARTITION]),
                 int(headers[dl.HEADER_OFFSET]))  # fmt: skip
    assert headers == {name: data.decode() for name, data in why}
    partitions = Settings.model_fields["topic_partitions"].default
    assert int(headers[dl.HEADER_PARTITION]) == kafka_partition(message["key"], partitions), (
        "the partition Kafka's default partitioner gives the key"
    )


def test_the_lessons_example_decodes_as_the_trainer_reads_it() -> None:
    message = example(TOPICS.lessons)
    items = decode_contributions(wire(message)[1])
    assert len(items) == len(message["value"])
    assert {item.partition for item in items} == {int(message["key"])}, "keyed by partition"


def test_the_models_example_decodes_as_a_worker_reads_it_and_its_hash_holds() -> None:
    message = example(TOPICS.models)
    record = decode_record(wire(message)[1])
    assert message["key"] == "model"
    assert record.model is not None
    assert message["value"]["hash"] == record_hash(record)


def test_the_checkpoint_example_has_the_fields_the_trainer_writes() -> None:
    message = example(TOPICS.checkpoints)
    assert message["key"] == KEY.decode()
    value = message["value"]
    written = Checkpoint.of(Trainer(EngineConfig(), 4), {0: 1}, None)
    assert set(value) == set(orjson.loads(gzip.decompress(encode_checkpoint(written))))
    assert value["format"] == FORMAT
    record = decode_record(json.dumps(value["told"]).encode())
    assert value["told"]["hash"] == record_hash(record)


def test_the_model_checkpoint_example_has_the_fields_a_worker_writes() -> None:
    message = example(TOPICS.model_checkpoints)
    assert message["key"] == MODEL_KEY.decode()
    value = message["value"]
    written = encode_model_checkpoint(ModelCheckpoint.of(SegmentEngine(EngineConfig(), 4)))
    assert set(value) == set(orjson.loads(gzip.decompress(written)))
    assert value["format"] == MODEL_FORMAT


# --- runbooks ----------------------------------------------------------------------------


@cache
def alert_rules() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {rule["alert"]: rule for g in groups for rule in g["rules"] if "alert" in rule}


@cache
def runbook_sections() -> dict[str, str]:
    text = prose((ROOT / "docs" / "runbooks.md").read_text())
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {name.strip(): body for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_every_alert_has_a_runbook_section_and_every_section_an_alert() -> None:
    assert set(runbook_sections()) == set(alert_rules())


@pytest.mark.parametrize("name", sorted(alert_rules()))
def test_a_runbook_section_says_what_it_means_what_to_check_and_what_to_do(name: str) -> None:
    body = runbook_sections()[name]
    for part in ("**What it means.**", "**Check first.**", "**Likely causes.**",
                 "**What to do.**"):  # fmt: skip
        assert part in body, f"{name}: no {part}"


def runbook_url_problem(name: str, url: str) -> str | None:
    """Why ``url`` is not the runbook section of alert ``name`` (None: it is)."""
    parts = urlsplit(url)
    if not parts.path.endswith("docs/runbooks.md"):
        return f"{url} is not docs/runbooks.md"
    if parts.fragment != anchor(name):
        return f"{url} does not lead to #{anchor(name)}"
    if parts.fragment not in anchors(ROOT / "docs" / "runbooks.md"):
        return f"docs/runbooks.md has no heading for #{parts.fragment}"
    return None


@pytest.mark.parametrize("name", sorted(alert_rules()))
def test_an_alerts_runbook_url_leads_to_its_own_section(name: str) -> None:
    url = alert_rules()[name].get("annotations", {}).get("runbook_url")
    if url is None:
        pytest.skip(f"{name} has no runbook_url")
    assert runbook_url_problem(name, url) is None


def test_a_runbook_url_to_another_section_or_page_is_found() -> None:
    down, held = "SegmentEngineWorkerDown", "SegmentEngineEventsHeld"
    assert runbook_url_problem(down, "docs/runbooks.md#segmentengineworkerdown") is None
    assert runbook_url_problem(down, "https://github.com/o/r/blob/main/docs/runbooks.md"
                               "#segmentengineworkerdown") is None  # fmt: skip
    assert runbook_url_problem(down, "docs/runbooks.md#segmentengineeventsheld")
    assert runbook_url_problem(held, "docs/operations.md#segmentengineeventsheld")
    assert runbook_url_problem("SegmentEngineNew", "docs/runbooks.md#segmentenginenew")


@cache
def panel_titles() -> frozenset[str]:
    def walk(panels: list[dict[str, Any]]) -> set[str]:
        titles = set()
        for panel in panels:
            titles.add(panel.get("title", ""))
            titles |= walk(panel.get("panels", []))
        return titles

    return frozenset(walk(json.loads(DASHBOARD.read_text())["panels"]))


def test_the_dashboard_panels_the_runbooks_name_exist() -> None:
    named = {
        title
        for line in (ROOT / "docs" / "runbooks.md").read_text().split("\n- ")
        if line.startswith("**Dashboard**")
        for title in re.findall(r'"([^"]+)"', line)
    }
    assert named, "the runbooks name no panels: the pattern is wrong"
    assert not named - panel_titles(), f"no such panels: {sorted(named - panel_titles())}"


# --- metrics -----------------------------------------------------------------------------


@cache
def metric_names() -> frozenset[str]:
    """The names of the series the worker exports (counters without ``_total``)."""
    metrics = Metrics()
    return frozenset(m._name for m in vars(metrics).values() if isinstance(m, MetricWrapperBase))


def series(name: str) -> set[str]:
    return {name, f"{name}_total", f"{name}_bucket", f"{name}_sum", f"{name}_count"}


def test_the_metrics_page_lists_every_metric_the_worker_exports() -> None:
    listed = set(re.findall(r"`(segment_engine_\w+)`", (ROOT / "docs" / "metrics.md").read_text()))
    exported = set().union(*(series(n) for n in metric_names()))
    missing = [n for n in metric_names() if not series(n) & listed]
    assert not missing, f"docs/metrics.md does not list {sorted(missing)}"
    assert not listed - exported, f"docs/metrics.md lists {sorted(listed - exported)}"


@pytest.mark.parametrize("doc", [rel(d) for d in DOCS])
def test_every_metric_a_doc_names_is_exported(doc: str) -> None:
    exported = set().union(*(series(n) for n in metric_names()))
    named = set(re.findall(r"\b(segment_engine_[a-z_]+)", (ROOT / doc).read_text()))
    recorded = {rule.get("record") for g in yaml.safe_load(ALERTS.read_text())["groups"]
                for rule in g["rules"]}  # fmt: skip
    unknown = {n for n in named - exported if not any(r and n in r for r in recorded)}
    assert not unknown, f"{doc} names metrics the worker does not export: {sorted(unknown)}"
