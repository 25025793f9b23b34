"""``settings.reference``: every setting, described from its docstring, under the names the
loader really reads."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr

from settings import ConfigError, Settings, load_settings
from settings.reference import Row, render, sections


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SEGMENT_ENGINE_* from the outer environment leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("SEGMENT_ENGINE_"):
            monkeypatch.delenv(name)


def rows() -> list[Row]:
    return [row for section in sections() for row in section.rows]


def leaves(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every field that holds a value, walked apart from the generator."""
    out = []
    for name, field in model.model_fields.items():
        inner = field.annotation
        args = getattr(inner, "__args__", ())
        nested = next((a for a in (inner, *args)
                       if isinstance(a, type) and issubclass(a, BaseModel)), None)  # fmt: skip
        if nested is None:
            out.append(prefix + name)
        else:
            many = nested is not inner
            out += leaves(nested, f"{prefix}{name}{'[]' if many else ''}.")
    return out


def test_every_setting_has_a_row_and_a_description() -> None:
    assert sorted(row.path for row in rows()) == sorted(leaves(Settings))
    assert all(row.description for row in rows())
    assert all(section.description for section in sections())


def test_a_field_without_a_description_stops_the_generator() -> None:
    class Inner(BaseModel):
        model_config = ConfigDict(use_attribute_docstrings=True)

        said: int = 1
        """Described."""
        unsaid: int = 2

    class Outer(BaseModel):
        model_config = ConfigDict(use_attribute_docstrings=True)

        inner: Inner = Inner()
        """A table."""

    with pytest.raises(ValueError, match=r"inner\.unsaid has no description"):
        render(Outer)


def test_a_secret_shows_no_default() -> None:
    class Toy(BaseModel):
        model_config = ConfigDict(use_attribute_docstrings=True)

        token: SecretStr = SecretStr("hunter2")
        """A secret."""

    assert "hunter2" not in render(Toy)
    secret = {row.path: row.default for row in rows() if "secret" in row.type}
    assert secret == {"kafka_security.sasl_password": "(secret)", "web_token": "(secret)"}


def attribute(settings: Settings, path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value


CHECKED = re.compile(r"^(integer|number|boolean|one of )")


@pytest.mark.parametrize(
    "row", [r for r in rows() if r.environment and CHECKED.match(r.type)], ids=lambda r: r.path
)
def test_a_typed_settings_variable_reaches_its_setting(
    row: Row, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert row.environment is not None
    monkeypatch.setenv(row.environment, "not-a-value")
    with pytest.raises(ConfigError, match=rf"^{re.escape(row.path)}: "):
        load_settings()


@pytest.mark.parametrize(
    "row",
    [r for r in rows() if r.environment and re.match(r"(string|path|secret string)(, or unset)?$",
                                                       r.type) and "matches" not in r.constraints],
    ids=lambda r: r.path,
)  # fmt: skip
def test_a_text_settings_variable_sets_its_setting(
    row: Row, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert row.environment is not None
    monkeypatch.setenv(row.environment, "from-the-environment")
    value = attribute(load_settings(), row.path)
    shown = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    assert shown == "from-the-environment"


def test_a_list_variable_is_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGMENT_ENGINE_ENGINE__EXTRA_EVENT_TYPES", '["wishlist"]')
    assert load_settings().engine.extra_event_types == ("wishlist",)


def test_the_example_file_loads(tmp_path: Path) -> None:
    text = render()
    example = re.search(r"```toml\n(.*?)```", text, re.S)
    assert example is not None
    path = tmp_path / "engine.toml"
    path.write_text(example.group(1))
    settings = load_settings(path)
    assert tomllib.loads(example.group(1))["engine"]["learned"]["n_segments"] == 8
    assert settings.engine.learned.n_segments == 8
    assert [rule.id for rule in settings.engine.rules] == ["dach-midlife", "recent-big-spenders"]


def test_the_defaults_are_the_models() -> None:
    text = render()
    assert "| `engine.drift.js_alert` |" in text
    for path, shown in [("engine.drift.js_alert", "`0.05`"),
                        ("engine.drift.page_hinkley_threshold", "`100.0`"),
                        ("engine.drift.page_hinkley_delta", "`0.05`"),
                        ("engine.learned.n_segments", "`6`"),
                        ("topics.changes", '`"segment-changes"`')]:  # fmt: skip
        row = next(r for r in rows() if r.path == path)
        assert row.default == shown
        assert repr(attribute(Settings(), path)).strip("'") in shown
