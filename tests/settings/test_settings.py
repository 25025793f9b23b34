"""``load_settings``: the TOML file, then ``SEGMENT_ENGINE_*`` environment, one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from settings import ConfigError, Settings, load_settings

SECRET = "hunter2-do-not-print-me"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SEGMENT_ENGINE_* from the outer environment leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("SEGMENT_ENGINE_"):
            monkeypatch.delenv(name)


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    return path


def test_defaults_without_file_or_environment() -> None:
    assert load_settings() == Settings()
    assert load_settings().app_id == "segment-engine"


def test_file_values_apply(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        """
        app_id = "from-file"
        topic_partitions = 8
        web_port = 7001

        [topics]
        behaviour = "events-v2"

        [engine]
        allowed_lateness_seconds = 60

        [engine.learned]
        n_segments = 5
        """,
    )
    settings = load_settings(path)
    assert settings.app_id == "from-file"
    assert settings.topic_partitions == 8
    assert settings.web_port == 7001
    assert settings.topics.behaviour == "events-v2"
    assert settings.topics.changes == "segment-changes"  # untouched default
    assert settings.engine.allowed_lateness_seconds == 60
    assert settings.engine.learned.n_segments == 5


def test_the_replication_factor_is_one_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().topic_replication_factor == 1
    monkeypatch.setenv("SEGMENT_ENGINE_TOPIC_REPLICATION_FACTOR", "3")
    assert load_settings().topic_replication_factor == 3


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = toml(tmp_path, 'app_id = "from-file"\nweb_port = 7001\ntopic_partitions = 8\n')
    monkeypatch.setenv("SEGMENT_ENGINE_WEB_PORT", "7100")
    monkeypatch.setenv("SEGMENT_ENGINE_APP_ID", "from-env")
    settings = load_settings(path)
    assert (settings.app_id, settings.web_port) == ("from-env", 7100)
    assert settings.topic_partitions == 8  # the file still applies where env is silent


def test_nested_environment_merges_with_nested_file_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = toml(tmp_path, "[engine.learned]\nn_segments = 5\nseed = 11\n[topics]\nchanges = 'c'\n")
    monkeypatch.setenv("SEGMENT_ENGINE_ENGINE__LEARNED__N_SEGMENTS", "9")
    monkeypatch.setenv("SEGMENT_ENGINE_TOPICS__DEAD_LETTERS", "dlq")
    settings = load_settings(path)
    assert settings.engine.learned.n_segments == 9
    assert settings.engine.learned.seed == 11
    assert (settings.topics.changes, settings.topics.dead_letters) == ("c", "dlq")


def test_nested_environment_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGMENT_ENGINE_ENGINE__LEARNED__N_SEGMENTS", "12")
    assert load_settings().engine.learned.n_segments == 12


def test_keyword_overrides_beat_the_file(tmp_path: Path) -> None:
    path = toml(tmp_path, "web_port = 7001\n")
    assert load_settings(path, web_port=7002).web_port == 7002


@pytest.mark.parametrize(
    ("file_text", "env", "field"),
    [
        pytest.param("topic_partitions = 0\n", {}, "topic_partitions", id="file-range"),
        pytest.param('web_port = "high"\n', {}, "web_port", id="file-type"),
        pytest.param(
            "[engine.learned]\nn_segments = 1\n", {}, "engine.learned.n_segments", id="file-nested"
        ),
        pytest.param(
            "[engine]\nextra_event_types = ['purchase']\n",
            {},
            "engine.extra_event_types",
            id="file-clashing-type",
        ),
        pytest.param("unknown_setting = 1\n", {}, "unknown_setting", id="file-unknown-key"),
        pytest.param(
            "[kafka_security]\nprotocol = 'TLS'\n", {}, "kafka_security.protocol", id="file-literal"
        ),
        pytest.param("fetch_max_wait_ms = 0\n", {}, "fetch_max_wait_ms", id="file-fetch-wait"),
        pytest.param(
            "topic_replication_factor = 0\n", {}, "topic_replication_factor", id="file-replicas"
        ),
        pytest.param(
            "",
            {"SEGMENT_ENGINE_TOPIC_REPLICATION_FACTOR": "three"},
            "topic_replication_factor",
            id="env-replicas",
        ),
        pytest.param('store = "redis://"\n', {}, "store", id="file-store-scheme"),
        pytest.param(
            "[rocksdb]\nblock_cache_mib = 0\n", {}, "rocksdb.block_cache_mib", id="file-cache"
        ),
        pytest.param(
            "[rocksdb]\nwrite_buffers = 1\n", {}, "rocksdb.write_buffers", id="file-buffers"
        ),
        pytest.param(
            "",
            {"SEGMENT_ENGINE_ROCKSDB__WRITE_BUFFER_MIB": "2048"},
            "rocksdb.write_buffer_mib",
            id="env-write-buffer",
        ),
        pytest.param("", {"SEGMENT_ENGINE_WEB_PORT": "abc"}, "web_port", id="env-type"),
        pytest.param("", {"SEGMENT_ENGINE_WEB_PORT": "70000"}, "web_port", id="env-range"),
        pytest.param(
            "",
            {"SEGMENT_ENGINE_ENGINE__LEARNED__N_SEGMENTS": "1"},
            "engine.learned.n_segments",
            id="env-nested",
        ),
        pytest.param(
            "[engine.learned]\nn_segments = 1\n",
            {"SEGMENT_ENGINE_ENGINE__LEARNED__N_SEGMENTS": "7"},
            None,
            id="env-fixes-the-file",
        ),
    ],
)
def test_a_bad_value_is_a_one_line_error_naming_the_field(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    file_text: str,
    env: dict[str, str],
    field: str | None,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = toml(tmp_path, file_text)
    if field is None:
        assert load_settings(path).engine.learned.n_segments == 7
        return
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{field}: "), message


def test_malformed_json_in_the_environment_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEGMENT_ENGINE_TOPICS", "{not json")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "\n" not in str(info.value) and "topics" in str(info.value)


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_an_unreadable_file_is_a_one_line_error(tmp_path: Path, make: str) -> None:
    path = tmp_path / "nope.toml"
    if make == "directory":
        path.mkdir()
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message


@pytest.mark.parametrize(
    "text", ["app_id = \n", "[engine\n", 'app_id = "a"\napp_id = "b"\n', "x = 'unterminated\n"]
)
def test_bad_toml_is_a_one_line_error(tmp_path: Path, text: str) -> None:
    path = toml(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert "\n" not in message
    assert "not valid TOML" in message and str(path) in message


def test_the_sasl_password_never_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = toml(tmp_path, "[kafka_security]\nprotocol = 'SASL_SSL'\nsasl_username = 'svc'\n")
    monkeypatch.setenv("SEGMENT_ENGINE_KAFKA_SECURITY__SASL_PASSWORD", SECRET)
    settings = load_settings(path)
    password = settings.kafka_security.sasl_password
    assert password is not None and password.get_secret_value() == SECRET  # it was set
    assert settings.kafka_security.sasl_username == "svc"
    for text in (repr(settings), str(settings), repr(settings.kafka_security), f"{settings}"):
        assert SECRET not in text
    assert SECRET not in settings.model_dump_json()


def test_the_password_does_not_leak_through_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEGMENT_ENGINE_KAFKA_SECURITY__SASL_PASSWORD", SECRET)
    monkeypatch.setenv("SEGMENT_ENGINE_KAFKA_SECURITY__PROTOCOL", "NOPE")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "kafka_security.protocol" in str(info.value)
    assert SECRET not in str(info.value)


def test_rocksdb_bounds_go_to_the_table_only_on_rocksdb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGMENT_ENGINE_ROCKSDB__BLOCK_CACHE_MIB", "32")
    assert load_settings().table_options() is None  # memory:// takes no RocksDB options
    options = load_settings(store="rocksdb://").table_options()
    assert options == {
        "block_cache_size": 32 * 1024 * 1024,
        "write_buffer_size": 4 * 1024 * 1024,
        "max_write_buffer_number": 2,
    }
