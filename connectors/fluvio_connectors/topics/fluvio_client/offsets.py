"""Named consumers on a Fluvio cluster, in the helper process: the cluster's own consumer offsets.

What the client and the cluster do (fluvio 0.21.0 client, Fluvio 0.18.2 SC and SPU; measured, and
kept true by ``tests/topics/test_fluvio_offsets.py`` against the real cluster):

- a stream built with ``offset_consumer(NAME)`` and ``offset_strategy(MANUAL)`` commits with
  ``offset_commit()`` the offset *of the last record that stream yielded* (after reading offsets 0,
  1 and 2 it stores 2), and nothing (no error) when it has yielded none; the commit stays in the
  client until ``offset_flush()``, which returns once the SPU stored it: from then on every client
  sees it (``Fluvio.consumer_offsets()``: consumer, topic, partition, that offset, and
  ``modified_time`` in seconds since the epoch). A stream dropped without a flush stores nothing;
- a new stream of the same consumer started at ``Offset.beginning()`` or ``Offset.end()`` starts
  at the stored offset + 1 (``fluvio consume --consumer NAME`` too); ``Offset.absolute(n)`` starts
  at ``n`` whatever is stored, so the project's reads (always absolute) never depend on it;
- a commit may move a consumer back; ``delete_consumer_offset`` of an unknown consumer is no error;
  deleting a topic deletes its consumers' offsets.

So the port's position P (the offset a consumer reads next) is stored as P - 1, the offset of the
last record handled, exactly as Fluvio's own consumers store it: the project and ``fluvio consume
--consumer`` resume each other. A commit of P opens a stream of the consumer at the last readable
record below P, checks that this is the record it yields, commits and flushes. When P - 1 has no
readable record (offsets need not be consecutive) that is the last readable record before it, so
``consumer_position`` then reports a lower P with the same records left to read.

A position with *no* readable record below it (0, or anything on an empty partition) cannot be an
offset of the cluster: there is no record to commit. The project keeps it as a *start marker*: a
consumer offset under the name ``CONSUMER/TOPIC/PARTITION`` on its own topic ``MARKER_TOPIC`` (one
partition, one record, created on first need). A marker means position 0; an offset of the
consumer beats a marker. A commit writes the new one before it removes the other, so a commit cut
short leaves the old position or the new one, never none.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fluvio_connectors.topics.fluvio_client.errors import (
    EXISTS,
    FAILED,
    NO_PARTITION,
    NOT_FOUND,
    REFUSED,
    ClientError,
    first_line,
    kind_of,
)

MARKER_TOPIC = "fluvio-connectors-consumers"
MARKER_VALUE = b"start markers of named consumers (fluvio-connectors); do not delete while they are in use"
_MARKER_SEPARATOR = "/"  # in neither a consumer name nor a topic name
_NEW_TOPIC_WAIT_S = 10.0  # a topic just created may refuse reads for a moment


class ConsumerOffsets:
    """The named-consumer requests of the helper's ``Session`` (mixed into it)."""

    fluvio: Any
    client: Any
    admin: Any

    # Provided by Session.
    def _stream(self, topic: str, partition: int, start: Any) -> Any:
        raise NotImplementedError

    def _require_topic(self, topic: str) -> None:
        raise NotImplementedError

    def op_last_offset(self, topic: str, partition: int) -> int | None:
        raise NotImplementedError

    # -- requests

    def op_consumer_position(self, consumer: str, topic: str, partition: int) -> int | None:
        """The position ``consumer`` reads next (stored offset + 1; 0 for a marker), or None."""
        self._require_topic(topic)
        self._end(topic, partition)  # a missing partition is an error, as on the embedded log
        entries = self._entries()
        for entry in entries:
            if (entry[0], entry[1], entry[2]) == (consumer, topic, partition):
                return entry[3] + 1
        marker = _marker_id(consumer, topic, partition)
        return 0 if any(e[0] == marker and e[1] == MARKER_TOPIC for e in entries) else None

    def op_consumer_commit(self, consumer: str, topic: str, partition: int, position: int) -> None:
        """Make ``position`` the consumer's position (see the module docstring for how)."""
        self._require_topic(topic)
        if position > 0 and self._commit_at(consumer, topic, partition, position - 1):
            self._delete_marker(consumer, topic, partition)
            return
        end = self._end(topic, partition)
        if position > end:
            raise ClientError(REFUSED, f"cannot commit position {position} for consumer {consumer}: topic {topic} "
                                       f"partition {partition} ends at offset {end}")
        below = self._last_below(topic, partition, position)
        if below is None:
            self._set_marker(consumer, topic, partition)
            self._delete_offset(consumer, topic, partition)
            return
        if not self._commit_at(consumer, topic, partition, below):
            raise ClientError(FAILED, f"offset {below} of topic {topic} partition {partition} could not be read again")
        self._delete_marker(consumer, topic, partition)

    def op_consumer_list(self, topic: str | None) -> list[tuple[str, str, int, int, float]]:
        """Every position as ``(consumer, topic, partition, position, modified_time)``."""
        entries = self._entries()
        found: dict[tuple[str, str, int], tuple[int, float]] = {}
        markers: list[tuple[tuple[str, str, int], float]] = []
        for consumer, entry_topic, partition, offset, modified in entries:
            if entry_topic != MARKER_TOPIC:
                found[(consumer, entry_topic, partition)] = (offset + 1, modified)
            elif (key := _parse_marker(consumer)) is not None:
                markers.append((key, modified))
        if markers:
            existing = {spec.name() for spec in self.admin.all_topics()}
            for key, modified in markers:
                if key not in found and key[1] in existing:
                    found[key] = (0, modified)
        return sorted((c, t, p, position, modified) for (c, t, p), (position, modified) in found.items()
                      if topic is None or t == topic)

    def op_consumer_delete(self, consumer: str, topic: str | None) -> int:
        """Delete ``consumer``'s positions (on ``topic`` only, when given); returns how many."""
        deleted: set[tuple[str, int]] = set()
        for entry_consumer, entry_topic, partition, _offset, _modified in self._entries():
            if entry_topic == MARKER_TOPIC:
                key = _parse_marker(entry_consumer)
                if key is None or key[0] != consumer or (topic is not None and key[1] != topic):
                    continue
                self.client.delete_consumer_offset(entry_consumer, MARKER_TOPIC, 0)
                deleted.add((key[1], key[2]))
            elif entry_consumer == consumer and (topic is None or entry_topic == topic):
                self.client.delete_consumer_offset(consumer, entry_topic, partition)
                deleted.add((entry_topic, partition))
        return len(deleted)

    def forget_markers(self, topic: str) -> None:
        """Delete the start markers of ``topic`` (it was deleted: its offsets went with it)."""
        for consumer, entry_topic, _partition, _offset, _modified in self._entries():
            key = _parse_marker(consumer) if entry_topic == MARKER_TOPIC else None
            if key is not None and key[1] == topic:
                self.client.delete_consumer_offset(consumer, MARKER_TOPIC, 0)

    # -- the cluster's consumer offsets

    def _entries(self) -> list[tuple[str, str, int, int, float]]:
        return [(str(_field(o, "consumer_id")), str(_field(o, "topic")), int(_field(o, "partition")),
                 int(_field(o, "offset")), float(_field(o, "modified_time")))
                for o in self.client.consumer_offsets()]

    def _consumer_stream(self, consumer: str, topic: str, partition: int, offset: int) -> Any:
        builder = self.fluvio.ConsumerConfigExtBuilder(topic)
        builder.partition(partition)
        builder.offset_start(self.fluvio.Offset.absolute(offset))
        builder.offset_consumer(consumer)
        builder.offset_strategy(self.fluvio.OffsetManagementStrategy.MANUAL)
        builder.disable_continuous(True)
        return self.client.consumer_with_config(builder.build())

    def _commit_at(self, consumer: str, topic: str, partition: int, offset: int) -> bool:
        """Commit ``offset`` for ``consumer`` if it is a readable record; False if it is not."""
        stream = self._consumer_stream(consumer, topic, partition, offset)
        first = next(iter(stream), None)
        if first is None or first.offset() != offset:
            return False
        stream.offset_commit()
        stream.offset_flush()
        return True

    def _delete_offset(self, consumer: str, topic: str, partition: int) -> None:
        if any(e[:3] == (consumer, topic, partition) for e in self._entries()):
            self.client.delete_consumer_offset(consumer, topic, partition)

    def _end(self, topic: str, partition: int) -> int:
        last = self.op_last_offset(topic, partition)
        return 0 if last is None else last + 1

    def _last_below(self, topic: str, partition: int, position: int) -> int | None:
        """The offset of the last readable record below ``position``, or None (looking further
        back while the offsets just below hold no readable record)."""
        back = 1
        while position > 0:
            start = max(0, position - back)
            last = None
            for at in _offsets(self._stream(topic, partition, self.fluvio.Offset.absolute(start))):
                if at >= position:
                    break
                last = at
            if last is not None:
                return last
            if start == 0:
                return None
            back *= 16
        return None

    # -- start markers

    def _set_marker(self, consumer: str, topic: str, partition: int) -> None:
        marker = _marker_id(consumer, topic, partition)
        if any(e[0] == marker and e[1] == MARKER_TOPIC for e in self._entries()):
            return
        first = self._marker_record()
        if not self._commit_at(marker, MARKER_TOPIC, 0, first):
            raise ClientError(FAILED, f"the start marker of consumer {consumer} could not be stored in {MARKER_TOPIC}")

    def _delete_marker(self, consumer: str, topic: str, partition: int) -> None:
        marker = _marker_id(consumer, topic, partition)
        if any(e[0] == marker and e[1] == MARKER_TOPIC for e in self._entries()):
            self.client.delete_consumer_offset(marker, MARKER_TOPIC, 0)

    def _marker_record(self) -> int:
        """The offset of the first record of ``MARKER_TOPIC``, creating the topic and its record
        when they are missing (a topic just created may refuse reads for a moment)."""
        try:
            self.admin.create_topic(MARKER_TOPIC, self.fluvio.TopicSpec.create().with_partitions(1).build())
        except Exception as exc:
            if kind_of(first_line(exc)) != EXISTS:
                raise
        deadline = time.monotonic() + _NEW_TOPIC_WAIT_S
        produced = False
        while True:
            try:
                first = next(_offsets(self._stream(MARKER_TOPIC, 0, self.fluvio.Offset.beginning())), None)
                if first is None and not produced:
                    producer = self.client.topic_producer(MARKER_TOPIC)
                    producer.send(b"", MARKER_VALUE)
                    producer.flush()
                    produced = True
                    continue
                if first is not None:
                    return first
            except Exception as exc:
                if kind_of(first_line(exc)) not in (NOT_FOUND, NO_PARTITION):
                    raise
            if time.monotonic() > deadline:
                raise ClientError(FAILED, f"topic {MARKER_TOPIC} did not become readable within {_NEW_TOPIC_WAIT_S:g} s")
            time.sleep(0.1)  # a topic just created: its partition comes up within a moment


def _marker_id(consumer: str, topic: str, partition: int) -> str:
    return _MARKER_SEPARATOR.join((consumer, topic, str(partition)))


def _parse_marker(name: str) -> tuple[str, str, int] | None:
    parts = name.split(_MARKER_SEPARATOR)
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2])


def _field(entry: Any, name: str) -> Any:
    """A ``ConsumerOffset`` field: an attribute of the native object, a method of the wrapper."""
    value = getattr(entry, name)
    return value() if callable(value) else value


def _offsets(stream: Any) -> Iterator[int]:
    for item in stream:
        yield int(item.offset())


__all__ = ["MARKER_TOPIC", "ConsumerOffsets"]
