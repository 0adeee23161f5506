"""The fluvio topics backend: a real Fluvio cluster through the official ``fluvio`` client.

Every call into the client goes through ``fluvio_client.FluvioClient`` (a helper process; that
package says why), so nothing here can freeze the calling process: each call waits at most
``timeout`` seconds (``connect_timeout`` to connect), then raises ``BackendError`` in one line.
``endpoint`` is the SC address (``host:port``); ``None`` uses the user's Fluvio profile
(``~/.fluvio/config``), like the ``fluvio`` CLI.

Mapping to the port:
- keys: the client cannot write a record without a key, so a record without one is written with
  an empty key; an empty key, and the client's ``No key`` marker for a record that has none (such
  as ``fluvio produce`` writes), read back as ``None``;
- timestamps are Fluvio's milliseconds, returned as seconds (0.0 when the record has none);
- offsets grow but need not be consecutive: readers move on from the last record they got and
  count records, never offset differences, and never wait for a given offset;
- ``read`` and ``stream(follow=False)`` stop at the end of the partition as it was when they
  started reading; ``stream(follow=True)`` reads again every ``poll_interval`` when it is at the
  end, like the embedded log;
- a producer sends records to the client process as ``batch_size`` fill, and the client sends
  them to the cluster as its batches fill (``batch_bytes``, 64 KB by default; compressed with
  ``compression``) and at ``flush``; ``flush`` returns once the
  cluster stored every record sent since the last flush and fails when it refused any
  (``fluvio_client/producing.py`` says what confirms a record); with ``linger_ms`` a background
  thread flushes at the latest ``linger_ms`` after a record was queued. A failed flush keeps
  those records and sends them again at the next ``flush`` (at-least-once: a retried record may
  be stored twice).
- partitions: on a topic with one partition a producer writes to partition 0 (one added later
  gets nothing from it until the producer is opened again); on a topic with several the client's
  partitioner picks by key, and keyless records, written with an empty key, all go to the
  partition the empty key hashes to.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fluvio_connectors.endpoints import check_endpoint
from fluvio_connectors.errors import BackendError, ConfigError, ConsumerNotFoundError, TopicNotFoundError
from fluvio_connectors.names import validate_consumer_name, validate_topic_name
from fluvio_connectors.topics.base import READ_BYTES, ConsumerPosition, Record, TopicIdentity, TopicInfo
from fluvio_connectors.topics.fluvio_client import (
    EXISTS,
    INVALID,
    NO_PARTITION,
    NOT_FOUND,
    REFUSED,
    ClientError,
    FluvioClient,
)
from fluvio_connectors.topics.fluvio_client.producing import COMPRESSIONS
from fluvio_connectors.topics.fluvio_producer import FluvioProducer
from fluvio_connectors.topics.retention import Retention

DEFAULT_CONNECT_TIMEOUT = 15.0
DEFAULT_TIMEOUT = 30.0
READ_CHUNK = 100_000  # records a read request returns at most (the client process also stops at 8 MB)
MAX_PARTITIONS = 1_000
DELETE_SETTLE_S = 1.0  # see delete_topic


class FluvioTopics:
    """Topics in a Fluvio cluster at ``endpoint`` (``host:port``), or the profile's cluster.

    Named consumers are the cluster's own consumer offsets (``fluvio_client/offsets.py`` says
    exactly what is stored), so ``fluvio consume --consumer NAME`` and the project resume each other.

    :param connect_timeout: Seconds to start the client and connect (a peer that accepts and never
        answers fails after this long).
    :param timeout: Seconds any other call may wait (for the cluster's answer or acknowledgement).
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if endpoint is not None:
            check_endpoint(endpoint)
        for name, value in (("connect_timeout", connect_timeout), ("timeout", timeout)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
        self.endpoint = endpoint
        self.connect_timeout = float(connect_timeout)
        self.timeout = float(timeout)
        self._client = FluvioClient(endpoint, connect_timeout=self.connect_timeout, timeout=self.timeout,
                                    where=self._where)

    def __repr__(self) -> str:
        return f"FluvioTopics({self.endpoint or 'profile'!r})"

    def __enter__(self) -> FluvioTopics:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _where(self) -> str:
        return f"Fluvio at {self.endpoint}" if self.endpoint else "Fluvio (current profile)"

    def close(self) -> None:
        """Stop the client process; its connections close with it."""
        self._client.close()

    def request(self, what: str, op: str, *args: Any, topic: str | None = None, partition: int = 0) -> Any:
        """``op`` in the client process; its failure as one of the project's errors (a missing topic
        is ``TopicNotFoundError``, a refused argument ``ConfigError``, anything else ``BackendError``)."""
        try:
            return self._client.call(op, *args)
        except ClientError as exc:
            if exc.kind == NOT_FOUND and topic is not None:
                raise TopicNotFoundError(topic) from None
            if exc.kind == NO_PARTITION and topic is not None:
                raise ConfigError(f"topic {topic} has no partition {partition}") from None
            if exc.kind == REFUSED:
                raise ConfigError(str(exc)) from None
            raise BackendError(f"{self._where}: {what} failed: {exc}") from None

    # -- admin -----------------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1, retention: Retention | None = None) -> bool:
        """Create ``name``; ``retention`` goes into the topic's spec (the SPU applies it)."""
        validate_topic_name(name)
        if not _is_int(partitions) or not 0 < partitions <= MAX_PARTITIONS:
            raise ConfigError(f"partitions must be an integer from 1 to {MAX_PARTITIONS}, got {partitions!r}")
        try:
            self._client.call("create_topic", name, partitions, (retention or Retention()).to_dict())
        except ClientError as exc:
            if exc.kind == EXISTS:
                return False
            if exc.kind == INVALID:
                raise ConfigError(f"topic {name}: {exc}") from None
            raise BackendError(f"{self._where}: creating topic {name} failed: {exc}") from None
        return True

    def delete_topic(self, name: str) -> int | None:
        """Delete ``name``. Returns ``DELETE_SETTLE_S`` after the cluster confirmed: Fluvio 0.18
        (SC and SPU) leaves a topic created within a fraction of a second after a delete (of a
        topic that had traffic) unprovisioned for 30 to 90 s, and nothing a client can see says
        when the SPU is done removing the old one."""
        validate_topic_name(name)
        self.request(f"deleting topic {name}", "delete_topic", name, topic=name)
        time.sleep(DELETE_SETTLE_S)
        return None  # the cluster does not say how many records went

    def topic_infos(self) -> list[TopicInfo]:
        """The topics' names only: the Python client reads no partitions, sizes or retention
        (``fluvio topic list`` and ``fluvio partition list`` show them)."""
        return [TopicInfo(name) for name in self.list_topics()]

    def topic_exists(self, name: str) -> bool:
        validate_topic_name(name)
        return name in self.request("listing topics", "topic_names", [name])

    def list_topics(self) -> list[str]:
        return sorted(self.request("listing topics", "topic_names", None))

    # -- writing ---------------------------------------------------------------------------

    def producer(self, topic: str, *, linger_ms: float = 0.0, batch_size: int = 500, batch_bytes: int | None = None,
                 compression: str = "none") -> FluvioProducer:
        """``batch_bytes`` is the client's batch size (64 KB without it); ``compression`` (gzip,
        snappy, lz4, zstd) is the client's, applied to each batch on its way to the SPU."""
        validate_topic_name(topic)
        if not _is_int(batch_size) or batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if batch_bytes is not None and (not _is_int(batch_bytes) or batch_bytes < 1):
            raise ConfigError(f"batch_bytes must be at least 1, got {batch_bytes!r}")
        if compression != "none" and compression not in COMPRESSIONS:
            raise ConfigError(f"compression must be none or one of {', '.join(COMPRESSIONS)}, got {compression!r}")
        if linger_ms < 0:
            raise ConfigError(f"linger_ms must not be negative, got {linger_ms}")
        return FluvioProducer(self._client, self.request, topic, linger_ms=linger_ms, batch_size=batch_size,
                              batch_bytes=batch_bytes, compression=compression)

    # -- reading ---------------------------------------------------------------------------

    def _read(self, topic: str, partition: int, offset: int, limit: int, max_bytes: int = READ_BYTES,
              max_value_bytes: int | None = None) -> tuple[list[Any], bool]:
        rows, at_end = self.request(f"reading {topic}", "read", topic, partition, offset, limit, max_bytes,
                                    max_value_bytes, topic=topic, partition=partition)
        return rows, at_end

    def topic_identity(self, topic: str, partition: int = 0) -> TopicIdentity | None:
        """The first readable record's offset and time (the client shows no topic id)."""
        _check_partition(partition)
        validate_topic_name(topic)
        first = self.request(f"reading the start of {topic}", "identity", topic, partition,
                             topic=topic, partition=partition)
        return None if first is None else TopicIdentity(int(first[0]), f"first record at {int(first[1])} ms")

    def end_offset(self, topic: str, partition: int = 0) -> int:
        """One past the last record: where the next record will be (offsets start at 0)."""
        _check_partition(partition)
        validate_topic_name(topic)
        last = self.request(f"reading the end of {topic}", "last_offset", topic, partition,
                          topic=topic, partition=partition)
        return 0 if last is None else int(last) + 1

    def read(
        self, topic: str, offset: int = 0, *, partition: int = 0, max_records: int | None = None,
        max_bytes: int | None = None, max_value_bytes: int | None = None,
    ) -> list[Record]:
        return list(self._stream(topic, offset, partition, False, 0.0, None, max_records, max_bytes, max_value_bytes))

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
        """Records from ``offset``. Without ``follow`` it stops at the end as it was at the call;
        with it, it reads again every ``poll_interval`` s and ends after ``timeout`` s without a new
        record (never, when ``timeout`` is None)."""
        return self._stream(topic, offset, partition, follow, poll_interval, timeout, None)

    def _stream(self, topic: str, offset: int, partition: int, follow: bool, poll_interval: float,
                timeout: float | None, max_records: int | None, max_bytes: int | None = None,
                max_value_bytes: int | None = None) -> Iterator[Record]:
        _check_offset(offset)
        _check_partition(partition)
        validate_topic_name(topic)
        limit = READ_CHUNK if max_records is None else max(0, min(READ_CHUNK, max_records))
        chunk = READ_BYTES if max_bytes is None else max(1, min(READ_BYTES, max_bytes))
        # The first read happens now, so a missing topic fails here rather than at next().
        rows, at_end = self._read(topic, partition, offset, limit, chunk, max_value_bytes) if limit else ([], True)
        if follow:
            return self._follow(topic, partition, offset, rows, at_end, poll_interval, timeout, max_records)
        return self._to_end(topic, partition, rows, at_end, max_records, max_bytes, max_value_bytes)

    def _to_end(self, topic: str, partition: int, rows: list[Any], at_end: bool, max_records: int | None,
                max_bytes: int | None, max_value_bytes: int | None) -> Iterator[Record]:
        left = max_records
        budget = max_bytes
        stop_at: int | None = None
        while True:
            yield from map(_to_record, rows)
            if left is not None:
                left -= len(rows)
            if budget is not None:
                budget -= sum(len(row[2]) + len(row[1] or b"") for row in rows)
            if at_end or not rows or (left is not None and left <= 0) or (budget is not None and budget <= 0):
                return
            offset = rows[-1][0] + 1
            if stop_at is None:  # a long read: stop where the partition ends now, however it grows
                stop_at = self.end_offset(topic, partition)
            if offset >= stop_at:
                return
            chunk = READ_BYTES if budget is None else min(READ_BYTES, budget)
            rows, at_end = self._read(topic, partition, offset, READ_CHUNK if left is None else min(READ_CHUNK, left),
                                      chunk, max_value_bytes)

    def _follow(self, topic: str, partition: int, offset: int, rows: list[Any], at_end: bool,
                poll_interval: float, timeout: float | None, max_records: int | None) -> Iterator[Record]:
        left = max_records
        idle_since = time.monotonic()
        while left is None or left > 0:
            if rows:
                yield from map(_to_record, rows)
                offset = rows[-1][0] + 1
                idle_since = time.monotonic()
                if left is not None:
                    left -= len(rows)
                    if left <= 0:
                        return
            if not rows or at_end:
                idle = time.monotonic() - idle_since
                if timeout is not None and idle >= timeout:
                    return
                pause = poll_interval if timeout is None else min(poll_interval, timeout - idle)
                time.sleep(max(0.0, pause))  # poll interval between reads at the end of the log
            limit = READ_CHUNK if left is None else min(READ_CHUNK, left)
            rows, at_end = self._read(topic, partition, offset, limit)


    # -- named consumers (topics/consumers.py; fluvio_client/offsets.py: how they are stored) -------

    def consumer_position(self, consumer: str, topic: str, partition: int = 0) -> int | None:
        """The offset ``consumer`` reads next: the stored offset + 1, 0 for a start marker, None
        when it has none. Where offsets just below a committed position have no readable record,
        this is below the position committed, with the same records left to read."""
        self._check_consumer(consumer, topic, partition)
        position = self.request(f"reading the position of consumer {consumer} on {topic}", "consumer_position",
                              consumer, topic, partition, topic=topic, partition=partition)
        return None if position is None else int(position)

    def commit(self, consumer: str, topic: str, position: int, partition: int = 0) -> None:
        """Store ``position`` as the cluster's consumer offset ``position - 1`` (the last record
        handled), or as a start marker when no readable record is below it; durable when it
        returns (the SPU confirmed it)."""
        self._check_consumer(consumer, topic, partition)
        _check_offset(position)
        self.request(f"committing the position of consumer {consumer} on {topic}", "consumer_commit",
                   consumer, topic, partition, position, topic=topic, partition=partition)

    def list_consumers(self, topic: str | None = None) -> list[ConsumerPosition]:
        """Every consumer offset of the cluster (of ``topic`` only, when given) and the project's
        start markers, by consumer, topic, partition; ``updated_at`` has whole seconds."""
        if topic is not None:
            validate_topic_name(topic)
        rows = self.request("listing consumers", "consumer_list", topic)
        return [ConsumerPosition(c, t, int(p), int(o), float(u)) for c, t, p, o, u in rows]

    def delete_consumer(self, consumer: str, topic: str | None = None) -> int:
        validate_consumer_name(consumer)
        if topic is not None:
            validate_topic_name(topic)
        deleted = int(self.request(f"deleting consumer {consumer}", "consumer_delete", consumer, topic))
        if not deleted:
            raise ConsumerNotFoundError(consumer, topic)
        return deleted

    @staticmethod
    def _check_consumer(consumer: str, topic: str, partition: int) -> None:
        validate_consumer_name(consumer)
        validate_topic_name(topic)
        _check_partition(partition)


def _to_record(row: tuple[int, bytes | None, bytes, float, int | None]) -> Record:
    return Record(*row)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_offset(offset: int) -> None:
    if not _is_int(offset) or offset < 0:
        raise ConfigError(f"offset must be a non-negative integer, got {offset!r}")


def _check_partition(partition: int) -> None:
    if not _is_int(partition) or partition < 0:
        raise ConfigError(f"partition must be a non-negative integer, got {partition!r}")


__all__ = ["FluvioProducer", "FluvioTopics"]
