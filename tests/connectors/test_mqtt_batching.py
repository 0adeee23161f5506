"""The MQTT writer's flush policy: a lone message is stored at once (by the network thread when the
writer is idle), batches grow with the load, and a stuck store is a hang, not progress."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from connector_fixtures import Broker, ConnectorProcess, mqtt_config, read_topic, topic_size, wait_for

from fluvio_connectors.catalog import parse_mqtt_url
from fluvio_connectors.mqtt import MAX_BATCH, Message, MqttSettings, MqttSource
from fluvio_connectors.settings import Settings
from fluvio_connectors.status import ProgramState

Make = Callable[..., ConnectorProcess]


def source(linger_ms: float) -> MqttSource:
    """An MQTT source that is never connected: only its inbox and flush policy are used."""
    ctx: Any = SimpleNamespace(config=SimpleNamespace(producer=SimpleNamespace(linger_ms=linger_ms)))
    settings = MqttSettings(endpoint=parse_mqtt_url("127.0.0.1"), client_id="t", filters=("t/#",), qos=1,
                            timeout=5, output_type="binary")
    return MqttSource(ctx, settings)


def message(mid: int) -> Message:
    return (1, mid, 1, "t/a", b"payload %d" % mid, False)


def next_batch_within(src: MqttSource, seconds: float) -> list[Message] | None:
    """``src._next_batch()`` run in a thread; None if it has not returned within ``seconds``."""
    result: list[list[Message]] = []
    worker = threading.Thread(target=lambda: result.append(src._next_batch()), daemon=True)
    worker.start()
    worker.join(seconds)
    return result[0] if result else None


def test_a_lone_message_is_taken_at_once_even_with_a_minute_of_linger() -> None:
    src = source(linger_ms=60_000)
    src._inbox.put(message(1))
    # Waiting for the batch to fill would hold it for the whole linger (a minute).
    assert next_batch_within(src, 30) == [message(1)]


def test_everything_that_has_arrived_is_one_batch_up_to_the_maximum() -> None:
    src = source(linger_ms=0)
    src._inbox.put_many([message(i) for i in range(MAX_BATCH * 2 + 5)])
    sizes = [len(src._next_batch()) for _ in range(3)]
    assert sizes == [MAX_BATCH, MAX_BATCH, 5]
    assert src._inbox.take(10, 0) == []


def test_with_a_linger_what_keeps_arriving_joins_the_batch() -> None:
    src = source(linger_ms=60_000)
    src._inbox.put(message(0))
    more = [message(i) for i in range(1, 50)]
    feeder = threading.Thread(target=lambda: [src._inbox.put(m) for m in more])  # a steady stream
    stream_started = threading.Event()
    original_take = src._inbox.take

    def take(limit: int, timeout: float) -> list[Message]:
        if not stream_started.is_set():  # the stream starts once the writer has its first message
            batch = original_take(limit, timeout)
            stream_started.set()
            feeder.start()
            feeder.join()
            return batch
        return original_take(limit, timeout)

    src._inbox.take = take  # type: ignore[method-assign]
    assert next_batch_within(src, 30) == [message(i) for i in range(50)]


def test_a_connector_with_a_long_linger_stores_a_lone_message_without_waiting_for_a_batch(
    broker: Broker, connector: Make
) -> None:
    config = mqtt_config(broker, "lone")
    config["producer"] = {"linger": "10m"}  # ten minutes to fill a batch that never fills
    proc = connector("fluvio_connectors.mqtt", config).start()
    proc.wait_state(ProgramState.READY)
    broker.publish("sensors/door", ["opened"], qos=1)
    wait_for(lambda: topic_size("lone") >= 1, 60, "the lone message in the topic")
    assert [r.value for r in read_topic("lone")] == [b'{"mqtt_topic":"sensors/door","payload":[111,112,101,110,101,100]}']
    assert proc.stop() == 0


def test_a_store_stuck_in_the_network_thread_stops_the_heartbeat(broker: Broker, connector: Make) -> None:
    # An idle connector stores a lone message from the network thread; if that store hangs (here:
    # another process holds the log's write lock), the program must look hung, not busy.
    proc = connector("fluvio_connectors.mqtt", mqtt_config(broker, "stuck"), env={"FLUVIO_CONNECTOR_HANG_AFTER": "2"})
    proc.start().wait_state(ProgramState.READY)
    log = sqlite3.connect(Settings.from_env().log_path, timeout=10, isolation_level=None)
    try:
        log.execute("BEGIN IMMEDIATE")
        broker.publish("sensors/door", ["held"], qos=1)
        wait_for(lambda: (s := proc.status()) and (s.last_error or "").startswith("hung: no progress"), 30,
                 "the connector to report itself hung")
    finally:
        log.execute("ROLLBACK")
        log.close()
    wait_for(lambda: topic_size("stuck") >= 1, 60, "the held message stored once the lock is free")
    wait_for(lambda: "making progress again; heartbeat resumed" in proc.log(), 30, "the heartbeat to resume")
    assert proc.stop() == 0
