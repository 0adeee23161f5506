"""The json-sql mapping: a JSON record to one row, as Fluvio's mapping defines it (pure, no database)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from fluvio_connectors.json_sql import JsonText, Mapping, ModelMapper, PoisonRecord, RowMapper, Shape


def mapper(columns: dict[str, Any], **extra: Any) -> RowMapper:
    return RowMapper(Mapping.model_validate({"table": "t", "map-columns": columns, **extra}))


def col(key: str, kind: str, **value: Any) -> dict[str, Any]:
    return {"json-key": key, "value": {"type": kind, **value}}


def test_fluvio_readme_mapping_nested_key_and_the_whole_record() -> None:
    rows = mapper({"device_id": col("device.device_id", "int", default="0", required=True),
                   "record": col("$", "jsonb", required=True)})
    record = b'{"device": {"device_id": 1}}'
    row = rows.row(record)
    assert row.shape == Shape("insert", ("t",), ("device_id", "record"))
    assert row.values == (1, JsonText('{"device": {"device_id": 1}}'))
    assert rows.row(b'{"device": {}}').values[0] == 0  # the default, given as text as Fluvio does


@pytest.mark.parametrize(("key", "expected"), [("a.b", 1), ("$.a.b", 1), (".a.b", 1), ("list.1", "y"), ("a", {"b": 1})])
def test_key_paths(key: str, expected: Any) -> None:
    kind = "json" if isinstance(expected, dict) else ("int" if isinstance(expected, int) else "text")
    value = mapper({"c": col(key, kind)}).row(b'{"a": {"b": 1}, "list": ["x", "y"]}').values[0]
    assert (json.loads(value) if kind == "json" else value) == expected


@pytest.mark.parametrize(
    ("kind", "given", "expected"),
    [
        ("bool", True, True), ("boolean", "false", False), ("bool", 1, True),
        ("smallint", -32768, -32768), ("int2", "12", 12), ("int", 2**31 - 1, 2**31 - 1), ("integer", 3.0, 3),
        ("bigint", "-9223372036854775808", -(2**63)), ("int8", 2**62, 2**62),
        ("float", 1.5, 1.5), ("real", "2.25", 2.25), ("double precision", 1e300, 1e300), ("float8", 7, 7.0),
        ("numeric", 0.1, Decimal("0.1")), ("decimal", "12345678901234567890.123456789",
                                            Decimal("12345678901234567890.123456789")),
        ("text", "héllo", "héllo"), ("text", {"a": 1}, '{"a":1}'), ("text", 5, "5"),
        ("bytes", "abc", b"abc"), ("bytea", [104, 105], b"hi"),
        ("timestamp", "2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("timestamp", "2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("timestamp", "2024-05-01 10:00:00.250", datetime(2024, 5, 1, 10, 0, 0, 250000)),
        ("timestamp", 0, datetime(1970, 1, 1, tzinfo=UTC)),
        ("date", "2024-05-01", date(2024, 5, 1)), ("time", "10:11:12.5", time(10, 11, 12, 500000)),
        ("uuid", "12345678-1234-5678-1234-567812345678", uuid.UUID("12345678-1234-5678-1234-567812345678")),
        ("json", [1, {"a": None}], JsonText('[1,{"a":null}]')), ("jsonb", "text", JsonText('"text"')),
    ],
)
def test_every_type_of_fluvios_sql_sink_table(kind: str, given: Any, expected: Any) -> None:
    value = mapper({"c": col("v", kind)}).row(json.dumps({"v": given}).encode()).values[0]
    assert value == expected and type(value) is type(expected)
    if isinstance(expected, datetime) and expected.tzinfo is not None:
        assert value.utcoffset().total_seconds() == 0  # type: ignore[union-attr]  # a zone is stored as UTC


@pytest.mark.parametrize(
    ("kind", "given", "reason"),
    [
        ("int", "abc", "column c (int): expected an integer, got 'abc'"),
        ("int", 2**31, "column c (int): 2147483648 is out of range for int"),
        ("smallint", 40000, "out of range for smallint"),
        ("int", True, "expected an integer, got True"),
        ("int", 1.5, "expected an integer, got 1.5"),
        ("bool", "yes", "expected true or false"),
        ("float", "hot", "expected a number, got 'hot'"),
        ("real", 1e39, "out of range for float"),
        ("numeric", [1], "expected a number, got a list of 1 items"),
        ("timestamp", "yesterday", "expected an ISO 8601 timestamp"),
        ("date", "01/05/2024", "expected a date"),
        ("uuid", "not-a-uuid", "expected a UUID"),
        ("bytes", [256], "expected a string or a list of byte values"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_poison_record_with_the_reason(kind: str, given: Any, reason: str) -> None:
    with pytest.raises(PoisonRecord, match=reason.replace("(", r"\(").replace(")", r"\)")):
        mapper({"c": col("v", kind)}).row(json.dumps({"v": given}).encode())


def test_missing_keys_default_required_and_null() -> None:
    rows = mapper({"a": col("a", "int", required=True), "b": col("b", "text"), "c": col("c", "int", default=7)})
    assert rows.row(b'{"a": 1}').values == (1, None, 7)
    assert rows.row(b'{"a": 1, "b": null, "c": null}').values == (1, None, 7)  # null is missing
    with pytest.raises(PoisonRecord, match="column a: the required key 'a' is missing"):
        rows.row(b'{"b": "x"}')


@pytest.mark.parametrize("value", [b"not json", b"\xff\xfe", b"", b'{"a": 1'])
def test_a_record_that_is_not_json_is_a_poison_record(value: bytes) -> None:
    with pytest.raises(PoisonRecord, match="not JSON"):
        mapper({"a": col("a", "int")}).row(value)


def test_a_record_that_is_not_an_object_has_no_keys() -> None:
    rows = mapper({"a": col("a", "int", required=True)})
    with pytest.raises(PoisonRecord, match="required key 'a' is missing"):
        rows.row(b"[1, 2]")


@pytest.mark.parametrize(
    ("mapping", "problem"),
    [
        ({"map-columns": {"a": col("a", "int")}}, "table"),
        ({"table": "t", "map-columns": {}}, "map-columns"),
        ({"table": "t", "map-columns": {"a": col("a", "integr")}}, "unknown column type"),
        ({"table": "t", "map-columns": {"a": col("a", "int", default="x")}}, "default: expected an integer"),
        ({"table": "t", "operation": "upsert", "map-columns": {"a": col("a", "int")}}, "unique-columns: upsert needs"),
        ({"table": "t", "operation": "upsert", "unique-columns": ["b"], "map-columns": {"a": col("a", "int")}},
         "is not one of map-columns"),
        ({"table": "t", "operation": "delete", "map-columns": {"a": col("a", "int")}}, "operation"),
        ({"table": "", "map-columns": {"a": col("a", "int")}}, "may not be empty"),
        ({"table": "t\x00", "map-columns": {"a": col("a", "int")}}, "NUL"),
    ],
)
def test_bad_mappings_are_refused(mapping: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Mapping.model_validate(mapping)


def test_keys_with_underscores_and_fluvios_columns_alias() -> None:
    parsed = Mapping.model_validate({"table": "t", "operation": "UPSERT", "unique_columns": ["a"],
                                     "columns": {"a": {"json_key": "a", "value": {"type": "INT4"}}}})
    assert parsed.operation == "upsert" and parsed.unique_columns == ("a",)
    assert parsed.map_columns["a"].value.type == "int"


def test_fluvios_sql_model_records_without_a_mapping() -> None:
    model = ModelMapper()
    row = model.row(json.dumps({"Insert": {"table": "s.readings", "values": [
        {"column": "device_id", "raw_value": "0", "type": "Int"},
        {"column": "record", "raw_value": '{"device":{"device_id":0}}', "type": "Json"},
        {"column": "at", "raw_value": "2024-05-01 10:00:00.5", "type": "Timestamp"},
    ]}}).encode())
    assert row.shape == Shape("insert", ("s", "readings"), ("device_id", "record", "at"))
    assert row.values == (0, '{"device":{"device_id":0}}', datetime(2024, 5, 1, 10, 0, 0, 500000))
    upsert = model.row(json.dumps({"Upsert": {"table": "t", "uniq_idx": "id", "values": [
        {"column": "id", "raw_value": "5", "type": "BigInt"}]}}).encode())
    assert upsert.shape == Shape("upsert", ("t",), ("id",), ("id",))
    for bad, reason in [(b'{"Delete": {}}', "expected an SQL model operation"),
                        (b'{"Insert": {"table": "t", "values": [{"column": "a", "raw_value": "x", "type": "Int"}]}}',
                         "column a \\(int\\): expected an integer"),
                        (b'{"Insert": {"table": "t", "values": [{"column": "a", "raw_value": "1", "type": "Integer"}]}}',
                         "unknown type"),
                        (b'plain text', "not JSON")]:
        with pytest.raises(PoisonRecord, match=reason):
            model.row(bad)
