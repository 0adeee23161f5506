"""The hook's topic operations: topics, records and named consumers over one topics backend.

Each operation opens the backend the settings name and closes it when done, unless a ``hold()`` is
open: then every operation shares the one backend it opened (on a Fluvio cluster, one client
process instead of one per call), closed when the hold ends. No Airflow: ``FluvioHook`` delegates
its topic methods here and reports their lineage itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from fluvio_connectors.errors import ConfigError, TopicNotFoundError

if TYPE_CHECKING:
    from fluvio_connectors.settings import Settings
    from fluvio_connectors.topics import Record, Topics
    from fluvio_connectors.topics.retention import Retention


class TopicSession:
    """Topic operations where ``settings()`` keeps topics (read on first use)."""

    def __init__(self, settings: Callable[[], Settings]) -> None:
        self._settings = settings
        self._held: _Lazy | None = None

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Every operation inside shares one backend (opened on first use), closed on exit; a hold
        inside a hold is the outer one."""
        if self._held is not None:
            yield
            return
        opened: list[Topics] = []
        self._held = _Lazy(self._open, opened)
        try:
            yield
        finally:
            self._held = None
            for backend in opened:
                backend.close()

    @contextmanager
    def backend(self) -> Iterator[Topics]:
        """The topics backend: the held one, else one opened now and closed on exit."""
        if self._held is not None:
            yield self._held.get()
            return
        backend = self._open()
        try:
            yield backend
        finally:
            backend.close()

    def _open(self) -> Topics:
        from fluvio_connectors.topics import open_topics

        return open_topics(self._settings())

    def create_topic(self, name: str, partitions: int = 1, retention: Retention | None = None) -> bool:
        with self.backend() as topics:
            return topics.create_topic(name, partitions, retention)

    def delete_topic(self, name: str) -> None:
        with self.backend() as topics:
            topics.delete_topic(name)

    def list_topics(self) -> list[str]:
        with self.backend() as topics:
            return topics.list_topics()

    def topic_exists(self, name: str) -> bool:
        with self.backend() as topics:
            return topics.topic_exists(name)

    def produce(self, topic: str, records: Iterable[Any], *, create_topic: bool = False) -> int:
        """Store ``records`` (see ``as_pair``), flushed on return; how many."""
        batch = [as_pair(record, number) for number, record in enumerate(records, 1)]
        with self.backend() as topics:
            if create_topic:
                topics.create_topic(topic)
            producer = topics.producer(topic)
            try:
                producer.send_many(batch)
                producer.flush()
            finally:
                producer.close()
        return len(batch)

    def read_records(self, topic: str, offset: int = 0, max_records: int | None = None,
                     max_bytes: int | None = None) -> list[Record]:
        with self.backend() as topics:
            return topics.read(topic, offset, max_records=max_records, max_bytes=max_bytes)

    def end_offset(self, topic: str) -> int:
        with self.backend() as topics:
            return topics.end_offset(topic)

    def wait_for_records(self, topic: str, count: int, *, offset: int = 0, timeout: float = 60.0,
                         poll_interval: float = 0.2, max_bytes: int | None = None) -> list[Record]:
        """The first ``count`` records from ``offset``, waiting up to ``timeout`` seconds for them
        (also for the topic to appear). Fewer when the timeout passes, or once their keys and values
        reach ``max_bytes``."""
        deadline = time.monotonic() + max(0.0, timeout)
        records: list[Record] = []
        missing: TopicNotFoundError | None = None
        with self.backend() as topics:
            while True:
                try:
                    # Offsets need not be consecutive: go on after the last record, count records.
                    start = records[-1].offset + 1 if records else offset
                    records += topics.read(topic, start, max_records=count - len(records), max_bytes=max_bytes)
                    missing = None
                except TopicNotFoundError as exc:
                    missing = exc
                if len(records) >= count or time.monotonic() >= deadline:
                    break
                if max_bytes is not None and sum(len(r.value) + len(r.key or b"") for r in records) >= max_bytes:
                    break
                time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))
        if missing is not None:
            raise missing
        return records

    def consumer_position(self, topic: str, consumer: str) -> int | None:
        with self.backend() as topics:
            return topics.consumer_position(consumer, topic)

    def commit_consumer(self, topic: str, consumer: str, position: int) -> None:
        with self.backend() as topics:
            topics.commit(consumer, topic, position)


class _Lazy:
    """A backend opened on first ``get()``, noted in ``opened`` for whoever closes it."""

    def __init__(self, open_backend: Callable[[], Topics], opened: list[Topics]) -> None:
        self._open = open_backend
        self._opened = opened

    def get(self) -> Topics:
        if not self._opened:
            self._opened.append(self._open())
        return self._opened[0]


def as_pair(record: Any, number: int = 1) -> tuple[bytes | None, bytes]:
    """A value, a ``(key, value)`` pair or ``{"key": ..., "value": ...}``; other objects as JSON.
    ``number``: the record's place, for the message when it is not JSON."""
    key: Any = None
    if isinstance(record, tuple) and len(record) == 2:
        key, record = record
    elif isinstance(record, dict) and set(record) <= {"key", "value"} and "value" in record:
        key, record = record.get("key"), record["value"]
    return (None if key is None else as_bytes(key, number)), as_bytes(record, number)


def as_bytes(value: Any, number: int = 1) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    try:  # strict JSON: NaN and Infinity would be stored as text no JSON reader accepts
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except ValueError:
        raise ConfigError(f"record {number}: NaN and Infinity are not JSON; expected finite numbers "
                          "(or give the value as a string)") from None
    except TypeError as exc:
        raise ConfigError(f"record {number}: {exc}; expected str, bytes or a JSON value") from None


__all__ = ["TopicSession", "as_bytes", "as_pair"]
