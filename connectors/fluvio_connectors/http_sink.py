"""The HTTP sink: every record of the topic is sent as the body of an HTTP request, at least once.

``python -m fluvio_connectors.http_sink --config FILE [--secrets FILE]``

Each record goes to ``endpoint`` with ``method``, the configured ``headers`` (values may come from
secrets), ``User-Agent`` and an ``Idempotency-Key`` header naming the record: ``"TOPIC:PARTITION:
OFFSET"`` (a structured-field string, as the IETF draft has it), the same on every retry and after
any restart, so a receiver can drop a repeat. The sink's position (its named consumer
``consumer.id`` in the topics backend) moves past a record only once the receiver answered 2xx; it
is stored at most every ``consumer.offset.flush-period`` and when the sink stops, so a crash sends
the records since the last store again (with their keys).

Answers: 2xx delivered; 408, 429, 5xx and network failures (refused, reset, closed, timed out) are
retried with backoff (``backoff-min`` doubling to ``backoff-max``, or the ``Retry-After`` the
receiver asked for, up to 10 minutes); any other answer (4xx, 3xx) is permanent: with
``on-error: fail`` (default) the sink is Failed with the record's offset and the answer, alive and
sending nothing, its position on that record; with ``on-error: skip`` the record is logged and
counted (``skipped``) and the sink goes on. While a record keeps failing the connector is Pending
(``reconnecting``) with the last failure; it is Running again once a request succeeds.

Every call is bounded: connecting by ``http-connect-timeout``, the answer by ``http-timeout``.
With ``max-in-flight`` N > 1, N records are on their way at once (they may arrive out of order);
the position still moves only over records that are all delivered.
"""

from __future__ import annotations

import email.utils
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from fluvio_connectors.catalog import HTTP_SINK
from fluvio_connectors.errors import BackendError, FluvioConnectorError
from fluvio_connectors.messages import one_line
from fluvio_connectors.runner import ConnectorContext, Program, main
from fluvio_connectors.sink import (
    Backoff,
    PositionMirror,
    TopicReader,
    backend_trouble,
    consumer_settings,
    initial_position,
    stopped_at,
)
from fluvio_connectors.sink_catalog import HttpSinkParameters
from fluvio_connectors.topics import Record

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("fluvio_connectors.http_sink")

MAX_RETRY_AFTER = 600.0  # seconds: a longer Retry-After is capped (and said so in the log)
FAILURES_BEFORE_PENDING = 3  # a record failing this often in a row makes the connector Pending
BODY_EXCERPT = 200  # characters of a refusal's body shown in the reason
DRAIN_BYTES = 64 * 1024  # of an accepted answer's body read so that its connection is kept


@dataclass(frozen=True)
class Outcome:
    """How a record's delivery ended: delivered, refused for good (``reason``), or not tried to
    the end because the program is stopping."""

    delivered: bool
    reason: str | None = None

    @property
    def stopped(self) -> bool:
        return not self.delivered and self.reason is None


class _Halt(Exception):
    """A record was refused for good (``on-error: fail``)."""


def idempotency_key(topic: str, partition: int, offset: int) -> str:
    """``"TOPIC:PARTITION:OFFSET"``: an RFC 8941 string, unique per record of the topic."""
    return f'"{topic}:{partition}:{offset}"'


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the receiver asked to wait (``Retry-After``: seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def permanent(status: int) -> bool:
    """Whether an answer with ``status`` means the record will never be taken as it is."""
    return not (200 <= status < 300 or status in (408, 429) or status >= 500)


class HttpSink:
    def __init__(self, ctx: ConnectorContext) -> None:
        import httpx

        self.ctx = ctx
        self.config = ctx.config
        self.params = cast(HttpSinkParameters, ctx.config.parameters)
        self.partition = consumer_settings(ctx.config).partition
        timeout = self.params.http_timeout.total_seconds()
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=self.params.http_connect_timeout.total_seconds(), pool=timeout),
            headers=[("User-Agent", self.params.user_agent), *self.params.header_pairs()],
            follow_redirects=False,
            limits=httpx.Limits(max_connections=self.params.max_in_flight,
                                max_keepalive_connections=self.params.max_in_flight),
        )
        self.reader = TopicReader(ctx)
        self.mirror = PositionMirror(ctx.topics, ctx.config)
        self._failures = 0  # requests failed in a row (any record)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(self.params.max_in_flight, thread_name_prefix="http-send") \
            if self.params.max_in_flight > 1 else None

    # ---- lifecycle

    def run(self) -> None:
        backoff = Backoff(self.params.backoff_min.total_seconds(), self.params.backoff_max.total_seconds())
        position: int | None = None
        try:
            while not self.ctx.stopping.is_set():
                try:
                    if position is None:
                        position = self._start_position()
                        self.mirror.start(position)
                        self.ctx.delivered_before(0)
                        self.ctx.delivered(0, position)
                        log.info("sending topic %s from offset %d to %s", self.config.topic, position, self._where())
                        self.ctx.ready()
                    position = self._deliver(position)
                    backoff.reset()
                except BackendError as exc:
                    reason = backend_trouble(exc)
                    wait = backoff.next()
                    log.warning("%s; retrying in %gs", reason, wait)
                    self.ctx.reconnecting(reason)
                    self.ctx.wait(wait)
                except _Halt as exc:
                    log.error("%s", exc)
                    self.ctx.halted(str(exc))
                    while not self.ctx.wait(60.0):
                        pass
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
            self.mirror.close()
            self.client.close()

    def _start_position(self) -> int:
        """The named consumer's position, or where a new sink starts (stored at once)."""
        topics, settings = self.ctx.topics, consumer_settings(self.config)
        position = topics.consumer_position(self.config.consumer_id, self.config.topic, settings.partition)
        if position is None:
            position = initial_position(self.config, topics, os.environ)
            topics.commit(self.config.consumer_id, self.config.topic, position, settings.partition)
        return position

    def _where(self) -> str:
        import httpx

        url = httpx.URL(self.params.endpoint)
        return str(url.copy_with(username=None, password=None, query=None, fragment=None))

    # ---- delivering

    def _deliver(self, position: int) -> int:
        """Send one batch read from ``position``; returns the new position."""
        in_flight = self.params.max_in_flight
        records = self.reader.next_batch(position, max(64, 8 * in_flight), 0.0)
        if not records:
            return position
        outcomes = self._send_all(records)
        skipped, delivered = 0, 0
        for record, outcome in zip(records, outcomes, strict=True):
            if outcome.stopped:
                break
            if not outcome.delivered:
                if self.params.on_error == "fail":
                    self._moved(position, delivered, skipped)
                    raise _Halt(stopped_at(record, self.config, f"the receiver refused it: {outcome.reason}",
                                           "fix the record or the receiver"))
                skipped += 1
                log.warning("skipped the record at offset %d: the receiver refused it: %s", record.offset, outcome.reason)
            else:
                delivered += 1
            position = record.offset + 1
        self._moved(position, delivered, skipped)
        self.reader.note_lag(position)
        return position

    def _moved(self, position: int, delivered: int, skipped: int) -> None:
        self.ctx.delivered(delivered, position, {"skipped": skipped} if skipped else None)
        self.mirror.set(position)

    def _send_all(self, records: Sequence[Record]) -> list[Outcome]:
        """Each record's outcome, in order; after a record refused for good under ``on-error:
        fail`` the rest are not sent (they count as not tried)."""
        stop_after_refusal = self.params.on_error == "fail"
        if self._pool is None:
            outcomes: list[Outcome] = []
            for record in records:
                outcome = self._send(record)
                outcomes.append(outcome)
                if outcome.stopped or (stop_after_refusal and not outcome.delivered):
                    break
            return outcomes + [Outcome(False)] * (len(records) - len(outcomes))
        futures: list[Future[Outcome]] = [self._pool.submit(self._send, record) for record in records]
        return [future.result() for future in futures]

    def _send(self, record: Record) -> Outcome:
        """Send ``record`` until the receiver takes it, refuses it for good, or the program stops."""
        import httpx

        backoff = Backoff(self.params.backoff_min.total_seconds(), self.params.backoff_max.total_seconds())
        headers = {"Idempotency-Key": idempotency_key(self.config.topic, self.partition, record.offset)}
        while not self.ctx.stopping.is_set():
            self.ctx.beat()
            asked: float | None = None
            try:
                with self.client.stream(self.params.method, self.params.endpoint, content=record.value,
                                        headers=headers) as response:
                    status = response.status_code
                    if 200 <= status < 300:
                        _drain(response)
                        self._succeeded()
                        return Outcome(True)
                    reason, asked = _answer(response), retry_after(response)
            except httpx.TimeoutException as exc:
                reason = f"no answer within the timeout ({type(exc).__name__})"
            except httpx.TransportError as exc:
                reason = one_line(f"{type(exc).__name__}: {exc or 'connection failed'}", 200)
            else:
                if permanent(status):
                    self._succeeded()  # the receiver answers: it is reachable
                    return Outcome(False, reason)
            wait = backoff.next() if asked is None else min(asked, MAX_RETRY_AFTER)
            self._failed(record, reason, wait)
            if self.ctx.wait(wait):
                break
        return Outcome(False)

    def _succeeded(self) -> None:
        with self._lock:
            if self._failures >= FAILURES_BEFORE_PENDING:
                log.info("the receiver takes records again")
                self.ctx.ready()
            self._failures = 0

    def _failed(self, record: Record, reason: str, wait: float) -> None:
        text = f"sending the record at offset {record.offset} to {self._where()}: {reason}"
        log.warning("%s; retrying in %gs", text, wait)
        with self._lock:
            self._failures += 1
            if self._failures >= FAILURES_BEFORE_PENDING:
                self.ctx.reconnecting(text)
            else:
                self.ctx.error(text)


def _drain(response: httpx.Response) -> None:
    """Read the answer's body (up to ``DRAIN_BYTES``) so that the connection can carry the next
    request; a longer body is left unread and the connection closed with the response."""
    read = 0
    for chunk in response.iter_bytes():
        read += len(chunk)
        if read > DRAIN_BYTES:
            return


def _answer(response: httpx.Response) -> str:
    """``HTTP 404 Not Found: <start of the body>`` (only the start is read: a body may be huge)."""
    head = b""
    for chunk in response.iter_bytes():
        head += chunk
        if len(head) >= DRAIN_BYTES:
            break
    body = " ".join(head.decode("utf-8", "replace").split())[:BODY_EXCERPT]
    return one_line(f"HTTP {response.status_code} {response.reason_phrase}" + (f": {body}" if body else ""), 300)


def deliver(ctx: ConnectorContext) -> None:
    """The body of the HTTP sink (see the module docstring)."""
    try:
        HttpSink(ctx).run()
    except ValueError as exc:  # httpx refusing a header or URL the config check let through
        raise FluvioConnectorError(f"the http-sink cannot use its config: {exc}") from None


PROGRAM = Program(connector_type=HTTP_SINK, body=deliver)

if __name__ == "__main__":
    main(PROGRAM)
