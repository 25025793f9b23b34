"""The engine config contract: defaults, learned features, extra event types, and each
clustering model's own options."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.config import EngineConfig, InputBoundsConfig, LearnedSegmentsConfig
from schemas.events import EVENT_TYPES
from schemas.features import DEFAULT_LEARNED_FEATURES, feature_kinds

# --- engine config ------------------------------------------------------------------------


def test_engine_config_defaults_are_valid() -> None:
    config = EngineConfig()
    assert config.learned.features == DEFAULT_LEARNED_FEATURES
    assert set(DEFAULT_LEARNED_FEATURES) <= set(feature_kinds(config.windows_days))
    assert EngineConfig.model_validate(config.model_dump()) == config


@pytest.mark.parametrize(
    ("features", "named"),
    [
        pytest.param(("frequency_90d", "shoe_size"), "shoe_size", id="one-unknown"),
        pytest.param(("shoe_size",), "shoe_size", id="only-unknown"),
        pytest.param(("frequency_14d",), "frequency_14d", id="window-not-configured"),
        pytest.param(("recency_days", "country"), "country", id="text-feature"),
    ],
)
def test_engine_config_rejects_unknown_or_text_features(
    features: tuple[str, ...], named: str
) -> None:
    with pytest.raises(ValidationError) as info:
        EngineConfig.model_validate({"learned": {"features": features}})
    [error] = info.value.errors()
    assert "learned.features" in error["msg"] and named in error["msg"]


def test_engine_config_rejects_no_features() -> None:
    with pytest.raises(ValidationError) as info:
        EngineConfig.model_validate({"learned": {"features": ()}})
    assert info.value.errors()[0]["loc"] == ("learned", "features")


def test_engine_config_accepts_a_subset_of_features_and_configured_windows() -> None:
    config = EngineConfig(learned=LearnedSegmentsConfig(features=("frequency_90d", "tenure_days")))
    assert config.learned.features == ("frequency_90d", "tenure_days")
    custom = EngineConfig.model_validate(
        {"windows_days": [14], "learned": {"features": ["frequency_14d"]}}
    )
    assert custom.learned.features == ("frequency_14d",)


@pytest.mark.parametrize("clash", [("purchase",), ("wishlist", "refund"), tuple(EVENT_TYPES)])
def test_engine_config_rejects_extra_types_already_in_the_vocabulary(
    clash: tuple[str, ...],
) -> None:
    with pytest.raises(ValidationError) as info:
        EngineConfig(extra_event_types=clash)
    assert info.value.errors()[0]["loc"] == ("extra_event_types",)


def test_engine_config_accepts_new_extra_types_and_forbids_unknown_keys() -> None:
    assert EngineConfig(extra_event_types=("wishlist",)).extra_event_types == ("wishlist",)
    with pytest.raises(ValidationError):
        EngineConfig.model_validate({"lateness": 3})
    with pytest.raises(ValidationError):
        EngineConfig.model_validate({"learned": {"n_segments": 1}})


# --- the clustering models' own options ----------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("kmeans", {"halflife": 0.02}),
        ("streamkmeans", {"chunk_size": 200}),
        (
            "dbstream",
            {
                "clustering_threshold": 1.5,
                "fading_factor": 0.001,
                "cleanup_interval": 2.0,
                "intersection_factor": 0.3,
                "minimum_weight": 1.0,
            },
        ),
        (
            "denstream",
            {
                "decaying_factor": 0.01,
                "beta": 0.5,
                "mu": 2.5,
                "epsilon": 0.5,
                "n_samples_init": 500,
                "stream_speed": 100,
            },
        ),
    ],
)
def test_each_model_gets_its_own_options_with_the_former_defaults(
    model: str, expected: dict[str, Any]
) -> None:
    assert LearnedSegmentsConfig.model_validate({"model": model}).model_options() == expected


def test_set_options_reach_the_model_and_are_written_out_only_when_set() -> None:
    learned = LearnedSegmentsConfig.model_validate(
        {"model": "dbstream", "dbstream": {"fading_factor": 0.01}}
    )
    assert learned.model_options()["fading_factor"] == 0.01
    dumped = learned.model_dump(mode="json")
    assert "dbstream" in dumped and "denstream" not in dumped and "streamkmeans" not in dumped
    assert LearnedSegmentsConfig.model_validate(dumped) == learned
    assert "dbstream" not in LearnedSegmentsConfig().model_dump()


@pytest.mark.parametrize(
    "options",
    [
        {"dbstream": {"clustering_threshold": math.inf}},
        {"dbstream": {"fading_factor": math.nan}},
        {"dbstream": {"fading_factor": 0}},
        {"dbstream": {"radius": 1.0}},
        {"denstream": {"epsilon": math.inf}},
        {"denstream": {"beta": 0.2, "mu": 5}},  # beta * mu must be above 1
        {"denstream": {"n_samples_init": 0}},
        {"streamkmeans": {"chunk_size": 0}},
    ],
)
def test_model_options_must_be_finite_known_and_in_range(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        LearnedSegmentsConfig.model_validate(options)


# --- input bounds --------------------------------------------------------------------------


def test_input_bounds_defaults() -> None:
    bounds = EngineConfig().input_bounds
    assert bounds == InputBoundsConfig(
        timestamp_floor=datetime(1990, 1, 1, tzinfo=UTC),
        max_clock_skew_seconds=3600,
        max_replay_jump_seconds=30 * 86400,
    )
    config = EngineConfig.model_validate(
        {"input_bounds": {"timestamp_floor": "2000-01-01T01:00:00+01:00"}}
    )
    assert config.input_bounds.timestamp_floor == datetime(2000, 1, 1, tzinfo=UTC)
    assert config.input_bounds.timestamp_floor.utcoffset() is not None
    assert EngineConfig.model_validate(config.model_dump(mode="json")) == config


@pytest.mark.parametrize(
    "bounds",
    [
        {"timestamp_floor": "2000-01-01T00:00:00"},  # naive: ambiguous
        {"max_clock_skew_seconds": -1},
        {"max_clock_skew_seconds": math.inf},
        {"max_clock_skew_seconds": True},  # a boolean is not a number
        {"max_replay_jump_seconds": 0},
        {"max_replay_jump_seconds": math.nan},
        {"max_skew": 1},
    ],
)
def test_input_bounds_must_be_aware_finite_numbers_and_known(bounds: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        EngineConfig.model_validate({"input_bounds": bounds})
    assert info.value.errors()[0]["loc"][0] == "input_bounds"
