"""Fluvio's json-sql mapping: one JSON record becomes one row of a table.

The mapping (``transforms: [{uses: infinyon/json-sql, with: {mapping: ...}}]``) names a ``table``,
an ``operation`` (``insert``, or ``upsert`` with ``unique-columns``) and ``map-columns``:
``COLUMN: {json-key: PATH, value: {type, default, required}}``. ``PATH`` is ``$`` (the whole
record) or a dotted path (``device.id``, ``$.device.id``, ``.device.id``; a number indexes a list).
A key that is missing or ``null`` takes the column's ``default`` (written as text, as Fluvio's
mapping does: ``default: "0"``), else is an error when ``required``, else NULL.

Types are those of Fluvio's SQL sink table: ``bool``, ``smallint`` (int2), ``int`` (int4, integer),
``bigint`` (int8), ``float`` (float4, real), ``double precision`` (float8), ``numeric`` (decimal),
``text``, ``bytes`` (bytea), ``timestamp``, ``date``, ``time``, ``uuid``, ``json`` (jsonb). A value
becomes a Python value of its type (``int``, ``float``, ``Decimal``, ``str``, ``bytes``,
``datetime``, ``date``, ``time``, ``UUID``, ``JsonText``); how a database stores it is the writer's
business (``sql_writer``). A record the mapping cannot turn into a row raises ``PoisonRecord``
with the reason.

Without a mapping, a record must already be a row in Fluvio's SQL model:
``{"Insert": {"table": T, "values": [{"column": C, "raw_value": "1", "type": "Int"}, ...]}}`` or
``{"Upsert": {..., "uniq_idx": "C1,C2"}}`` (``ModelMapper``).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, NamedTuple, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fluvio_connectors.messages import excerpt

# Type names as the mapping writes them -> the type.
TYPE_NAMES = {
    "bool": "bool", "boolean": "bool",
    "smallint": "smallint", "int2": "smallint",
    "int": "int", "int4": "int", "integer": "int",
    "bigint": "bigint", "int8": "bigint",
    "float": "float", "float4": "float", "real": "float",
    "double precision": "double", "doubleprecision": "double", "double": "double", "float8": "double",
    "numeric": "numeric", "decimal": "numeric",
    "text": "text",
    "bytes": "bytes", "bytea": "bytes",
    "timestamp": "timestamp", "date": "date", "time": "time",
    "uuid": "uuid",
    "json": "json", "jsonb": "json",
}
# Fluvio's SQL model type names -> the type.
MODEL_TYPES = {
    "Bool": "bool", "Char": "smallint", "SmallInt": "smallint", "Int": "int", "BigInt": "bigint",
    "Float": "float", "DoublePrecision": "double", "Numeric": "numeric", "Text": "text", "Bytes": "bytes",
    "Timestamp": "timestamp", "Date": "date", "Time": "time", "Uuid": "uuid", "Json": "json",
}
TYPES_HINT = ("bool, smallint (int2), int (int4, integer), bigint (int8), float (float4, real), double precision "
              "(float8, double), numeric (decimal), text, bytes (bytea), timestamp, date, time, uuid, json (jsonb)")
INT_RANGES = {"smallint": 2**15, "int": 2**31, "bigint": 2**63}
FLOAT4_MAX = 3.4028234663852886e38
MAX_IDENTIFIER_CHARS = 255  # longer names are mistakes (PostgreSQL keeps 63 bytes; see sql_writer)
_INTEGER = re.compile(r"^[+-]?\d{1,20}$")


class PoisonRecord(ValueError):
    """A record that cannot become a row: not JSON, a required key missing, a value of the wrong type."""


class JsonText(str):
    """A JSON document as text, for a json/jsonb column."""

    __slots__ = ()


# --------------------------------------------------------------------------- the mapping (config)


def check_identifier(name: str, what: str) -> str:
    """A table or column name: not empty, no NUL, at most 255 characters. Quoting (never string
    formatting) keeps any other character harmless."""
    if not name or not name.strip():
        raise ValueError(f"{what} may not be empty")
    if "\x00" in name:
        raise ValueError(f"{what} contains a NUL character")
    if len(name) > MAX_IDENTIFIER_CHARS:
        raise ValueError(f"{what} is longer than {MAX_IDENTIFIER_CHARS} characters")
    return name


class ColumnValue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(description="The column's type (bool, int, bigint, float, numeric, text, timestamp, json, ...).")
    default: str | None = Field(default=None, description="Used when the key is missing or null (as text).")
    required: bool = Field(default=False, description="A record without the key (and no default) is refused.")

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> str:
        name = " ".join(str(value).lower().split()) if isinstance(value, str) else None
        if name not in TYPE_NAMES:
            raise ValueError(f"unknown column type; expected one of: {TYPES_HINT}")
        return TYPE_NAMES[name]

    @field_validator("default", mode="before")
    @classmethod
    def _default(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | dict | list):
            return json.dumps(value)
        return value

    @model_validator(mode="after")
    def _default_fits(self) -> ColumnValue:
        if self.default is not None:
            try:
                default_value(self.type, self.default)
            except PoisonRecord as exc:
                raise ValueError(f"default: {exc}") from None
        return self


class ColumnMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    json_key: str = Field(alias="json-key", description="$ (the whole record) or a dotted path such as device.id.")
    value: ColumnValue

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        return _renamed(data, {"json_key": "json-key"})

    @field_validator("json_key", mode="before")
    @classmethod
    def _key(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


class Mapping(BaseModel):
    """Fluvio's json-sql mapping (``with: {mapping: ...}`` of the ``infinyon/json-sql`` transform)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    table: str = Field(description="The table rows go to (schema.table allowed).")
    operation: Literal["insert", "upsert"] = "insert"
    unique_columns: tuple[str, ...] = Field(default=(), alias="unique-columns",
                                            description="upsert: the columns of the unique key.")
    map_columns: dict[str, ColumnMapping] = Field(alias="map-columns", min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        # Fluvio's mapping takes map-columns (or columns) and unique-columns, with - or _.
        return _renamed(data, {"map_columns": "map-columns", "columns": "map-columns",
                               "unique_columns": "unique-columns"})

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        for part in split_name(value):
            check_identifier(part, "the table name")
        return value

    @field_validator("map_columns")
    @classmethod
    def _columns(cls, value: dict[str, ColumnMapping]) -> dict[str, ColumnMapping]:
        for name in value:
            check_identifier(name, "a column name")
        return value

    @field_validator("operation", mode="before")
    @classmethod
    def _operation(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _unique(self) -> Mapping:
        if self.operation == "upsert":
            if not self.unique_columns:
                raise ValueError("unique-columns: upsert needs the columns of a unique key (unique-columns: [id])")
            unknown = [c for c in self.unique_columns if c not in self.map_columns]
            if unknown:
                raise ValueError(f"unique-columns: {excerpt(unknown[0])} is not one of map-columns")
        elif self.unique_columns:
            raise ValueError("unique-columns: only an upsert has unique columns (operation: upsert)")
        return self


def _renamed(data: Any, renames: dict[str, str]) -> Any:
    if not isinstance(data, dict):
        return data
    out: dict[Any, Any] = {}
    for key, value in data.items():
        name = renames.get(key, key) if isinstance(key, str) else key
        if name in out:
            raise ValueError(f"{name}: given twice (_ and - in keys are the same key)")
        out[name] = value
    return out


def split_name(name: str) -> tuple[str, ...]:
    """``schema.table`` -> ``("schema", "table")``; a name without a dot is one part."""
    return tuple(name.split(".")) if "." in name else (name,)


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Shape:
    """What a row is written with: one statement per shape."""

    operation: str  # insert | upsert
    table: tuple[str, ...]  # (table,) or (schema, table)
    columns: tuple[str, ...]
    unique_columns: tuple[str, ...] = ()

    @property
    def table_name(self) -> str:
        return ".".join(self.table)


class Row(NamedTuple):
    """One row: written with the statement of its ``shape``."""

    shape: Shape
    values: tuple[Any, ...]


class RowMapper:
    """A JSON record (bytes) to its row with the json-sql ``mapping``.

    The hot path of the SQL sink: each column is a small function made once (a key looked up
    directly, a converter with a fast path for the usual type), so a record costs little more than
    ``json.loads`` and a tuple."""

    def __init__(self, mapping: Mapping) -> None:
        self.shape = Shape(mapping.operation, split_name(mapping.table), tuple(mapping.map_columns),
                           tuple(mapping.unique_columns))
        self._columns = [_column(name, column) for name, column in mapping.map_columns.items()]

    def row(self, value: bytes) -> Row:
        record = parse_json(value)
        return Row(self.shape, tuple([column(record, value) for column in self._columns]))


_DECODER = json.JSONDecoder()


def parse_json(value: bytes) -> Any:
    """A record's JSON value; ``PoisonRecord`` when it is not JSON. UTF-8 the quick way (no
    encoding detection, no leading-space scan), anything else as ``json.loads`` reads bytes."""
    try:
        text = value.decode("utf-8")
        if text[:1] in ("{", "["):
            record, end = _DECODER.raw_decode(text)
            if end == len(text) or text[end:].isspace():
                return record
        return json.loads(value)
    except ValueError as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else (
            exc.args[0].split(":")[0] if exc.args else "invalid")
        raise PoisonRecord(f"not JSON ({reason})") from None


def _column(name: str, column: ColumnMapping) -> Callable[[Any, bytes], Any]:
    """The function that takes one column's value out of a parsed record (and its bytes)."""
    kind, default_text, required = column.value.type, column.value.default, column.value.required
    path = json_path(column.json_key)
    default = None if default_text is None else default_value(kind, default_text)
    convert = CONVERTERS[kind]
    fast = FAST_TYPES.get(kind)
    key = path[0] if len(path) == 1 else None
    whole_json = not path and kind == "json"
    bound = INT_RANGES.get(kind)

    def missing() -> Any:
        if default_text is not None:
            return default
        if required:
            raise PoisonRecord(f"column {name}: the required key {excerpt('.'.join(path) or '$')} is missing")
        return None

    def value(record: Any, raw: bytes) -> Any:
        found: Any = record.get(key) if key is not None and type(record) is dict else _lookup(record, path)
        if found is None:
            return missing()
        if whole_json:  # the record as it came: nothing to print again
            try:
                return JsonText(raw.decode("utf-8").strip())
            except UnicodeDecodeError:  # JSON in UTF-16 or 32 (json.loads reads those too)
                return to_json(found)
        if type(found) is fast and (bound is None or -bound <= cast(int, found) < bound):
            return found
        try:
            return convert(found)
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise PoisonRecord(f"column {name} ({kind}): {exc}") from None

    return value


def json_path(key: str) -> tuple[str, ...]:
    """``$``, ``""`` -> (); ``$.a.b``, ``.a.b``, ``a.b`` -> ("a", "b")."""
    key = key.strip()
    if key in ("$", ""):
        return ()
    key = key.removeprefix("$.").removeprefix(".")
    return tuple(key.split("."))


def _lookup(record: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` (None when missing or null)."""
    value = record
    for part in path:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
        if value is None:
            return None
    return value


def _decode(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise PoisonRecord("not JSON (not UTF-8 text)") from None


# --------------------------------------------------------------------------- values


def _got(value: Any) -> str:
    return f"got {excerpt(value)}"


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"expected true or false, {_got(value)}")


def _integer(kind: str) -> Callable[[Any], int]:
    bound = INT_RANGES[kind]

    def convert(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"expected an integer, {_got(value)}")
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and _INTEGER.match(value.strip()):
            number = int(value.strip())
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        else:
            raise ValueError(f"expected an integer, {_got(value)}")
        if not -bound <= number < bound:
            raise ValueError(f"{number} is out of range for {kind} (-{bound} to {bound - 1})")
        return number

    return convert


def _floating(kind: str) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, {_got(value)}")
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise ValueError(f"expected a number, {_got(value)}") from None
        else:
            raise ValueError(f"expected a number, {_got(value)}")
        if kind == "float" and math.isfinite(number) and abs(number) > FLOAT4_MAX:
            raise ValueError(f"{excerpt(value)} is out of range for float (real)")
        return number

    return convert


def to_numeric(value: Any) -> Decimal:
    """A JSON number keeps its shortest exact text (up to 17 significant digits of a double); a
    string keeps every digit."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, {_got(value)}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"expected a number, {_got(value)}") from None
    raise ValueError(f"expected a number, {_got(value)}")


def to_text(value: Any) -> str:
    """A string as it is; any other JSON value as its JSON text (as Fluvio's mapping does)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def to_bytes(value: Any) -> bytes:
    """A string as UTF-8, or a list of byte values (the MQTT source's binary payload)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, list) and all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in value):
        return bytes(value)
    raise ValueError(f"expected a string or a list of byte values 0-255, {_got(value)}")


def to_timestamp(value: Any) -> datetime:
    """ISO 8601 (``2024-05-01T10:00:00Z``, ``2024-05-01 10:00:00.123``), or seconds since the epoch;
    a time with a zone becomes UTC, one without stays as written."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{excerpt(value)} seconds since the epoch is out of range") from None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:  # a time with a zone is kept as UTC (as a database's timestamp column keeps it)
            return moment if moment.tzinfo is None else moment.astimezone(UTC)
    raise ValueError(f"expected an ISO 8601 timestamp (2024-05-01T10:00:00Z) or seconds since the epoch, {_got(value)}")


def to_date(value: Any) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a date (2024-05-01), {_got(value)}")


def to_time(value: Any) -> time:
    if isinstance(value, str):
        try:
            return time.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a time (10:00:00), {_got(value)}")


def to_uuid(value: Any) -> uuid.UUID:
    if isinstance(value, str):
        try:
            return uuid.UUID(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a UUID, {_got(value)}")


def to_json(value: Any) -> JsonText:
    return JsonText(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


# A JSON value of this Python type is already what the column takes (integers: within range).
FAST_TYPES: dict[str, type] = {"bool": bool, "smallint": int, "int": int, "bigint": int, "double": float,
                               "text": str}

CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "bool": to_bool, "smallint": _integer("smallint"), "int": _integer("int"), "bigint": _integer("bigint"),
    "float": _floating("float"), "double": _floating("double"), "numeric": to_numeric, "text": to_text,
    "bytes": to_bytes, "timestamp": to_timestamp, "date": to_date, "time": to_time, "uuid": to_uuid,
    "json": to_json,
}


def default_value(kind: str, raw: str) -> Any:
    """A value written as text (a mapping's ``default``, a model's ``raw_value``) as ``kind``."""
    try:
        if kind == "json":
            return JsonText(json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":")))
        if kind == "bytes":
            return raw.encode("utf-8", "surrogatepass")
        return CONVERTERS[kind](raw)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise PoisonRecord(str(exc) if not isinstance(exc, json.JSONDecodeError) else "expected JSON text") from None


# --------------------------------------------------------------------------- Fluvio's SQL model


class ModelMapper:
    """A record in Fluvio's SQL model (no mapping configured) to its row."""

    def row(self, value: bytes) -> Row:
        try:
            record = json.loads(_decode(value))
        except ValueError:
            raise PoisonRecord("not JSON; without a mapping a record must be an SQL model operation "
                               "({\"Insert\": {\"table\": ..., \"values\": [...]}})") from None
        if not isinstance(record, dict) or len(record) != 1 or next(iter(record)) not in ("Insert", "Upsert"):
            raise PoisonRecord("expected an SQL model operation: {\"Insert\": {...}} or {\"Upsert\": {...}}")
        operation, body = next(iter(record.items()))
        if not isinstance(body, dict) or not isinstance(body.get("table"), str) or not isinstance(body.get("values"), list):
            raise PoisonRecord(f"{operation}: expected table (a string) and values (a list)")
        try:
            table = split_name(check_identifier(body["table"], "the table name"))
            names, values = [], []
            for item in body["values"]:
                if not isinstance(item, dict):
                    raise ValueError("expected values of {column, raw_value, type}")
                name = check_identifier(str(item.get("column", "")), "a column name")
                kind = MODEL_TYPES.get(str(item.get("type")))
                if kind is None:
                    raise ValueError(f"column {name}: unknown type {excerpt(item.get('type'))}; expected one of "
                                     f"{', '.join(MODEL_TYPES)}")
                raw = item.get("raw_value")
                names.append(name)
                values.append(None if raw is None else _model_value(name, kind, raw))
            unique: tuple[str, ...] = ()
            if operation == "Upsert":
                unique = tuple(part.strip() for part in str(body.get("uniq_idx", "")).split(",") if part.strip())
                if not unique or any(u not in names for u in unique):
                    raise ValueError("Upsert: uniq_idx must name columns among its values")
        except ValueError as exc:
            raise PoisonRecord(str(exc)) from None
        if len(set(names)) != len(names) or not names:
            raise PoisonRecord(f"{operation}: expected each column once, and at least one")
        return Row(Shape(operation.lower(), table, tuple(names), unique), tuple(values))


def _model_value(name: str, kind: str, raw: Any) -> Any:
    try:
        return default_value(kind, raw if isinstance(raw, str) else json.dumps(raw))
    except PoisonRecord as exc:
        raise ValueError(f"column {name} ({kind}): {exc}") from None


__all__ = ["JsonText", "Mapping", "ModelMapper", "PoisonRecord", "Row", "RowMapper", "Shape"]
