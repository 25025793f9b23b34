"""The configuration reference, ``docs/configuration.md``, written from the settings model.

Each setting's dotted path, environment variable, type, default, constraints and
description come from :class:`~settings.model.Settings` and the models it nests
(:mod:`schemas.config`); the descriptions are the fields' docstrings. So the reference
cannot drift from the code: ``python -m settings.reference`` writes it, and
``python -m settings.reference --check`` exits 1 while the file differs (a test runs it).
"""

from __future__ import annotations

import argparse
import sys
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import AwareDatetime, BaseModel, SecretStr
from pydantic.fields import FieldInfo

from settings.model import Settings

__all__ = ["REFERENCE", "Row", "Section", "main", "render", "sections"]

ENV_PREFIX = "SEGMENT_ENGINE_"
REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
_NAMES = {
    bool: ("boolean", "booleans"),
    int: ("integer", "integers"),
    float: ("number", "numbers"),
    str: ("string", "strings"),
    Path: ("path", "paths"),
    SecretStr: ("secret string", "secret strings"),
    AwareDatetime: ("date-time with a UTC offset", "date-times with a UTC offset"),
}


@dataclass(frozen=True)
class Row:
    """One setting: a field that holds a value, not a table of settings."""

    path: str
    environment: str | None
    type: str
    default: str
    constraints: str
    description: str


@dataclass(frozen=True)
class Section:
    """A table of settings (a nested model), or the entries of a list of tables."""

    path: str
    environment: str | None
    many: bool
    description: str
    rows: tuple[Row, ...]


def sections(model: type[BaseModel] = Settings) -> list[Section]:
    """Every table of settings under ``model``, depth first in declaration order.

    >>> [s.path for s in sections()][:3]
    ['', 'kafka_security', 'topics']
    """
    return list(_sections(model, (), model.__doc__ or "", in_env=True, many=False))


def _sections(
    model: type[BaseModel], path: tuple[str, ...], description: str, in_env: bool, many: bool
) -> Iterator[Section]:
    """``in_env``: its settings have variables of their own (not inside a list);
    ``many``: ``model`` is the entry of a list of tables."""
    rows, nested = [], []
    for name, field in model.model_fields.items():
        where = (*path, name)
        if not field.description:
            raise ValueError(f"{'.'.join(where)} has no description: give it a docstring")
        table, listed = _table(field.annotation)
        if table is None:
            variable = _variable(where) if in_env and not many else None
            rows.append(_row(model, field, where, many, variable))
        else:
            nested.append((table, where, field.description, listed))
    environment = _variable(path) if in_env and path else None
    yield Section(".".join(path), environment, many, _text(description), tuple(rows))
    for table, where, text, listed in nested:  # the table's own docstring says more
        yield from _sections(table, where, table.__doc__ or text, in_env and not many, listed)


def _table(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds as a table, and whether as a list of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    args = get_args(annotation)
    if get_origin(annotation) is tuple and len(args) == 2 and args[1] is Ellipsis:
        inner, _ = _table(args[0])
        return inner, inner is not None
    return None, False


def _row(
    model: type[BaseModel],
    field: FieldInfo,
    path: tuple[str, ...],
    many: bool,
    variable: str | None,
) -> Row:
    finite = model.model_config.get("allow_inf_nan") is False
    shown = ".".join(path[:-1]) + "[]." + path[-1] if many else ".".join(path)
    return Row(
        path=shown,
        environment=variable,
        type=type_name(field.annotation),
        default=_default(field, path[-1]),
        constraints=", ".join(_constraints(field, finite)),
        description=_text(field.description or ""),
    )


def _variable(path: tuple[str, ...]) -> str:
    return ENV_PREFIX + "__".join(path).upper()


def type_name(annotation: Any, plural: bool = False) -> str:
    """How the reference names a field's type.

    >>> type_name(tuple[Literal["a", "b"], ...]), type_name(Path | None)
    ('list of `a`, `b`', 'path, or unset')
    """
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        named = " or ".join(type_name(a, plural) for a in args if a is not type(None))
        return f"{named}, or unset" if type(None) in args else named
    if origin is Literal:
        return ("" if plural else "one of ") + ", ".join(f"`{a}`" for a in args)
    if origin is tuple:
        return "list of " + type_name(args[0], plural=True)
    if origin is dict:
        return "table of " + type_name(args[1], plural=True)
    for kind, names in _NAMES.items():
        if isinstance(annotation, type) and issubclass(annotation, kind):
            return names[plural]
    raise TypeError(f"no name for the type {annotation!r}")


def _default(field: FieldInfo, name: str) -> str:
    if field.is_required():
        return "required"
    if SecretStr in (field.annotation, *get_args(field.annotation)):
        return "(secret)"
    value = field.get_default(call_default_factory=True)
    return f"`{value_text(value)}`" + (_duration(value) if name.endswith("_seconds") else "")


def value_text(value: Any) -> str:
    """A default as TOML would write it (``unset`` for none).

    >>> value_text(("a", 2)), value_text(None), value_text(datetime(1990, 1, 1, tzinfo=UTC))
    ('["a", 2]', 'unset', '1990-01-01T00:00:00Z')
    """
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return f'"{value}"'
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, tuple | list):
        return "[" + ", ".join(value_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {value_text(v)}' for k, v in value.items()) + "}"
    return repr(value)


def _duration(seconds: Any) -> str:
    """A reading aid for whole hours or days.

    >>> _duration(86400), _duration(21600.0), _duration(90), _duration(None)
    (' (1 day)', ' (6 hours)', '', '')
    """
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not seconds:
        return ""
    for unit, size in (("day", 86400), ("hour", 3600)):
        if seconds % size == 0:
            count = int(seconds // size)
            return f" ({count} {unit}{'s' if count > 1 else ''})"
    return ""


def _constraints(field: FieldInfo, finite: bool) -> Iterator[str]:
    what = "items" if get_origin(field.annotation) is tuple else "characters"
    for rule in field.metadata:
        if isinstance(rule, at.Ge):
            yield f"≥ {rule.ge}"
        elif isinstance(rule, at.Gt):
            yield f"> {rule.gt}"
        elif isinstance(rule, at.Le):
            yield f"≤ {rule.le}"
        elif isinstance(rule, at.Lt):
            yield f"< {rule.lt}"
        elif isinstance(rule, at.MinLen):
            yield "not empty" if rule.min_length == 1 else f"at least {rule.min_length} {what}"
        elif isinstance(rule, at.MaxLen):
            yield f"at most {rule.max_length} {what}"
        elif getattr(rule, "pattern", None) is not None:
            yield f"matches `{rule.pattern}`"
        elif getattr(rule, "allow_inf_nan", None) is False:
            finite = True
    if finite and field.annotation is float:
        yield "finite"


def _text(doc: str) -> str:
    """A docstring as one line of Markdown."""
    return " ".join(doc.split()).replace("``", "`")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


HEAD = """\
# Configuration reference

Generated from the settings model by `python -m settings.reference`: to change a
description, edit the field's docstring in `settings/model.py` or `schemas/config.py`
and run it again (a test fails while this page and the code differ).

Every command that takes `--config FILE` reads an optional TOML file, then
`SEGMENT_ENGINE_*` environment variables, which win over the file. A nested setting's
variable joins its path with `__` (`engine.learned.n_segments` is
`SEGMENT_ENGINE_ENGINE__LEARNED__N_SEGMENTS`); a list or a table in a variable is JSON
(`SEGMENT_ENGINE_ENGINE__EXTRA_EVENT_TYPES='["wishlist"]'`). The settings are validated
once, at start: a wrong value stops the command with one line naming the field, e.g.
`segment-engine: engine.learned.n_segments: Input should be greater than or equal to 2`.
Secrets are never printed.

An example `engine.toml`:

```toml
kafka_bootstrap = "kafka-1:9093"
[kafka_security]
protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "segment-engine"
ssl_cafile = "/etc/kafka/ca.pem"
[engine.learned]
n_segments = 8
names = { "seg-1" = "VIP" }

[[engine.rules]]
id = "dach-midlife"
name = "DACH, 30-50"
expression = "country in [DE, AT, CH] and age between 30 and 50"

[[engine.rules]]
id = "recent-big-spenders"
name = "Recent big spenders"
expression = "monetary_90d > 500 and recency_days < 30"
```

with the password in `SEGMENT_ENGINE_KAFKA_SECURITY__SASL_PASSWORD`.
"""


def render(model: type[BaseModel] = Settings) -> str:
    """The whole reference as Markdown."""
    out = [HEAD]
    for section in sections(model):
        out.append(_section(section))
    return "\n".join(out)


def _section(section: Section) -> str:
    lines = [f"## {section.path or 'Top level'}", "", section.description, ""]
    if section.many:
        whole = f"; as a whole `{section.environment}`, a JSON list" if section.environment else ""
        lines += [f"A list of tables (`[[{section.path}]]` in TOML{whole}). Each entry:", ""]
    elif section.environment:
        lines += [f"As a whole: `{section.environment}` (JSON).", ""]
    if section.rows:
        lines += [
            "| setting | environment | type | default | constraints | description |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row in section.rows:
            cells = (f"`{row.path}`", f"`{row.environment}`" if row.environment else "",
                     row.type, row.default, row.constraints, row.description)  # fmt: skip
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m settings.reference", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs")
    parser.add_argument("--out", type=Path, default=REFERENCE)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run python -m settings.reference", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
