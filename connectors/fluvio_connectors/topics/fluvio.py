"""The fluvio topics backend: a real Fluvio cluster through the official ``fluvio`` client.

The client is imported when first needed, so choosing this backend costs nothing until a call is
made. ``endpoint`` is the SC address (``host:port``); ``None`` uses the user's Fluvio profile
(``~/.fluvio/config``), like the ``fluvio`` CLI.

Mapping to the port:
- a record without a key is sent with an empty key, and an empty key reads back as ``None`` (the
  client reports a missing key as ``b"No key"`` in some versions, which is mapped to ``None`` too);
- timestamps are Fluvio's milliseconds, returned as seconds (0.0 when the record has none);
- ``read`` and ``stream(follow=False)`` stop at the end of the partition as it was when they
  started reading (``disable_continuous``, like ``fluvio consume -d``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from fluvio_connectors.errors import BackendError, ConfigError, TopicNotFoundError
from fluvio_connectors.topics import Record
from fluvio_connectors.topics.consumers import NoNamedConsumers
from fluvio_connectors.topics.embedded import validate_topic_name

if TYPE_CHECKING:
    from types import ModuleType

T = TypeVar("T")

DEFAULT_CONNECT_TIMEOUT = 15.0
# Markers the client puts in its error texts (fluvio-protocol's error codes).
_EXISTS = "already exists"
_NOT_FOUND = ("not found", "topicnotfound")
_NO_KEY = b"No key"


def _client_module() -> ModuleType:
    try:
        import fluvio
    except ImportError as exc:  # pragma: no cover - fluvio is a dependency
        raise BackendError(f"the fluvio client is not installed ({exc}); pip install fluvio") from None
    return fluvio


def _mentions(exc: BaseException, *markers: str) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in markers)


class FluvioTopics(NoNamedConsumers):
    """Topics in a Fluvio cluster at ``endpoint`` (``host:port``), or the profile's cluster.

    Named consumers are not implemented here yet (NotSupportedError, one line); they will use the
    cluster's own consumer offsets."""

    def __init__(
        self, endpoint: str | None = None, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    ) -> None:
        if endpoint is not None and (not endpoint.strip() or any(c.isspace() for c in endpoint)):
            raise ConfigError(f"the Fluvio endpoint must be host:port, got {endpoint!r}")
        self.endpoint = endpoint
        self.connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._client: Any = None
        self._admin: Any = None

    def __repr__(self) -> str:
        return f"FluvioTopics({self.endpoint or 'profile'!r})"

    def __enter__(self) -> FluvioTopics:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _where(self) -> str:
        return f"Fluvio at {self.endpoint}" if self.endpoint else "Fluvio (current profile)"

    # -- connections -----------------------------------------------------------------------

    def _connect(self, kind: str) -> Any:
        fluvio = _client_module()
        cls = fluvio.FluvioAdmin if kind == "admin" else fluvio.Fluvio

        def connect() -> Any:
            if self.endpoint is None:
                return cls.connect()
            return cls.connect_with_config(fluvio.FluvioConfig.new(self.endpoint))

        # The client blocks forever on a peer that accepts but never answers; bound the wait.
        return _with_timeout(connect, self.connect_timeout, f"cannot connect to {self._where}")

    def _fluvio(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._connect("client")
            return self._client

    def _admin_client(self) -> Any:
        with self._lock:
            if self._admin is None:
                self._admin = self._connect("admin")
            return self._admin

    def close(self) -> None:
        """Drop the clients (the Rust side closes its sockets when they are freed)."""
        with self._lock:
            self._client = None
            self._admin = None

    def _call(self, what: str, operation: Callable[[], T], *, topic: str | None = None) -> T:
        try:
            return operation()
        except Exception as exc:
            if topic is not None and _mentions(exc, *_NOT_FOUND):
                raise TopicNotFoundError(topic) from None
            raise BackendError(f"{self._where}: {what} failed: {exc}") from None

    # -- admin -----------------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1) -> bool:
        validate_topic_name(name)
        if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
            raise ConfigError(f"partitions must be a positive integer, got {partitions!r}")
        fluvio = _client_module()
        spec = fluvio.TopicSpec.create().with_partitions(partitions).build()
        admin = self._admin_client()
        try:
            admin.create_topic(name, spec)
        except Exception as exc:
            if _mentions(exc, _EXISTS):
                return False
            raise BackendError(f"{self._where}: creating topic {name} failed: {exc}") from None
        return True

    def delete_topic(self, name: str) -> None:
        validate_topic_name(name)
        admin = self._admin_client()
        self._call(f"deleting topic {name}", lambda: admin.delete_topic(name), topic=name)

    def topic_exists(self, name: str) -> bool:
        validate_topic_name(name)
        admin = self._admin_client()
        found = self._call("listing topics", lambda: admin.list_topics([name]))
        return any(spec.name() == name for spec in found)

    def list_topics(self) -> list[str]:
        admin = self._admin_client()
        return sorted(spec.name() for spec in self._call("listing topics", admin.all_topics))

    def _require(self, name: str) -> None:
        if not self.topic_exists(name):
            raise TopicNotFoundError(name)

    # -- writing ---------------------------------------------------------------------------

    def producer(self, topic: str, *, linger_ms: float = 0.0, batch_size: int = 500) -> FluvioProducer:
        self._require(topic)
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        client = self._fluvio()
        fluvio = _client_module()
        if linger_ms > 0:
            config = fluvio.TopicProducerConfigBuilder().linger(int(linger_ms)).build()
            inner = self._call(
                f"opening a producer for {topic}",
                lambda: client.topic_producer_with_config(topic, config),
                topic=topic,
            )
        else:
            inner = self._call(
                f"opening a producer for {topic}", lambda: client.topic_producer(topic), topic=topic
            )
        return FluvioProducer(inner, topic, self._where, batch_size=batch_size)

    # -- reading ---------------------------------------------------------------------------

    def _to_end(self, topic: str, partition: int, start: Any) -> Iterator[Any]:
        """Records from ``start`` to the partition's current end, then stop."""
        fluvio = _client_module()
        builder = fluvio.ConsumerConfigExtBuilder(topic)
        builder.partition(partition)
        builder.offset_start(start)
        builder.disable_continuous(True)
        config = builder.build()
        client = self._fluvio()
        return iter(self._call(f"reading {topic}", lambda: client.consumer_with_config(config), topic=topic))

    def end_offset(self, topic: str, partition: int = 0) -> int:
        _check_partition(partition)
        self._require(topic)
        fluvio = _client_module()
        last = -1
        try:
            for item in self._to_end(topic, partition, fluvio.Offset.from_end(1)):
                last = max(last, int(item.offset()))
        except (BackendError, TopicNotFoundError):
            raise
        except Exception as exc:
            raise BackendError(f"{self._where}: reading the end of {topic} failed: {exc}") from None
        return last + 1

    def read(
        self, topic: str, offset: int = 0, *, partition: int = 0, max_records: int | None = None
    ) -> list[Record]:
        records: list[Record] = []
        if max_records is not None and max_records <= 0:
            return records
        for record in self.stream(topic, offset, partition=partition, follow=False):
            records.append(record)
            if max_records is not None and len(records) >= max_records:
                break
        return records

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
        _check_partition(partition)
        self._require(topic)
        fluvio = _client_module()
        start = fluvio.Offset.absolute(offset)
        if not follow:
            items: Iterator[Any] = self._to_end(topic, partition, start)
        else:
            client = self._fluvio()
            consumer = self._call(
                f"reading {topic}", lambda: client.partition_consumer(topic, partition), topic=topic
            )
            items = iter(self._call(f"reading {topic}", lambda: consumer.stream(start), topic=topic))
            if timeout is not None:
                items = _idle_timeout(items, timeout)
        return self._records(topic, items)

    def _records(self, topic: str, items: Iterator[Any]) -> Iterator[Record]:
        while True:
            try:
                item = next(items)
            except StopIteration:
                return
            except Exception as exc:
                if _mentions(exc, *_NOT_FOUND):
                    raise TopicNotFoundError(topic) from None
                raise BackendError(f"{self._where}: reading {topic} failed: {exc}") from None
            yield _to_record(item)


class FluvioProducer:
    """Sends through the client's own batching producer; ``flush`` waits for every acknowledgement.

    Each ``send`` returns a pending result from the client; ``flush`` (also called every
    ``batch_size`` records) flushes the client and waits for each result, so a record the cluster
    refused surfaces as ``BackendError`` from ``flush`` instead of being lost silently.
    """

    def __init__(self, inner: Any, topic: str, where: str, *, batch_size: int = 500) -> None:
        self.topic = topic
        self._inner = inner
        self._where = where
        self._batch_size = batch_size
        self._pending: list[Any] = []
        self._lock = threading.RLock()  # keeps send order and the pending list consistent
        self._closed = False

    def __enter__(self) -> FluvioProducer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, key: bytes | None, value: bytes) -> None:
        self.send_many([(key, value)])

    def send_many(self, records: Iterable[tuple[bytes | None, bytes]]) -> None:
        with self._lock:
            if self._closed:
                raise BackendError(f"the producer for topic {self.topic} is closed")
            for key, value in records:
                output = self._guard("sending", self._inner.send, key or b"", bytes(value))
                self._pending.append(output)
                if len(self._pending) >= self._batch_size:
                    self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._guard("flushing", self._inner.flush)
        pending, self._pending = self._pending, []
        for output in pending:
            self._guard("storing a record", output.wait)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._flush_locked()

    def _guard(self, what: str, operation: Callable[..., T], *args: Any) -> T:
        try:
            return operation(*args)
        except Exception as exc:
            if _mentions(exc, *_NOT_FOUND):
                raise TopicNotFoundError(self.topic) from None
            raise BackendError(f"{self._where}: {what} to {self.topic} failed: {exc}") from None


def _to_record(item: Any) -> Record:
    raw_key = item.key()
    key = None if raw_key is None else bytes(raw_key)
    if key in (b"", _NO_KEY):
        key = None
    stamp = int(item.timestamp())
    return Record(
        offset=int(item.offset()),
        key=key,
        value=bytes(item.value()),
        timestamp=stamp / 1000.0 if stamp >= 0 else 0.0,
    )


def _with_timeout(operation: Callable[[], T], timeout: float, message: str) -> T:
    """Run a blocking client call in a helper thread; give up after ``timeout`` seconds.

    The client releases the GIL while it waits, so the caller keeps running; a call that never
    returns leaves one idle daemon thread behind, which is the price of not hanging forever.
    """
    done: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

    def run() -> None:
        try:
            done.put((True, operation()))
        except Exception as exc:
            done.put((False, exc))

    threading.Thread(target=run, name="fluvio-connect", daemon=True).start()
    try:
        ok, result = done.get(timeout=timeout)
    except queue.Empty:
        raise BackendError(f"{message}: no answer within {timeout:g} s") from None
    if not ok:
        raise BackendError(f"{message}: {result}") from None
    return result  # type: ignore[no-any-return]


def _idle_timeout(items: Iterator[T], timeout: float) -> Iterator[T]:
    """``items`` until it ends or nothing arrives for ``timeout`` seconds.

    The client's stream only blocks, so a helper thread reads it into a small queue.
    """
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1000)
    stop = threading.Event()

    def pump() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        handoff.put(("item", item), timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(("end", None))
        except Exception as exc:
            handoff.put(("error", exc))

    threading.Thread(target=pump, name="fluvio-stream", daemon=True).start()
    try:
        while True:
            try:
                kind, payload = handoff.get(timeout=timeout)
            except queue.Empty:
                return
            if kind == "end":
                return
            if kind == "error":
                raise payload
            yield payload
    finally:
        stop.set()


def _check_offset(offset: int) -> None:
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ConfigError(f"offset must be a non-negative integer, got {offset!r}")


def _check_partition(partition: int) -> None:
    if not isinstance(partition, int) or isinstance(partition, bool) or partition < 0:
        raise ConfigError(f"partition must be a non-negative integer, got {partition!r}")


__all__ = ["FluvioProducer", "FluvioTopics"]
