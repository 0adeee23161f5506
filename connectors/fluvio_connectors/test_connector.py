"""The test source: ``Hello, Fluvio! - {i}`` every ``timeout``, for i = 1..``count``, keyed by the
connector's name.

``python -m fluvio_connectors.test_connector --config FILE [--secrets FILE]``

Exactly ``count`` records (Fluvio's own connector produced ``count - 1``), then flush, report
``finished`` and exit 0; without ``count`` it runs until stopped. Records are paced on a fixed
schedule (record i is due ``(i - 1) * timeout`` after the start) so the rate does not drift with
the time each write takes; after a stall it resumes the pace instead of bursting to catch up.

A restarted program continues the sequence (``resume``): it counts its greetings 1, 2, 3, ... in
order among the records its topic received since the connector was created, and goes on with the
next one, so every greeting is in the topic exactly once whenever the program was killed (a batch
is stored whole or not at all, and what was stored is found again). Its greetings are those keyed
with its name: another test-connector writing to the same topic writes the same values, and
without the key a restarted one took the other's greetings for its own and skipped its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import cast

from fluvio_connectors.catalog import TEST_CONNECTOR, TestConnectorParameters
from fluvio_connectors.runner import ConnectorContext, Program, main

GREETING = "Hello, Fluvio! - {}"
# With a long interval every record is flushed at once (readable when it is due); with a short one
# records are stored in batches at most this old, which keeps a 1 ms interval affordable.
FLUSH_EVERY_SECONDS = 0.05


def count_greetings(connector: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    """How far ``connector``'s sequence ``Hello, Fluvio! - 1``, ``- 2``, ... got among ``records``
    (``(key, value)`` in order; its own are keyed with its name; others in between are skipped)."""
    done = 0
    own = connector.encode("utf-8")
    expected = GREETING.format(1).encode("utf-8")
    for key, value in records:
        if key == own and value == expected:
            done += 1
            expected = GREETING.format(done + 1).encode("utf-8")
    return done


def produce_greetings(ctx: ConnectorContext) -> None:
    """The body of the test connector (see the module docstring)."""
    params = cast(TestConnectorParameters, ctx.config.parameters)
    interval = params.timeout.total_seconds()
    count = params.count
    producer = ctx.producer
    key = ctx.config.name.encode("utf-8")
    i = ctx.resumed
    ctx.ready()
    if count is not None and i >= count:
        return  # every record is in the topic already: finished
    pending = 0
    last_flush = due = time.monotonic()
    while count is None or i < count:
        i += 1
        producer.send(key, GREETING.format(i).encode("utf-8"))
        pending += 1
        due += interval
        now = time.monotonic()
        last = count is not None and i >= count
        if last or due - now >= FLUSH_EVERY_SECONDS or now - last_flush >= FLUSH_EVERY_SECONDS:
            producer.flush()
            ctx.produced(pending)
            pending = 0
            last_flush = now
        if last or ctx.stopping.is_set():
            break
        if due < now - interval:  # fell behind (a slow write): keep the pace, do not burst
            due = now
        if ctx.wait(due - time.monotonic()):
            break
    if pending:
        producer.flush()
        ctx.produced(pending)


PROGRAM = Program(connector_type=TEST_CONNECTOR, body=produce_greetings, own_records=count_greetings)

if __name__ == "__main__":
    main(PROGRAM)
