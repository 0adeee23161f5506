"""What the helper process holds (the connections, the open producers) and every call into the
``fluvio`` client: one ``Session.op_*`` method a request, answered by ``serve``. Built with the
``fluvio`` module, so a test can give it another implementation of the client's API.
"""

from __future__ import annotations

import contextlib
import pickle
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
from fluvio_connectors.topics.fluvio_client.process import HEADER

# The fetch size of reads: the client skips the rest of a batch cut by a fetch boundary (records
# it never returns although they are stored); reads restart at such a gap, and a large fetch
# makes gaps rare.
READ_MAX_BYTES = 16 * 1024 * 1024
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
        self.producers: dict[int, _ProducerState] = {}
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

    def op_create_topic(self, name: str, partitions: int) -> None:
        spec = self.fluvio.TopicSpec.create().with_partitions(partitions).build()
        self.admin.create_topic(name, spec)

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

    def op_producer_open(self, topic: str, linger_ms: float) -> int:
        self._require_topic(topic)
        if linger_ms > 0:
            config = self.fluvio.TopicProducerConfigBuilder().linger(max(1, int(linger_ms))).build()
            producer = self.client.topic_producer_with_config(topic, config)
        else:
            producer = self.client.topic_producer(topic)
        self._next_id += 1
        self.producers[self._next_id] = _ProducerState(producer, getattr(self.fluvio, "_ProducerBatchRecord", None))
        return self._next_id

    def op_produce(self, producer_id: int, records: list[tuple[bytes, bytes]]) -> None:
        state = self.producers.get(producer_id)
        if state is None or state.error is not None:
            return  # the error (or the unknown producer) is reported by the next flush
        try:
            state.outputs.extend(state.send_all(records))
        except Exception as exc:
            state.error = first_line(exc)

    def op_producer_flush(self, producer_id: int) -> None:
        state = self.producers.get(producer_id)
        if state is None:
            raise ClientError(FAILED, "the producer is gone (the client process was restarted)")
        outputs, state.outputs = state.outputs, []
        error, state.error = state.error, None
        if error is None:
            try:
                state.producer.flush()
            except Exception as exc:
                error = first_line(exc)
        if error is None:
            # After a flush every result is in: ``wait`` returns at once, no network wait.
            for output in outputs:
                try:
                    output.wait()
                except Exception as exc:
                    error = first_line(exc)
                    break
        if error is not None:
            raise ClientError(kind_of(error), error)

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

    def op_read(self, topic: str, partition: int, offset: int, limit: int) -> tuple[list[Any], bool]:
        """Up to ``limit`` records (and about ``READ_REPLY_BYTES``) from ``offset`` to the
        partition's end as it is now, and whether the end was reached. Records come as
        ``(offset, key, value, timestamp)``: the key ``None`` for the client's ``No key`` marker
        (a record without one) and for an empty key (what it writes for none); the timestamp in
        seconds (0.0 for none).

        The client's stream can skip records where a fetch cut a batch (they are stored, and a new
        stream from there returns them). So a jump in the offsets ends the stream and a new one
        starts where the jump began; a jump at a stream's first record is a real gap."""
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
                value = bytes(item.value())
                key = bytes(item.key())
                stamp = item.timestamp()
                records.append((at, None if key in _NO_KEYS else key, value, stamp / 1000.0 if stamp >= 0 else 0.0))
                offset = at + 1
                size += len(value)
                if len(records) >= limit or size >= READ_REPLY_BYTES:
                    return records, False
            else:
                return records, True

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


class _ProducerState:
    """An open producer, the results of the records sent since its last flush, its first error.

    ``send_all`` goes through the client's native producer when the client exposes it (fluvio
    0.21: ``TopicProducer._inner`` and ``_ProducerBatchRecord``): the public wrapper only adds a
    Python object per record on the way in and per result on the way out, a fifth of the cost.
    """

    __slots__ = ("error", "native", "outputs", "producer", "record")

    def __init__(self, producer: Any, record: Any) -> None:
        self.producer = producer
        native = getattr(producer, "_inner", None)
        self.native = native if record is not None and hasattr(native, "send_all") else None
        self.record = record
        self.outputs: list[Any] = []
        self.error: str | None = None

    def send_all(self, records: list[tuple[bytes, bytes]]) -> list[Any]:
        if self.native is None:
            return list(self.producer.send_all(records))
        make = self.record
        return list(self.native.send_all([make(key, value) for key, value in records]))


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
        op, args, reply = pickle.loads(reader.read(size))
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
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
            sock.sendall(HEADER.pack(len(data)) + data)


__all__ = ["EXISTS", "FAILED", "INVALID", "NEEDS", "NOT_FOUND", "NO_PARTITION", "REFUSED", "ClientError", "Session",
           "first_line", "kind_of", "serve"]
