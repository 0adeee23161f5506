"""What every sink program shares: reading its topic in batches, its position, backoff, failures.

A sink reads one partition of its topic from a *position* (the offset it reads next: every record
below it is delivered) and moves the position only once the target has the records:

* ``sql-sink`` keeps it in the target database, in the same transaction as the rows (exactly once);
* ``http-sink`` keeps it as a named consumer of the topics backend, after the receiver answered
  2xx (at least once).

Either way the position is also stored as the topics backend's named consumer ``consumer.id``
(``PositionMirror``, at most every ``consumer.offset.flush-period``): that is how ``status`` and
``list`` compute a sink's lag on any runtime, and for ``http-sink`` it is the position itself.

Where a new sink starts (``initial_position``): ``consumer.offset.start`` ``beginning`` (0), ``end``
(where the topic ended when the connector was created: ``FLUVIO_CONNECTOR_START_OFFSET``, else
now) or ``{absolute: N}``. A sink that has a position continues from it, whatever ``start`` says.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

from fluvio_connectors.config import ConnectorConfig
from fluvio_connectors.errors import BackendError, FluvioConnectorError
from fluvio_connectors.resume import start_offset
from fluvio_connectors.runner import ConnectorContext
from fluvio_connectors.sink_catalog import ConsumerSettings
from fluvio_connectors.topics import Record, Topics

log = logging.getLogger("fluvio_connectors.sink")

POLL_MIN = 0.005  # seconds between reads while records keep coming
POLL_MAX = 0.1  # ... growing to this while the topic is idle
LAG_EVERY = 1.0  # seconds between two looks at where the topic ends


def consumer_settings(config: ConnectorConfig) -> ConsumerSettings:
    return config.consumer or ConsumerSettings()


def initial_position(config: ConnectorConfig, topics: Topics, env: Mapping[str, str]) -> int:
    """Where a sink that has no position yet begins (see the module docstring)."""
    start = consumer_settings(config).start
    if start == "beginning":
        return 0
    if start == "end":
        return start_offset(env, topics, config.topic)[0]
    return int(start)


def stopped_at(record: Record, config: ConnectorConfig, reason: str, fix: str) -> str:
    """The reason a sink stops at ``record``: where, why, and what to do."""
    where = f"record at offset {record.offset} of topic {config.topic}"
    partition = consumer_settings(config).partition
    if partition:
        where += f" partition {partition}"
    return (f"{where}: {reason}; the sink stopped at it (its position stays there): {fix}, or set on-error: skip; "
            "then delete and create the connector again")


class Backoff:
    """Exponential waits from ``first`` doubling up to ``most``; ``reset`` after a success."""

    def __init__(self, first: float, most: float) -> None:
        self.first, self.most = first, most
        self._next = first

    def next(self) -> float:
        wait = self._next
        self._next = min(self._next * 2, self.most)
        return wait

    def reset(self) -> None:
        self._next = self.first


class TopicReader:
    """Batches of the sink's partition, read from a position, with a linger."""

    def __init__(self, ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.topics = ctx.topics
        self.topic = ctx.config.topic
        self.partition = consumer_settings(ctx.config).partition
        self._poll = POLL_MIN
        self._lag_at = 0.0

    def next_batch(self, position: int, max_records: int, linger: float) -> list[Record]:
        """At least one record from ``position`` (waiting for it), then what arrives within
        ``linger`` seconds, up to ``max_records``. Empty only when the program is stopping.
        ``BackendError`` when the topics backend fails (the caller retries)."""
        while True:
            records = self._read(position, max_records)
            if records:
                break
            self.ctx.lag(0)
            if self.ctx.wait(self._poll):
                return []
            self._poll = min(self._poll * 1.5, POLL_MAX)
        self._poll = POLL_MIN
        if linger > 0 and len(records) < max_records:
            deadline = time.monotonic() + linger
            while len(records) < max_records and (left := deadline - time.monotonic()) > 0:
                if self.ctx.wait(min(left, POLL_MIN)):
                    break
                records += self._read(records[-1].offset + 1, max_records - len(records))
        return records

    def _read(self, position: int, max_records: int) -> list[Record]:
        return self.topics.read(self.topic, position, partition=self.partition, max_records=max_records)

    def note_lag(self, position: int) -> None:
        """Report the records after ``position`` (at most once a second: it asks the backend)."""
        now = time.monotonic()
        if now - self._lag_at < LAG_EVERY:
            return
        self._lag_at = now
        try:
            self.ctx.lag(max(0, self.topics.end_offset(self.topic, self.partition) - position))
        except FluvioConnectorError as exc:
            log.debug("cannot read where topic %s ends: %s", self.topic, exc)


class PositionMirror:
    """Stores the sink's position as the named consumer ``consumer.id`` of the topics backend, in
    a thread of its own, at most every ``flush_period`` seconds (a commit to a Fluvio cluster takes
    tens of milliseconds; the sink does not wait for it)."""

    def __init__(self, topics: Topics, config: ConnectorConfig) -> None:
        settings = consumer_settings(config)
        self.topics = topics
        self.consumer = config.consumer_id
        self.topic = config.topic
        self.partition = settings.partition
        self.period = settings.flush_period.total_seconds()
        self._wanted: int | None = None
        self._stored: int | None = None
        self._changed = threading.Condition()
        self._stop = False
        self._failing: str | None = None
        self._thread = threading.Thread(target=self._loop, name="position-mirror", daemon=True)

    def start(self, stored: int | None = None) -> None:
        self._stored = stored
        self._thread.start()

    def set(self, position: int) -> None:
        with self._changed:
            self._wanted = position
            self._changed.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Store the last position (best effort within ``timeout``) and stop the thread."""
        with self._changed:
            self._stop = True
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._stop and self._wanted in (None, self._stored):
                    self._changed.wait()
                wanted, stop = self._wanted, self._stop
            if wanted is not None and wanted != self._stored:
                self._commit(wanted)
            if stop:
                return
            with self._changed:
                self._changed.wait_for(lambda: self._stop, self.period)

    def _commit(self, position: int) -> None:
        try:
            self.topics.commit(self.consumer, self.topic, position, self.partition)
        except FluvioConnectorError as exc:
            text = str(exc)
            if text != self._failing:  # once per kind of failure, not every period
                log.warning("cannot store the position %d as consumer %s on topic %s: %s", position,
                            self.consumer, self.topic, text)
            self._failing = text
            return
        if self._failing is not None:
            log.info("the position is stored as consumer %s again", self.consumer)
        self._failing = None
        self._stored = position


def backend_trouble(exc: BackendError) -> str:
    return f"the topics backend failed: {exc}"


__all__ = ["Backoff", "PositionMirror", "TopicReader", "backend_trouble", "initial_position", "stopped_at"]
