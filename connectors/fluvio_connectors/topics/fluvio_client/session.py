"""What the helper process holds (the connections, the open producers) and every call into the
``fluvio`` client: one ``Session.op_*`` method a request, answered by ``serve``. Built with the
``fluvio`` module, so a test can give it another implementation of the client's API.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

from fluvio_connectors.topics.fluvio_client.errors import (
    EXISTS,
    FAILED,
    INVALID,
    NO_PARTITION,
    NOT_FOUND,
    REFUSED,
    ClientError,
    client_error,
    first_line,
    kind_of,
)
from fluvio_connectors.topics.fluvio_client.offsets import ConsumerOffsets
from fluvio_connectors.topics.fluvio_client.process import HEADER, decode, frame
from fluvio_connectors.topics.fluvio_client.producing import ClientProducer, producer_config

# The fetch size of reads: the client skips the rest of a batch cut by a fetch boundary (records
# it never returns although they are stored); reads restart at such a gap, and a large fetch
# makes gaps rare.
READ_MAX_BYTES = 17 * 1024 * 1024  # and more than the largest record producing.py sends, or it is never read
# A read's reply ends after this many bytes of values (and at its record limit).
READ_REPLY_BYTES = 8 * 1024 * 1024
_NO_KEYS = (b"", b"No key")  # how the client returns a record without a key, and what it writes for one


# The connections each request needs, made first within ``connect_timeout``.
NEEDS: dict[str, tuple[str, ...]] = {
    "create_topic": ("admin",),
    "delete_topic": ("admin", "client"),
    "topic_names": ("admin",),
    "producer_open": ("admin", "client"),
    "read": ("admin", "client"),
    "last_offset": ("admin", "client"),
    "identity": ("admin", "client"),
    "consumer_position": ("admin", "client"),
    "consumer_commit": ("admin", "client"),
    "consumer_list": ("admin", "client"),
    "consumer_delete": ("admin", "client"),
}


class Session(ConsumerOffsets):
    """What the helper process holds: the connections and the open producers.

    Each ``op_*`` method is one request. Built with the ``fluvio`` module, so a test can give it
    another implementation of the client's API.
    """

    def __init__(self, client_module: Any, endpoint: str | None) -> None:
        self.fluvio = client_module
        self.endpoint = endpoint
        self.admin: Any = None
        self.client: Any = None
        self.producers: dict[int, ClientProducer] = {}
        self._next_id = 0

    def handle(self, op: str, args: tuple[Any, ...]) -> Any:
        method = getattr(self, f"op_{op}", None)
        if method is None:
            raise ClientError(FAILED, f"unknown request {op!r}")
        try:
            return method(*args)
        except Exception as exc:
            raise client_error(exc) from None

    def _config(self) -> Any:
        return self.fluvio.FluvioConfig.new(self.endpoint)

    def op_connect_admin(self) -> None:
        cls = self.fluvio.FluvioAdmin
        self.admin = cls.connect() if self.endpoint is None else cls.connect_with_config(self._config())

    def op_connect_client(self) -> None:
        cls = self.fluvio.Fluvio
        self.client = cls.connect() if self.endpoint is None else cls.connect_with_config(self._config())

    # -- admin

    def op_create_topic(self, name: str, partitions: int, retention: dict[str, int | None] | None = None) -> None:
        spec = self.fluvio.TopicSpec.create().with_partitions(partitions)
        for key, setter in (("retention_time", "with_retention_time"), ("segment_size", "with_segment_size"),
                            ("max_partition_size", "with_max_partition_size")):
            value = (retention or {}).get(key)
            if value is not None:  # seconds or bytes, as TopicSpec takes them
                spec = getattr(spec, setter)(int(value))
        self.admin.create_topic(name, spec.build())

    def op_delete_topic(self, name: str) -> None:
        self.admin.delete_topic(name)
        with contextlib.suppress(Exception):  # a marker left behind only means position 0
            self.forget_markers(name)

    def op_topic_names(self, names: list[str] | None) -> list[str]:
        found = self.admin.all_topics() if names is None else self.admin.list_topics(names)
        return [spec.name() for spec in found]

    def _require_topic(self, topic: str) -> None:
        if not any(spec.name() == topic for spec in self.admin.list_topics([topic])):
            raise ClientError(NOT_FOUND, f"Topic not found: {topic}")

    # -- producing

    def op_producer_open(self, topic: str, batch_bytes: int | None = None, compression: str = "none") -> int:
        self._require_topic(topic)
        one_partition = self._partitions_above_zero(topic) == 0
        config = producer_config(self.fluvio, one_partition=one_partition, batch_bytes=batch_bytes,
                                 compression=compression)
        producer = self.client.topic_producer_with_config(topic, config)
        self._next_id += 1
        self.producers[self._next_id] = ClientProducer(producer, getattr(self.fluvio, "_ProducerBatchRecord", None),
                                                       one_partition=one_partition)
        return self._next_id

    def _partitions_above_zero(self, topic: str) -> int:
        """How many partitions ``topic`` has besides partition 0, from the list of the cluster's
        partitions (named TOPIC-N; fluvio 0.21 lists them all whatever filter it is given)."""
        prefix = f"{topic}-"
        numbers = (name[len(prefix):] for name in (p.name() for p in self.admin.list_partitions([]))
                   if name.startswith(prefix))
        return sum(1 for n in numbers if n.isdigit() and int(n) > 0)

    def op_produce(self, producer_id: int, keys: list[bytes] | None, values: list[bytes], ends: list[int]) -> None:
        state = self.producers.get(producer_id)
        if state is not None:  # else the next flush reports the unknown producer
            state.send(keys, values, ends)

    def op_producer_flush(self, producer_id: int) -> None:
        state = self.producers.get(producer_id)
        if state is None:
            raise ClientError(FAILED, "the producer is gone (it failed, or the client process was restarted)")
        error = state.flush()
        if error is not None:
            # The caller sends the unconfirmed records again on a new producer (the client keeps
            # the error of a failed send in this one for good).
            del self.producers[producer_id]
            raise client_error(error)

    def op_producer_close(self, producer_id: int) -> None:
        try:
            self.op_producer_flush(producer_id)
        finally:
            self.producers.pop(producer_id, None)

    # -- reading

    def _stream(self, topic: str, partition: int, start: Any) -> Any:
        builder = self.fluvio.ConsumerConfigExtBuilder(topic)
        builder.partition(partition)
        builder.offset_start(start)
        builder.disable_continuous(True)
        builder.max_bytes(READ_MAX_BYTES)
        return self.client.consumer_with_config(builder.build())

    def op_read(self, topic: str, partition: int, offset: int, limit: int, max_bytes: int = READ_REPLY_BYTES,
                max_value_bytes: int | None = None) -> tuple[list[Any], bool]:
        """Up to ``limit`` records (and about ``max_bytes`` of keys and values) from ``offset`` to
        the partition's end as it is now, and whether the end was reached. Records come as
        ``(offset, key, value, timestamp, value_size)``: the key ``None`` for the client's ``No
        key`` marker (a record without one) and for an empty key (what it writes for none); the
        timestamp in seconds (0.0 for none); a value longer than ``max_value_bytes`` left out
        (``b""``, and ``value_size`` its length; else None). The client hands a value over as a
        list of ints whatever is done with it: one record's list at a time.

        The client's stream can skip records where a fetch cut a batch (they are stored, and a new
        stream from there returns them). So a jump in the offsets ends the stream and a new one
        starts where the jump began; a jump at a stream's first record is a real gap. A stream also
        ends, before the partition does, at a batch too large for what is left of its fetch (a
        large record after smaller ones): only a new stream that returns nothing is the end."""
        records: list[Any] = []
        size = 0
        while True:
            first = True
            for item in _items(self._stream(topic, partition, self.fluvio.Offset.absolute(offset))):
                at = item.offset()
                if at < offset:
                    continue
                if at != offset and not first:
                    break  # skipped records: read again from ``offset``
                first = False
                raw = item.value()
                left_out = max_value_bytes is not None and len(raw) > max_value_bytes
                value, value_size = (b"", len(raw)) if left_out else (bytes(raw), None)
                del raw
                key = bytes(item.key())
                stamp = item.timestamp()
                records.append((at, None if key in _NO_KEYS else key, value, stamp / 1000.0 if stamp >= 0 else 0.0,
                                value_size))
                offset = at + 1
                size += len(value) + len(key)
                if len(records) >= limit or size >= min(max_bytes, READ_REPLY_BYTES):
                    return records, False
            else:
                if first:  # a stream of nothing: the end
                    return records, True

    def op_identity(self, topic: str, partition: int) -> tuple[int, int] | None:
        """``(offset, timestamp)`` of the partition's first readable record (None: it has none);
        the value is never touched."""
        for item in _items(self._stream(topic, partition, self.fluvio.Offset.beginning())):
            return int(item.offset()), int(item.timestamp())
        return None

    def op_last_offset(self, topic: str, partition: int) -> int | None:
        """The offset of the last record (``None`` if there is none), looking further back while
        the last offsets hold no readable record."""
        back = 1
        while True:
            last = None
            for item in _items(self._stream(topic, partition, self.fluvio.Offset.from_end(back))):
                last = item.offset()
            if last is not None:
                return int(last)
            if next(iter(self._stream(topic, partition, self.fluvio.Offset.beginning())), None) is None:
                return None
            back *= 16  # records exist, none in the last ``back`` offsets


def _items(stream: Any) -> Iterator[Any]:
    """The records of a consumer stream, from the client's native stream when it is exposed
    (``ConsumerIterator.stream``; its records answer the same calls, without a wrapper each)."""
    native = getattr(stream, "stream", None)
    if native is None or not hasattr(native, "next"):
        yield from stream
        return
    while (item := native.next()) is not None:
        yield item


def serve(sock: socket.socket, session: Session) -> None:
    """Answer requests until the caller closes the socket."""
    reader = sock.makefile("rb")
    while True:
        header = reader.read(HEADER.size)
        if len(header) < HEADER.size:
            return
        (size,) = HEADER.unpack(header)
        op, args, reply = decode(reader.read(size))
        try:
            answer: tuple[Any, ...] = ("ok", session.handle(op, args))
        except ClientError as exc:
            answer = ("error", exc.kind, str(exc))
        except BaseException as exc:  # a Rust panic arrives as a BaseException
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            message = first_line(exc)
            answer = ("error", kind_of(message), message)
        if reply:
            sock.sendall(frame(answer))


__all__ = ["EXISTS", "FAILED", "INVALID", "NEEDS", "NOT_FOUND", "NO_PARTITION", "REFUSED", "ClientError", "Session",
           "first_line", "kind_of", "serve"]
