"""The embedded topics backend: an append-only log in one SQLite file (WAL mode).

Many processes (connector programs, Airflow tasks, the CLI) open the same file. Each write is one
``BEGIN IMMEDIATE`` transaction that reads the partition's next offset, inserts the batch and moves
the offset on, so offsets stay dense (0, 1, 2, ...) per topic partition and no record is lost or
written twice, whoever else is writing. Readers never block writers (WAL).

A topic has an integer id: deleting a topic and creating it again gives a fresh log, and a producer
still holding the old id gets ``TopicNotFoundError`` instead of writing into the new one.

Writers take turns through ``flock`` on ``<log>.lock`` before asking SQLite for its write lock
(see ``_transaction``), so two busy producers interleave instead of one starving the other.

Durability: WAL with ``synchronous=NORMAL`` by default: when ``flush()`` returns the batch is
committed, and no process crash (a killed connector, a killed reader) loses it. ``synchronous=
"full"`` (``FLUVIO_EMBEDDED_SYNC=full``) also fsyncs every commit, so a power loss or OS crash
loses nothing either, at several times the cost of each flush (p99 of a one-record flush measured
here: 0.23 ms normal, 6.9 ms full).

Checkpoints (copying the write-ahead log back into the database file, which syncs both) run in a
background thread (``topics.checkpoint``), not inside the commit of whichever write crossed the
threshold: a writer no longer stalls for them. A batch is inserted with one statement per 100
records (``_insert``).

Named consumers live in the same file: the ``consumers`` table holds one committed position per
(consumer, topic id, partition), written in a write transaction like the records (so a commit is
as durable as a flushed batch) and dropped with its topic.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from fluvio_connectors.errors import (
    BackendError,
    ConfigError,
    ConsumerNotFoundError,
    RecordTooLargeError,
    TopicNotFoundError,
)
from fluvio_connectors.names import validate_consumer_name, validate_topic_name
from fluvio_connectors.settings import SYNC_MODES
from fluvio_connectors.state_dir import PRIVATE_FILE, private_dir, private_file
from fluvio_connectors.topics.base import READ_BYTES, ConsumerPosition, Record, TopicIdentity, TopicInfo, uncompressed_log
from fluvio_connectors.topics.checkpoint import WRITER_AUTOCHECKPOINT, Checkpointer
from fluvio_connectors.topics.retention import (
    PURGE_CHUNK,
    Purged,
    Retention,
    delete_records_of_deleted_topic,
    purge,
    retention_interval,
)

T = TypeVar("T")
Batch = list[tuple[bytes | None, bytes]]

# sqlite's own busy handler waits this long for the write lock; our retry loop covers what it
# cannot (a lock error raised outside the busy handler, e.g. while switching to WAL).
BUSY_TIMEOUT_MS = 10_000
RETRY_DEADLINE_S = 60.0
READ_CHUNK = 1_000
CACHE_KIB = 512  # page cache per connection
INSERT_ROWS = 128  # records per INSERT statement (4 variables each: within SQLite's oldest limit, 999)
MAX_PARTITIONS = 1_000
VACUUM_TRUNCATE_S = 5.0  # how long vacuum() asks for the write-ahead log's truncation at most
# A value larger than this goes to the ``blobs`` table, written and read in slices of this size
# (see ``_insert_large``).
LARGE_VALUE = 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    partitions  INTEGER NOT NULL,
    created_at  REAL NOT NULL,
    retention_seconds   INTEGER,
    max_partition_bytes INTEGER,
    segment_bytes       INTEGER
);
CREATE TABLE IF NOT EXISTS partitions (
    topic_id    INTEGER NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    size_bytes  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (topic_id, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deleted_topics (
    topic_id    INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS records (
    topic_id    INTEGER NOT NULL,
    partition   INTEGER NOT NULL,
    "offset"    INTEGER NOT NULL,
    key         BLOB,
    value       BLOB NOT NULL,
    timestamp   REAL NOT NULL,
    blob_id     INTEGER,
    PRIMARY KEY (topic_id, partition, "offset")
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs (
    id          INTEGER PRIMARY KEY,
    data        BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS consumers (
    consumer    TEXT NOT NULL,
    topic_id    INTEGER NOT NULL,
    partition   INTEGER NOT NULL,
    "offset"    INTEGER NOT NULL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (consumer, topic_id, partition)
) WITHOUT ROWID;
"""
_TABLES = ("topics", "partitions", "records", "consumers", "deleted_topics", "blobs")
_CORE_TABLES = _TABLES[:4]  # what any version's log holds: enough to read one that cannot be written
# Columns added after the first version: a log made by it gets them when first opened by this one.
_ADDED_COLUMNS = (
    ("topics", "retention_seconds", "INTEGER"),
    ("topics", "max_partition_bytes", "INTEGER"),
    ("topics", "segment_bytes", "INTEGER"),
    ("partitions", "size_bytes", "INTEGER NOT NULL DEFAULT 0"),
    ("records", "blob_id", "INTEGER"),
)


def _size(record: tuple[bytes | None, bytes]) -> int:
    """A record's bytes as ``producer.batch-size`` counts them: key and value."""
    key, value = record
    return len(value) + (len(key) if key is not None else 0)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


class EmbeddedTopics:
    """Topics in one SQLite file at ``path`` (parent directories are created on first use).

    Opening is cheap: the file is touched on the first call, and each thread of each process
    gets its own connection (sqlite connections must not cross threads or ``fork()``).
    """

    def __init__(self, path: Path | str, *, synchronous: str = "normal") -> None:
        if synchronous not in SYNC_MODES:
            raise ConfigError(
                f"embedded log durability {synchronous!r} is not known; expected one of: {', '.join(SYNC_MODES)}"
            )
        self.synchronous = synchronous
        self.path = Path(path).expanduser()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._schema_ready = False
        self._closed = False
        self._checkpointer = Checkpointer(self.path, Path(f"{self.path}.lock"), synchronous,
                                          maintenance=self.apply_retention,
                                          maintenance_interval=retention_interval())

    def __repr__(self) -> str:
        return f"EmbeddedTopics({str(self.path)!r})"

    def __enter__(self) -> EmbeddedTopics:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- connections -----------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        return self._holder().conn

    def _holder(self) -> _Connection:
        holder: _Connection | None = getattr(self._local, "conn", None)
        if holder is not None and holder.pid == os.getpid() and not holder.closed:
            return holder
        if self._closed:
            raise BackendError(f"the topic log {self.path} was closed")
        try:
            holder = self._open_holder()
        except (BackendError, ConfigError) as exc:
            # Nothing can be written where the log is (a full disk, a read-only home): its records
            # can still be read, through a connection that writes nothing (writes fail with why).
            holder = self._open_reader(exc)
        self._local.conn = holder
        with self._lock:
            self._connections.add(holder)
        return holder

    def _open_holder(self) -> _Connection:
        conn = self._connect()
        try:
            holder = _Connection(conn, os.getpid(), self._open_writer_lock())
        except BaseException:
            conn.close()
            raise
        if not self._schema_ready:
            try:
                self._retry(lambda: self._create_schema(holder))
            except BaseException:
                holder.close()
                raise
            self._schema_ready = True
        return holder

    def _open_reader(self, refused: BackendError | ConfigError) -> _Connection:
        """A read-only connection to an existing log, for when a read-write one was ``refused``.

        SQLite's own read-only mode still needs the WAL index (``-shm``) to be writable, so the
        log is opened as immutable: right only while no process writes to it, which is the case
        here (a writer would have made the WAL index, and this open would not have failed) and
        only while the write-ahead log holds nothing a checkpoint has not copied back."""
        wal = Path(f"{self.path}-wal")
        try:
            pending = wal.stat().st_size
        except FileNotFoundError:
            pending = 0
        except OSError:
            pending = -1
        if pending != 0 or not self.path.is_file():
            raise refused
        try:
            conn = sqlite3.connect(f"{self.path.absolute().as_uri()}?immutable=1", uri=True,
                                   isolation_level=None, check_same_thread=False)
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error:
            raise refused from None
        if not set(_CORE_TABLES) <= tables:
            conn.close()
            raise refused
        full = " (the disk is full)" if _no_space(self.path.parent) else ""
        return _Connection(conn, os.getpid(), None, read_only=f"{refused}{full}", blobs="blobs" in tables)

    def _open_writer_lock(self) -> BinaryIO:
        # One open file per connection: flock() then also orders the threads of one process.
        try:  # closed with the connection; private like the log (0600)
            return os.fdopen(os.open(f"{self.path}.lock", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                                     PRIVATE_FILE), "ab")
        except OSError as exc:
            raise BackendError(f"cannot open the topic log lock {self.path}.lock: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        # The state directory 0700 and the log 0600 (SQLite gives its -wal and -shm files the log's
        # mode); ConfigError when the directory cannot be used.
        private_dir(self.path.parent)
        private_file(self.path)
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves. check_same_thread=False only
            # so close() may close it from another thread; each thread otherwise uses its own.
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
            # Checkpoints run in the background (topics.checkpoint); this is only a safety net.
            conn.execute(f"PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT}")
            # Appends and sequential reads touch few pages again: SQLite's default 2 MB page
            # cache per connection is mostly memory a long-running connector never uses.
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        except (OSError, sqlite3.Error) as exc:
            raise BackendError(f"cannot open the topic log {self.path}: {exc}") from None
        return conn

    def _create_schema(self, holder: _Connection) -> None:
        conn = holder.conn
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            # Persistent in the file: only the first opener ever switches it.
            conn.execute("PRAGMA journal_mode = WAL")
        tables = conn.execute(
            f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({', '.join('?' * len(_TABLES))})",
            _TABLES,
        ).fetchone()[0]
        if tables == len(_TABLES):  # the usual case: no write transaction just to open the log
            return
        with _transaction(holder):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            _add_columns(conn)

    def close(self) -> None:
        """Close every connection this object opened in this process."""
        self._checkpointer.stop()  # first: its retention pass uses this object's connections
        self._closed = True
        with self._lock:
            holders = list(self._connections)
            self._connections = weakref.WeakSet()
        for holder in holders:
            if holder.pid == os.getpid() and not holder.closed:
                holder.close()

    # -- retries ---------------------------------------------------------------------------

    def _retry(self, operation: Callable[[], T]) -> T:
        """Run ``operation`` again while the database is locked, with bounded backoff."""
        deadline = time.monotonic() + RETRY_DEADLINE_S
        delay = 0.005
        while True:
            try:
                return operation()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() + delay > deadline:
                    raise BackendError(f"topic log {self.path}: {exc}") from None
            except sqlite3.DatabaseError as exc:
                raise BackendError(f"topic log {self.path}: {exc}") from None
            time.sleep(delay)  # backoff between attempts, not a wait for a condition
            delay = min(delay * 2, 0.25)

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[Any]:
        """Rows of a read-only query (WAL: never waits for writers)."""
        return self._retry(lambda: self._conn().execute(sql, params).fetchall())

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(conn)`` in one write transaction, retried while the database is locked."""

        def attempt() -> T:
            holder = self._holder()
            with _transaction(holder):
                return work(holder.conn)

        return self._retry(attempt)

    # -- admin -----------------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1, retention: Retention | None = None) -> bool:
        validate_topic_name(name)
        if not _is_int(partitions) or not 0 < partitions <= MAX_PARTITIONS:
            raise ConfigError(f"partitions must be an integer from 1 to {MAX_PARTITIONS}, got {partitions!r}")
        kept = retention or Retention()

        def create(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO topics (name, partitions, created_at, retention_seconds, max_partition_bytes, "
                "segment_bytes) VALUES (?, ?, ?, ?, ?, ?)",
                (name, partitions, time.time(), kept.time, kept.max_partition_size, kept.segment_size),
            )
            if cursor.rowcount == 0:
                return False
            conn.executemany(
                "INSERT INTO partitions (topic_id, partition, next_offset) VALUES (?, ?, 0)",
                [(cursor.lastrowid, p) for p in range(partitions)],
            )
            return True

        return self._write(create)

    def delete_topic(self, name: str) -> int:
        """Delete ``name`` (gone for every reader and writer at once) and its records, returning
        how many: in transactions of ``PURGE_CHUNK`` records, so writers go on meanwhile (a delete cut
        short leaves them to the next retention pass). The file keeps its size until ``vacuum()``."""
        validate_topic_name(name)

        def delete(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT id FROM topics WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise TopicNotFoundError(name)
            conn.execute("DELETE FROM consumers WHERE topic_id = ?", row)
            conn.execute("DELETE FROM partitions WHERE topic_id = ?", row)
            conn.execute("DELETE FROM topics WHERE id = ?", row)
            conn.execute("INSERT OR IGNORE INTO deleted_topics (topic_id) VALUES (?)", row)
            return int(row[0])

        topic_id = self._write(delete)
        removed = 0
        while True:
            chunk = self._write(lambda conn: delete_records_of_deleted_topic(conn, topic_id))
            removed += chunk
            if chunk < PURGE_CHUNK:
                return removed

    def topic_infos(self) -> list[TopicInfo]:
        """Every topic with its partitions, records, bytes of keys and values, and retention."""
        rows = self._query(
            "SELECT t.name, t.partitions, t.retention_seconds, t.max_partition_bytes, t.segment_bytes, "
            'p.next_offset, p.size_bytes, (SELECT min("offset") FROM records r '
            "WHERE r.topic_id = p.topic_id AND r.partition = p.partition) "
            "FROM topics t JOIN partitions p ON p.topic_id = t.id ORDER BY t.name, p.partition"
        )
        infos: dict[str, TopicInfo] = {}
        for name, partitions, seconds, max_bytes, segment, next_offset, size, first in rows:
            info = infos.get(name) or TopicInfo(name, int(partitions), 0, 0, Retention(seconds, max_bytes, segment))
            records = 0 if first is None else int(next_offset) - int(first)
            infos[name] = info._replace(records=(info.records or 0) + records, size_bytes=(info.size_bytes or 0) + size)
        return list(infos.values())

    def apply_retention(self) -> Purged:
        """One retention pass now (``topics.retention.purge``); the writers' background thread runs
        one every ``FLUVIO_EMBEDDED_RETENTION_INTERVAL`` seconds (30 by default)."""
        return purge(self)

    def vacuum(self) -> tuple[int, int]:
        """Rewrite the file without its free pages (SQLite's ``VACUUM``: what deleted and expired
        records left) and truncate its write-ahead log: ``(bytes before, bytes after)`` of the log
        and its WAL. Writers wait meanwhile (seconds for a large log); a reader holding an old
        snapshot can keep the WAL from shrinking until it lets go."""
        before = _file_sizes(self.path)
        holder = self._holder()
        lock_file = holder.lock_file
        if lock_file is None:
            raise BackendError(f"nothing can be written to the topic log now: {holder.read_only}")

        def rewrite() -> None:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                holder.conn.execute("VACUUM")
                # A checkpoint pass of another connection (the background one) makes this one busy
                # for a moment: ask again, for a few seconds at most.
                deadline = time.monotonic() + VACUUM_TRUNCATE_S
                while holder.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)  # poll interval while another connection checkpoints
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

        self._retry(rewrite)
        return before, _file_sizes(self.path)

    def topic_exists(self, name: str) -> bool:
        validate_topic_name(name)
        return bool(self._query("SELECT 1 FROM topics WHERE name = ?", (name,)))

    def list_topics(self) -> list[str]:
        return [row[0] for row in self._query("SELECT name FROM topics ORDER BY name")]

    def partitions(self, name: str) -> int:
        """How many partitions ``name`` has (``TopicNotFoundError`` if it does not exist)."""
        return self._topic(name)[1]

    def _topic(self, name: str) -> tuple[int, int]:
        """``(id, partitions)`` of ``name``."""
        validate_topic_name(name)
        rows = self._query("SELECT id, partitions FROM topics WHERE name = ?", (name,))
        if not rows:
            raise TopicNotFoundError(name)
        return int(rows[0][0]), int(rows[0][1])

    def _partition(self, name: str, partition: int) -> int:
        topic_id, count = self._topic(name)
        if not _is_int(partition) or not 0 <= partition < count:
            raise ConfigError(f"topic {name} has partitions 0..{count - 1}, not {partition!r}")
        return topic_id

    # -- writing ---------------------------------------------------------------------------

    def producer(self, topic: str, *, linger_ms: float = 0.0, batch_size: int = 500, batch_bytes: int | None = None,
                 compression: str = "none") -> EmbeddedProducer:
        """The log stores records as they are: ``compression`` other than ``none`` is a ``ConfigError``."""
        if compression != "none":
            raise uncompressed_log(compression)
        topic_id, _ = self._topic(topic)
        return EmbeddedProducer(self, topic, topic_id, linger_ms=linger_ms, batch_size=batch_size,
                                batch_bytes=batch_bytes)

    def _append(self, topic: str, topic_id: int, partition: int, batch: Batch) -> int:
        """Store ``batch`` in one transaction; returns the offset of its first record."""

        def append(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT next_offset FROM partitions WHERE topic_id = ? AND partition = ?",
                (topic_id, partition),
            ).fetchone()
            if row is None:  # deleted (and maybe recreated) since the producer was made
                raise TopicNotFoundError(topic)
            first = int(row[0])
            _insert(conn, topic_id, partition, first, batch, time.time())
            conn.execute(
                "UPDATE partitions SET next_offset = ?, size_bytes = size_bytes + ? WHERE topic_id = ? AND partition = ?",
                (first + len(batch), size, topic_id, partition),
            )
            return first

        size = sum(len(value) + (len(key) if key else 0) for key, value in batch)

        first = self._write(append)
        self._checkpointer.nudge()
        return first

    # -- reading ---------------------------------------------------------------------------

    def end_offset(self, topic: str, partition: int = 0) -> int:
        topic_id = self._partition(topic, partition)
        rows = self._query(
            "SELECT next_offset FROM partitions WHERE topic_id = ? AND partition = ?", (topic_id, partition)
        )
        if not rows:
            raise TopicNotFoundError(topic)
        return int(rows[0][0])

    def read(
        self, topic: str, offset: int = 0, *, partition: int = 0, max_records: int | None = None,
        max_bytes: int | None = None, max_value_bytes: int | None = None,
    ) -> list[Record]:
        _check_offset(offset)
        topic_id = self._partition(topic, partition)
        limit = -1 if max_records is None else max(0, max_records)
        return self._fetch(topic_id, partition, offset, limit, max_bytes, max_value_bytes)

    def _fetch(self, topic_id: int, partition: int, offset: int, limit: int, max_bytes: int | None = READ_BYTES,
               max_value_bytes: int | None = None) -> list[Record]:
        """Rows stepped one at a time (the cursor's), so no more than ``max_bytes`` (and one row) is
        ever loaded; a value over ``max_value_bytes`` is left in the database (SQLite reads only its
        length)."""
        def fetch() -> list[Record]:
            holder = self._holder()
            # A large value lives in ``blobs`` (``_insert_large``); SQLite reads only its length for
            # the comparisons, and the value itself only when it is returned.
            data = "CASE WHEN blob_id IS NULL THEN value ELSE (SELECT data FROM blobs WHERE id = blob_id) END"
            size_of = "CASE WHEN blob_id IS NULL THEN length(value) ELSE (SELECT length(data) FROM blobs WHERE id = blob_id) END"
            if not holder.blobs:
                data, size_of = "value", "length(value)"
            params: tuple[int, ...]
            if max_value_bytes is None:
                columns, params = f"{data}, NULL", (topic_id, partition, offset, limit)
            else:
                columns = f"CASE WHEN {size_of} <= ? THEN {data} ELSE X'' END, CASE WHEN {size_of} > ? THEN {size_of} END"
                params = (max_value_bytes, max_value_bytes, topic_id, partition, offset, limit)
            sql = (f'SELECT "offset", key, {columns}, timestamp FROM records '
                   'WHERE topic_id = ? AND partition = ? AND "offset" >= ? ORDER BY "offset" LIMIT ?')
            records: list[Record] = []
            size = 0
            cursor = holder.conn.execute(sql, params)
            try:
                for o, k, v, vs, ts in cursor:
                    key = None if k is None else bytes(k)
                    records.append(Record(int(o), key, bytes(v), float(ts), None if vs is None else int(vs)))
                    size += len(v) + (len(k) if k else 0)
                    if max_bytes is not None and size >= max_bytes:
                        break
            finally:
                cursor.close()
            return records

        return self._retry(fetch)

    def topic_identity(self, topic: str, partition: int = 0) -> TopicIdentity | None:
        """The topic's id, which a topic created again after a delete never shares (AUTOINCREMENT)."""
        return TopicIdentity(0, f"topic {self._partition(topic, partition)}")

    def stream(
        self,
        topic: str,
        offset: int = 0,
        *,
        partition: int = 0,
        follow: bool = True,
        poll_interval: float = 0.2,
        timeout: float | None = None,
    ) -> Iterator[Record]:
        _check_offset(offset)
        topic_id = self._partition(topic, partition)  # a missing topic fails here, not at next()
        return self._follow(topic, topic_id, partition, offset, follow, poll_interval, timeout)

    def _follow(
        self,
        topic: str,
        topic_id: int,
        partition: int,
        offset: int,
        follow: bool,
        poll_interval: float,
        timeout: float | None,
    ) -> Iterator[Record]:
        idle_since = time.monotonic()
        while True:
            chunk = self._fetch(topic_id, partition, offset, READ_CHUNK)
            if chunk:
                yield from chunk
                offset = chunk[-1].offset + 1
                idle_since = time.monotonic()
                continue
            if not follow:
                return
            if timeout is not None and time.monotonic() - idle_since >= timeout:
                return
            # Nothing new: make sure the topic still exists before polling again.
            if self._topic(topic)[0] != topic_id:
                raise TopicNotFoundError(topic)
            time.sleep(poll_interval)  # poll interval between reads of a followed log

    # -- named consumers ---------------------------------------------------------------------

    def consumer_position(self, consumer: str, topic: str, partition: int = 0) -> int | None:
        validate_consumer_name(consumer)
        topic_id = self._partition(topic, partition)
        rows = self._query(
            'SELECT "offset" FROM consumers WHERE consumer = ? AND topic_id = ? AND partition = ?',
            (consumer, topic_id, partition),
        )
        return int(rows[0][0]) if rows else None

    def commit(self, consumer: str, topic: str, position: int, partition: int = 0) -> None:
        validate_consumer_name(consumer)
        _check_offset(position)
        topic_id = self._partition(topic, partition)

        def commit(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT next_offset FROM partitions WHERE topic_id = ? AND partition = ?", (topic_id, partition)
            ).fetchone()
            if row is None:  # deleted since we looked it up
                raise TopicNotFoundError(topic)
            if position > int(row[0]):
                raise ConfigError(
                    f"cannot commit position {position} for consumer {consumer}: topic {topic} "
                    f"partition {partition} ends at offset {int(row[0])}"
                )
            conn.execute(
                'INSERT INTO consumers (consumer, topic_id, partition, "offset", updated_at) VALUES (?, ?, ?, ?, ?) '
                'ON CONFLICT (consumer, topic_id, partition) DO UPDATE SET "offset" = excluded."offset", '
                "updated_at = excluded.updated_at",
                (consumer, topic_id, partition, position, time.time()),
            )

        self._write(commit)

    def list_consumers(self, topic: str | None = None) -> list[ConsumerPosition]:
        sql = (
            'SELECT c.consumer, t.name, c.partition, c."offset", c.updated_at FROM consumers c '
            "JOIN topics t ON t.id = c.topic_id"
        )
        params: tuple[object, ...] = ()
        if topic is not None:
            validate_topic_name(topic)
            sql += " WHERE t.name = ?"
            params = (topic,)
        rows = self._query(sql + " ORDER BY c.consumer, t.name, c.partition", params)
        return [ConsumerPosition(str(c), str(t), int(p), int(o), float(u)) for c, t, p, o, u in rows]

    def delete_consumer(self, consumer: str, topic: str | None = None) -> int:
        validate_consumer_name(consumer)
        if topic is not None:
            validate_topic_name(topic)

        def delete(conn: sqlite3.Connection) -> int:
            if topic is None:
                cursor = conn.execute("DELETE FROM consumers WHERE consumer = ?", (consumer,))
            else:
                cursor = conn.execute(
                    "DELETE FROM consumers WHERE consumer = ? AND topic_id IN (SELECT id FROM topics WHERE name = ?)",
                    (consumer, topic),
                )
            return int(cursor.rowcount)

        deleted = self._write(delete)
        if not deleted:
            raise ConsumerNotFoundError(consumer, topic)
        return deleted


class EmbeddedProducer:
    """Buffers records and stores them in batches, one transaction a batch.

    A batch holds at most ``batch_size`` records and ``batch_bytes`` bytes of keys and values (one
    record at least). It is written when it is full, when ``flush()`` (or ``close()``) is
    called, and, with ``linger_ms > 0``, at the latest ``linger_ms`` after its first record was
    queued (a background thread). With ``linger_ms == 0`` there is no timer: records wait for
    ``flush()`` or a full batch, so a caller that needs a record stored calls ``flush()``.

    Thread-safe: ``send`` may be called from one thread (e.g. an MQTT network thread) while another
    calls ``flush``; batches are written in the order their records were sent.
    """

    def __init__(
        self,
        topics: EmbeddedTopics,
        topic: str,
        topic_id: int,
        *,
        linger_ms: float = 0.0,
        batch_size: int = 500,
        batch_bytes: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if batch_bytes is not None and batch_bytes < 1:
            raise ConfigError(f"batch_bytes must be at least 1, got {batch_bytes}")
        if linger_ms < 0:
            raise ConfigError(f"linger_ms must not be negative, got {linger_ms}")
        self.topic = topic
        self._topics = topics
        self._topic_id = topic_id
        self._batch_size = batch_size
        self._batch_bytes = batch_bytes
        self._linger = linger_ms / 1000.0
        self._buffer: Batch = []
        self._buffer_bytes = 0
        self._first_queued: float | None = None
        self._cond = threading.Condition()  # guards _buffer, _first_queued, _closed
        self._write_lock = threading.Lock()  # one batch at a time, in order
        self._closed = False
        self._max_record_bytes: int | None = None
        self._lingerer: threading.Thread | None = None
        if self._linger > 0:
            self._lingerer = threading.Thread(target=self._linger_loop, name=f"linger-{topic}", daemon=True)
            self._lingerer.start()

    def __enter__(self) -> EmbeddedProducer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, key: bytes | None, value: bytes) -> None:
        self.send_many([(key, value)])

    @property
    def max_record_bytes(self) -> int:
        """SQLite's limit on a row (``SQLITE_LIMIT_LENGTH``, 1e9 bytes by default), less the room the
        row's other columns take: a larger record would fail every flush ("string or blob too big")."""
        if self._max_record_bytes is None:
            limit = int(self._topics._conn().getlimit(sqlite3.SQLITE_LIMIT_LENGTH))
            self._max_record_bytes = limit - 1024
        return self._max_record_bytes

    def send_many(self, records: Iterable[tuple[bytes | None, bytes]]) -> None:
        items = [(_as_bytes_or_none(key, "key"), _as_bytes(value, "value")) for key, value in records]
        if not items:
            return
        largest = max(len(value) + len(key or b"") for key, value in items)
        if largest > self.max_record_bytes:  # refused before it is queued: it would fail every flush
            raise RecordTooLargeError(self.topic, largest, self.max_record_bytes)
        with self._cond:
            if self._closed:
                raise BackendError(f"the producer for topic {self.topic} is closed")
            if not self._buffer:
                self._first_queued = time.monotonic()
            self._buffer.extend(items)
            if self._batch_bytes is not None:  # counted only where a batch has a size in bytes
                self._buffer_bytes += sum(map(_size, items))
            full = self._full()
            self._cond.notify_all()
        if full:
            self._write(only_full=True)

    def flush(self) -> None:
        self._write(only_full=False)

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        if self._lingerer is not None:
            self._lingerer.join(timeout=RETRY_DEADLINE_S)
        self._write(only_full=False)

    def _write(self, *, only_full: bool) -> None:
        with self._write_lock:
            while True:
                with self._cond:
                    if not self._buffer or (only_full and not self._full()):
                        return
                    count, size = self._next_batch()
                    batch = self._buffer[:count]
                    del self._buffer[:count]
                    self._buffer_bytes -= size
                    self._first_queued = time.monotonic() if self._buffer else None
                try:
                    self._topics._append(self.topic, self._topic_id, 0, batch)
                except BaseException:
                    # Put the batch back in front so a later flush() retries it: at-least-once.
                    with self._cond:
                        self._buffer[:0] = batch
                        self._buffer_bytes += size
                        self._first_queued = self._first_queued or time.monotonic()
                    raise

    def _full(self) -> bool:
        """Whether the buffer holds a whole batch (under the lock)."""
        if len(self._buffer) >= self._batch_size:
            return True
        return self._batch_bytes is not None and self._buffer_bytes >= self._batch_bytes

    def _next_batch(self) -> tuple[int, int]:
        """How many records of the buffer the next batch takes, and their bytes (under the lock)."""
        if self._batch_bytes is None:
            return min(self._batch_size, len(self._buffer)), 0
        count = size = 0
        for record in self._buffer[: self._batch_size]:
            record_size = _size(record)
            if count and size + record_size > self._batch_bytes:
                break
            count, size = count + 1, size + record_size
        return count, size

    def _linger_loop(self) -> None:
        backoff = 0.0  # after a failed write, wait longer before the next attempt
        while True:
            with self._cond:
                while not self._closed and self._first_queued is None:
                    self._cond.wait()
                first = self._first_queued
                if self._closed:
                    return  # close() writes what is left
                if first is None:
                    continue
                remaining = first + self._linger + backoff - time.monotonic()
                if remaining > 0:
                    self._cond.wait(timeout=remaining)
                    continue
            try:
                self._write(only_full=False)
                backoff = 0.0
            except Exception:
                # The batch is back in the buffer; the next attempt here, or the caller's
                # flush()/close(), retries it and reports the error if it persists.
                backoff = min(max(backoff * 2, 0.5), 30.0)


class _Connection:
    """A connection, the process that opened it (a forked child opens its own) and the writer lock."""

    __slots__ = ("__weakref__", "blobs", "closed", "conn", "lock_file", "pid", "read_only")

    def __init__(self, conn: sqlite3.Connection, pid: int, lock_file: BinaryIO | None, *,
                 read_only: str | None = None, blobs: bool = True) -> None:
        self.conn = conn
        self.pid = pid
        self.lock_file = lock_file
        self.closed = False
        self.read_only = read_only  # why this connection may only read (None: it may write)
        self.blobs = blobs  # the log has the ``blobs`` table (an earlier version's, read only, may not)

    def __del__(self) -> None:  # a thread that used the log has ended: release its connection
        if not self.closed and self.pid == os.getpid():
            self.close()

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(sqlite3.Error):  # closing is best effort
            self.conn.close()
        if self.lock_file is not None:
            with contextlib.suppress(OSError):
                self.lock_file.close()


class _transaction:
    """A write transaction: the writer lock, ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on error.

    Writers queue on ``flock`` before asking SQLite for its write lock. SQLite alone lets a
    waiting writer sleep in growing steps while a busy one takes the lock again and again (one
    process could starve another for seconds); the kernel wakes a ``flock`` waiter as soon as the
    lock is free. A writer that is not ours still gets in through SQLite's busy timeout.
    """

    def __init__(self, holder: _Connection) -> None:
        if holder.lock_file is None:
            raise BackendError(f"nothing can be written to the topic log now: {holder.read_only}")
        self.conn = holder.conn
        self.lock_fd = holder.lock_file.fileno()

    def __enter__(self) -> sqlite3.Connection:
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
            raise
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                try:
                    self.conn.execute("COMMIT")
                    return
                except sqlite3.Error:
                    self._rollback()
                    raise
            self._rollback()
        finally:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the original error matters more
                self.conn.execute("ROLLBACK")


def _add_columns(conn: sqlite3.Connection) -> None:
    """Add what a log made by an older version lacks (``_ADDED_COLUMNS``); a partition's size is
    counted once from its records."""
    for table, column, kind in _ADDED_COLUMNS:
        if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            if (table, column) == ("partitions", "size_bytes"):
                conn.execute(
                    "UPDATE partitions SET size_bytes = (SELECT ifnull(sum(length(value) + ifnull(length(key), 0)), 0) "
                    "FROM records r WHERE r.topic_id = partitions.topic_id AND r.partition = partitions.partition)"
                )


def _file_sizes(path: Path) -> int:
    """Bytes of the log and its write-ahead log."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def _insert(conn: sqlite3.Connection, topic_id: int, partition: int, first: int, batch: Batch, now: float) -> None:
    """Insert ``batch`` at offsets ``first``, ``first + 1``, ...: up to ``INSERT_ROWS`` (128) records
    per statement, in statements of at most 8 shapes (``_chunk_sizes``; docs/architecture.md,
    *Delivery*, and performance.md say why). A value over ``LARGE_VALUE`` is stored by
    ``_insert_large`` instead, in its place in the order."""
    run_start = 0  # the first record of the run of small ones not inserted yet
    for index, (key, value) in enumerate(batch):
        if len(value) > LARGE_VALUE:
            _insert_small(conn, topic_id, partition, first + run_start, batch[run_start:index], now)
            _insert_large(conn, topic_id, partition, first + index, key, value, now)
            run_start = index + 1
    _insert_small(conn, topic_id, partition, first + run_start, batch[run_start:], now)


def _insert_small(conn: sqlite3.Connection, topic_id: int, partition: int, first: int, batch: Batch, now: float) -> None:
    start = 0
    for rows in _chunk_sizes(len(batch)):
        params: list[object] = []
        offset = first + start
        for key, value in batch[start : start + rows]:
            params += (offset, key, value, now)
            offset += 1
        conn.execute(_insert_sql(topic_id, partition, rows), params)
        start += rows


def _insert_large(conn: sqlite3.Connection, topic_id: int, partition: int, offset: int, key: bytes | None,
                  value: bytes, now: float) -> None:
    """A large value into ``blobs``, slice by slice through SQLite's incremental blob I/O, and its
    record pointing at it. Bound as a parameter, SQLite would copy the value whole twice (the bound
    value, then the row it makes of it): three times its size in memory for one record (a 16 MiB
    MQTT message is a 57 MiB record). Incremental I/O needs a table with a rowid, which ``records``
    has not, hence the second table."""
    blob_id = conn.execute("INSERT INTO blobs (data) VALUES (zeroblob(?))", (len(value),)).lastrowid
    assert blob_id is not None
    view = memoryview(value)
    with conn.blobopen("blobs", "data", blob_id) as blob:
        for start in range(0, len(value), LARGE_VALUE):
            blob.write(view[start : start + LARGE_VALUE])
    conn.execute('INSERT INTO records (topic_id, partition, "offset", key, value, timestamp, blob_id) '
                 "VALUES (?, ?, ?, ?, X'', ?, ?)", (topic_id, partition, offset, key, now, blob_id))


def _chunk_sizes(count: int) -> list[int]:
    """``count`` rows as statements of ``INSERT_ROWS`` rows, then the powers of two that make up the
    rest (100 = 64 + 32 + 4): at most 8 statement shapes whatever the batch sizes are."""
    sizes = [INSERT_ROWS] * (count // INSERT_ROWS)
    rest = count % INSERT_ROWS
    while rest:
        size = 1 << (rest.bit_length() - 1)
        sizes.append(size)
        rest -= size
    return sizes


@functools.lru_cache(maxsize=256)
def _insert_sql(topic_id: int, partition: int, rows: int) -> str:
    row = f"({topic_id:d}, {partition:d}, ?, ?, ?, ?)"
    return 'INSERT INTO records (topic_id, partition, "offset", key, value, timestamp) VALUES ' + ", ".join([row] * rows)


def _no_space(directory: Path) -> bool:
    try:
        info = os.statvfs(directory)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < 64 * 1024


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_offset(offset: int) -> None:
    if not _is_int(offset) or offset < 0:
        raise ConfigError(f"offset must be a non-negative integer, got {offset!r}")


def _as_bytes(value: object, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise ConfigError(f"a record {what} must be bytes or str, got {type(value).__name__}")


def _as_bytes_or_none(value: object, what: str) -> bytes | None:
    return None if value is None else _as_bytes(value, what)


__all__ = ["EmbeddedProducer", "EmbeddedTopics", "validate_topic_name"]
