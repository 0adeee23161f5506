"""A restarted connector program continues from what its topic holds (``fluvio_connectors.resume``).

Each program here gets ``FLUVIO_CONNECTOR_START_OFFSET`` as a runtime gives it: where the
connector's records begin in its topic. What a kill can leave behind (records flushed but never
counted in a status, a batch cut short) is in the topic, and the next run must find it there.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest
from connector_fixtures import Broker, ConnectorProcess, mqtt_config, read_topic, topic_size, wait_for

from fluvio_connectors.settings import Settings
from fluvio_connectors.status import ProgramState
from fluvio_connectors.topics.embedded import EmbeddedTopics

TEST = "fluvio_connectors.test_connector"
MQTT = "fluvio_connectors.mqtt"
START = "FLUVIO_CONNECTOR_START_OFFSET"
Make = Callable[..., ConnectorProcess]


def greeting(i: int) -> str:
    return f"Hello, Fluvio! - {i}"


def config(count: int, timeout: object = 1, topic: str = "greetings") -> dict[str, object]:
    return {"name": "my-test-connector", "type": "test-connector", "topic": topic, "create_topic": True,
            "parameters": {"count": count, "timeout": timeout}}


def fill(topic: str, values: list[str], key: str | None = "my-test-connector") -> int:
    """Append ``values`` to ``topic`` (created if missing) with ``key`` (a test connector's records
    are keyed by its name); returns the offset of the first."""
    with EmbeddedTopics(Settings.from_env().log_path) as topics:
        topics.create_topic(topic)
        first = topics.end_offset(topic)
        with topics.producer(topic) as producer:
            for value in values:
                producer.send(None if key is None else key.encode(), value.encode())
        return first


def values_from(topic: str, offset: int) -> list[str]:
    return [r.value_text() for r in read_topic(topic) if r.offset >= offset]


def test_count_greetings_follows_the_sequence_in_order() -> None:
    from fluvio_connectors.test_connector import count_greetings

    values = [b"x", b"Hello, Fluvio! - 1", b"Hello, Fluvio! - 3", b"Hello, Fluvio! - 2", b"y", b"Hello, Fluvio! - 3"]
    assert count_greetings("me", [(b"me", value) for value in values]) == 3
    assert count_greetings("me", []) == 0
    assert count_greetings("me", [(b"me", b"Hello, Fluvio! - 2")]) == 0
    # another test connector's greetings (another key, or none) are not this one's
    assert count_greetings("me", [(b"other", b"Hello, Fluvio! - 1"), (None, b"Hello, Fluvio! - 1")]) == 0


def test_two_test_connectors_on_one_topic_each_continue_their_own_sequence(connector: Make) -> None:
    """Issue 22: 5795 of 6000 after a kill -9, the resume count took the other's records for its own."""
    start = fill("shared", [])
    first = connector(TEST, config(count=400, timeout="2ms", topic="shared"), env={START: str(start)})
    second = connector(TEST, {**config(count=400, timeout="2ms", topic="shared"), "name": "another"},
                       env={START: str(start)}).start()
    first.start()
    wait_for(lambda: topic_size("shared") >= 250, 60, "records of both")
    first.signal(signal.SIGKILL)
    first.wait()
    first.start()
    assert first.wait(timeout=60) == 0 and second.wait(timeout=60) == 0
    records = read_topic("shared")
    for name in ("my-test-connector", "another"):
        assert [r.value_text() for r in records if r.key == name.encode()] == [greeting(i) for i in range(1, 401)]
    assert len(records) == 800


def test_a_restart_continues_after_what_the_topic_holds(connector: Make) -> None:
    # A deleted connector of the same name wrote 1..3 before this one was created (they stay and do
    # not count); this one's first run stored 1..17 (its last batch never reached its status) and
    # someone else wrote to the topic meanwhile.
    fill("greetings", [greeting(i) for i in (1, 2, 3)])
    start = fill("greetings", [greeting(i) for i in range(1, 10)])
    fill("greetings", ["someone else"], key=None)
    fill("greetings", [greeting(i) for i in range(10, 18)])
    proc = connector(TEST, config(count=40), env={START: str(start)}).start()
    assert proc.wait() == 0
    after = values_from("greetings", start)
    assert [v for v in after if v != "someone else"] == [greeting(i) for i in range(1, 41)]
    status = proc.status()
    assert status is not None and status.state is ProgramState.FINISHED
    assert status.records == 40 and status.records_known
    assert "resuming: 17 records of this connector are in topic greetings already" in proc.log()
    assert "finished: 40 records" in proc.log()


def test_a_restart_after_the_last_record_produces_nothing_more(connector: Make) -> None:
    start = fill("greetings", [greeting(i) for i in range(1, 6)])
    proc = connector(TEST, config(count=5), env={START: str(start)}).start()
    assert proc.wait() == 0
    assert values_from("greetings", 0) == [greeting(i) for i in range(1, 6)]
    status = proc.status()
    assert status is not None and status.state is ProgramState.FINISHED and status.records == 5


def test_sigkill_at_any_moment_leaves_each_greeting_exactly_once(connector: Make) -> None:
    count = 300
    proc = connector(TEST, config(count=count, timeout="2ms"), env={START: "0"})
    for threshold in (20, 75, 140, 210):  # killed four times, wherever the program is by then
        proc.start()
        wait_for(lambda t=threshold: topic_size("greetings") >= t, 60, f"{threshold} records")
        proc.signal(signal.SIGKILL)
        proc.wait()
    proc.start()
    assert proc.wait(timeout=60) == 0
    assert values_from("greetings", 0) == [greeting(i) for i in range(1, count + 1)]
    status = proc.status()
    assert status is not None and status.records == count


def test_without_a_start_offset_a_run_starts_at_1(connector: Make) -> None:
    """Run by hand (no runtime noted where the connector began): a new run, as before."""
    fill("greetings", [greeting(i) for i in (1, 2)])
    proc = connector(TEST, config(count=2)).start()
    assert proc.wait() == 0
    assert values_from("greetings", 0) == [greeting(i) for i in (1, 2, 1, 2)]


def test_a_bad_start_offset_is_a_config_error(connector: Make) -> None:
    proc = connector(TEST, config(count=2), env={START: "-3"}).start()
    assert proc.wait() == 2
    assert f"{START}='-3': expected the non-negative offset" in proc.log()
    assert "Traceback" not in proc.log()


@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGTERM])
def test_mqtt_status_counts_the_records_of_earlier_runs(
    broker: Broker, connector: Make, kill: signal.Signals
) -> None:
    """The status counted 2024 while the topic held 3000: a restarted MQTT connector counts what
    its topic holds (a kill may have left duplicates for the broker to redeliver: those count too)."""
    proc = connector(MQTT, mqtt_config(broker, "mqtt-records", qos=1), env={START: "0"}).start()
    proc.wait_state(ProgramState.READY)
    broker.publish("sensors/a", [f"m{i}" for i in range(300)], qos=1)
    wait_for(lambda: topic_size("mqtt-records") >= 300, 30, "300 records")
    proc.signal(kill)
    proc.wait()
    proc.start()
    proc.wait_state(ProgramState.READY)
    broker.publish("sensors/a", [f"n{i}" for i in range(200)], qos=1)
    wait_for(lambda: topic_size("mqtt-records") >= 500, 30, "500 records")

    def counted() -> bool:
        status = proc.status()
        return bool(status and status.records_known and status.records == topic_size("mqtt-records"))

    wait_for(counted, 30, "the status to count every record in the topic")
    status = proc.status()
    assert status is not None and status.records >= 500
    assert status.counters["messages"] <= status.records  # this run's messages, not all of them
