"""The shared-stream producer of ``FluvioRecordTrigger`` (Airflow 3.3+): commits only what Airflow stored.

The triggerer's shared-stream manager (``airflow.triggers.shared_stream``, "ack mode") drives it:

1. ``open_stream`` reads the partition from the named consumer's committed position and yields each
   record with its offset;
2. the subscribed triggers turn records into ``TriggerEvent``s (``filter_shared_stream``); the
   triggerer stores them as asset events and confirms each one back;
3. ``advance`` gets, in order, batches of records whose events are all stored (``acked``), that a
   subscriber refused (``rejected``: the record filter raised; committed past and logged), or that
   failed (``failed``: a store never confirmed, an ack timeout, an overflow) or reached nobody. It
   commits the consumer's position through the last record before the first failed one, and reads
   again from that failed record, so it is delivered again in this session; after a crash of the
   triggerer it is read again from the committed position anyway. Records can therefore arrive
   twice, never not at all.

At most ``max_in_flight`` records are out (yielded, not yet advanced) at any time, so a long backlog
never overflows the triggerer's per-subscriber queue (``[triggerer]
shared_stream_subscriber_queue_size``, 1024 by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.shared_stream import AdvanceItem, SharedStreamProducer

from airflow_provider_fluvio.triggers.record_source import RecordSource
from fluvio_connectors.topics import Record

log = logging.getLogger(__name__)

# The triggerer's runner hands events to its supervisor once a loop, about every second (Airflow 3.3:
# TriggerRunner.arun), and advance() runs just after that hand-over. Reading again this long after an
# advance puts the read just before the next hand-over, so a record read then waits ~0.2 s instead of
# up to a second. Only a timing hint: with another cadence the reader is as correct, only slower.
READ_BEFORE_NEXT_SYNC = 0.8


class FluvioRecordStreamProducer(SharedStreamProducer):
    """Owns the topic reader and the consumer's commits for one shared stream.

    :param kwargs: The ``FluvioRecordTrigger`` arguments (only those in its shared-stream key are used).
    """

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.source = RecordSource(
            topic=kwargs["topic"],
            partition=kwargs["partition"],
            consumer=kwargs["consumer"],
            start=kwargs["start"],
            fluvio_conn_id=kwargs["fluvio_conn_id"],
            hook_params=dict(kwargs["hook_params"]),
            poll_interval=kwargs["poll_interval"],
            # values no event of it carries stay in the topic (those of the trigger that started it)
            max_value_bytes=kwargs.get("max_value_bytes"),
        )
        self.max_in_flight = max(1, int(kwargs["max_in_flight"]))
        self._in_flight = 0
        self._wake = asyncio.Event()  # set by advance(): room after a full window, or a record to read again
        self._sync_read: asyncio.TimerHandle | None = None
        self._generation = 0  # a topic deleted and created again is a new log: a new generation
        self._next: int | None = None  # the offset open_stream reads from next
        self._committed: int | None = None
        self._rewind: int | None = None  # read again from here (a failed record)
        self._floor: int | None = None  # never commit past this failed record until it is stored

    async def open_stream(self) -> AsyncIterator[tuple[Record, tuple[int, int]]]:
        self._next = self._committed = await self.source.open()
        while True:
            if self._rewind is not None:
                self._next, self._rewind = self._rewind, None
            room = self.max_in_flight - self._in_flight
            batch: list[Record] = []
            if room > 0:
                asked, replacements = self._next, self.source.replacements
                self._next, batch = await self.source.next_batch(asked, room, wait=0)
                if self._next != asked or self.source.replacements != replacements:  # deleted and created again
                    self._generation += 1
                    self._committed, self._floor, self._rewind = self._next, None, None
            if not batch:
                # Nothing to read (or no room): sleep a poll interval, or less if advance() wakes us.
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.source.poll_interval if room > 0 else None)
                continue
            for record in batch:
                if self._rewind is not None:
                    break
                self._in_flight += 1
                self._next = record.offset + 1
                yield record, (self._generation, record.offset)

    async def advance(self, batch: Sequence[AdvanceItem]) -> None:
        if self._in_flight >= self.max_in_flight:
            self._wake.set()  # room again: read on now rather than after a poll interval
        self._in_flight -= len(batch)
        # Otherwise read next just before the triggerer's next hand-over (not now: a read right after
        # one would make its events wait a whole period for the next).
        if self._sync_read is not None:
            self._sync_read.cancel()
        self._sync_read = asyncio.get_running_loop().call_later(READ_BEFORE_NEXT_SYNC, self._wake.set)
        through: int | None = None
        for item in batch:
            generation, offset = item.broker_payload
            if generation != self._generation:
                continue  # a record of the deleted topic: nothing to commit in the new one
            outcome = item.outcome
            if outcome.failed or not (outcome.acked or outcome.rejected):
                self._hold(offset, outcome)
                break
            if outcome.rejected:
                log.warning("Record %s@%d was refused by a subscriber; committing past it", self.source.topic, offset)
            if offset == self._floor:
                self._floor = None  # the record that failed before has now been stored
            through = offset
        if through is None:
            return
        target = through + 1 if self._floor is None else min(through + 1, self._floor)
        if self._committed is None or target > self._committed:
            await self.source.commit(target)
            self._committed = target

    def _hold(self, offset: int, outcome: Any) -> None:
        self._floor = offset if self._floor is None else min(self._floor, offset)
        self._rewind = self._floor
        self._wake.set()
        reason = "reached no subscriber" if not outcome.failed else "was not stored (ack timeout or overflow)"
        log.warning("Record %s@%d %s; reading again from offset %d", self.source.topic, offset, reason, self._floor)

    async def aclose(self) -> None:
        if self._sync_read is not None:
            self._sync_read.cancel()
        await self.source.aclose()


__all__ = ["FluvioRecordStreamProducer"]
