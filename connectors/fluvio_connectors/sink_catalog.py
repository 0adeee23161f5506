"""The sink connector types' parameters, and the ``consumer`` section every sink config may have.

``sql-sink`` (CDK section ``sql:``) writes JSON records as rows of a PostgreSQL or SQLite table;
``http-sink`` (``http:``) sends each record as the body of an HTTP request. The parameter names
are Fluvio's (``url``; ``endpoint``, ``method``, ``headers``, ``user-agent``, ``http-timeout``,
``http-connect-timeout``), plus what a production sink needs beyond them (``on-error``, batching,
backoff). Validators say what is expected and never repeat a value: the loader shows an excerpt
of what was written (``url`` and ``headers`` never, they may hold passwords).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import SplitResult, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fluvio_connectors.durations import parse_duration
from fluvio_connectors.json_sql import Mapping, split_name
from fluvio_connectors.parameters import Parameters

OnError = Literal["fail", "skip"]
ON_ERROR_HELP = ("What a record the target refuses for good (not JSON, a wrong type, a 4xx answer) does: "
                 "fail (default: the sink stops at it, Failed with its offset and the reason) or skip "
                 "(it is logged with its offset and counted, and the sink goes on).")
POSTGRES_SCHEMES = ("postgresql", "postgres")
# PostgreSQL keeps the first 63 bytes of a longer name, which could then name another table.
POSTGRES_MAX_IDENTIFIER_BYTES = 63
DEFAULT_OFFSETS_TABLE = "fluvio_sink_offsets"
MAX_BATCH_RECORDS = 100_000
# Longest a sink may wait on one call: a connector program that shows no progress for 30 s is
# taken for hung and restarted (runner, status.STALE_AFTER_SECONDS).
MAX_CALL = timedelta(seconds=25)


def _duration(value: Any, unit: str, *, at_least: timedelta = timedelta(0),
              at_most: timedelta = timedelta(days=1)) -> timedelta:
    delta = parse_duration(value, unit, maximum=at_most)
    if delta < at_least:
        raise ValueError(f"expected at least {at_least.total_seconds():g}s")
    return delta


# --------------------------------------------------------------------------- sql-sink


@dataclass(frozen=True)
class SqlTarget:
    """Where ``url`` points. ``redacted`` is safe to log; ``password`` never is."""

    kind: Literal["postgresql", "sqlite"]
    url: str = field(repr=False)
    path: Path | None = None  # sqlite
    host: str | None = None
    port: int | None = None
    database: str | None = None
    user: str | None = None

    @property
    def redacted(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite://{self.path}"
        user = f"{self.user}@" if self.user else ""
        return f"postgresql://{user}{self.host or 'localhost'}:{self.port or 5432}/{self.database or ''}"


def parse_sql_url(url: str) -> SqlTarget:
    """``postgresql://USER:PASSWORD@HOST:PORT/DB`` (``postgres://`` too) or ``sqlite:///PATH``
    (``sqlite://PATH`` relative). ``ValueError`` never repeats the URL (it may hold a password)."""
    text = url.strip()
    expected = "expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:///PATH/TO/FILE.db"
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme == "sqlite":
        rest = text[len("sqlite:"):]
        path = rest[2:] if rest.startswith("//") else rest
        path = unquote(path.split("?", 1)[0])
        if not path or path in (":memory:", "/:memory:"):
            raise ValueError(f"the SQLite URL names no file (an in-memory database would lose every row); {expected}")
        if "\x00" in path:
            raise ValueError(f"the SQLite path contains a NUL character; {expected}")
        return SqlTarget("sqlite", url, path=Path(path))
    if scheme not in POSTGRES_SCHEMES:
        raise ValueError(f"unsupported scheme (neither postgresql:// nor sqlite://); {expected}")
    if any(char.isspace() or ord(char) < 0x20 for char in text):
        raise ValueError(f"the URL contains spaces or control characters; {expected}")
    try:
        parts: SplitResult = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"the host or port is not valid; {expected}") from None
    if port == 0:
        raise ValueError(f"the port must be a number from 1 to 65535; {expected}")
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:  # the check of the query needs psycopg; the sink itself does too
        pass
    else:
        try:
            conninfo_to_dict(text)
        except Exception:
            raise ValueError(f"libpq cannot read this URL (a bad query parameter?); {expected}") from None
    database = unquote(parts.path.lstrip("/")) or None
    return SqlTarget("postgresql", url, host=parts.hostname, port=port, database=database,
                     user=unquote(parts.username) if parts.username else None)


class SqlSinkParameters(Parameters):
    """Writes each JSON record as a row of a PostgreSQL or SQLite table, exactly once."""

    url: str = Field(
        repr=False,
        description="The database: postgresql://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:///PATH/TO/FILE.db; "
                    "usually built from ${{ secrets.X }}.",
    )
    mapping: Mapping | None = Field(
        default=None,
        description="Fluvio's json-sql mapping {table, operation, unique-columns, map-columns} (in the CDK format: "
                    "transforms: [{uses: infinyon/json-sql, with: {mapping: ...}}]). Without it each record must "
                    "be an operation of Fluvio's SQL model.",
    )
    on_error: OnError = Field(default="fail", description=ON_ERROR_HELP)
    batch_size: int = Field(default=1000, ge=1, le=MAX_BATCH_RECORDS,
                            description="Records written per transaction at most.")
    linger: timedelta = Field(
        default=timedelta(milliseconds=10),
        description="How long a batch may wait for more records before it is written (0: write what has arrived).",
        json_schema_extra={"default": "10ms"},
    )
    backoff_min: timedelta = Field(default=timedelta(seconds=1), json_schema_extra={"default": "1s"},
                                   description="First wait before reconnecting to the database (doubles each time).")
    backoff_max: timedelta = Field(default=timedelta(seconds=60), json_schema_extra={"default": "60s"},
                                   description="Longest wait between reconnects, and between checks of a target "
                                               "the sink cannot use (a missing table, a refused password).")
    offsets_table: str = Field(
        default=DEFAULT_OFFSETS_TABLE,
        description="The table holding the sink's position (created if missing), written in the same transaction "
                    "as the rows; schema.table allowed.",
    )
    sensitive: ClassVar[frozenset[str]] = frozenset({"url"})

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parse_sql_url(value)
        return value

    @field_validator("linger", mode="before")
    @classmethod
    def _linger(cls, value: Any) -> timedelta:
        return _duration(value, "ms", at_most=timedelta(seconds=60))

    @field_validator("backoff_min", "backoff_max", mode="before")
    @classmethod
    def _backoff(cls, value: Any) -> timedelta:
        return _duration(value, "s", at_least=timedelta(milliseconds=10), at_most=timedelta(hours=1))

    @field_validator("offsets_table")
    @classmethod
    def _offsets_table(cls, value: str) -> str:
        parts = split_name(value)
        if len(parts) > 2 or not all(part.strip() for part in parts) or "\x00" in value:
            raise ValueError("expected a table name, or schema.table")
        return value

    @model_validator(mode="after")
    def _fits_target(self) -> SqlSinkParameters:
        if self.backoff_min > self.backoff_max:
            raise ValueError("backoff-min: expected at most backoff-max")
        if parse_sql_url(self.url).kind == "postgresql":
            names = [("offsets-table", name) for name in split_name(self.offsets_table)]
            if self.mapping is not None:
                names += [("mapping", name) for name in (*split_name(self.mapping.table), *self.mapping.map_columns)]
            for where, name in names:
                if len(name.encode("utf-8")) > POSTGRES_MAX_IDENTIFIER_BYTES:
                    raise ValueError(f"{where}: {name[:40]!r}... is longer than PostgreSQL's "
                                     f"{POSTGRES_MAX_IDENTIFIER_BYTES} bytes (it would name another table or column)")
        return self

    @property
    def target(self) -> SqlTarget:
        return parse_sql_url(self.url)


# --------------------------------------------------------------------------- http-sink

HTTP_METHODS = ("POST", "PUT", "PATCH")
DEFAULT_HEADERS = ("Content-Type: text/html",)  # Fluvio's http-sink sends this unless told otherwise
DEFAULT_USER_AGENT = "fluvio-connectors/http-sink"
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def parse_header(text: str) -> tuple[str, str]:
    """``"Key: Value"`` -> ``("Key", "Value")``; ValueError (never repeating the value) otherwise."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name or not set(name) <= _TOKEN_CHARS:
        raise ValueError("expected \"Name: value\" with a header name of letters, digits and -")
    if any((ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F for char in value):
        raise ValueError(f"the value of header {name} contains a line break or control character")
    return name, value


def check_endpoint(url: str) -> str:
    expected = "expected an http:// or https:// URL such as https://api.example.com/ingest"
    text = url.strip()
    if any(char.isspace() or ord(char) < 0x20 for char in text):
        raise ValueError(f"the URL contains spaces or control characters; {expected}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"the host or port is not valid; {expected}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"unsupported scheme (neither http nor https); {expected}")
    if not parts.hostname:
        raise ValueError(f"the URL has no host; {expected}")
    if port == 0:
        raise ValueError(f"the port must be a number from 1 to 65535; {expected}")
    return text


class HttpSinkParameters(Parameters):
    """Sends each record as the body of an HTTP request, at least once, with an Idempotency-Key."""

    endpoint: str = Field(description="The URL each record is sent to (http:// or https://).")
    method: str = Field(default="POST", description="POST, PUT or PATCH.")
    headers: tuple[str, ...] = Field(
        default=DEFAULT_HEADERS,
        description="Request headers, \"Name: value\" each (values may use ${{ secrets.X }}); default "
                    "Content-Type: text/html, as Fluvio's http-sink.",
        json_schema_extra={"default": list(DEFAULT_HEADERS)},
    )
    user_agent: str = Field(default=DEFAULT_USER_AGENT, min_length=1, max_length=256,
                            description="The User-Agent header.")
    http_timeout: timedelta = Field(default=timedelta(seconds=15), json_schema_extra={"default": "15s"},
                                    description="Longest wait for the answer to one request (then it is retried); "
                                                "at most 25s.")
    http_connect_timeout: timedelta = Field(default=timedelta(seconds=5), json_schema_extra={"default": "5s"},
                                            description="Longest wait to connect.")
    on_error: OnError = Field(default="fail", description=ON_ERROR_HELP)
    max_in_flight: int = Field(default=1, ge=1, le=64,
                               description="Requests on their way at once (1: records arrive in order).")
    backoff_min: timedelta = Field(default=timedelta(milliseconds=200), json_schema_extra={"default": "200ms"},
                                   description="First wait before retrying a request (doubles each time).")
    backoff_max: timedelta = Field(default=timedelta(seconds=30), json_schema_extra={"default": "30s"},
                                   description="Longest wait between retries (a Retry-After up to 10 minutes is honoured).")
    sensitive: ClassVar[frozenset[str]] = frozenset({"headers"})

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return check_endpoint(value)

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        if not isinstance(value, str) or value.strip().upper() not in HTTP_METHODS:
            raise ValueError(f"expected one of {', '.join(HTTP_METHODS)}")
        return value.strip().upper()

    @field_validator("headers", mode="before")
    @classmethod
    def _headers(cls, value: Any) -> Any:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValueError("expected a list of \"Name: value\" strings")
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise ValueError(f"[{i}]: expected a \"Name: value\" string")
            parse_header(item)
        return tuple(items)

    @field_validator("user_agent")
    @classmethod
    def _user_agent(cls, value: str) -> str:
        parse_header(f"User-Agent: {value}")
        return value

    @field_validator("http_timeout", "http_connect_timeout", mode="before")
    @classmethod
    def _timeouts(cls, value: Any) -> timedelta:
        # A program silent for 30 s (waiting on one request) is taken for hung and restarted.
        return _duration(value, "s", at_least=timedelta(milliseconds=10), at_most=MAX_CALL)

    @field_validator("backoff_min", "backoff_max", mode="before")
    @classmethod
    def _backoff(cls, value: Any) -> timedelta:
        return _duration(value, "ms", at_least=timedelta(milliseconds=1), at_most=timedelta(hours=1))

    @model_validator(mode="after")
    def _order(self) -> HttpSinkParameters:
        if self.backoff_min > self.backoff_max:
            raise ValueError("backoff-min: expected at most backoff-max")
        return self

    def header_pairs(self) -> list[tuple[str, str]]:
        return [parse_header(item) for item in self.headers]


# --------------------------------------------------------------------------- consumer

START_CHOICES = ("beginning", "end")
DEFAULT_FLUSH_PERIOD = timedelta(milliseconds=250)


class ConsumerSettings(BaseModel):
    """Where a sink reads: Fluvio's ``consumer`` section (``id``, ``partition``, ``offset.start``).

    ``id`` names the sink's position (default: the connector name); ``start`` is where a sink with
    no position yet begins: ``beginning`` (default), ``end`` (the topic's end when the connector
    was created) or an absolute offset. A sink that has a position always continues from it.
    """

    model_config = ConfigDict(frozen=True)

    id: str | None = None
    partition: int = Field(default=0, ge=0, le=2**31 - 1)
    start: Literal["beginning", "end"] | int = "beginning"
    # How often the position is stored in the topics backend's consumer offsets (Fluvio's
    # offset.flush-period): http-sink's position itself, sql-sink's copy for status and lag.
    flush_period: timedelta = DEFAULT_FLUSH_PERIOD

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.id:
            out["id"] = self.id
        if self.partition:
            out["partition"] = self.partition
        offset: dict[str, Any] = {}
        if self.start != "beginning":
            offset["start"] = self.start if isinstance(self.start, str) else {"absolute": self.start}
        if self.flush_period != DEFAULT_FLUSH_PERIOD:
            offset["flush-period"] = f"{self.flush_period.total_seconds() * 1000:g}ms"
        if offset:
            out["offset"] = offset
        return out

    def consumer_id(self, connector: str) -> str:
        return self.id or connector


__all__ = ["ConsumerSettings", "HttpSinkParameters", "SqlSinkParameters", "SqlTarget", "parse_header", "parse_sql_url"]
