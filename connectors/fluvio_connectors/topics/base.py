"""The topics port: ``Record``, the ``Producer`` and ``Topics`` protocols both backends implement,
and the seed's topic rule. ``fluvio_connectors.topics`` re-exports them with ``open_topics``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from fluvio_connectors.errors import ConfigError, TopicMissingError
from fluvio_connectors.topics.consumers import ConsumerPosition
from fluvio_connectors.topics.retention import Retention

# What one read returns at most in keys and values, besides its record limit (always at least one
# record): a reader of 25 MB records holds one of them at a time, never a batch of them.
READ_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Record:
    offset: int
    key: bytes | None
    value: bytes
    timestamp: float  # seconds since the epoch (when the record was stored)
    # Set when the reader asked for values of at most some size (``max_value_bytes``) and this one
    # is larger: ``value`` is then empty and this is its size. None: ``value`` is the whole value.
    value_size: int | None = None

    @property
    def size(self) -> int:
        """The value's size, read or not."""
        return len(self.value) if self.value_size is None else self.value_size

    def value_text(self) -> str:
        return self.value.decode("utf-8", errors="replace")

    def key_text(self) -> str | None:
        return None if self.key is None else self.key.decode("utf-8", errors="replace")


class TopicInfo(NamedTuple):
    """A topic as ``topic list`` shows it; None where the backend cannot tell (the Fluvio client
    gives only names)."""

    name: str
    partitions: int | None = None
    records: int | None = None
    size_bytes: int | None = None  # keys and values
    retention: Retention | None = None

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "partitions": self.partitions, "records": self.records,
                "size_bytes": self.size_bytes, **(self.retention or Retention()).to_dict()}


@runtime_checkable
class Producer(Protocol):
    def send(self, key: bytes | None, value: bytes) -> None:
        """Queue one record; it is stored at the latest by ``flush()``."""

    def send_many(self, records: Iterable[tuple[bytes | None, bytes]]) -> None:
        """Queue several records, in order (none when one is larger than ``max_record_bytes``:
        ``RecordTooLargeError``)."""

    @property
    def max_record_bytes(self) -> int:
        """The largest key and value together the backend stores in one record."""

    def flush(self) -> None:
        """Store everything queued; when it returns, the records are durable and readable."""

    def close(self) -> None:
        """Flush and release resources."""


@runtime_checkable
class Topics(Protocol):
    def create_topic(self, name: str, partitions: int = 1, retention: Retention | None = None) -> bool:
        """Create ``name`` keeping records as ``retention`` says (``topics.retention``); returns
        False (no error, retention unchanged) if it already exists."""

    def delete_topic(self, name: str) -> int | None:
        """Delete ``name`` and its records (how many, where the backend tells);
        ``TopicNotFoundError`` if it does not exist."""

    def topic_infos(self) -> list[TopicInfo]:
        """Every topic, sorted by name, with what the backend knows of it."""

    def topic_exists(self, name: str) -> bool: ...

    def list_topics(self) -> list[str]: ...

    def producer(self, topic: str, *, linger_ms: float = 0.0, batch_size: int = 500, batch_bytes: int | None = None,
                 compression: str = "none") -> Producer:
        """A producer for an existing topic (``TopicNotFoundError`` otherwise). A batch holds at
        most ``batch_size`` records and ``batch_bytes`` bytes of keys and values (the config's
        ``producer.batch-size``); ``compression`` (``producer.compression``) needs a backend that
        compresses (``ConfigError`` otherwise)."""

    def read(
        self, topic: str, offset: int = 0, *, partition: int = 0, max_records: int | None = None,
        max_bytes: int | None = None, max_value_bytes: int | None = None,
    ) -> list[Record]:
        """Records from ``offset`` up to the current end: at most ``max_records``, and no more once
        their keys and values add up to ``max_bytes`` (at least one record). A value longer than
        ``max_value_bytes`` is left out (``Record.value_size``), so it is never held here."""

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
        """Records from ``offset``; with ``follow`` waits for new ones (until ``timeout`` s idle).
        Read in chunks of at most ``READ_BYTES`` (or one record)."""

    def topic_identity(self, topic: str, partition: int = 0) -> TopicIdentity | None:
        """Which topic of that name this is (None while its partition has no record to tell):
        a reader compares it on every read to notice the topic was deleted and created again."""

    def end_offset(self, topic: str, partition: int = 0) -> int:
        """One past the last record's offset: where new records start. Not a count of records:
        on a Fluvio partition offsets need not be consecutive (the embedded log's are)."""

    # Named consumers (see topics/consumers.py).

    def consumer_position(self, consumer: str, topic: str, partition: int = 0) -> int | None:
        """``consumer``'s committed position on the partition (the offset it reads next), or None
        when it never committed there. ``TopicNotFoundError`` if the topic does not exist."""

    def commit(self, consumer: str, topic: str, position: int, partition: int = 0) -> None:
        """Make ``position`` ``consumer``'s position: every record below it is handled. Durable
        when it returns. ``position`` is ``record.offset + 1`` of the last record handled, or a value
        from ``consumer_position``/``end_offset`` (at most ``end_offset``; it may move back)."""

    def list_consumers(self, topic: str | None = None) -> list[ConsumerPosition]:
        """Every committed position (of ``topic`` only, when given), by consumer, topic, partition."""

    def delete_consumer(self, consumer: str, topic: str | None = None) -> int:
        """Forget ``consumer``'s positions (on ``topic`` only, when given); returns how many.
        ``ConsumerNotFoundError`` when there were none."""

    def close(self) -> None: ...


def uncompressed_log(compression: str) -> ConfigError:
    """Why ``producer.compression`` cannot apply where topics live in the embedded log."""
    return ConfigError(
        f"producer.compression {compression}: the embedded log stores records uncompressed; compression "
        "applies to a Fluvio cluster (FLUVIO_ENDPOINT, or the fluvio connection's host): remove it, or use one"
    )


@dataclass(frozen=True)
class TopicIdentity:
    """What tells one topic of a name from another made after it was deleted: the offset of its
    first readable record and a marker of that record (the embedded log: the topic's id; Fluvio,
    whose client shows no topic id: the first record's time). Records below ``first`` may go
    (retention): then ``first`` grows. A new topic starts again at offset 0."""

    first: int
    marker: str

    def replaced_by(self, now: TopicIdentity | None) -> bool:
        """Whether ``now`` (a later look at the same name) is another topic than this one."""
        if now is None:  # nothing to tell yet (an empty log is looked at by its end)
            return False
        return now.first < self.first or (now.first == self.first and now.marker != self.marker)


def apply_topic_rule(topics: Topics, topic: str, create_topic: bool) -> bool:
    """The seed's rule: ``create_topic`` creates a missing topic (an existing one is fine);
    without it a missing topic is an error. Returns True if the topic was created."""
    if create_topic:
        return topics.create_topic(topic)
    if not topics.topic_exists(topic):
        raise TopicMissingError(topic)
    return False


__all__ = ["READ_BYTES", "ConsumerPosition", "Producer", "Record", "TopicIdentity", "Topics", "apply_topic_rule",
           "uncompressed_log"]
