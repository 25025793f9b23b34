"""``segment-engine topics``: its arguments, and the one declaration of every topic
(no broker; ``tests/integration/test_topics.py`` runs the commands on both).

- A bad argument or setting is exit 2 and one line; a broker error exit 1 and one line.
- The declaration holds every topic of ``settings.topics`` and Faust's two, by the
  names the worker's Faust app gives them, in the cleanup policies the erasure
  guarantee states; the worker's Faust app may create topics only when
  ``create_topics`` is on.
- What stops a worker or the trainer from starting, and how it reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from brokers.topics import (
    CHECKPOINT_MAX_BYTES,
    KEPT,
    Found,
    MissingTopics,
    TopicSpec,
    changelog_topic,
    declaration,
    differences,
    leader_topic,
    needed_by,
    start_refusal,
)
from cli.main import main
from settings import Settings, TopicNames

SEPARATE = {"trainer": "separate", "engine": {"learned": {"epoch_seconds": 86_400}}}


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    names: tuple[str, ...]  # what the one line must mention
    env: dict[str, str] = field(default_factory=dict)
    config: str | None = None  # TOML text, passed as --config <file>


ZERO_PARTITIONS = {"SEGMENT_ENGINE_TOPIC_PARTITIONS": "0"}
NO_DAYS = "output_retention_days = -1\n"
CASES: dict[str, Case] = {
    "no-action": Case(("topics",), 2, ("segment-engine topics:", "{{create,check}}")),
    "unknown-action": Case(("topics", "delete"), 2, ("'delete'", "create", "check")),
    "unknown-option": Case(("topics", "check", "--bogus"), 2, ("--bogus",)),
    "missing-config": Case(("topics", "create", "--config", "{missing}"), 2, ("{missing}",)),
    "bad-setting": Case(("topics", "check"), 2, ("topic_partitions",), ZERO_PARTITIONS),
    "bad-config": Case(("topics", "create"), 2, ("output_retention_days",), config=NO_DAYS),
    # A broker error, known before anything connects: exit 1, the command named.
    "sasl-without-user": Case(
        ("topics", "check"),
        1,
        ("segment-engine topics check:", "sasl_username"),
        env={"SEGMENT_ENGINE_KAFKA_SECURITY__PROTOCOL": "SASL_PLAINTEXT"},
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_a_bad_argument_setting_or_broker_is_one_line(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = CASES[name]
    for key in [k for k in os.environ if k.startswith("SEGMENT_ENGINE_")]:
        monkeypatch.delenv(key)
    # Nothing here may reach Kafka: no broker listens on port 9.
    monkeypatch.setenv("SEGMENT_ENGINE_KAFKA_BOOTSTRAP", "127.0.0.1:9")
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    paths = {"missing": str(tmp_path / "missing.toml")}
    args = [arg.format(**paths) for arg in case.args]
    if case.config is not None:
        (tmp_path / "settings.toml").write_text(case.config)
        args += ["--config", str(tmp_path / "settings.toml")]
    try:
        code = main(args)
    except SystemExit as stopped:  # argparse's errors
        code = stopped.code
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == case.code, err
    assert len(lines) == 1, err
    assert lines[0].startswith("segment-engine"), lines[0]
    assert out == ""
    for needle in case.names:
        assert needle.format(**paths) in lines[0], lines[0]


def test_the_declaration_holds_every_topic_of_the_settings_and_fausts_two() -> None:
    settings = Settings.model_validate(SEPARATE)
    names = [spec.name for spec in declaration(settings)]
    assert len(names) == len(set(names))
    every = {getattr(settings.topics, field) for field in TopicNames.model_fields}
    t = settings.topics
    # The worker's model checkpoints are the in_worker model's alone.
    assert set(names) == every - {t.model_checkpoints} | {
        changelog_topic(settings),
        leader_topic(settings),
    }
    # Without the separate trainer, its three topics are not the worker's.
    plain = Settings()
    trainers = {t.lessons, t.models, t.checkpoints}
    in_worker = {s.name for s in declaration(plain)}
    assert in_worker == set(names) - trainers | {t.model_checkpoints}
    assert [s.name for s in needed_by(settings, "trainer")] == [
        t.dead_letters, t.drift, t.catalog, t.lessons, t.models, t.checkpoints,
    ]  # fmt: skip
    assert needed_by(settings, "worker") == declaration(settings)


def test_fausts_topics_are_declared_by_the_names_the_worker_app_gives_them() -> None:
    from streams.app import create_app

    settings = Settings.model_validate({"app_id": "named"})
    app = create_app(settings)
    (table,) = app.tables.values()
    assert table.changelog_topic.get_topic_name() == changelog_topic(settings)
    assert app._leader_assignor._leader_topic_name == leader_topic(settings)
    changelog = next(s for s in declaration(settings) if s.name == changelog_topic(settings))
    # Faust adds cleanup.policy=compact to the table's extra configs.
    assert dict(changelog.configs) == {"cleanup.policy": "compact",
                                       **table.changelog_topic.config}  # fmt: skip


@pytest.mark.parametrize("create", [True, False])
def test_the_worker_app_declares_topics_only_when_it_may(create: bool) -> None:
    from streams.app import create_app

    app = create_app(Settings(create_topics=create))
    assert app.conf.topic_allow_declare is create


def test_cleanup_policies_are_as_the_erasure_guarantee_says() -> None:
    settings = Settings.model_validate({**SEPARATE, "compaction_lag_hours": 2,
                                        "output_retention_days": 3})  # fmt: skip
    t = settings.topics
    by_name = {spec.name: spec for spec in declaration(settings)}
    lag = str(2 * 3_600_000)
    for name in (t.memberships, changelog_topic(settings)):
        assert dict(by_name[name].configs) == {"cleanup.policy": "compact",
            "max.compaction.lag.ms": lag, "delete.retention.ms": lag}  # fmt: skip
    for name in (t.changes, t.dead_letters, t.drift):
        assert dict(by_name[name].configs) == {"cleanup.policy": "delete",
                                               "retention.ms": str(3 * 86_400_000)}  # fmt: skip
    # Read again from their start: never deleted, and never compacted (the models
    # topic holds one key, and a worker needs the records before the latest).
    assert by_name[t.lessons].configs == KEPT == by_name[t.models].configs
    assert by_name[t.models].partitions == 1
    # The latest checkpoint is all the trainer reads; it holds customers' lessons, and
    # may be larger than Kafka's default 1 MB message.
    assert dict(by_name[t.checkpoints].configs) == {"cleanup.policy": "compact",
        "max.compaction.lag.ms": lag, "delete.retention.ms": lag,
        "max.message.bytes": str(CHECKPOINT_MAX_BYTES)}  # fmt: skip
    assert by_name[t.checkpoints].partitions == 1
    # The in_worker model's checkpoints: as the trainer's.
    in_worker = Settings.model_validate({"compaction_lag_hours": 2})
    model_checkpoints = {s.name: s for s in declaration(in_worker)}[t.model_checkpoints]
    assert model_checkpoints.configs == by_name[t.checkpoints].configs
    assert model_checkpoints.partitions == 1
    for name in (t.behaviour, t.profiles, t.erasures, leader_topic(settings)):
        assert by_name[name].configs == {}
    assert by_name[leader_topic(settings)].partitions == 1


def test_a_difference_is_named_with_what_was_declared() -> None:
    spec = TopicSpec("s", 4, 3, {"cleanup.policy": "compact", "retention.ms": "5"})
    found = Found("s", 4, frozenset({3}), {"cleanup.policy": "delete,compact", "retention.ms": "6"})
    assert differences(spec, found) == [
        "cleanup.policy=delete,compact, declared compact",
        "retention.ms=6, declared 5",
    ]
    same = Found("s", 4, frozenset({3}), {"cleanup.policy": "compact", "retention.ms": "5"})
    assert differences(spec, same) == []
    unread = Found("s", 4, frozenset({3}))  # configs not read: not compared
    assert differences(spec, unread) == []
    # Tansu lists its one node as often as the factor asked for: one copy all the same.
    one_node = Found("s", 4, frozenset({1}), listed=frozenset({3}))
    assert differences(spec, one_node) == [
        "replication factor 1 (3 replicas listed, on fewer brokers), declared 3 "
        "(topic_replication_factor)"
    ]


def found(settings: Settings, **partitions: int) -> dict[str, Found]:
    """Every topic a worker needs, in its declared partition count unless given."""
    return {
        spec.name: Found(spec.name, partitions.get(spec.name, spec.partitions), frozenset({1}))
        for spec in declaration(settings)
    }


def test_a_worker_refuses_inputs_not_co_partitioned_with_its_changelog() -> None:
    settings = Settings.model_validate({"app_id": "a"})
    t = settings.topics
    assert start_refusal(settings, "worker", found(settings)) is None
    refusal = start_refusal(settings, "worker", found(settings, **{t.erasures: 8}))
    assert refusal == (
        "co-partitioned topics differ in partition count: behaviour-events 4, "
        "profile-updates 4, erasure-requests 8, a-customer-state-changelog 4 "
        "(topic_partitions = 4); each needs 4 partitions"
    )
    # The changelog alone, or all of them against the engine's partition count.
    assert "a-customer-state-changelog 2" in str(
        start_refusal(settings, "worker", found(settings, **{changelog_topic(settings): 2}))
    )
    eight = {name: 8 for name in (t.behaviour, t.profiles, t.erasures, changelog_topic(settings))}
    assert str(start_refusal(settings, "worker", found(settings, **eight))).startswith(
        "co-partitioned topics have: behaviour-events 8, profile-updates 8, "
    )
    # Configs are not a start check (segment-engine topics check is).
    assert start_refusal(settings, "trainer", found(settings, **{t.erasures: 8})) is None


def test_the_models_and_checkpoint_topics_must_have_one_partition() -> None:
    settings = Settings.model_validate(SEPARATE)
    refusal = start_refusal(settings, "trainer", found(settings, **{"segment-models": 3}))
    assert refusal == (
        "topic 'segment-models' has 3 partitions; the models topic needs 1 "
        "(every worker reads partition 0)"
    )
    refusal = start_refusal(
        settings, "trainer", found(settings, **{"segment-trainer-checkpoints": 2})
    )
    assert refusal == (
        "topic 'segment-trainer-checkpoints' has 2 partitions; the checkpoint topic needs 1 "
        "(the trainer reads partition 0)"
    )
    in_worker = Settings()
    refusal = start_refusal(
        in_worker, "worker", found(in_worker, **{"segment-model-checkpoints": 4})
    )
    assert refusal == (
        "topic 'segment-model-checkpoints' has 4 partitions; the model checkpoint topic "
        "needs 1 (the worker reads partition 0)"
    )


def test_missing_topics_are_named_in_order() -> None:
    assert str(MissingTopics(["b", "a"])) == "topics missing (create_topics = false): b, a"
