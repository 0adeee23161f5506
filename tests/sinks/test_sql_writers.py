"""The SQL writers in the test process, against SQLite and the real PostgreSQL: the position moves
only from where it is expected, a refused row is found in its batch and nothing of the batch
stays, names are quoted, and a server that stops answering cannot hang a write."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from sink_fixtures import SqlDatabase

from fluvio_connectors import sql_postgres
from fluvio_connectors.json_sql import Row, Shape
from fluvio_connectors.sink_catalog import parse_sql_url
from fluvio_connectors.sql_sink import open_writer
from fluvio_connectors.sql_writer import PositionKey, PositionMoved, RowRejected, SqlWriter, TargetUnreachable

KEY = PositionKey("writer-test", "t", 0)
SHAPE = Shape("insert", ("items",), ("id", "name"))


def rows(*values: tuple[Any, ...], shape: Shape = SHAPE) -> list[Row]:
    return [Row(shape, v) for v in values]


@pytest.fixture
def writer(database: SqlDatabase) -> Any:
    database.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    made = open_writer(parse_sql_url(database.url), "fluvio_sink_offsets", "writer-test")
    made.connect()
    yield made
    made.close()


def test_rows_and_position_commit_together_and_only_from_the_expected_position(writer: SqlWriter,
                                                                             database: SqlDatabase) -> None:
    assert writer.start_at(KEY, 0).next_offset == 0
    assert writer.start_at(KEY, 99).next_offset == 0  # a stored position wins over a start
    writer.write(KEY, rows((1, "a"), (2, "b")), 0, 2)
    with pytest.raises(PositionMoved):
        writer.write(KEY, rows((3, "c")), 0, 3)  # a second writer that still thinks it is at 0
    assert database.execute("SELECT id FROM items ORDER BY id") == [(1,), (2,)]
    writer.write(KEY, [], 2, 5, skipped=3)  # only skipped records: the position moves all the same
    assert database.offsets() == [("writer-test", "t", 0, 5, 2, 3)]


def test_a_refused_row_is_found_and_nothing_of_its_batch_stays(writer: SqlWriter, database: SqlDatabase) -> None:
    writer.start_at(KEY, 0)
    with pytest.raises(RowRejected) as refused:
        writer.write(KEY, rows((1, "a"), (2, "b"), (3, None), (4, "d")), 0, 4)
    assert refused.value.index == 2 and "items" in refused.value.reason
    assert database.count("items") == 0 and database.offsets()[0][3] == 0
    writer.write(KEY, rows((1, "a"), (2, "b")), 0, 2)  # the sink then commits what came before it
    with pytest.raises(RowRejected) as duplicate:
        writer.write(KEY, rows((5, "e"), (1, "again")), 2, 4)  # a primary key seen before
    assert duplicate.value.index == 1
    assert database.execute("SELECT id FROM items ORDER BY id") == [(1,), (2,)]


def test_upserts_of_one_key_in_one_batch_keep_the_last(writer: SqlWriter, database: SqlDatabase) -> None:
    shape = Shape("upsert", ("items",), ("id", "name"), ("id",))
    writer.start_at(KEY, 0)
    writer.write(KEY, rows((1, "a"), (2, "b"), (1, "c"), shape=shape), 0, 3)
    writer.write(KEY, rows((2, "d"), shape=shape), 3, 4)
    assert database.execute("SELECT id, name FROM items ORDER BY id") == [(1, "c"), (2, "d")]


def test_a_frozen_postgresql_cannot_hang_a_write(pg_database: SqlDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    pg_database.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    monkeypatch.setattr(sql_postgres, "WRITE_TIMEOUT", 1.0)
    made = open_writer(parse_sql_url(pg_database.url), "fluvio_sink_offsets", "frozen-test")
    made.connect()
    assert isinstance(made, sql_postgres.PostgresWriter)
    made.start_at(KEY, 0)
    backend = made.conn.info.backend_pid
    os.kill(backend, signal.SIGSTOP)  # its server process stops answering (the kernel still acks TCP)
    try:
        started = time.monotonic()
        with pytest.raises(TargetUnreachable, match=r"cannot write to postgresql://fluvio@127\.0\.0\.1"):
            made.write(KEY, rows((1, "a")), 0, 1)
        assert time.monotonic() - started < 30
    finally:
        os.kill(backend, signal.SIGCONT)
        made.close()
    assert pg_database.count("items") == 0
