"""``FluvioRecordTrigger``: one Airflow event per record of a topic, for event-driven DAGs.

Put it in an ``AssetWatcher`` (or use ``fluvio_topic_watcher``) and every record written to the
topic becomes an asset event whose ``extra["payload"]`` is the record (``record_payload.py``), so a
DAG scheduled on the asset runs for new records. ``MessageQueueTrigger(scheme="fluvio", topic=...)``
of Airflow's common.messaging provider builds the same trigger (``queues/fluvio.py``).

Where it starts: the committed position of its named consumer (``consumer``; by default a name
made from the topic and the trigger's record-shaping arguments, so two different triggers never
share a position by accident). A consumer used for the first time starts at the end of the topic
(``start="latest"``, records written from then on) or at its first record (``start="beginning"``).

Delivery, Airflow 3.3 and later: the trigger runs through the triggerer's shared streams in ack
mode (``record_stream.py``). The consumer's position is committed only after Airflow has stored the
events of the records before it; a record whose event was not stored (the triggerer was killed, the
store failed, an ack timed out) is read again. Every record gives at least one event; a crash can
repeat the events of the records after the last commit (usually the last second or two), so
process records idempotently, e.g. by ``(topic, partition, offset)``.

Delivery on Airflow 3.0 to 3.2 (no shared streams), and with ``timeout`` set: the trigger's own
``run()`` commits a batch's position once the triggerer has taken its events, before Airflow has
stored them. A triggerer killed in that window (about a second) loses those events; records not
yet read are never lost. On those versions also give each watcher its own consumer.

Nothing runs at construction (no I/O, no import of the filter); every backend call runs in a worker
thread; ``cleanup()`` closes what ``run()`` opened.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Hashable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_fluvio.triggers.record_payload import (
    DEFAULT_MAX_VALUE_BYTES,
    apply_filter,
    check_filter_path,
    load_filter,
    record_payload,
)
from fluvio_connectors.errors import ConfigError
from fluvio_connectors.names import validate_consumer_name, validate_start, validate_topic_name

if TYPE_CHECKING:
    from airflow.sdk import AssetWatcher
    from airflow.triggers.shared_stream import SharedStreamProducer

    from airflow_provider_fluvio.triggers.record_source import RecordSource
    from fluvio_connectors.topics import Record

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_MAX_IN_FLIGHT = 500


def _json_copy(value: Any, name: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be JSON (strings, numbers, lists, dicts), got {value!r}") from None


class FluvioRecordTrigger(BaseEventTrigger):
    """Fire one event per record of ``topic`` (see the module docstring for delivery).

    :param topic: The topic to watch.
    :param fluvio_conn_id: The ``fluvio`` connection (where the topic lives).
    :param consumer: Named consumer whose committed position the trigger resumes from and advances.
    :param start: Where a new consumer starts: ``latest`` (new records only, default) or ``beginning``.
    :param partition: The partition to watch.
    :param poll_interval: Seconds between two reads when the topic has nothing new (an idle
        watcher's cost and the upper part of its latency).
    :param max_value_bytes: Largest value (and key) put in an event; larger ones are left out and the
        event says so (``value_encoding: "omitted"``, ``value_size``).
    :param apply_function: Import path of a record filter (``record_payload.py``): gets the payload,
        returns None/False to skip the record, True to keep it, or another payload.
    :param apply_function_args: Extra positional arguments for ``apply_function``.
    :param apply_function_kwargs: Extra keyword arguments for ``apply_function``.
    :param hook_params: ``FluvioHook`` arguments that beat the connection (primitives).
    :param max_in_flight: Records read but not yet stored by Airflow, at most (Airflow 3.3 path).
    :param timeout: For deferring a task rather than watching: seconds after which the trigger ends
        with ``{"status": "timeout", ...}`` if no record came; it then runs its own loop (``run()``).
        Leave None in an ``AssetWatcher``.
    """

    def __init__(
        self,
        topic: str,
        fluvio_conn_id: str | None = "fluvio_default",
        consumer: str | None = None,
        start: str = "latest",
        partition: int = 0,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        apply_function: str | None = None,
        apply_function_args: list[Any] | None = None,
        apply_function_kwargs: dict[str, Any] | None = None,
        hook_params: dict[str, Any] | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        timeout: float | None = None,
    ) -> None:
        super().__init__()
        self.topic = validate_topic_name(topic)
        self.fluvio_conn_id = fluvio_conn_id
        self.start = validate_start(start)
        if not isinstance(partition, int) or isinstance(partition, bool) or partition < 0:
            raise ConfigError(f"partition must be a whole number from 0, got {partition!r}")
        self.partition = partition
        self.poll_interval = float(poll_interval)
        if not self.poll_interval > 0:
            raise ConfigError(f"poll_interval must be more than 0 seconds, got {poll_interval!r}")
        if not isinstance(max_value_bytes, int) or max_value_bytes < 0:
            raise ConfigError(f"max_value_bytes must be a whole number from 0, got {max_value_bytes!r}")
        self.max_value_bytes = max_value_bytes
        self.apply_function = None if apply_function is None else check_filter_path(apply_function)
        self.apply_function_args = list(_json_copy(apply_function_args or [], "apply_function_args"))
        self.apply_function_kwargs = dict(_json_copy(apply_function_kwargs or {}, "apply_function_kwargs"))
        self.hook_params = dict(_json_copy(hook_params or {}, "hook_params"))
        if not isinstance(max_in_flight, int) or max_in_flight < 1:
            raise ConfigError(f"max_in_flight must be a whole number from 1, got {max_in_flight!r}")
        self.max_in_flight = max_in_flight
        self.timeout = None if timeout is None else float(timeout)
        self.consumer = validate_consumer_name(consumer) if consumer is not None else self._default_consumer()
        self._filter: Any = None
        self._source: RecordSource | None = None

    def _default_consumer(self) -> str:
        shape = [self.partition, self.max_value_bytes, self.apply_function, self.apply_function_args, self.apply_function_kwargs]
        digest = hashlib.sha1(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:8]
        return f"airflow-{self.topic[:40]}-{digest}"

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "topic": self.topic,
                "fluvio_conn_id": self.fluvio_conn_id,
                "consumer": self.consumer,
                "start": self.start,
                "partition": self.partition,
                "poll_interval": self.poll_interval,
                "max_value_bytes": self.max_value_bytes,
                "apply_function": self.apply_function,
                "apply_function_args": list(self.apply_function_args),
                "apply_function_kwargs": dict(self.apply_function_kwargs),
                "hook_params": dict(self.hook_params),
                "max_in_flight": self.max_in_flight,
                "timeout": self.timeout,
            },
        )

    # ------------------------------------------------------------------ Airflow 3.3: shared stream

    def shared_stream_key(self) -> Hashable | None:
        """Triggers reading the same consumer share one reader (so its position has one owner),
        which uses the ``start``, ``poll_interval``, ``max_in_flight`` and ``max_value_bytes`` (a
        larger value is left in the topic) of whichever of them started it. A trigger with a
        ``timeout`` runs alone."""
        if self.timeout is not None:
            return None
        hook_params = json.dumps(self.hook_params, sort_keys=True)
        return ("fluvio-records", self.fluvio_conn_id, hook_params, self.topic, self.partition, self.consumer)

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> SharedStreamProducer:
        from airflow_provider_fluvio.triggers.record_stream import FluvioRecordStreamProducer

        return FluvioRecordStreamProducer(kwargs)

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        async for record in shared_stream:
            try:
                payload = await self._payload(record)
            except Exception as exc:
                from airflow.triggers.shared_stream import reject_shared_stream_event

                self._log_filter_error(record, exc)
                reject_shared_stream_event()
                continue
            if payload is not None:
                yield TriggerEvent(payload)

    # ------------------------------------------------------------------ standalone (3.0-3.2, timeout)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_fluvio.triggers.record_source import RecordSource

        source = self._source = RecordSource(
            topic=self.topic, partition=self.partition, consumer=self.consumer, start=self.start,
            fluvio_conn_id=self.fluvio_conn_id, hook_params=self.hook_params, poll_interval=self.poll_interval,
            max_value_bytes=self.max_value_bytes,
        )
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        try:
            position = await source.open()
            while True:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                position, batch = await source.next_batch(position, 100, wait=wait)
                if not batch:
                    yield TriggerEvent({
                        "status": "timeout", "topic": self.topic, "partition": self.partition,
                        "message": f"no record in topic {self.topic} within {self.timeout:g} s",
                    })
                    return
                for record in batch:
                    try:
                        payload = await self._payload(record)
                    except Exception as exc:
                        self._log_filter_error(record, exc)
                        payload = None
                    if payload is not None:
                        yield TriggerEvent(payload)
                        if deadline is not None:  # a deferred task resumes on its first event
                            await source.commit(record.offset + 1)
                            return
                position = batch[-1].offset + 1
                await source.commit(position)
        finally:
            await self.cleanup()

    async def cleanup(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            await source.aclose()

    # ------------------------------------------------------------------ one record

    async def _payload(self, record: Record) -> Any:
        payload = record_payload(self.topic, self.partition, record, self.max_value_bytes)
        if self.apply_function is None:
            return payload
        if self._filter is None:
            self._filter = await asyncio.to_thread(load_filter, self.apply_function)
        return await apply_filter(self._filter, payload, self.apply_function_args, self.apply_function_kwargs)

    def _log_filter_error(self, record: Record, exc: Exception) -> None:
        log.error(
            "Record %s@%d skipped: the record filter %s failed: %s: %s",
            self.topic, record.offset, self.apply_function, type(exc).__name__, exc,
        )


def fluvio_topic_watcher(topic: str, *, name: str | None = None, **trigger_kwargs: Any) -> AssetWatcher:
    """An ``AssetWatcher`` firing one asset event per record of ``topic``: pass it to
    ``fluvio_topic_asset(topic, watchers=[...])``. ``trigger_kwargs`` go to ``FluvioRecordTrigger``."""
    from airflow.sdk import AssetWatcher

    trigger = FluvioRecordTrigger(topic, **trigger_kwargs)
    return AssetWatcher(name=name or f"fluvio-{topic}-{trigger.consumer}", trigger=trigger)


__all__ = ["FluvioRecordTrigger", "fluvio_topic_watcher"]
