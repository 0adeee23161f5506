"""The Fluvio backend's producer: records cross to the client process in frames (a list of values
and, when any record has one, a list of keys), and ``flush`` returns once the cluster stored every
record sent (``fluvio_client/producing.py`` says what confirms one; ``fluvio.py`` is the backend).
The records sent since the last good flush stay here, to be sent again when the client process is
replaced or a flush fails."""

from __future__ import annotations

import operator
import threading
import time
from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate, repeat
from typing import TYPE_CHECKING

from fluvio_connectors.errors import BackendError, ConfigError, FluvioConnectorError

if TYPE_CHECKING:
    from fluvio_connectors.topics.fluvio import FluvioTopics

FRAME_RECORDS = 5_000  # records a produce request carries at most
FRAME_BYTES = 4 * 1024 * 1024  # and bytes of keys and values (one record more when it alone is larger)
MAX_UNCONFIRMED = 200_000  # sent records a producer keeps for a retry before it flushes by itself

Frame = tuple[list[bytes] | None, list[bytes]]  # (keys, or None when no record has one; values)
_NONE = type(None)


class FluvioProducer:
    """Sends records through the client process in frames; ``flush`` returns once every record sent
    is stored (see the module docstring). With ``linger_ms`` a background thread flushes at the
    latest ``linger_ms`` after a record was queued. Thread-safe; each sender's order is kept."""

    def __init__(self, topics: FluvioTopics, topic: str, *, linger_ms: float, batch_size: int) -> None:
        self.topic = topic
        self._topics = topics
        self._client = topics._client
        self._batch_size = batch_size
        self._linger = linger_ms / 1000.0
        self._keys: list[bytes] | None = None  # the buffer: keys (None while no record has one)
        self._values: list[bytes] = []  # and values
        self._first_queued: float | None = None
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
        producer_id = self._topics._call(f"opening a producer for {self.topic}", "producer_open", self.topic,
                                         topic=self.topic)
        self._handle = (self._client.generation, producer_id)

    def send(self, key: bytes | None, value: bytes) -> None:
        self.send_many(((key, value),))

    def send_many(self, records: Iterable[tuple[bytes | None, bytes]]) -> None:
        keys, values = _split(records)
        if not values:
            return
        with self._cond:
            if self._closed:
                raise BackendError(f"the producer for topic {self.topic} is closed")
            if not self._values:
                self._first_queued = time.monotonic()
                self._cond.notify_all()
            if keys is not None or self._keys is not None:
                if self._keys is None:
                    self._keys = [b""] * len(self._values)
                self._keys.extend(repeat(b"", len(values)) if keys is None else keys)
            self._values.extend(values)
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
            self._topics._call(f"closing the producer for {self.topic}", "producer_close", handle[1],
                               topic=self.topic)

    # -- under the lock

    def _ship(self) -> None:
        """Send the buffer to the client process (no acknowledgement yet)."""
        keys, values = self._keys, self._values
        self._keys, self._values = None, []
        self._first_queued = None
        for frame in _frames(keys, values):
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
                    self._flush_locked()
                    backoff = 0.0
                except Exception:
                    # The records stay unconfirmed; the next flush sends them again and reports.
                    backoff = min(max(backoff * 2, 0.5), 30.0)


def _split(records: Iterable[tuple[bytes | None, bytes]]) -> Frame:
    """``(key, value)`` pairs as the client process takes them: a list of values (bytes) and a
    list of keys (bytes, empty for none), or None for the keys when no record has one. The common
    case (bytes and None) is checked without a Python step per record."""
    pairs = records if isinstance(records, list) else list(records)
    if not pairs:
        return None, []
    if set(map(type, pairs)) == {tuple} and set(map(len, pairs)) == {2}:
        keys, values = zip(*pairs, strict=True)
        if set(map(type, values)) == {bytes}:
            key_types = set(map(type, keys))
            if key_types == {_NONE}:
                return None, list(values)
            if key_types == {bytes}:
                return list(keys), list(values)
            if key_types == {bytes, _NONE}:
                return [b"" if key is None else key for key in keys], list(values)
    return _split_slowly(pairs)


def _split_slowly(pairs: list[tuple[bytes | None, bytes]]) -> Frame:
    keys: list[bytes] = []
    values: list[bytes] = []
    keyed = False
    for key, value in pairs:
        values.append(value if type(value) is bytes else _as_bytes(value, "value"))
        if key is None:
            keys.append(b"")
        else:
            keys.append(key if type(key) is bytes else _as_bytes(key, "key"))
            keyed = True
    return (keys if keyed else None), values


def _frames(keys: list[bytes] | None, values: list[bytes]) -> list[Frame]:
    """``keys`` and ``values`` cut into frames of at most ``FRAME_RECORDS`` records and
    ``FRAME_BYTES`` bytes (a larger record alone)."""
    sizes = map(len, values) if keys is None else map(operator.add, map(len, keys), map(len, values))
    totals = list(accumulate(sizes))
    if len(values) <= FRAME_RECORDS and totals[-1] <= FRAME_BYTES:
        return [(keys, values)]
    frames: list[Frame] = []
    start, before = 0, 0
    while start < len(values):
        end = min(bisect_right(totals, before + FRAME_BYTES, start), start + FRAME_RECORDS)
        end = max(end, start + 1)
        frames.append((None if keys is None else keys[start:end], values[start:end]))
        before, start = totals[end - 1], end
    return frames


def _as_bytes(value: object, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise ConfigError(f"a record {what} must be bytes or str, got {type(value).__name__}")
