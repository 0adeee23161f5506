"""The test source: ``Hello, Fluvio! - {i}`` (no key) every ``timeout``, for i = 1..``count``.

``python -m fluvio_connectors.test_connector --config FILE [--secrets FILE]``

Exactly ``count`` records (Fluvio's own connector produced ``count - 1``), then flush, report
``finished`` and exit 0; without ``count`` it runs until stopped. Records are paced on a fixed
schedule (record i is due ``(i - 1) * timeout`` after the start) so the rate does not drift with
the time each write takes; after a stall it resumes the pace instead of bursting to catch up.
"""

from __future__ import annotations

import time
from typing import cast

from fluvio_connectors.catalog import TEST_CONNECTOR, TestConnectorParameters
from fluvio_connectors.runner import ConnectorContext, Program, main

GREETING = "Hello, Fluvio! - {}"
# With a long interval every record is flushed at once (readable when it is due); with a short one
# records are stored in batches at most this old, which keeps a 1 ms interval affordable.
FLUSH_EVERY_SECONDS = 0.05


def produce_greetings(ctx: ConnectorContext) -> None:
    """The body of the test connector (see the module docstring)."""
    params = cast(TestConnectorParameters, ctx.config.parameters)
    interval = params.timeout.total_seconds()
    count = params.count
    producer = ctx.producer
    ctx.ready()
    pending = 0
    last_flush = due = time.monotonic()
    i = 0
    while count is None or i < count:
        i += 1
        producer.send(None, GREETING.format(i).encode("utf-8"))
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


PROGRAM = Program(connector_type=TEST_CONNECTOR, body=produce_greetings)

if __name__ == "__main__":
    main(PROGRAM)
