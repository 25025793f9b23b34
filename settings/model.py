"""The worker's one settings object: config file, then ``SEGMENT_ENGINE_*`` environment.

Validated once at start. Secrets are ``SecretStr`` so they never show when printed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from schemas.config import EngineConfig

MIB = 1024 * 1024


class ConfigError(ValueError):
    """A setting is wrong; the message names it in one line."""


class TopicNames(BaseModel):
    """The topics the worker, the trainer and the tools read and write."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    behaviour: str = "behaviour-events"
    """Input: behavioural events, keyed by customer id."""
    profiles: str = "profile-updates"
    """Input: profile updates, keyed by customer id."""
    erasures: str = "erasure-requests"
    """Input: erasure requests, keyed by customer id."""
    changes: str = "segment-changes"
    """Output: a message each time a customer's segment changes."""
    dead_letters: str = "dead-letters"
    """Output: input that could not be used, as it came, with headers saying why."""
    drift: str = "segment-drift"
    """Output: drift detections."""
    memberships: str = "customer-segments"
    """Output, compacted: each customer's current segments."""
    catalog: str = "segment-catalog"
    """Output, compacted: each segment's current name and whether it is live, by id."""
    lessons: str = "segment-lessons"
    """With ``trainer = "separate"``: the workers' lessons to the trainer."""
    models: str = "segment-models"
    """With ``trainer = "separate"``: the models the trainer publishes (one partition)."""
    checkpoints: str = "segment-trainer-checkpoints"
    """With ``trainer = "separate"``: the trainer's checkpoint, where a restarted trainer
    resumes from (one partition, compacted)."""
    model_checkpoints: str = "segment-model-checkpoints"
    """With ``trainer = "in_worker"`` and no model epochs: the worker's model checkpoint,
    which a restarted worker restores its model from (one partition, compacted)."""


class KafkaSecurity(BaseModel):
    """Passed through to the Kafka clients; PLAINTEXT unless set."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """How every command connects to Kafka: the worker and the trainer, ``generate``,
    ``replay --topic`` and ``--shadow``."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    """The SASL mechanism, with a ``SASL_*`` protocol."""
    sasl_username: str | None = None
    """The SASL user name."""
    sasl_password: SecretStr | None = None
    """The SASL password: best set in the environment. It is never printed and shows in
    no log record."""
    ssl_cafile: Path | None = None
    """The CA that signed the brokers' certificates (PEM); unset: the system's CAs. The
    host in ``kafka_bootstrap`` must be one the certificate names."""
    ssl_certfile: Path | None = None
    """A client certificate (PEM), for clusters that want one."""
    ssl_keyfile: Path | None = None
    """The client certificate's private key (PEM)."""


class RocksDBOptions(BaseModel):
    """Memory RocksDB may hold, per table partition the worker has (``rocksdb://`` only).

    Faust opens one database per partition, each with its own block cache and write
    buffers; its defaults (a 2 GiB cache and three 64 MiB buffers each) would let a
    worker with four partitions grow by gigabytes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    block_cache_mib: int = Field(8, ge=1, le=4096)
    """Block cache of each table partition's database, in MiB."""
    write_buffer_mib: int = Field(4, ge=1, le=1024)
    """Size of each write buffer, in MiB."""
    write_buffers: int = Field(2, ge=2, le=16)
    """Write buffers per database. RocksDB needs two: one filling while the other is
    flushed."""

    def faust_options(self) -> dict[str, int]:
        """As ``faust.stores.rocksdb.RocksDBOptions`` takes them (bytes)."""
        return {
            "block_cache_size": self.block_cache_mib * MIB,
            "write_buffer_size": self.write_buffer_mib * MIB,
            "max_write_buffer_number": self.write_buffers,
        }


class Settings(BaseSettings):
    """Everything a worker needs. Environment variables override the config file."""

    model_config = SettingsConfigDict(
        env_prefix="SEGMENT_ENGINE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )

    app_id: str = "segment-engine"
    """The Faust application id: the workers' consumer group, and the prefix of the
    customer-state table's changelog topic (``APP_ID-customer-state-changelog``)."""
    kafka_bootstrap: str = "127.0.0.1:9092"
    """Bootstrap brokers, ``host:port`` separated by commas."""
    kafka_security: KafkaSecurity = KafkaSecurity()
    """How to connect to a secured cluster."""
    topics: TopicNames = TopicNames()
    """Topic names."""
    topic_partitions: int = Field(4, ge=1)
    """Partitions of every topic the worker creates, and the engine's partition count:
    with model epochs, every partition must pass an epoch before it is learned. Replay's
    default ``--partitions``."""
    trainer: Literal["in_worker", "separate"] = "in_worker"
    """Where the model learns, with model epochs on (engine.learned.epoch_seconds):
    "in_worker" for one worker holding every partition (and replay); "separate" for
    several workers, which send lessons to one ``segment-engine trainer`` and follow
    the models it publishes. "separate" needs model epochs."""
    trainer_checkpoint_seconds: float = Field(60.0, ge=0)
    """How often, at most, a checkpoint is written. The separate trainer's (its state
    and the lessons offsets it covers) while it learns, and once more at a clean stop:
    a restarted trainer reads the lessons after the checkpoint only. With ``trainer =
    "in_worker"`` and no model epochs, the worker's model (``topics.model_checkpoints``)
    while it learns: a restarted worker restores the model instead of warming up anew.
    Wall-clock seconds; 0: no checkpoint is written or read (a restarted trainer reads
    every lesson again, a restarted worker learns its model afresh)."""
    topic_replication_factor: int = Field(1, ge=1)
    """Of every topic the worker and the tools create, Faust's own (the table's changelog,
    the leader topic) included. Many managed clusters refuse a topic with one replica;
    with min.insync.replicas > 1, writes to one fail."""
    create_topics: bool = True
    """Off on clusters where applications may not create topics: the worker and the
    trainer then only check that every topic they need exists (``segment-engine
    topics create`` or the cluster's own tooling makes them)."""
    session_timeout_seconds: float = Field(10.0, gt=0)
    """The consumer group's session timeout. Tansu answers a new member's join only
    after half the session timeout, so this also sets how long a worker takes to start
    consuming there."""
    heartbeat_interval_seconds: float = Field(3.0, gt=0)
    """The consumer group's heartbeat interval."""
    fetch_max_wait_ms: int = Field(10, ge=1, le=60_000)
    """How long the broker may hold a fetch while too few records are there. Kafka
    answers once one record is in; Tansu tends to hold most of the wait anyway, so
    this floors event-to-change latency on the embedded broker. Short costs only
    empty fetches while idle."""
    web_bind: str = "127.0.0.1"
    """The address the web port binds (``/metrics``, the probes, the customer lookups).
    Faust binds every interface unless told otherwise."""
    web_port: int = Field(6066, ge=0, le=65535)
    """The worker's web port."""
    web_token: SecretStr | None = None
    """Required by /segments and the customer lookup (not /metrics or the probes) as
    "Authorization: Bearer <token>"; without one, they answer only on loopback."""
    min_published_segment_size: int = Field(10, ge=1)
    """A published profile (and its KPIs on /metrics) of a smaller segment would let one
    customer's values be read off it: withheld below this many customers."""
    compaction_lag_hours: float = Field(24.0, gt=0)
    """Erasure (docs/operations.md, "Erasure"): how soon the compacted topics (the state
    changelog, customer-segments) drop a customer's overwritten records, and how long
    they keep a tombstone after. Applied when a topic is created."""
    output_retention_days: float = Field(7.0, gt=0)
    """How long segment-changes, dead-letters and segment-drift keep any record. Applied
    when a topic is created."""
    data_dir: Path = Path(".segment-engine")
    """Faust's data directory: with ``rocksdb://`` it holds the table's databases."""
    store: str = Field("memory://", pattern=r"^(memory|rocksdb)://")
    """The customer-state table's store: ``memory://`` (rebuilt from the changelog at
    every start) or ``rocksdb://`` (on disk under ``data_dir``)."""
    rocksdb: RocksDBOptions = RocksDBOptions()
    """RocksDB's memory bounds (``rocksdb://`` only)."""
    engine: EngineConfig = EngineConfig()
    """Everything that decides segments, live and in replay."""

    @model_validator(mode="after")
    def _trainer_needs_epochs(self) -> Settings:
        if self.trainer == "separate" and not self.engine.learned.epoch_seconds:
            raise ValueError("a separate trainer needs model epochs (engine.learned.epoch_seconds)")
        return self

    def compacted_topic_configs(self) -> dict[str, str]:
        """Topic configs of a compacted topic holding customers' data: an overwritten
        record is compacted away within the lag, a tombstone kept that long after."""
        lag_ms = str(int(self.compaction_lag_hours * 3_600_000))
        return {"cleanup.policy": "compact", "max.compaction.lag.ms": lag_ms,
                "delete.retention.ms": lag_ms}  # fmt: skip

    def output_topic_configs(self) -> dict[str, str]:
        """Topic configs of segment-changes, dead-letters and segment-drift."""
        return {"retention.ms": str(int(self.output_retention_days * 86_400_000))}

    def table_options(self) -> dict[str, int] | None:
        """Options for the customer-state table's store: RocksDB's bounds, or None."""
        return self.rocksdb.faust_options() if self.store.startswith("rocksdb://") else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read the config file (TOML) if given, apply the environment, then ``overrides``."""
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            values = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config {config_file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config {config_file} is not UTF-8 text") from None
        except RecursionError:
            raise ConfigError(f"config {config_file} nests too deeply") from None
        except ValueError as exc:  # TOMLDecodeError, or an integer of 4,300+ digits
            raise ConfigError(f"config {config_file} is not valid TOML: {_flat(exc)}") from None
    values.update(overrides)
    try:
        # Init values win over the environment in pydantic-settings; the file must
        # lose to it, so the file goes in as defaults under the environment.
        return _with_file_defaults(values)
    except ValidationError as exc:
        raise ConfigError(one_line(exc)) from None
    except SettingsError as exc:  # e.g. an environment variable that is not valid JSON
        raise ConfigError(str(exc).splitlines()[0]) from None
    except RecursionError:  # a JSON environment value nested thousands deep
        raise ConfigError("a SEGMENT_ENGINE_* value nests too deeply") from None


def _with_file_defaults(values: dict[str, Any]) -> Settings:
    from_env = Settings()
    merged = _deep_merge(values, from_env.model_dump(exclude_unset=True))
    return Settings.model_validate(merged)


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def one_line(exc: ValidationError) -> str:
    """``field.path: problem`` for the first error, plus a count of the others."""
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "config"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return _flat(f"{where}: {first['msg']}{more}")


def _flat(text: object) -> str:
    """One line: a key or a value may hold line breaks."""
    return str(text).replace("\r", "\\r").replace("\n", "\\n")
