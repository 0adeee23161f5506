"""The PostgreSQL writer of ``sql-sink`` (psycopg 3): see ``sql_writer`` for the contract.

Inserts go in with ``COPY ... FROM STDIN`` (the fastest way into PostgreSQL), upserts with one
``INSERT ... ON CONFLICT (KEY) DO UPDATE`` per row sent in a pipeline (``executemany``). Names are
``psycopg.sql.Identifier``s. The session's time zone is UTC (a timestamp without a zone is UTC).

No call may hang the sink: connecting is bounded by ``CONNECT_TIMEOUT``, a statement by the
server's ``statement_timeout``, a dead peer by TCP keep-alives and ``tcp_user_timeout``, and a
transaction that takes longer than ``WRITE_TIMEOUT`` (a server that stopped answering, e.g. frozen)
has its socket shut down from a watchdog, which fails the call at once.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from fluvio_connectors.json_sql import Row, Shape, split_name
from fluvio_connectors.messages import one_line
from fluvio_connectors.sink_catalog import SqlTarget
from fluvio_connectors.sql_writer import (
    PositionKey,
    PositionMoved,
    RowRejected,
    StoredPosition,
    TargetRefused,
    TargetUnreachable,
    runs,
    upsert_rows,
)

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT = 10  # seconds
STATEMENT_TIMEOUT_MS = 20_000  # a statement the server cancels (then retried, the sink Pending)
SESSION_OPTIONS = f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c TimeZone=UTC"
# Seconds a transaction may take before its socket is shut down: within the 30 s after which a
# program that shows no progress is taken for hung and restarted (runner).
WRITE_TIMEOUT = 25.0
# A login or database problem: a change is needed (Failed), not a retry (Pending).
_REFUSED_AT_CONNECT = ("password authentication failed", "authentication failed", "does not exist",
                       "no pg_hba.conf entry", "permission denied", "not permitted to log in", "too many connections")
_TRANSIENT_CLASSES = ("08", "40", "53", "57", "58")
_ROW_CLASSES = ("22", "23")


class PostgresWriter:
    def __init__(self, target: SqlTarget, offsets_table: str, application: str) -> None:
        self.target = target
        self.offsets_name = offsets_table
        self.application = application[:63]
        self._conn: psycopg.Connection[Any] | None = None
        self._statements: dict[Shape, Any] = {}
        self._copies: dict[Shape, Any] = {}
        self._move: Any = None
        self._watchdog = _Watchdog()

    # ---- connection

    def connect(self) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        self.close()
        try:
            # the URL's own options (e.g. -c search_path=...) come first; ours bound every statement
            given = conninfo_to_dict(self.target.url).get("options")
            options = " ".join(str(o) for o in (given, SESSION_OPTIONS) if o)
            conn = psycopg.connect(make_conninfo(
                self.target.url, options=options, connect_timeout=CONNECT_TIMEOUT, application_name=self.application,
                keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3, tcp_user_timeout=60_000,
            ))
        except psycopg.Error as exc:
            text = one_line(f"cannot connect to {self.target.redacted}: {_message(exc)}", 300)
            if any(marker in str(exc) for marker in _REFUSED_AT_CONNECT):
                raise TargetRefused(text) from None
            raise TargetUnreachable(text) from None
        self._conn = conn
        self._watchdog.watch(conn)
        offsets = self.offsets
        with self._failures("cannot create the offsets table " + self.offsets_name), \
                self._watchdog.armed(WRITE_TIMEOUT):
            exists = conn.execute("SELECT to_regclass(%s)", (offsets.as_string(conn),)).fetchone()
            if not exists or exists[0] is None:
                self._create_offsets_table(conn)
            conn.commit()

    def _create_offsets_table(self, conn: psycopg.Connection[Any]) -> None:
        import psycopg
        from psycopg import sql

        statement = sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (connector TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, "
            "next_offset BIGINT NOT NULL, delivered BIGINT NOT NULL DEFAULT 0, skipped BIGINT NOT NULL DEFAULT 0, "
            "updated_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (connector, topic, partition))"
        ).format(self.offsets)
        try:
            conn.execute(statement)
        except psycopg.errors.UniqueViolation:  # created by another sink at the same moment
            conn.rollback()

    @property
    def offsets(self) -> Any:
        from psycopg import sql

        return sql.Identifier(*split_name(self.offsets_name))

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            raise TargetUnreachable(f"not connected to {self.target.redacted}")
        return self._conn

    def close(self) -> None:
        self._watchdog.watch(None)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    # ---- position

    def start_at(self, key: PositionKey, offset: int) -> StoredPosition:
        from psycopg import sql

        conn = self.conn
        with self._failures(f"cannot read the position in {self.offsets_name}"), \
                self._watchdog.armed(WRITE_TIMEOUT), conn.transaction():
            conn.execute(sql.SQL("INSERT INTO {} (connector, topic, partition, next_offset) VALUES (%s, %s, %s, %s) "
                                 "ON CONFLICT DO NOTHING").format(self.offsets),
                         (key.connector, key.topic, key.partition, offset))
            row = conn.execute(sql.SQL("SELECT next_offset, delivered, skipped FROM {} WHERE connector = %s AND "
                                       "topic = %s AND partition = %s").format(self.offsets),
                               (key.connector, key.topic, key.partition)).fetchone()
        assert row is not None
        return StoredPosition(int(row[0]), int(row[1]), int(row[2]))

    # ---- writing

    def write(self, key: PositionKey, rows: Sequence[Row], expected: int, position: int, skipped: int = 0) -> None:
        import psycopg
        from psycopg import sql

        conn = self.conn
        if self._move is None:
            self._move = sql.SQL(
                "UPDATE {} SET next_offset = %s, delivered = delivered + %s, skipped = skipped + %s, updated_at = now() "
                "WHERE connector = %s AND topic = %s AND partition = %s AND next_offset = %s").format(self.offsets)
        with self._failures(f"cannot write to {self.target.redacted}"), self._watchdog.armed(WRITE_TIMEOUT):
            try:
                with conn.transaction():
                    moved = conn.execute(
                        self._move, (position, len(rows), skipped, key.connector, key.topic, key.partition, expected),
                    ).rowcount
                    if moved != 1:
                        raise PositionMoved(f"the position in {self.offsets_name} is no longer {expected}")
                    for shape, _first, chunk in runs(rows):
                        self._insert(conn, shape, chunk)
            except psycopg.Error as exc:
                if not _row_error(exc):
                    raise
                raise self._find_rejected(rows, exc) from None

    def _insert(self, conn: psycopg.Connection[Any], shape: Shape, rows: list[Row]) -> None:
        from psycopg import sql

        if shape.operation == "insert":
            statement = self._copies.get(shape)
            if statement is None:
                columns = sql.SQL(", ").join(sql.Identifier(c) for c in shape.columns)
                statement = self._copies[shape] = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(*shape.table), columns)
            with conn.cursor().copy(statement) as copy:
                for row in rows:
                    copy.write_row(row.values)
            return
        conn.cursor().executemany(self._upsert(shape), [row.values for row in upsert_rows(shape, rows)])

    def _upsert(self, shape: Shape) -> Any:
        from psycopg import sql

        statement = self._statements.get(shape)
        if statement is None:
            rest = [c for c in shape.columns if c not in shape.unique_columns]
            action = (sql.SQL("DO UPDATE SET {}").format(sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in rest)) if rest else sql.SQL("DO NOTHING"))
            statement = self._statements[shape] = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) {}").format(
                sql.Identifier(*shape.table),
                sql.SQL(", ").join(sql.Identifier(c) for c in shape.columns),
                sql.SQL(", ").join(sql.Placeholder() for _ in shape.columns),
                sql.SQL(", ").join(sql.Identifier(c) for c in shape.unique_columns),
                action,
            )
        return statement

    def _find_rejected(self, rows: Sequence[Row], first_error: Exception) -> Exception:
        """After a batch failed on a row: which one (each row in a savepoint, then all rolled back)."""
        import psycopg
        from psycopg import sql

        conn = self.conn

        class _Done(Exception):
            pass

        found: Exception | None = None
        try:
            with conn.transaction():
                for i, row in enumerate(rows):
                    try:
                        with conn.transaction():
                            if row.shape.operation == "insert":
                                table = sql.Identifier(*row.shape.table)
                                columns = sql.SQL(", ").join(sql.Identifier(c) for c in row.shape.columns)
                                marks = sql.SQL(", ").join(sql.Placeholder() for _ in row.shape.columns)
                                conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(table, columns, marks),
                                             row.values)
                            else:
                                conn.execute(self._upsert(row.shape), row.values)
                    except psycopg.Error as exc:
                        if not _row_error(exc):
                            raise
                        found = RowRejected(i, one_line(f"{row.shape.table_name}: {_message(exc)}", 300))
                        break
                raise _Done
        except _Done:
            pass
        return found or TargetRefused(one_line(f"the database refused a batch but none of its rows alone: "
                                               f"{_message(first_error)}", 300))

    @contextlib.contextmanager
    def _failures(self, what: str) -> Iterator[None]:
        """psycopg's errors as the sink's three kinds (see ``sql_writer``)."""
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            text = one_line(f"{what}: {_message(exc)}", 300)
            state = exc.sqlstate or ""
            broken = self._conn is None or self._conn.closed or self._conn.broken
            lost = isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and not state
            if broken or lost or state[:2] in _TRANSIENT_CLASSES:
                self.close()
                raise TargetUnreachable(text) from None
            with contextlib.suppress(Exception):
                self.conn.rollback()
            raise TargetRefused(text) from None


def _row_error(exc: Exception) -> bool:
    state = getattr(exc, "sqlstate", None) or ""
    return state[:2] in _ROW_CLASSES


def _message(exc: Exception) -> str:
    """psycopg's message on one line: the server's primary message and detail when it gave them."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if primary:
        detail = getattr(diag, "message_detail", None)
        return f"{primary} ({detail})" if detail else str(primary)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines) or type(exc).__name__


class _Watchdog:
    """Shuts the watched connection's socket down when an armed block takes longer than its
    seconds: a call waiting for a server that no longer answers then fails at once instead of
    never returning. One thread for the writer's life (arming costs no thread)."""

    def __init__(self) -> None:
        self._conn: psycopg.Connection[Any] | None = None
        self._deadline: float | None = None
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, conn: psycopg.Connection[Any] | None) -> None:
        with self._changed:
            self._conn, self._deadline = conn, None
            self._changed.notify()
        if conn is not None and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="sql-watchdog", daemon=True)
            self._thread.start()

    @contextlib.contextmanager
    def armed(self, seconds: float) -> Iterator[None]:
        with self._changed:
            self._deadline = time.monotonic() + seconds
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                self._deadline = None

    def _loop(self) -> None:
        while True:
            with self._changed:
                while self._deadline is None or self._conn is None:
                    self._changed.wait()
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._changed.wait(left)
                    continue
                conn, self._deadline = self._conn, None
            with contextlib.suppress(Exception):
                fd = os.dup(conn.pgconn.socket)
                with socket.socket(fileno=fd) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
