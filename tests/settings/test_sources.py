"""``settings.sources``: each resolved setting names where it came from, secrets hidden,
every field error listed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settings.model import ConfigError
from settings.sources import HIDDEN, ConfigErrors, resolve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("SEGMENT_ENGINE_"):
            monkeypatch.delenv(name)


def rows(config: Path | None) -> dict[str, tuple[str, str, str | None]]:
    return {r.path: (r.value, r.source, r.variable) for r in resolve(config)[1]}


def test_file_environment_and_default_are_told_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('app_id = "shop"\nweb_port = 7001\n[engine.learned]\nn_segments = 5\n')
    monkeypatch.setenv("SEGMENT_ENGINE_WEB_PORT", "7002")  # wins over the file
    monkeypatch.setenv("SEGMENT_ENGINE_TOPICS", json.dumps({"changes": "seg-changes"}))
    got = rows(config)
    assert got["app_id"] == ('"shop"', "file", None)
    assert got["engine.learned.n_segments"] == ("5", "file", None)
    assert got["web_port"] == ("7002", "environment", "SEGMENT_ENGINE_WEB_PORT")
    assert got["topics.changes"] == ('"seg-changes"', "environment", "SEGMENT_ENGINE_TOPICS")
    assert got["topics.behaviour"] == ('"behaviour-events"', "default", None)  # not in the JSON
    assert got["topic_partitions"] == ("4", "default", None)


def test_secrets_never_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text('web_token = "file-token-123"\n')
    monkeypatch.setenv("SEGMENT_ENGINE_KAFKA_SECURITY__SASL_PASSWORD", "env-password-456")
    got = rows(config)
    assert got["web_token"] == (HIDDEN, "file", None)
    assert got["kafka_security.sasl_password"][:2] == (HIDDEN, "environment")
    text = repr(resolve(config))
    assert "file-token-123" not in text and "env-password-456" not in text


def test_every_field_error_is_listed_with_its_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("topic_partitions = 0\nbogus = 1\n[engine.learned]\nn_segments = 5000\n")
    monkeypatch.setenv("SEGMENT_ENGINE_WEB_PORT", "not-a-port")
    with pytest.raises(ConfigErrors) as caught:
        resolve(config)
    lines = caught.value.errors
    assert len(lines) == 4, lines
    for field, origin in [
        ("topic_partitions", str(config)),
        ("bogus", str(config)),
        ("engine.learned.n_segments", str(config)),
        ("web_port", "environment"),
    ]:
        assert any(line.startswith(f"{field}: ") and line.endswith(f"({origin})") for line in lines)
    assert all("\n" not in line for line in lines)


def test_an_unreadable_file_is_one_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as caught:
        resolve(missing)
    assert str(missing) in str(caught.value)


@settings(max_examples=40, deadline=None)
@given(partitions=st.integers(1, 10_000), port=st.integers(0, 65535))
def test_values_read_back_as_written(partitions: int, port: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "c.toml"
        config.write_text(f"topic_partitions = {partitions}\nweb_port = {port}\n")
        got = rows(config)
    assert got["topic_partitions"] == (str(partitions), "file", None)
    assert got["web_port"] == (str(port), "file", None)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "config", "check", *args],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def test_the_command_prints_sources_or_every_error(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        '[[engine.rules]]\nid = "vip"\nname = "VIP"\nexpression = "purchase_count >= 2"\n'
    )
    done = run_cli(str(good))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == ["setting", "source", "value"]
    assert any(line.split()[:2] == ["engine.rules", "file"] for line in done.stdout.splitlines())

    bad = tmp_path / "bad.toml"
    bad.write_text(
        "topic_partitions = 0\n[[engine.rules]]\n"
        'id = "vip"\nname = "VIP"\nexpression = "purchase_cont >= 2"\n'
    )
    done = run_cli(str(bad))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"segment-engine config: topic_partitions: Input should be greater than or equal to 1"
        f" ({bad})"
    ]
    bad.write_text(
        '[[engine.rules]]\nid = "vip"\nname = "VIP"\nexpression = "purchase_cont >= 2"\n'
    )
    done = run_cli(str(bad))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1 and "purchase_cont" in done.stderr
