"""Where each resolved setting came from: the config file, the environment, or the default.

``segment-engine config check`` prints this; operators ask it when a worker does not do
what its file says (an environment variable left in a pod spec wins over the file).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import to_jsonable_python

from settings.model import ConfigError, Settings, _flat, load_settings

ENV_PREFIX = "SEGMENT_ENGINE_"
HIDDEN = "**********"

Source = Literal["file", "environment", "default"]


@dataclass(frozen=True)
class Resolved:
    path: str  # dotted, as in the TOML file: engine.learned.n_segments
    value: str  # as TOML would write it; secrets hidden
    source: Source
    variable: str | None = None  # the environment variable that set it


def resolve(config_file: Path | None) -> tuple[Settings, list[Resolved]]:
    """The settings as the worker resolves them, and every leaf of them with its source.

    Raises :class:`ConfigError` for a file that cannot be read, and
    :class:`ConfigErrors` listing every field error of an invalid configuration."""
    try:
        settings = load_settings(config_file)
    except ConfigError as error:
        raise ConfigErrors(_every_error(config_file) or [str(error)]) from None
    in_file = set(_leaf_paths(_read_toml(config_file))) if config_file else set()
    variables = {name.upper(): name for name in os.environ if name.upper().startswith(ENV_PREFIX)}
    out = []
    for path, value in _leaves(settings):
        dotted, variable = ".".join(path), _variable_for(path, variables)
        source: Source = "environment" if variable else "file" if dotted in in_file else "default"
        out.append(Resolved(dotted, _shown(value), source, variable))
    return settings, out


class ConfigErrors(ConfigError):
    """Every field error of a configuration, each one line naming its field."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(errors[0])
        self.errors = errors


def _every_error(config_file: Path | None) -> list[str]:
    """One line per field error, the environment's then the file's, or [] when the
    failure is not a field's (an unreadable file, an environment value that is not
    JSON): the caller has that one line."""
    errors: dict[str, str] = {}
    try:
        Settings()  # the environment alone
    except ValidationError as exc:
        errors |= _by_field(exc, "environment")
    except Exception:  # load_settings already named this failure in one line
        return []
    try:
        # model_validate reads the environment too (its errors are named already).
        Settings.model_validate(_read_toml(config_file) if config_file else {})
    except ValidationError as exc:
        errors = _by_field(exc, str(config_file)) | errors
    except Exception:  # as above
        return []
    return list(errors.values())


def _by_field(exc: ValidationError, origin: str) -> dict[str, str]:
    out = {}
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "config"
        out[where] = _flat(f"{where}: {error['msg']} ({origin})")
    return out


def _read_toml(config_file: Path) -> dict[str, Any]:
    return tomllib.loads(config_file.read_text(encoding="utf-8"))


def _leaf_paths(values: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[str]:
    for key, value in values.items():
        if isinstance(value, Mapping):
            yield from _leaf_paths(value, (*prefix, key))
        else:
            yield ".".join((*prefix, key))


def _leaves(
    model: BaseModel, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _leaves(value, (*prefix, name))
        else:
            yield (*prefix, name), value


def _variable_for(path: tuple[str, ...], variables: Mapping[str, str]) -> str | None:
    """The variable that set ``path``: its own (``SEGMENT_ENGINE_A__B``) or an ancestor's
    holding a JSON object with that key (``SEGMENT_ENGINE_A='{"b": 1}'``)."""
    for depth in range(len(path), 0, -1):
        name = variables.get(ENV_PREFIX + "__".join(path[:depth]).upper())
        if name is not None and _holds(os.environ[name], path[depth:]):
            return name
    return None


def _holds(text: str, rest: tuple[str, ...]) -> bool:
    """Whether the JSON object ``text`` holds the key path ``rest`` (``()``: always)."""
    if not rest:
        return True
    try:
        node: Any = json.loads(text)
    except ValueError:
        return False
    for key in rest:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _shown(value: Any) -> str:
    """As JSON (which TOML reads the same for these values); secrets hidden."""
    if isinstance(value, SecretStr):
        return HIDDEN
    if value is None:
        return "(not set)"
    return json.dumps(to_jsonable_python(value))
