"""Named consumers: a position per (consumer, topic, partition) that survives restarts.

A named consumer's *position* is the offset it reads from next: every record below it has been
handled. It moves only when someone commits (``Topics.commit``); reading never moves it. So a
program that reads, handles and only then commits gets every record at least once, and exactly once
when nothing fails between handling and committing.

Positions are offsets, not counts. On the embedded log offsets are dense (0, 1, 2, ...), but on a
Fluvio partition some offsets have no readable record, so:

* count records, never offsets: "the next 10 records" is ``read(topic, position, max_records=10)``,
  and ``end_offset - position`` is an upper bound of what is left, not a count;
* commit only positions you were given: ``record.offset + 1`` of the last record handled, or a value
  from ``consumer_position`` / ``end_offset``; never wait for a particular offset to arrive;
* a Fluvio cluster may report a position below the one committed when the offsets between have no
  readable record (it stores the last record handled): the same records are left to read.

Where they are kept: the embedded log's ``consumers`` table; a Fluvio cluster's own consumer offsets
(``fluvio_client/offsets.py`` says exactly what a commit stores there).

``resume_position`` is what every reader calls first: the committed position, or, for a consumer
used for the first time, its start (``beginning``: offset 0; ``latest``: the current end), committed
at once so that a restart before the first record does not move the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fluvio_connectors.names import START_POSITIONS, validate_consumer_name, validate_start

if TYPE_CHECKING:
    from fluvio_connectors.topics.base import Topics


@dataclass(frozen=True)
class ConsumerPosition:
    """A committed position: ``consumer`` reads ``topic`` ``partition`` from ``offset`` next."""

    consumer: str
    topic: str
    partition: int
    offset: int
    updated_at: float  # seconds since the epoch of the last commit


def resume_position(topics: Topics, consumer: str, topic: str, *, partition: int = 0, start: str = "latest") -> int:
    """Where ``consumer`` reads ``topic`` next: its committed position, or on first use ``start``
    (``beginning``: 0, ``latest``: the current end), which is committed before it is returned."""
    validate_start(start)
    position = topics.consumer_position(consumer, topic, partition)
    if position is not None:
        return position
    position = 0 if start == "beginning" else topics.end_offset(topic, partition)
    topics.commit(consumer, topic, position, partition)
    return position


__all__ = [
    "START_POSITIONS",
    "ConsumerPosition",
    "resume_position",
    "validate_consumer_name",
    "validate_start",
]
