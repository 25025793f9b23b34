"""Fuzzing the settings loader: whatever the config file's bytes or a ``SEGMENT_ENGINE_*``
variable's value, ``load_settings`` gives a ``Settings`` or one ``ConfigError`` line.

The smallest inputs fuzzing first found raising out (not UTF-8, nesting 100,000 deep,
an integer of 5,000 digits, a key with a line break) are kept as cases of their own.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settings import ConfigError, Settings, load_settings
from tests.fuzz.strategies import JSON, deep, json_bytes

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Raised out of load_settings today instead of a ConfigError (handed over): a file not
# UTF-8, nesting deeper than Python recurses, an integer of over 4,300 digits.
NAMES = [
    "app_id",
    "topic_partitions",
    "topics",
    "engine",
    "kafka_security",
    "store",
    "rocksdb",
    "trainer",
    "web_port",
    "engine.learned",
    "engine.rules",
    "topics.changes",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SEGMENT_ENGINE_"):
            monkeypatch.delenv(name)


@contextmanager
def config_file(data: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "settings.toml"
        path.write_bytes(data)
        yield path


def loads_or_says_why(path: Path | None = None) -> None:
    """The promise: settings, or a ConfigError of one line."""
    try:
        assert isinstance(load_settings(path), Settings)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc)


def toml_value(value: object) -> str:
    """A JSON value as TOML writes it, near enough (TOML takes JSON's strings and lists)."""
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{json_bytes(k).decode()} = {toml_value(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json_bytes(value).decode()


TOML_LINES = st.lists(
    st.tuples(st.sampled_from(NAMES) | st.text(max_size=8), JSON).map(
        lambda pair: f"{json_bytes(pair[0]).decode()} = {toml_value(pair[1])}"
    )
    | st.sampled_from(["[engine]", "[engine.learned]", "[topics]", "[[engine.rules]]", "x = ["]),
    max_size=6,
).map("\n".join)


@FUZZ
@given(data=st.binary(max_size=300) | TOML_LINES.map(str.encode))
def test_any_config_file_loads_or_says_why(data: bytes) -> None:
    with config_file(data) as path:
        loads_or_says_why(path)


@FUZZ
@given(
    name=st.sampled_from(
        [
            "TOPICS",
            "ENGINE",
            "ENGINE__LEARNED",
            "KAFKA_SECURITY",
            "TOPIC_PARTITIONS",
            "APP_ID",
            "ENGINE__RULES",
        ]
    ),
    value=st.text(max_size=40) | JSON.map(lambda v: json_bytes(v).decode()),
)
def test_any_environment_value_loads_or_says_why(name: str, value: str) -> None:
    if "\x00" in value:
        return  # no environment variable can hold one
    with mock.patch.dict(os.environ, {f"SEGMENT_ENGINE_{name}": value}):
        loads_or_says_why()


# --- handed over: raised out of load_settings today ---------------------------------------

FILES = [
    pytest.param(b'app_id = "\xff"', id="not-utf8-UnicodeDecodeError"),
    pytest.param(b"a = " + deep(100_000).encode(), id="deep-array-RecursionError"),
    pytest.param(b"a = " + deep(100_000, "{b=", "}").encode(), id="deep-table-RecursionError"),
    pytest.param(b"app_id = " + b"1" * 5000, id="5000-digits-ValueError"),
    pytest.param(b'"a\\nb" = 1', id="key-with-line-break-two-line-error"),
]


@pytest.mark.parametrize("data", FILES)
def test_what_fuzzing_found_in_config_files_is_one_line(data: bytes) -> None:
    with config_file(data) as path, pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "\n" not in str(caught.value)


def test_a_deeply_nested_environment_value_is_one_line() -> None:
    deep_value = {"SEGMENT_ENGINE_TOPICS": deep(100_000)}
    with mock.patch.dict(os.environ, deep_value), pytest.raises(ConfigError, match="too deeply"):
        load_settings()
