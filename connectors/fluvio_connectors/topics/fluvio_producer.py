"""The Fluvio backend's producer: records cross to the client process in batches, and ``flush``
waits for the cluster's acknowledgement of each (see ``fluvio.py`` for the backend)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from fluvio_connectors.errors import BackendError, ConfigError, FluvioConnectorError

if TYPE_CHECKING:
    from fluvio_connectors.topics.fluvio import FluvioTopics

FRAME_RECORDS = 2_000  # records a produce request carries at most
MAX_UNCONFIRMED = 200_000  # sent records a producer keeps for a retry before it flushes by itself
HELPER_LINGER_MS = 5  # with linger_ms the producer batches here; the client then sends at once

Pair = tuple[bytes, bytes]


class FluvioProducer:
    """Sends records through the client process in batches; ``flush`` waits for every
    acknowledgement (see the module docstring). Thread-safe; each sender's order is kept."""

    def __init__(self, topics: FluvioTopics, topic: str, *, linger_ms: float, batch_size: int) -> None:
        self.topic = topic
        self._topics = topics
        self._client = topics._client
        self._batch_size = batch_size
        self._linger = linger_ms / 1000.0
        self._buffer: list[Pair] = []
        self._first_queued: float | None = None
        self._unconfirmed: list[list[Pair]] = []  # sent since the last acknowledged flush
        self._unconfirmed_count = 0
        self._resend = False  # a flush failed: send the unconfirmed records again
        self._cond = threading.Condition(threading.RLock())
        self._closed = False
        self._handle: tuple[int, int] | None = None  # (client generation, producer id there)
        self._open()
        self._lingerer: threading.Thread | None = None
        if self._linger > 0:
            self._lingerer = threading.Thread(target=self._linger_loop, name=f"linger-{topic}", daemon=True)
            self._lingerer.start()

    def __enter__(self) -> FluvioProducer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _open(self) -> None:
        helper_linger = HELPER_LINGER_MS if self._linger > 0 else 0
        producer_id = self._topics._call(f"opening a producer for {self.topic}", "producer_open", self.topic,
                                         helper_linger, topic=self.topic)
        self._handle = (self._client.generation, producer_id)

    def send(self, key: bytes | None, value: bytes) -> None:
        self.send_many(((key, value),))

    def send_many(self, records: Iterable[tuple[bytes | None, bytes]]) -> None:
        pairs = _pairs(records)
        if not pairs:
            return
        with self._cond:
            if self._closed:
                raise BackendError(f"the producer for topic {self.topic} is closed")
            if not self._buffer:
                self._first_queued = time.monotonic()
                self._cond.notify_all()
            self._buffer.extend(pairs)
            if len(self._buffer) >= self._batch_size:
                self._ship()

    def flush(self) -> None:
        with self._cond:
            self._flush_locked()

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            self._flush_locked()
            handle, self._handle = self._handle, None
        if handle is not None and handle[0] == self._client.generation:
            self._topics._call(f"closing the producer for {self.topic}", "producer_close", handle[1],
                               topic=self.topic)

    # -- under the lock

    def _ship(self) -> None:
        """Send the buffer to the client process (no acknowledgement yet)."""
        buffer, self._buffer = self._buffer, []
        self._first_queued = None
        for start in range(0, len(buffer), FRAME_RECORDS):
            batch = buffer[start:start + FRAME_RECORDS]
            self._unconfirmed.append(batch)
            self._unconfirmed_count += len(batch)
            self._post(batch)
        if self._unconfirmed_count >= MAX_UNCONFIRMED:
            self._flush_locked()

    def _post(self, batch: list[Pair]) -> None:
        if not self._current():
            self._reopen()  # sends every unconfirmed batch, this one included
            return
        assert self._handle is not None
        if self._client.post("produce", self._handle[1], batch) != self._handle[0]:
            self._handle = None  # it reached a new client process: sent again from there

    def _current(self) -> bool:
        """Whether the producer lives in the current client process (False: resend at flush)."""
        return self._handle is not None and self._handle[0] == self._client.generation and not self._resend

    def _reopen(self) -> None:
        """Open the producer again (a new client process, or after a failed flush) and send every
        unconfirmed record again."""
        self._open()
        self._resend = False
        assert self._handle is not None
        for batch in self._unconfirmed:
            self._client.post("produce", self._handle[1], batch)

    def _flush_locked(self) -> None:
        if self._buffer:
            self._ship()
        for _attempt in range(2):
            if not self._current():
                self._reopen()
            assert self._handle is not None
            generation, producer_id = self._handle
            try:
                self._topics._call(f"storing records in {self.topic}", "producer_flush", producer_id,
                                   topic=self.topic)
            except FluvioConnectorError:
                if self._client.generation == generation:  # not a restart: the cluster refused
                    self._resend = True
                    raise
                if _attempt:
                    raise
                continue  # the client process was replaced meanwhile: once more on the new one
            self._unconfirmed, self._unconfirmed_count = [], 0
            return

    def _linger_loop(self) -> None:
        backoff = 0.0  # after a failed send, wait longer before the next attempt
        while True:
            with self._cond:
                while not self._closed and self._first_queued is None:
                    self._cond.wait()
                if self._closed:
                    return  # close() sends what is left
                first = self._first_queued
                if first is None:
                    continue
                remaining = first + self._linger + backoff - time.monotonic()
                if remaining > 0:
                    self._cond.wait(timeout=remaining)
                    continue
                try:
                    self._ship()
                    backoff = 0.0
                except Exception:
                    # The records stay unconfirmed; flush() or close() sends them again and reports.
                    backoff = min(max(backoff * 2, 0.5), 30.0)


def _pairs(records: Iterable[tuple[bytes | None, bytes]]) -> list[Pair]:
    """``(key, value)`` as the client takes them: bytes, and an empty key for none."""
    out: list[Pair] = []
    append = out.append
    for key, value in records:
        if type(value) is not bytes:
            value = _as_bytes(value, "value")
        if key is None:
            key = b""
        elif type(key) is not bytes:
            key = _as_bytes(key, "key")
        append((key, value))
    return out


def _as_bytes(value: object, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise ConfigError(f"a record {what} must be bytes or str, got {type(value).__name__}")
