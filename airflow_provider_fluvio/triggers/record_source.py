"""Reading one topic partition for a named consumer from the triggerer's event loop.

Every call into the topics backend (SQLite reads and commits of the embedded log, the Fluvio
client) runs in a worker thread, so the event loop only ever awaits. Between two empty reads the
source sleeps ``poll_interval`` seconds: that sleep is what an idle watcher costs.

A topic that does not exist yet (the DAG that creates it has not run) is waited for, with one
warning; its records are then read from its first, since all of them were written after the
watcher started. A topic deleted while being watched is waited for the same way. A topic deleted and
created again between two reads is noticed on every read by its identity (``Topics.topic_identity``:
the embedded log's topic id, the first record of a Fluvio partition), however many records it holds
by then, and read from its first record; a topic found shorter than the position with the
consumer's position gone is one too (an empty new topic tells nothing else).

Reads are bounded in bytes (``READ_BYTES``) as well as in records, and values larger than the
trigger puts in an event (``max_value_bytes``) are left in the topic: the triggerer, which hosts
every DAG's triggers, never holds a batch of large records.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from fluvio_connectors.errors import TopicNotFoundError

if TYPE_CHECKING:
    from fluvio_connectors.topics import Record, TopicIdentity, Topics

log = logging.getLogger(__name__)


class RecordSource:
    """``topic``/``partition`` through the ``fluvio`` connection, from ``consumer``'s position."""

    def __init__(
        self,
        *,
        topic: str,
        partition: int,
        consumer: str,
        start: str,
        fluvio_conn_id: str | None,
        hook_params: dict[str, Any],
        poll_interval: float,
        max_value_bytes: int | None = None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.consumer = consumer
        self.start = start
        self.fluvio_conn_id = fluvio_conn_id
        self.hook_params = hook_params
        self.poll_interval = poll_interval
        self.max_value_bytes = max_value_bytes
        self.replacements = 0  # how often the topic was found deleted and created again
        self._topics: Topics | None = None
        self._identity: TopicIdentity | None = None
        self._short_log_warned = False

    async def open(self) -> int:
        """Resolve the connection, open the backend, and return the position to read from."""
        from airflow_provider_fluvio.hooks.fluvio import FluvioHook
        from fluvio_connectors.topics import open_topics

        hook = FluvioHook(self.fluvio_conn_id, **self.hook_params)
        await hook.aload_connection()
        self._topics = await asyncio.to_thread(open_topics, hook.settings)
        log.info(
            "Watching topic %s partition %d as consumer %s (%s)",
            self.topic, self.partition, self.consumer, await asyncio.to_thread(hook.describe),
        )
        position = await self._resume(self.start)
        self._identity = await asyncio.to_thread(self._backend().topic_identity, self.topic, self.partition)
        return position

    async def _resume(self, start: str) -> int:
        from fluvio_connectors.topics.consumers import resume_position

        warned = False
        while True:
            try:
                return await asyncio.to_thread(
                    resume_position, self._backend(), self.consumer, self.topic, partition=self.partition, start=start
                )
            except TopicNotFoundError:
                if not warned:
                    log.warning("Topic %s does not exist (yet); waiting for it to be created", self.topic)
                    warned = True
                start = "beginning"  # everything written to it from now on is new
                await asyncio.sleep(self.poll_interval)

    def _backend(self) -> Topics:
        if self._topics is None:
            raise RuntimeError("the record source is not open")
        return self._topics

    async def next_batch(self, position: int, limit: int, *, wait: float | None = None) -> tuple[int, list[Record]]:
        """At most ``limit`` records from ``position``, waiting for the first one (up to ``wait``
        seconds, else forever). Returns the position they were read from (it changes only when the
        topic was deleted and created again) and the records ([] when ``wait`` ran out)."""
        loop = asyncio.get_running_loop()
        deadline = None if wait is None else loop.time() + wait
        while True:
            try:
                records, identity = await asyncio.to_thread(self._read, position, limit)
                known, self._identity = self._identity, identity or self._identity
                replaced_at = 0 if known is not None and known.replaced_by(identity) else None
                if replaced_at is None and not records:
                    replaced_at = await self._replaced_at(position)
                if replaced_at is not None:
                    log.warning("Topic %s was deleted and created again; reading it from offset %d", self.topic, replaced_at)
                    self.replacements += 1
                    await self.commit(replaced_at)
                    position = replaced_at
                    continue
            except TopicNotFoundError:
                log.warning("Topic %s was deleted; waiting for it to be created again", self.topic)
                position = await self._resume("beginning")
                continue
            if records:
                return position, records
            if deadline is not None and loop.time() >= deadline:
                return position, []
            pause = self.poll_interval if deadline is None else min(self.poll_interval, deadline - loop.time())
            await asyncio.sleep(max(0.0, pause))

    def _read(self, position: int, limit: int) -> tuple[list[Record], TopicIdentity | None]:
        """The records from ``position``, then which topic they came from (a worker thread)."""
        from fluvio_connectors.topics import READ_BYTES

        topics = self._backend()
        records = topics.read(self.topic, position, partition=self.partition, max_records=limit,
                              max_bytes=READ_BYTES, max_value_bytes=self.max_value_bytes)
        return records, topics.topic_identity(self.topic, self.partition)

    async def _replaced_at(self, position: int) -> int | None:
        """Where to read a topic that is a new one of the same name, or None if it is not.

        A new topic ends before ``position`` (offsets never go back in a log) *and* has none of the
        old one's committed position (both backends forget the positions of a deleted topic): it is
        read from its first record. A log that merely looks shorter while the position is still
        there is waited out, never read again from its start (that would repeat every record); one
        whose committed position is still inside it is read again from that position."""
        end = await asyncio.to_thread(self._backend().end_offset, self.topic, self.partition)
        if end >= position:
            return None
        committed = await asyncio.to_thread(self._backend().consumer_position, self.consumer, self.topic, self.partition)
        if committed is None:
            return 0
        if committed <= end:
            return committed
        if not self._short_log_warned:
            log.warning(
                "Topic %s ends at offset %d, before consumer %s's committed position %d; waiting for it",
                self.topic, end, self.consumer, committed,
            )
            self._short_log_warned = True
        return None

    async def commit(self, position: int) -> None:
        """Make ``position`` the consumer's committed position (durable when this returns)."""
        await asyncio.to_thread(self._backend().commit, self.consumer, self.topic, position, self.partition)

    async def aclose(self) -> None:
        topics, self._topics = self._topics, None
        if topics is not None:
            try:
                await asyncio.to_thread(topics.close)
            except Exception:  # closing is best effort; the trigger is going away anyway
                log.warning("Failed to close the topics backend", exc_info=True)


__all__ = ["RecordSource"]
