"""Where a restarted connector program continues: what its topic holds since the connector was created.

The runtime that creates a connector notes where its topic ends at that moment (partition 0) and
gives that position to every run of the program as ``FLUVIO_CONNECTOR_START_OFFSET`` (the local
supervisor's environment, the Deployment's pod template). A program that starts reads the records
from there to the current end and counts its own (``Program.own_records``): the test connector
continues after the last greeting of its sequence, so ``Hello, Fluvio! - 1..count`` is in the topic
exactly once however often and whenever it is killed; the status's record count is what the topic
holds, not what one run remembers. A connector deleted and created again gets a new position: a new
run, starting at 1 on the same topic.

Records are counted one by one, never by subtracting offsets (a Fluvio partition may skip
offsets); offsets are only positions: where reading starts, and where the topic ended when this run
started (nothing before it is this run's).

Without the variable (a program run by hand) the program starts where the topic ends now.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping

from fluvio_connectors.errors import ConfigError
from fluvio_connectors.topics import Topics

START_OFFSET_ENV = "FLUVIO_CONNECTOR_START_OFFSET"
BEAT_EVERY = 1000  # records read between two signs of progress

log = logging.getLogger("fluvio_connectors")

# (connector name, the records as (key, value)) -> how many are this connector's
OwnRecords = Callable[[str, Iterable[tuple[bytes | None, bytes]]], int]


def start_offset(env: Mapping[str, str], topics: Topics, topic: str) -> tuple[int, bool]:
    """``(position, given)``: where this connector's records begin in ``topic``; ``given`` is False
    when no runtime named it (the topic's current end is used)."""
    raw = env.get(START_OFFSET_ENV, "").strip()
    if not raw:
        return topics.end_offset(topic), False
    if not raw.isdigit():
        raise ConfigError(f"{START_OFFSET_ENV}={raw[:40]!r}: expected the non-negative offset where "
                          "the connector's records begin")
    return int(raw), True


def count_own(
    topics: Topics,
    topic: str,
    start: int,
    end: int,
    own: OwnRecords,
    *,
    connector: str = "",
    beat: Callable[[], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> int | None:
    """How many records of ``topic`` between offsets ``start`` (inclusive) and ``end`` (exclusive)
    ``own`` claims for ``connector``; None when ``cancelled`` said stop before the end was reached."""
    if start >= end:
        return 0
    stopped = False

    def records() -> Iterator[tuple[bytes | None, bytes]]:
        nonlocal stopped
        for n, record in enumerate(topics.stream(topic, start, follow=False), 1):
            if record.offset >= end:
                return
            yield record.key, record.value
            if n % BEAT_EVERY == 0:
                if beat is not None:
                    beat()
                if cancelled is not None and cancelled():
                    stopped = True
                    return

    counted = own(connector, records())
    return None if stopped else counted


__all__ = ["START_OFFSET_ENV", "OwnRecords", "count_own", "start_offset"]
