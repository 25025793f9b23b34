"""Every topic the project reads and writes, in one declaration, and what is done with it:
created where missing, compared with what a broker holds, checked as a worker or the
trainer starts.

The declaration (:func:`declaration`) is the only list. The worker and the trainer
create from it (``create_topics = true``) or only check it (``false``), ``segment-engine
topics create`` / ``check`` report against it, and the tools' :func:`ensure_topics` takes
a declared topic's shape from it. Faust's own topics are in it too (the customer-state
table's changelog, the leader topic), in the shape Faust would give them.

Cleanup policies, as the README's "Erasure" guarantee says:

- compacted, within ``compaction_lag_hours``: the current-state topics (the table's
  changelog, ``customer-segments``): the latest record per customer is all a reader
  needs;
- deleted after ``output_retention_days``: ``segment-changes``, ``dead-letters`` and
  ``segment-drift``;
- compacted, within ``compaction_lag_hours``, too: the separate trainer's checkpoints
  and, with ``trainer = "in_worker"``, the worker's model checkpoints (one key each,
  ``checkpoint``: only the latest is read). They hold customers' latest lessons, so an
  erased customer's are compacted away like the state's; and a checkpoint may be
  larger than Kafka's default 1 MB message (``CHECKPOINT_MAX_BYTES``);
- kept without limit (``delete`` with no age or size bound): the separate trainer's
  lessons and models. Neither may be compacted. Lessons are keyed by source partition,
  and a trainer without a checkpoint reads every one of them again after a restart.
  Model records all carry one key, ``model``, and the latest is not all a reader needs:
  a worker assigns an event of epoch E with the model as it stood after epoch
  E - adopt_after_epochs (``ModelHistory.model``), so a restarted worker whose
  partitions are behind needs the earlier records too, and compaction would leave it
  the latest alone;
- inputs: no config (the producers' to govern); the leader topic: none (Faust gives it
  none, and nothing is written to it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kafka import KafkaAdminClient
from kafka.admin import ConfigResourceType
from kafka.errors import for_code
from kafka.protocol.admin import DescribeConfigsRequest

from brokers.clients import client_options
from settings import Settings

# The customer-state table (``streams.app``): its changelog is ``APP_ID-<name>-changelog``.
STATE_TABLE = "customer-state"

# Read from their start by every restarted trainer and worker: never deleted, by age or size.
KEPT = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}

# The largest checkpoint the trainer or a worker writes (gzipped; its topic's
# max.message.bytes).
CHECKPOINT_MAX_BYTES = 16 * 1024 * 1024

Process = Literal["worker", "trainer"]


@dataclass(frozen=True)
class TopicSpec:
    """One topic's declared shape; ``what`` says what it is, for reports."""

    name: str
    partitions: int
    replication: int
    configs: Mapping[str, str] = field(default_factory=dict)
    what: str = ""
    # Where its partition count comes from, for a report of a difference.
    partitions_from: str = "topic_partitions"

    def summary(self) -> str:
        """``4 partitions, replication 1, cleanup.policy=compact, ...``"""
        configs = "".join(f", {key}={value}" for key, value in self.configs.items())
        plural = "" if self.partitions == 1 else "s"
        return f"{self.partitions} partition{plural}, replication {self.replication}{configs}"


def changelog_topic(settings: Settings) -> str:
    """Faust's name for the customer-state table's changelog (``Collection``)."""
    return f"{settings.app_id}-{STATE_TABLE}-changelog"


def leader_topic(settings: Settings) -> str:
    """Faust's leader election topic (``LeaderAssignor``): one partition."""
    return f"{settings.app_id}-__assignor-__leader"


def declaration(settings: Settings, trainer: bool | None = None) -> list[TopicSpec]:
    """Every topic the project reads or writes, each in its shape, inputs first.
    ``trainer`` (default: ``trainer = "separate"``) adds the lessons, models and
    checkpoint topics; ``trainer = "in_worker"`` adds the worker's model checkpoints."""
    t, n, r = settings.topics, settings.topic_partitions, settings.topic_replication_factor
    retained = {"cleanup.policy": "delete", **settings.output_topic_configs()}
    compacted = settings.compacted_topic_configs()
    kept_days = "output, kept output_retention_days"
    specs = [
        TopicSpec(t.behaviour, n, r, what="input"),
        TopicSpec(t.profiles, n, r, what="input"),
        TopicSpec(t.erasures, n, r, what="input"),
        TopicSpec(t.changes, n, r, retained, kept_days),
        TopicSpec(t.dead_letters, n, r, retained, kept_days),
        TopicSpec(t.drift, n, r, retained, kept_days),
        TopicSpec(t.memberships, n, r, compacted, "current segments, compacted"),
        # One partition: a few records per model publication, read whole by subscribers.
        TopicSpec(t.catalog, 1, r, compacted, "segment names, compacted", "read as one"),
        # Faust declares it with cleanup.policy=compact and the table's
        # extra_topic_configs (streams.app: settings.compacted_topic_configs()).
        TopicSpec(changelog_topic(settings), n, r, compacted, f"{STATE_TABLE} changelog, Faust's"),
        TopicSpec(leader_topic(settings), 1, r, {}, "leader election, Faust's", "Faust's: one"),
    ]
    if settings.trainer == "separate" if trainer is None else trainer:
        specs += [
            TopicSpec(t.lessons, n, r, KEPT, "the trainer's lessons, kept"),
            # One partition: one order of versions for all, read whole by every worker.
            TopicSpec(t.models, 1, r, KEPT, "the trainer's models, kept", "read as one"),
            # One partition, one key: the trainer reads the latest record of partition 0.
            TopicSpec(t.checkpoints, 1, r, checkpoint_configs(settings),
                      "the trainer's checkpoints, compacted", "read as one"),
        ]  # fmt: skip
    if settings.trainer == "in_worker":
        # As the trainer's: one partition, one key, the latest record of partition 0.
        what = "the worker's model checkpoints, compacted"
        specs.append(
            TopicSpec(t.model_checkpoints, 1, r, checkpoint_configs(settings), what, "read as one")
        )
    return specs


def checkpoint_configs(settings: Settings) -> dict[str, str]:
    """The checkpoint topic's: compacted as customers' data is, and a message may be as
    large as a checkpoint."""
    return {**settings.compacted_topic_configs(), "max.message.bytes": str(CHECKPOINT_MAX_BYTES)}


def needed_by(settings: Settings, process: Process) -> list[TopicSpec]:
    """The declared topics a worker or the trainer reads or writes."""
    if process == "worker":
        return declaration(settings)
    t = settings.topics
    return [s for s in declaration(settings, trainer=True)
            if s.name in (t.lessons, t.models, t.checkpoints, t.dead_letters, t.drift,
                          t.catalog)]  # fmt: skip


def co_partitioned(settings: Settings) -> list[str]:
    """The worker's inputs and the table's changelog: one partition count for all, the
    engine's (``topic_partitions``)."""
    t = settings.topics
    return [t.behaviour, t.profiles, t.erasures, changelog_topic(settings)]


class TopicError(RuntimeError):
    """The broker refused to create or describe a topic, or a topic is not as the worker
    needs it; the message is one line naming it."""


class MissingTopics(TopicError):
    """Topics a worker or the trainer needs are missing and it may not create them."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        super().__init__(f"topics missing (create_topics = false): {', '.join(self.names)}")


@dataclass(frozen=True)
class Found:
    """A topic as the broker describes it. ``replication``: the counts of distinct brokers
    holding a replica of each of its partitions (one count, unless they differ);
    ``listed``: the lengths of the replica lists, when the broker names a broker more
    than once in one (Tansu: one node, listed as often as the factor asked for);
    ``configs``: None when not read."""

    name: str
    partitions: int
    replication: frozenset[int]
    configs: Mapping[str, str] | None = None
    listed: frozenset[int] | None = None


@dataclass(frozen=True)
class Described:
    """What the broker said of the topics asked about (the missing ones absent), and
    whether it reports every config of a topic or only those a topic was created with."""

    topics: dict[str, Found]
    every_config: bool = True


# Tansu's gaps, for the reports. Its DescribeConfigs answers with the configs a topic was
# created with alone (each marked as a default), none of the defaults, and it drops the
# connection when asked for named configs; it keeps cleanup.policy but never compacts.
# Apache Kafka answers with every topic config, cleanup.policy always among them. Its
# metadata lists its one node as often as the replication factor asked for: replicas are
# counted by distinct broker here (``describe``).
PARTIAL_CONFIGS_NOTE = (
    "note: this broker reports only the configs a topic was created with, no defaults "
    '(the embedded broker, Tansu, does): "not set" means not given at creation; and '
    "Tansu keeps cleanup.policy=compact without ever compacting"
)


def admin_client(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(**client_options(settings))


ALREADY_EXISTS = 36  # Kafka's TOPIC_ALREADY_EXISTS: another process won the race
UNKNOWN_TOPIC = 3  # UNKNOWN_TOPIC_OR_PARTITION
NOT_AUTHORIZED = (29, 31)  # TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED


def create(admin: KafkaAdminClient, settings: Settings, specs: Iterable[TopicSpec]) -> set[str]:
    """Create those of ``specs`` that are missing; the names created. A refusal (other than
    "exists already": another process won the race) raises :class:`TopicError`."""
    existing = set(admin.list_topics())
    wanted = {
        spec.name: {
            "num_partitions": spec.partitions,
            "replication_factor": spec.replication,
            "configs": dict(spec.configs),
        }
        for spec in specs
        if spec.name not in existing
    }
    if not wanted:
        return set()
    answer = admin.create_topics(wanted, raise_errors=False)
    for topic in answer["topics"]:
        code = topic["error_code"]
        if code not in (0, ALREADY_EXISTS):
            why = topic["error_message"] or for_code(code).__name__
            hint = ""
            if code in NOT_AUTHORIZED:
                hint = " (where applications may not create topics: create_topics = false)"
            raise TopicError(
                f"cannot create topic {topic['name']!r} ({wanted[topic['name']]['num_partitions']}"
                f" partitions, topic_replication_factor = {settings.topic_replication_factor}): "
                f"{why}{hint}"
            )
    # Metadata of a new topic reaches every broker a little later (KRaft): wait, so that
    # a description or a consumer that follows sees it.
    admin.wait_for_topics(sorted(wanted))
    return {topic["name"] for topic in answer["topics"] if topic["error_code"] == 0}


def describe(admin: KafkaAdminClient, names: Sequence[str], configs: bool = True) -> Described:
    """Partitions, replica counts and (``configs``) every config of the topics of ``names``
    that exist."""
    if not names:
        return Described({})
    found: dict[str, Found] = {}
    for topic in admin.describe_topics(list(names)):
        code = topic["error_code"]
        if code == UNKNOWN_TOPIC:
            continue
        if code != 0:
            raise TopicError(f"cannot describe topic {topic['name']!r}: {for_code(code).__name__}")
        nodes = [p["replica_nodes"] for p in topic["partitions"]]
        distinct = frozenset(len(set(n)) for n in nodes)
        listed = frozenset(len(n) for n in nodes)
        found[topic["name"]] = Found(topic["name"], len(nodes), distinct,
                                     listed=None if listed == distinct else listed)  # fmt: skip
    if not configs or not found:
        return Described(found)
    read = _configs(admin, sorted(found))
    topics = {name: Found(f.name, f.partitions, f.replication, read[name], f.listed)
              for name, f in found.items()}  # fmt: skip
    return Described(topics, every_config=all("cleanup.policy" in c for c in read.values()))


def _configs(admin: KafkaAdminClient, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """Every config of each topic of ``names``, as the broker reports it.

    The request goes out as ``KafkaAdminClient.describe_configs`` sends it, but its answer
    is read here: kafka-python 3.0 drops each resource's error code, so a topic this
    client may not describe (TOPIC_AUTHORIZATION_FAILED) would read as one with no
    configs. No config names are given (all are asked for): Tansu drops the connection
    when a DescribeConfigs request names configs.
    """
    request = DescribeConfigsRequest(
        resources=[(ConfigResourceType.TOPIC, name, None) for name in names],
        include_synonyms=False,
    )
    manager: Any = admin._manager  # private: see the docstring
    response = manager.run(manager.send, request)
    read: dict[str, dict[str, str]] = {}
    for result in response.results:
        if result.error_code != 0:
            error = for_code(result.error_code).__name__
            raise TopicError(f"cannot read the configs of topic {result.resource_name!r}: {error}")
        read[result.resource_name] = {
            entry["name"]: entry["value"]
            for entry in (config.to_dict() for config in result.configs)
            if entry["value"] is not None
        }
    return read


def differences(spec: TopicSpec, found: Found) -> list[str]:
    """How ``found`` differs from its declaration, one phrase each.

    >>> spec = TopicSpec("t", 4, 1, {"cleanup.policy": "compact"})
    >>> differences(spec, Found("t", 2, frozenset({1}), {"cleanup.policy": "delete"}))
    ['2 partitions, declared 4 (topic_partitions)', 'cleanup.policy=delete, declared compact']
    >>> differences(spec, Found("t", 4, frozenset({1, 3}), {}))
    ['replication factor 1/3, declared 1 (topic_replication_factor)', 'cleanup.policy not set, declared compact']
    >>> differences(spec, Found("t", 4, frozenset({1}), {"cleanup.policy": "compact"}))
    []
    """  # noqa: E501
    found_differences = []
    if found.partitions != spec.partitions:
        found_differences.append(
            f"{found.partitions} partitions, declared {spec.partitions} ({spec.partitions_from})"
        )
    if found.replication != {spec.replication}:
        factors = "/".join(str(n) for n in sorted(found.replication)) or "none"
        listed = ""
        if found.listed is not None:  # Tansu
            counts = "/".join(str(n) for n in sorted(found.listed))
            listed = f" ({counts} replicas listed, on fewer brokers)"
        found_differences.append(f"replication factor {factors}{listed}, declared "
                                 f"{spec.replication} (topic_replication_factor)")  # fmt: skip
    if found.configs is not None:
        for key, want in spec.configs.items():
            have = found.configs.get(key)
            if have is None:
                found_differences.append(f"{key} not set, declared {want}")
            elif not _same(key, have, want):
                found_differences.append(f"{key}={have}, declared {want}")
    return found_differences


def _same(key: str, have: str, want: str) -> bool:
    """``cleanup.policy`` is a set: ``delete,compact`` is ``compact,delete``."""
    if key == "cleanup.policy":
        return {p.strip() for p in have.split(",")} == {p.strip() for p in want.split(",")}
    return have == want


def start_refusal(settings: Settings, process: Process, found: Mapping[str, Found]) -> str | None:
    """Why a worker or the trainer must not start with the topics ``found`` (all that it
    needs exist), or None. The co-partitioned topics of a worker must share one partition
    count, the engine's: a worker's table changelog partition holds the state of its
    input partitions of the same number, and the engine counts partitions by
    ``topic_partitions``. The models and checkpoint topics must have one partition:
    every worker reads the models at partition 0, the trainer (or an in_worker worker)
    its checkpoint there, where the one key of each may not land otherwise."""
    n = settings.topic_partitions
    if process == "worker":
        counts = {name: found[name].partitions for name in co_partitioned(settings)}
        if set(counts.values()) != {n}:
            listing = ", ".join(f"{name} {count}" for name, count in counts.items())
            differ = "differ in partition count" if len(set(counts.values())) > 1 else "have"
            return (
                f"co-partitioned topics {differ}: {listing} "
                f"(topic_partitions = {n}); each needs {n} partitions"
            )
    t = settings.topics
    for name, needs in ((t.models, "the models topic needs 1 (every worker reads partition 0)"),
                        (t.checkpoints, "the checkpoint topic needs 1 (the trainer reads "
                                        "partition 0)"),
                        (t.model_checkpoints, "the model checkpoint topic needs 1 (the "
                                              "worker reads partition 0)")):  # fmt: skip
        if name in found and found[name].partitions != 1:
            return f"topic {name!r} has {found[name].partitions} partitions; {needs}"
    return None


def declare_topics(settings: Settings, process: Process) -> None:
    """At a worker's or the trainer's start: create the missing topics it needs, each in
    its shape (``create_topics = true``), so that a worker started before any producer
    subscribes to topics that exist; then refuse to start (:class:`TopicError`) when one
    is missing (``create_topics = false``: :class:`MissingTopics`) or they are not as
    :func:`start_refusal` needs them. Configs are not compared here (``segment-engine
    topics check`` does)."""
    needed = needed_by(settings, process)
    names = [spec.name for spec in needed]
    with admin_client(settings) as admin:
        if settings.create_topics:
            create(admin, settings, needed)
        found = describe(admin, names, configs=False).topics
    if missing := [name for name in names if name not in found]:
        raise MissingTopics(missing)
    if (refusal := start_refusal(settings, process, found)) is not None:
        raise TopicError(refusal)


def ensure_topics(settings: Settings, names: Iterable[str], partitions: int | None = None) -> None:
    """Create missing topics for the tools (generator, demo, replay's shadow): a declared
    topic in its declared shape, any other with the worker's partition count (tables
    need co-partitioning), or ``partitions``, and no config. Existing topics are left
    as they are."""
    declared = {spec.name: spec for spec in declaration(settings, trainer=True)}
    specs = []
    for name in names:
        spec = declared.get(name) or TopicSpec(
            name, settings.topic_partitions, settings.topic_replication_factor
        )
        if partitions is not None:
            spec = TopicSpec(spec.name, partitions, spec.replication, spec.configs, spec.what)
        specs.append(spec)
    with admin_client(settings) as admin:
        create(admin, settings, specs)
