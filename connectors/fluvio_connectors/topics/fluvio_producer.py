"""The Fluvio backend's producer: records cross to the client process in frames
(``fluvio_client/frames.py``), and ``flush`` returns once the cluster stored every record sent
(``fluvio_client/producing.py`` says what confirms one; ``fluvio.py`` is the backend). The records
sent since the last good flush stay here, to be sent again when the client process is replaced or
a flush fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from itertools import repeat
from typing import Any, Protocol

from fluvio_connectors.errors import BackendError, FluvioConnectorError, RecordTooLargeError
from fluvio_connectors.topics.fluvio_client import FluvioClient, frames, producing
from fluvio_connectors.topics.fluvio_client.frames import Frame
from fluvio_connectors.topics.fluvio_client.producing import MAX_REQUEST_BYTES, RECORD_OVERHEAD

MAX_UNCONFIRMED = 200_000  # sent records a producer keeps for a retry before it flushes by itself


class Request(Protocol):
    """A request of the client process whose failure is one of the project's errors
    (``FluvioTopics.request``: a missing topic is ``TopicNotFoundError``, ...)."""

    def __call__(self, what: str, op: str, *args: Any, topic: str | None = None) -> Any: ...


class FluvioProducer:
    """Sends records through the client process in frames; ``flush`` returns once every record sent
    is stored (see the module docstring). With ``linger_ms`` a background thread flushes at the
    latest ``linger_ms`` after a record was queued. Thread-safe; each sender's order is kept."""

    def __init__(self, client: FluvioClient, request: Request, topic: str, *, linger_ms: float,
                 batch_size: int, batch_bytes: int | None = None, compression: str = "none") -> None:
        self.topic = topic
        self._request = request
        self._client = client
        self._batch_size = batch_size
        self._batch_bytes = batch_bytes  # the client's batches (None: its default here, 64 KB)
        self._compression = compression
        self._call_bytes = producing.call_bytes(batch_bytes)
        self._linger = linger_ms / 1000.0
        self._keys: list[bytes] | None = None  # the buffer: keys (None while no record has one)
        self._values: list[bytes] = []  # and values
        self._first_unflushed: float | None = None  # when the oldest record not flushed yet came
        self._unconfirmed: list[Frame] = []  # sent since the last good flush
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
        producer_id = self._request(f"opening a producer for {self.topic}", "producer_open", self.topic,
                                    self._batch_bytes, self._compression, topic=self.topic)
        self._handle = (self._client.generation, producer_id)

    def send(self, key: bytes | None, value: bytes) -> None:
        self.send_many(((key, value),))

    @property
    def max_record_bytes(self) -> int:
        """The largest key and value together this producer sends (the client's request limit)."""
        return MAX_REQUEST_BYTES - RECORD_OVERHEAD

    def send_many(self, records: Iterable[tuple[bytes | None, bytes]]) -> None:
        keys, values = frames.columns(records)  # all or nothing: a bad record fails before any is queued
        if not values:
            return
        largest = max(len(v) + (len(keys[i]) if keys else 0) for i, v in enumerate(values))
        if largest > self.max_record_bytes:  # refused before it is queued: it would fail every flush
            raise RecordTooLargeError(self.topic, largest, self.max_record_bytes)
        with self._cond:
            if self._closed:
                raise BackendError(f"the producer for topic {self.topic} is closed")
            if self._first_unflushed is None:
                self._first_unflushed = time.monotonic()
                self._cond.notify_all()
            # A frame's worth at a time, so the client process starts on the first one early.
            step = frames.FRAME_RECORDS
            for start in range(0, len(values), step):
                self._queue(None if keys is None else keys[start:start + step], values[start:start + step])
                if len(self._values) >= self._batch_size:
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
            self._request(f"closing the producer for {self.topic}", "producer_close", handle[1],
                          topic=self.topic)

    # -- under the lock

    def _queue(self, keys: list[bytes] | None, values: list[bytes]) -> None:
        if keys is not None or self._keys is not None:
            if self._keys is None:
                self._keys = [b""] * len(self._values)
            self._keys.extend(repeat(b"", len(values)) if keys is None else keys)
        self._values.extend(values)

    def _ship(self) -> None:
        """Send the buffer to the client process (no acknowledgement yet)."""
        keys, values = self._keys, self._values
        self._keys, self._values = None, []
        for frame in frames.frames(keys, values, self._call_bytes):
            self._unconfirmed.append(frame)
            self._unconfirmed_count += len(frame[1])
            self._post(frame)
        if self._unconfirmed_count >= MAX_UNCONFIRMED:
            self._flush_locked()

    def _post(self, frame: Frame) -> None:
        if not self._current():
            self._reopen()  # sends every unconfirmed frame, this one included
            return
        assert self._handle is not None
        if self._client.post("produce", self._handle[1], *frame) != self._handle[0]:
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
        for frame in self._unconfirmed:
            self._client.post("produce", self._handle[1], *frame)

    def _flush_locked(self) -> None:
        if self._values:
            self._ship()
        for _attempt in range(2):
            if not self._current():
                self._reopen()
            assert self._handle is not None
            generation, producer_id = self._handle
            try:
                self._request(f"storing records in {self.topic}", "producer_flush", producer_id,
                              topic=self.topic)
            except FluvioConnectorError:
                if self._client.generation == generation:  # not a restart: the cluster refused
                    self._resend = True
                    raise
                if _attempt:
                    raise
                continue  # the client process was replaced meanwhile: once more on the new one
            self._unconfirmed, self._unconfirmed_count = [], 0
            self._first_unflushed = None
            return

    def _linger_loop(self) -> None:
        backoff = 0.0  # after a failed send, wait longer before the next attempt
        while True:
            with self._cond:
                while not self._closed and self._first_unflushed is None:
                    self._cond.wait()
                if self._closed:
                    return  # close() sends what is left
                first = self._first_unflushed
                if first is None:
                    continue
                remaining = first + self._linger + backoff - time.monotonic()
                if remaining > 0:
                    self._cond.wait(timeout=remaining)
                    continue
                try:
                    self._flush_locked()
                    backoff = 0.0
                except Exception:
                    # The records stay unconfirmed; the next flush sends them again and reports.
                    backoff = min(max(backoff * 2, 0.5), 30.0)
