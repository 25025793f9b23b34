"""The engine's configuration contract, shared by the live worker and replay.

It is validated once at start; the engine itself only receives the plain values.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from schemas._types import (
    MAX_ATTRIBUTES,
    MAX_MESSAGE_BYTES,
    MAX_VALUE_LENGTH,
    TIMESTAMP_FLOOR,
    FiniteFloat,
)
from schemas.events import EVENT_TYPES, allowed_types_context
from schemas.features import DEFAULT_LEARNED_FEATURES, DEFAULT_WINDOWS_DAYS, feature_kinds

ClusterModel = Literal["kmeans", "streamkmeans", "dbstream", "denstream"]
# The models' own options: finite numbers only (pydantic lets inf and nan through).
_OPTIONS = ConfigDict(
    extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True
)


class STREAMKMeansOptions(BaseModel):
    """Options of the ``streamkmeans`` model (River's STREAMKMeans)."""

    model_config = _OPTIONS

    chunk_size: int = Field(
        200, ge=1, description="Lessons clustered apart before their centres are learned."
    )


class DBSTREAMOptions(BaseModel):
    """Options of the ``dbstream`` model (River's DBSTREAM); lengths in standard deviations."""

    model_config = _OPTIONS

    clustering_threshold: float = Field(1.5, gt=0, description="Radius of a micro-cluster.")
    fading_factor: float = Field(0.001, gt=0, le=1, description="How fast old lessons fade.")
    cleanup_interval: float = Field(
        2.0, gt=0, description="Lessons between two removals of weak micro-clusters."
    )
    intersection_factor: float = Field(
        0.3, gt=0, description="Shared density, relative to their own, that joins micro-clusters."
    )
    minimum_weight: float = Field(
        1.0, ge=0, description="Weight below which a micro-cluster is noise."
    )


class DenStreamOptions(BaseModel):
    """Options of the ``denstream`` model (River's DenStream); lengths in standard deviations."""

    model_config = _OPTIONS

    decaying_factor: float = Field(0.01, gt=0, le=1, description="How fast old lessons fade.")
    beta: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Share of mu a micro-cluster needs not to be an outlier; beta * mu > 1.",
    )
    mu: float = Field(2.5, gt=1, description="Weight of a core micro-cluster.")
    epsilon: float = Field(0.5, gt=0, description="Radius of a micro-cluster.")
    n_samples_init: int = Field(
        500, ge=1, description="Lessons buffered before the first clustering."
    )
    stream_speed: int = Field(100, ge=1, description="Lessons per unit of time.")

    @model_validator(mode="after")
    def _cores_outweigh_outliers(self) -> Self:
        if self.beta * self.mu <= 1:
            raise ValueError("learned.denstream: beta * mu must be above 1")
        return self


class LearnedSegmentsConfig(BaseModel):
    """Online clustering that learns behavioural segments."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    model: ClusterModel = "kmeans"
    """The clustering model: River's KMeans, STREAMKMeans, DBSTREAM or DenStream."""
    n_segments: int = Field(6, ge=2, le=64, description="Clusters, for models that take a count.")
    features: tuple[str, ...] = Field(DEFAULT_LEARNED_FEATURES, min_length=1)
    """Features the model learns from: numeric names of the vocabulary (schemas/features.py)."""
    seed: int = 42
    """Seed of the model's randomness: same config, seed and input, same segments."""
    halflife: float = Field(0.02, gt=0, le=1, description="k-means step towards each point.")
    warmup_updates: int = Field(
        1000, ge=10, description="Vectors seen before the first model is published."
    )
    publish_every: int = Field(
        2000, ge=1, description="Model updates between published models (model versions)."
    )
    publish_min_interval_seconds: float = Field(86400, ge=0)
    """Event time between two published models (model versions): a candidate due sooner
    waits. 0: no limit."""
    publish_min_shift: float = Field(0.1, ge=0)
    """A candidate model is published only if one of its centroids moved at least this far
    from the published model's (in standard deviations of the standardised features), or
    the number of centroids changed. 0: publish every candidate."""
    tick_publish_lessons: int = Field(
        500,
        ge=1,
        description="At a tick, publish if this many lessons came since the latest publication.",
    )
    learn_interval_seconds: float = Field(
        86400, ge=0, description="Event time between two lessons from the same customer."
    )
    silent_lesson_share: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Share of customers (a fixed hashed sample) whose re-checks without an"
        " event of their own teach the model: time passing costs fewer lessons, and the"
        " sample the model re-centres on still holds every customer as of each publication.",
    )
    epoch_seconds: float = Field(
        0,
        ge=0,
        description="Event time per model epoch: lessons are learned in partition order once"
        " every partition has passed their epoch, so any interleaving of partitions (live,"
        " several workers, replay) ends alike. 0: learn each lesson at once (one partition).",
    )
    adopt_after_epochs: int = Field(
        2,
        ge=1,
        le=64,
        description="Events of epoch E are assigned against the model as it stood after epoch"
        " E minus this many.",
    )
    hysteresis_margin: float = Field(
        0.15, ge=0, lt=1, description="A move needs a segment this much closer, relatively."
    )
    silent_margin: float = Field(
        0.3,
        ge=0,
        lt=1,
        description="A re-check without an event of the customer's own (a timer) opens a"
        " move only for a segment this much closer, relatively (the move is then confirmed"
        " with hysteresis_margin): a silent customer's decaying windows and a newer model"
        " otherwise move them across every boundary they drift over.",
    )
    silent_overdue_gaps: float = Field(
        3.0,
        ge=0,
        le=1000,
        allow_inf_nan=False,
        description="A customer with two visits or more is moved by a re-check without an"
        " event of their own only once their silence since their latest visit is this many"
        " times their own mean gap between visits (sessions: email opens and support"
        " contacts are not visits): one who comes every three weeks is not lapsing after"
        " three weeks. One visit: see silent_first_gap_days; none: no such wait. 0: off,"
        " and silent_first_gap_days and silent_again_margin with it.",
    )
    silent_first_gap_days: float = Field(
        30.0,
        ge=0,
        le=3650,
        allow_inf_nan=False,
        description="The gap between visits taken for a customer with one visit, who has no"
        " rhythm of their own yet: a re-check without an event of their own moves them only"
        " once silent silent_overdue_gaps times this (90 days by default), so a one-time"
        " buyer is not walked through a segment per re-check as their days since buying"
        " grow. 0: a customer with one visit may be moved at any re-check (and"
        " silent_again_margin does not apply to them).",
    )
    silent_again_margin: float = Field(
        0.85,
        ge=0,
        le=1,
        description="Once a re-check without an event of their own has moved a customer"
        " overdue by silent_overdue_gaps, another in the same silence opens a move only for"
        " a segment this much closer, relatively (never less than silent_margin): one who"
        " lapsed is not walked on through each segment their decaying windows cross, but"
        " one left clearly astray still moves. Their next visit starts a new silence. 1:"
        " not again until they visit.",
    )
    near_distance: float = Field(
        2.5,
        ge=0,
        description="Two centroids closer than this (in the model's standardised space) are"
        " two copies of one persona, as a young model keeps until a re-centre folds one into"
        " the other: a move between them opens only for one near_margin closer, where each"
        " step of the two drifting together moved the customers between them to and fro."
        " 0: no such rule.",
    )
    near_margin: float = Field(
        0.5,
        ge=0,
        le=1,
        description="How much closer, relatively, one of two near centroids (near_distance)"
        " must be to open a move from the other. 1: never.",
    )
    hysteresis_evaluations: int = Field(
        2, ge=1, description="Evaluations in a row that must prefer the closer segment."
    )
    hysteresis_spacing_seconds: float = Field(
        259200,
        ge=0,
        description="Hysteresis counts at most one evaluation per this much event time."
        " Three days: a regular customer's recency rises and resets between visits, and"
        " shorter spacing let that sawtooth count twice (A -> B -> A within a week).",
    )
    match_overlap: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Share of members a segment keeps to keep its id for sure; one that"
        " keeps less keeps it where most of its members went, if that centroid continues"
        " no other segment and no other such segment gave it more.",
    )
    names: dict[str, str] = Field(
        default_factory=dict, description="Segment id -> name, overriding generated names."
    )
    rename_margin: float = Field(0.25, ge=0)
    """A learned segment keeps its generated name while the rule behind it still holds
    within this many standard deviations (and no rule before it holds by more): a
    profile oscillating around a naming threshold keeps its name. 0: renamed as soon as
    another name fits."""
    merge_distance: float = Field(0.0, ge=0)
    """Two centroids of one published model closer than this (in the model's standardised
    space) are one segment: one id, the other id retired with a ``merge`` in the lineage.
    They part again (a ``split``) only beyond twice this. 0: never merge."""
    continue_distance: float = Field(3.0, ge=0)
    """At a publication, an old segment that no new centroid continues by the sample's
    members, and a new centroid continuing no old segment, are one segment that moved
    if their centroids lie closer than this (in the new model's standardised space; of
    such pairs, the pairing closest in total): the id continues instead of one retired
    and one minted, which would move every customer of the old id at once. The sample
    holds the most recently taught customers, not a segment's silent members. 0: never."""
    streamkmeans: STREAMKMeansOptions = STREAMKMeansOptions()
    """Options of the ``streamkmeans`` model."""
    dbstream: DBSTREAMOptions = DBSTREAMOptions()
    """Options of the ``dbstream`` model."""
    denstream: DenStreamOptions = DenStreamOptions()
    """Options of the ``denstream`` model."""

    @model_serializer(mode="wrap")
    def _options_only_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A model's options are written out only when they differ from the defaults,
        # so a config, and the reports that record it, reads as before they existed.
        data: dict[str, Any] = handler(self)
        for name in ("streamkmeans", "dbstream", "denstream"):
            if getattr(self, name) == type(self).model_fields[name].default:
                data.pop(name, None)
        return data

    def model_options(self) -> dict[str, Any]:
        """The chosen model's own hyperparameters, as keyword arguments for it."""
        options = {
            "kmeans": {"halflife": self.halflife},
            "streamkmeans": self.streamkmeans.model_dump(),
            "dbstream": self.dbstream.model_dump(),
            "denstream": self.denstream.model_dump(),
        }
        return options[self.model]


class RuleSegmentConfig(BaseModel):
    """A declarative segment, e.g. ``country in [DE, AT] and age between 30 and 50``."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    """The segment's id, unique among the rules."""
    name: str = Field(min_length=1, max_length=128)
    """Its readable name."""
    expression: str = Field(min_length=1, max_length=2000)
    """Who is in it: comparisons, ``in [...]``, ``between ... and ...``, ``is null``,
    ``and``, ``or``, ``not`` and parentheses over any feature or attribute."""


DriftDetector = Literal["adwin", "page_hinkley"]


class DriftConfig(BaseModel):
    """Drift watch: change detectors on the feature stream the model learns from,
    divergence (PSI, Jensen-Shannon) of features and segment sizes from a reference, and
    input drift (each partition's daily event-type mix and funnel conversion against
    its previous days)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    enabled: bool = True
    """Whether drift is watched at all."""
    detectors: tuple[DriftDetector, ...] = ("adwin", "page_hinkley")
    """Change detectors run on each watched feature (PSI and Jensen-Shannon run beside them)."""
    features: tuple[str, ...] | None = Field(
        None,
        description="Features watched; default: the learned segments' features but tenure_days and "
        "recency_days, which grow by construction, and windowed sums over more than 30 days,"
        " which fill for about twice their window after a customer's first event.",
    )
    reference_delay_seconds: float | None = Field(
        None,
        ge=0,
        description="Event time after the first lesson before the reference is taken "
        "(features ramp up while windows fill); default: twice the longest window among the"
        " watched features.",
    )
    reference_size: int = Field(
        2000, ge=50, description="Lessons in the reference window (and the current window)."
    )
    reference_max_seconds: float | None = Field(
        14 * 86400.0,
        gt=0,
        allow_inf_nan=False,
        description="Event time after the reference delay by which the reference is complete"
        " with the lessons it has (at least reference_min_size), if reference_size did not"
        " come first: a small population takes months to give reference_size lessons."
        " Unset: wait for reference_size.",
    )
    reference_min_size: int = Field(
        200, ge=50, description="Lessons a reference completed by reference_max_seconds needs."
    )
    bins: int = Field(10, ge=2, le=100, description="Quantile bins for PSI and JS.")
    psi_warning: float = Field(
        0.1,
        gt=0,
        description="PSI of a moderate shift; below psi_alert. After a detection, PSI must"
        " fall below it before it can detect again.",
    )
    psi_alert: float = Field(0.25, gt=0, description="PSI of a significant shift: a detection.")
    js_alert: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Jensen-Shannon divergence (base 2) that is a detection; after one, JS must"
        " fall below half of it before it can detect again.",
    )
    adwin_delta: float = Field(0.002, gt=0, lt=1, description="ADWIN confidence.")
    page_hinkley_threshold: float = Field(100.0, gt=0, description="Page-Hinkley lambda.")
    page_hinkley_delta: float = Field(0.05, ge=0, description="Page-Hinkley tolerance.")
    input_reference_days: int = Field(14, ge=0, le=366)
    """Input drift: days of event time before a partition's day that it is scored against
    (its event-type mix and funnel conversion); 0 turns input drift off. A partition's
    days are scored once it has this many days behind it."""
    input_min_events: int = Field(500, ge=1)
    """Input drift: events a partition's day, and its reference, need before their
    event-type mix is scored (fewer: too noisy to compare)."""
    funnel_min_count: int = Field(100, ge=1)
    """Input drift: events a funnel step starts from in a partition's day (views for
    view -> cart, ...) before that step's conversion is scored."""
    funnel_drop_alert: float = Field(0.25, gt=0, lt=1)
    """Input drift: relative drop of a funnel step's conversion from the reference's that
    is a detection, counted only when the drop is beyond 3 standard errors; after one,
    the drop must fall below half of it before it can detect again."""

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> Self:
        if self.psi_warning >= self.psi_alert:
            raise ValueError("drift.psi_warning must be below drift.psi_alert")
        return self


class InputBoundsConfig(BaseModel):
    """How far from plausible event time an input may be: older than the floor is refused
    everywhere; ahead of the wall clock by more than the skew is refused live; replay,
    which has no wall clock, refuses a jump in event time instead."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True
    )

    timestamp_floor: AwareDatetime = Field(
        TIMESTAMP_FLOOR, description="Event time before this is out of range (every input topic)."
    )
    max_clock_skew_seconds: FiniteFloat = Field(
        3600.0,
        ge=0,
        description="Live: event time this far ahead of the wall clock is out of range.",
    )
    max_replay_jump_seconds: FiniteFloat = Field(
        30 * 86400.0, gt=0, description="Replay: event time this far ahead of the rest is refused."
    )
    max_message_bytes: int = Field(
        MAX_MESSAGE_BYTES, ge=1_000, le=900_000,
        description="A larger input message is too_large (below Kafka's 1 MB record limit, "
        "so that its dead letter fits).",
    )  # fmt: skip
    max_attributes: int = Field(
        MAX_ATTRIBUTES, ge=1, le=10_000,
        description="Entries allowed in an event's properties or a profile update's attributes.",
    )  # fmt: skip
    max_value_length: int = Field(
        MAX_VALUE_LENGTH, ge=1, le=100_000,
        description="Characters allowed in a property's or attribute's name or string value.",
    )  # fmt: skip

    def context(self, extra_event_types: Iterable[str] = ()) -> dict[str, Any]:
        """The validation context of the contracts under these bounds."""
        return allowed_types_context(
            extra_event_types, self.timestamp_floor, self.max_message_bytes,
            self.max_attributes, self.max_value_length,
        )  # fmt: skip

    @field_validator("timestamp_floor")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class EngineConfig(BaseModel):
    """Everything that decides segments. Same config and input give the same output."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    extra_event_types: tuple[str, ...] = ()
    """Behavioural event types accepted beside the vocabulary (schemas/events.py)."""
    allowed_lateness_seconds: float = Field(
        7 * 86400, ge=0, description="Events older than a customer's latest by more are late."
    )
    dedup_window: int = Field(
        64, ge=1, description="Recent event ids remembered per customer for deduplication."
    )
    windows_days: tuple[int, ...] = Field(DEFAULT_WINDOWS_DAYS, min_length=1)
    """Windows of the windowed features, in days: each gives ``frequency_Nd`` and the like."""
    recency_cap_days: float = Field(
        365, gt=0, description="recency_days of a customer who never bought, and its ceiling."
    )
    lapsed_after_days: float = Field(60, gt=0, description="Inactive this long counts as lapsed.")
    sweep_interval_seconds: float = Field(
        86400,
        ge=0,
        description="Event time between ticks (drift readings, idle partitions moved on);"
        " 0: none, and silent customers are never re-evaluated.",
    )
    recheck_first_days: float = Field(
        1, gt=0, allow_inf_nan=False, description="First re-check of a silent customer."
    )
    recheck_growth: float = Field(
        3,
        ge=1,
        allow_inf_nan=False,
        description="Each later re-check gap, times the last. With the defaults: 1, 4, 13, 40"
        " and 121 days after the last event, then every 128 days (with 4, the fourth came at"
        " day 85).",
    )
    recheck_max_days: float = Field(
        128, gt=0, allow_inf_nan=False, description="Longest gap between re-checks."
    )
    idle_partition_seconds: float = Field(
        86400,
        ge=0,
        allow_inf_nan=False,
        description="A partition this far behind the latest tick is moved on to it.",
    )
    affinity_slots: int = Field(8, ge=1, le=64, description="Affinities kept per customer.")
    learned: LearnedSegmentsConfig = LearnedSegmentsConfig()
    """The learned segments."""
    rules: tuple[RuleSegmentConfig, ...] = ()
    """Rule segments; a customer can be in several."""
    drift: DriftConfig = DriftConfig()
    """The drift watch."""
    input_bounds: InputBoundsConfig = InputBoundsConfig()
    """What input is refused as out of range or too large."""

    @field_validator("extra_event_types")
    @classmethod
    def _new_types_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        clash = sorted(set(value) & EVENT_TYPES)
        if clash:
            raise ValueError(f"{clash} are already in the vocabulary")
        return value

    @model_validator(mode="after")
    def _known_features(self) -> Self:
        kinds = feature_kinds(self.windows_days)
        unknown = [name for name in self.learned.features if name not in kinds]
        if unknown:
            raise ValueError(f"learned.features: unknown {unknown}; see schemas/features.py")
        text = [name for name in self.learned.features if kinds[name] == "text"]
        if text:
            raise ValueError(f"learned.features: {text} are text; the model needs numbers")
        unwatchable = [n for n in self.drift.features or () if kinds.get(n) != "number"]
        if unwatchable:
            raise ValueError(f"drift.features: {unwatchable} are not numeric features")
        ids = [rule.id for rule in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("rules: segment ids must be unique")
        return self
