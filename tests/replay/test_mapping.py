"""Column and type mappings: ``--map``, ``--type-map`` and mapping files, bad items named."""

from __future__ import annotations

from pathlib import Path

import pytest

from replay.sources import ColumnMap, SourceError


@pytest.mark.parametrize(
    ("maps", "type_maps", "error"),
    [
        (["customer_id"], [], "--map 'customer_id': expected FIELD=COLUMN"),
        (["customer_id="], [], "--map 'customer_id=': expected FIELD=COLUMN"),
        (["=user"], [], "--map '=user': expected FIELD=COLUMN"),
        (["colour=c"], [], "--map 'colour=c': unknown field 'colour'"),
        (["properties.=c"], [], "unknown field 'properties.'"),
        (["customer_id=a", "customer_id=b"], [], "customer_id is mapped twice"),
        ([], ["view"], "--type-map 'view': expected FILE_TYPE=EVENT_TYPE"),
        ([], ["view=a", "view=b"], "view is mapped twice"),
    ],
)
def test_bad_map_items_are_named(maps: list[str], type_maps: list[str], error: str) -> None:
    with pytest.raises(SourceError) as caught:
        ColumnMap.parse(maps, type_maps)
    assert error in str(caught.value)
    assert "\n" not in str(caught.value)


def test_map_fields_take_bare_and_dotted_names() -> None:
    mapping = ColumnMap.parse(
        ["customer_id = user", "age=years", "properties.colour=colour", "attributes.tier=t"]
    )
    assert mapping.columns == {
        "customer_id": "user",
        "attributes.age": "years",
        "properties.colour": "colour",
        "attributes.tier": "t",
    }


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("map.toml", 'columns = {customer_id = "user", category = "cat"}\ntypes = {view = "x"}'),
        (
            "map.json",
            '{"columns": {"customer_id": "user", "category": "cat"}, "types": {"view": "x"}}',
        ),
    ],
)
def test_mapping_files_and_flags_over_them(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    mapping = ColumnMap.parse(["customer_id=uid"], ["view=page_view"], file=path)
    assert mapping.columns == {"customer_id": "uid", "properties.category": "cat"}
    assert mapping.types == {"view": "page_view"}


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("map.toml", "columns = {", "map.toml: "),
        ("map.json", "{", "map.json: "),
        ("map.yaml", "columns: {}", "expected a .toml or .json file"),
        ("map.toml", "colums = {}", "unknown key 'colums'"),
        ("map.toml", "columns = {customer_id = 3}", "columns must be a table of names"),
        ("map.json", "[]", "expected a table"),
        ("map.toml", 'columns = {colour = "c"}', "columns 'colour=c': unknown field 'colour'"),
        ("map.toml", 'columns = {colour = "a\\nb"}', "columns 'colour=a\\nb': unknown field"),
        ("absent.toml", None, "absent.toml: No such file"),
        ("map.toml", b'columns = {customer_id = "\xff"}', "not UTF-8"),
        pytest.param(
            "map.toml", "a = " + "[" * 10**5 + "]" * 10**5, "nested too deeply", id="deep-toml"
        ),
        pytest.param("map.json", "[" * 10**5 + "]" * 10**5, "nested too deeply", id="deep-json"),
        pytest.param("map.json", '{"columns": ' + "1" * 5000 + "}", "4300", id="long-json-int"),
        pytest.param("map.toml", "columns = " + "1" * 5000, "4300", id="long-toml-int"),
    ],
)
def test_bad_mapping_files_are_named(
    tmp_path: Path, name: str, text: str | bytes | None, error: str
) -> None:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    with pytest.raises(SourceError) as caught:
        ColumnMap.parse(file=path)
    message = str(caught.value)
    assert message.startswith(f"mapping file {path}")
    assert error in message and "\n" not in message
