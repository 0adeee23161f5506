"""Rows and the sink's position into a database, in one transaction: what makes ``sql-sink`` exactly once.

A writer keeps the sink's position in an offsets table of the target database (by default
``fluvio_sink_offsets``, created when missing), one row per (connector, topic, partition):
``next_offset`` (the record the sink reads next), and ``delivered``/``skipped`` counts. Each
``write`` runs one transaction that first moves that row from the position the sink expects to the
new one (and fails with ``PositionMoved`` when it is not there: another instance wrote meanwhile,
so nothing is written twice even then) and then inserts or upserts the rows. Whatever dies (the
sink, the database, the network) the rows and the position are committed together or not at all,
and a sink that starts again reads its position back (``start_at``).

Identifiers (tables, columns) are always quoted, never formatted into SQL: psycopg's
``sql.Identifier`` for PostgreSQL, and SQLite's own rule for SQLite (the standard library module
has no identifier API: a name in double quotes, a double quote doubled).

Errors come in three kinds, so the sink knows what to do with them:

* ``TargetUnreachable``: the database cannot be reached or went away (retry, reconnect);
* ``TargetRefused``: it answers but cannot take the rows without a change (a missing table or
  column, a refused login or permission): Failed with the reason, checked again now and then;
* ``RowRejected``: one row is refused (a constraint, a value out of range): the writer finds which
  row (each in a savepoint) and rolls the whole transaction back; the sink decides (fail or skip).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Protocol

from fluvio_connectors.errors import FluvioConnectorError
from fluvio_connectors.json_sql import Row, Shape, split_name
from fluvio_connectors.messages import one_line
from fluvio_connectors.sink_catalog import SqlTarget

# Seconds a locked SQLite database is waited for before the write counts as failed (and is retried).
SQLITE_BUSY_SECONDS = 10.0


class TargetUnreachable(FluvioConnectorError):
    """The database cannot be reached, or the connection broke: retry."""


class TargetRefused(FluvioConnectorError):
    """The database cannot take the rows without a change (table, column, login, permission)."""


class PositionMoved(FluvioConnectorError):
    """The stored position is not where the sink expected it: another writer moved it."""


class RowRejected(Exception):
    """Row ``index`` of the batch was refused by the database for ``reason``."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


@dataclass(frozen=True)
class PositionKey:
    connector: str  # the sink's consumer id
    topic: str
    partition: int


@dataclass(frozen=True)
class StoredPosition:
    next_offset: int
    delivered: int = 0
    skipped: int = 0


class SqlWriter(Protocol):
    def connect(self) -> None:
        """Open the connection and make sure the offsets table exists."""

    def start_at(self, key: PositionKey, offset: int) -> StoredPosition:
        """The stored position, storing ``offset`` first when there is none (a new sink)."""

    def write(self, key: PositionKey, rows: Sequence[Row], expected: int, position: int, skipped: int = 0) -> None:
        """In one transaction: move the position from ``expected`` to ``position`` (counting the
        rows as delivered and ``skipped`` more as skipped) and write ``rows``."""

    def close(self) -> None: ...


def runs(rows: Sequence[Row]) -> Iterator[tuple[Shape, int, list[Row]]]:
    """Consecutive rows of one shape (one statement each): ``(shape, index of the first, rows)``.
    Rows of one mapping share one shape object, which is checked first (the cheap case)."""
    start = 0
    while start < len(rows):
        shape = rows[start].shape
        end = start + 1
        while end < len(rows) and (rows[end].shape is shape or rows[end].shape == shape):
            end += 1
        yield shape, start, list(rows[start:end])
        start = end


def upsert_rows(shape: Shape, rows: list[Row]) -> list[Row]:
    """An upsert batch with one row per key, the last one winning (as writing them in turn would):
    a database refuses one statement that updates a row twice."""
    if shape.operation != "upsert":
        return rows
    where = [shape.columns.index(c) for c in shape.unique_columns]
    last: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        key = tuple(row.values[i] for i in where)
        last.pop(key, None)
        last[key] = row
    return list(last.values())


# --------------------------------------------------------------------------- SQLite


def quote_sqlite(name: str) -> str:
    """SQLite's quoting of an identifier: in double quotes, with each double quote doubled."""
    if "\x00" in name:
        raise TargetRefused(f"the name {name[:40]!r} holds a NUL character, which no SQLite name can")
    return '"' + name.replace('"', '""') + '"'


def sqlite_table(name: str | tuple[str, ...]) -> str:
    parts = split_name(name) if isinstance(name, str) else name
    return ".".join(quote_sqlite(part) for part in parts)


_SQLITE_ADAPT: dict[type, Callable[[Any], Any]] = {
    Decimal: str,  # the column's affinity decides (NUMERIC: a number; TEXT: every digit kept)
    datetime: lambda v: v.isoformat(sep=" "),
    date: lambda v: v.isoformat(),
    time: lambda v: v.isoformat(),
    uuid.UUID: str,
}


_SQLITE_ADAPTED = frozenset(_SQLITE_ADAPT)


def _sqlite_values(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if _SQLITE_ADAPTED.isdisjoint(map(type, values)):  # the usual row: nothing to adapt
        return values
    return tuple(_SQLITE_ADAPT[type(v)](v) if type(v) in _SQLITE_ADAPT else v for v in values)


class SqliteWriter:
    """``sqlite:///PATH``: the file must exist (with the table); the offsets table is added."""

    def __init__(self, target: SqlTarget, offsets_table: str) -> None:
        assert target.path is not None
        self.target = target
        self.path = target.path
        self.offsets = sqlite_table(offsets_table)
        self._conn: sqlite3.Connection | None = None
        self._statements: dict[Shape, str] = {}

    def connect(self) -> None:
        self.close()
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, timeout=SQLITE_BUSY_SECONDS,
                                   isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise TargetRefused(f"cannot open the SQLite database {self.path}: {exc} (it must exist, with the "
                                "table the sink writes to)") from None
        self._conn = conn
        try:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.offsets} (connector TEXT NOT NULL, topic TEXT NOT NULL, "
                "partition INTEGER NOT NULL, next_offset INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0, "
                "skipped INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, "
                "PRIMARY KEY (connector, topic, partition))"
            )
        except sqlite3.Error as exc:
            raise self._error(exc, f"cannot create the offsets table {self.offsets}") from None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise TargetUnreachable(f"not connected to {self.target.redacted}")
        return self._conn

    def start_at(self, key: PositionKey, offset: int) -> StoredPosition:
        try:
            self.conn.execute(f"INSERT OR IGNORE INTO {self.offsets} (connector, topic, partition, next_offset) "
                              "VALUES (?, ?, ?, ?)", (key.connector, key.topic, key.partition, offset))
            row = self.conn.execute(f"SELECT next_offset, delivered, skipped FROM {self.offsets} WHERE connector = ? "
                                    "AND topic = ? AND partition = ?", (key.connector, key.topic, key.partition)).fetchone()
        except sqlite3.Error as exc:
            raise self._error(exc, f"cannot read the position in {self.offsets}") from None
        return StoredPosition(int(row[0]), int(row[1]), int(row[2]))

    def write(self, key: PositionKey, rows: Sequence[Row], expected: int, position: int, skipped: int = 0) -> None:
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc, "cannot begin a transaction") from None
        try:
            moved = conn.execute(
                f"UPDATE {self.offsets} SET next_offset = ?, delivered = delivered + ?, skipped = skipped + ?, "
                "updated_at = CURRENT_TIMESTAMP WHERE connector = ? AND topic = ? AND partition = ? AND next_offset = ?",
                (position, len(rows), skipped, key.connector, key.topic, key.partition, expected),
            ).rowcount
            if moved != 1:
                raise PositionMoved(f"the position in {self.offsets} is no longer {expected}")
            for shape, first, chunk in runs(rows):
                self._insert(shape, first, chunk)
            conn.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc, f"cannot write to {self.target.redacted}") from None
            raise

    def _insert(self, shape: Shape, first: int, rows: list[Row]) -> None:
        sql = self._statement(shape)
        conn = self.conn
        # SQLite undoes only the failing statement of an executemany: the rows before it stay
        # unless the savepoint takes them back.
        conn.execute("SAVEPOINT fluvio_batch")
        try:
            conn.executemany(sql, [_sqlite_values(row.values) for row in upsert_rows(shape, rows)])
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK TO fluvio_batch")
            if not _row_error(exc):
                raise
        else:
            return
        finally:
            conn.execute("RELEASE fluvio_batch")
        for i, row in enumerate(rows):  # which row? each in a savepoint
            conn.execute("SAVEPOINT fluvio_row")
            try:
                conn.execute(sql, _sqlite_values(row.values))
            except sqlite3.Error as exc:
                if not _row_error(exc):
                    raise
                raise RowRejected(first + i, one_line(f"{shape.table_name}: {exc}", 300)) from None
            finally:
                conn.execute("RELEASE fluvio_row")
        raise TargetRefused(f"{shape.table_name}: the database refused a batch but none of its rows alone")

    def _statement(self, shape: Shape) -> str:
        sql = self._statements.get(shape)
        if sql is None:
            columns = ", ".join(quote_sqlite(c) for c in shape.columns)
            marks = ", ".join("?" for _ in shape.columns)
            sql = f"INSERT INTO {sqlite_table(shape.table)} ({columns}) VALUES ({marks})"
            if shape.operation == "upsert":
                keys = ", ".join(quote_sqlite(c) for c in shape.unique_columns)
                rest = [quote_sqlite(c) for c in shape.columns if c not in shape.unique_columns]
                update = ", ".join(f"{c} = excluded.{c}" for c in rest)
                sql += f" ON CONFLICT ({keys}) " + (f"DO UPDATE SET {update}" if rest else "DO NOTHING")
            self._statements[shape] = sql
        return sql

    def _rollback(self) -> None:
        if self._conn is not None and self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                self.close()

    def _error(self, exc: sqlite3.Error, what: str) -> FluvioConnectorError:
        text = one_line(f"{what}: {exc}", 300)
        message = str(exc).lower()
        if "locked" in message or "busy" in message or "disk i/o" in message or "full" in message:
            return TargetUnreachable(text)
        return TargetRefused(text)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def _row_error(exc: sqlite3.Error) -> bool:
    """Whether SQLite refused a value of a row rather than the statement."""
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError):
        return True
    return isinstance(exc, sqlite3.ProgrammingError | sqlite3.InterfaceError) and "binding" in str(exc).lower()


__all__ = [
    "PositionKey",
    "PositionMoved",
    "RowRejected",
    "SqlWriter",
    "SqliteWriter",
    "StoredPosition",
    "TargetRefused",
    "TargetUnreachable",
]
