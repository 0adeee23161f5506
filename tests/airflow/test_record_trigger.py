"""FluvioRecordTrigger driven by Airflow 3.3's own shared-stream manager, on the embedded log and
(the tests taking ``topics_backend``) on a real Fluvio cluster too.

What a user relies on: one event per record with the documented payload; the consumer's position
committed only after Airflow confirmed the events stored; unconfirmed or failed events delivered
again; a filter that skips, reshapes or fails on records; a topic that appears later; nothing read
on the event loop thread; deterministic, primitive kwargs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from airflow.triggers.shared_stream import SharedStreamManager
from record_trigger_driver import Subscriber, wait_until

from airflow_provider_fluvio.triggers.records import FluvioRecordTrigger, fluvio_topic_watcher
from fluvio_connectors.errors import ConfigError
from fluvio_connectors.topics import open_topics
from fluvio_connectors.topics.embedded import EmbeddedTopics


def produce(topic: str, values: list[bytes | str], key: bytes | None = None) -> None:
    topics = open_topics()
    try:
        topics.create_topic(topic)
        with topics.producer(topic) as producer:
            producer.send_many([(key, v.encode() if isinstance(v, str) else v) for v in values])
    finally:
        topics.close()


def position(consumer: str, topic: str) -> int | None:
    topics = open_topics()
    try:
        return topics.consumer_position(consumer, topic)
    finally:
        topics.close()


@pytest.fixture
def events(topic_name: Callable[[str], str]) -> str:
    """The topic of a test: ``events``, made unique on a Fluvio cluster."""
    return topic_name("events")


def trigger(**kwargs: Any) -> FluvioRecordTrigger:
    args: dict[str, Any] = {"topic": "events", "consumer": "test", "start": "beginning", "poll_interval": 0.02}
    args.update(kwargs)
    return FluvioRecordTrigger(**args)


@pytest.fixture
def manager() -> SharedStreamManager:
    return SharedStreamManager(ack_timeout=60.0)


# -- construction and serialization -------------------------------------------------------------


def test_serialize_round_trips_through_primitives_and_hashes_the_same() -> None:
    first = FluvioRecordTrigger(
        "orders", fluvio_conn_id="fluvio_prod", consumer="orders-dag", start="beginning", partition=0,
        poll_interval=2, max_value_bytes=1024, apply_function="record_filters.tagged",
        apply_function_args=["x"], apply_function_kwargs={"upper": True}, hook_params={"state_dir": "/srv/f"},
    )
    classpath, kwargs = first.serialize()
    assert classpath == "airflow_provider_fluvio.triggers.records.FluvioRecordTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    again = FluvioRecordTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert BaseEventTrigger.hash(classpath, kwargs) == BaseEventTrigger.hash(*again.serialize())
    assert kwargs["poll_interval"] == 2.0 and kwargs["timeout"] is None


def test_the_default_consumer_is_stable_and_differs_when_records_are_shaped_differently() -> None:
    plain = FluvioRecordTrigger("orders")
    assert plain.consumer == FluvioRecordTrigger("orders").consumer
    assert plain.consumer.startswith("airflow-orders-")
    assert FluvioRecordTrigger("orders", apply_function="record_filters.even_offsets").consumer != plain.consumer
    # Tuning does not change who the consumer is.
    assert FluvioRecordTrigger("orders", poll_interval=9).consumer == plain.consumer


def test_construction_does_no_io(fluvio_home: Any) -> None:
    FluvioRecordTrigger("not-created-yet", fluvio_conn_id="no_such_connection", apply_function="no_such_pkg.f")
    assert list(fluvio_home.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"topic": "Bad_Topic"}, "'Bad_Topic' is not a valid topic name"),
        ({"consumer": "has space"}, "'has space' is not a valid consumer name"),
        ({"start": "middle"}, "start must be one of latest, beginning, got 'middle'"),
        ({"partition": -1}, "partition must be a whole number from 0, got -1"),
        ({"poll_interval": 0}, "poll_interval must be more than 0 seconds, got 0"),
        ({"max_value_bytes": -5}, "max_value_bytes must be a whole number from 0, got -5"),
        ({"apply_function": "os.system"}, "apply_function os.system is in the Python standard library"),
        ({"apply_function": "builtins.exec"}, "apply_function builtins.exec is in the Python standard library"),
        ({"apply_function": "lambda x: x"}, "apply_function must be the import path of a function"),
        ({"apply_function_args": [object()]}, "apply_function_args must be JSON"),
        ({"hook_params": {"port": {1, 2}}}, "hook_params must be JSON"),
    ],
)
def test_bad_arguments_fail_at_parse_time_in_one_line(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        trigger(**kwargs)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_it_is_an_event_trigger_an_asset_watcher_accepts() -> None:
    watcher = fluvio_topic_watcher("orders", consumer="orders-dag")
    assert isinstance(watcher.trigger, BaseEventTrigger)
    assert watcher.name == "fluvio-orders-orders-dag"


def test_message_queue_trigger_with_scheme_fluvio_is_this_trigger() -> None:
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    queued = MessageQueueTrigger(scheme="fluvio", topic="orders", fluvio_conn_id="fluvio_default", consumer="q")
    assert queued.serialize() == FluvioRecordTrigger("orders", consumer="q").serialize()


# -- events and commits through the shared stream ------------------------------------------------


async def test_one_event_per_record_and_commits_only_what_was_confirmed(
    manager: SharedStreamManager, topics_backend: str, events: str
) -> None:
    produce(events, ["r0", "r1", "r2", "r3", "r4"], key=b"k")
    sub = Subscriber(manager, trigger(topic=events), 1).start()
    try:
        await wait_until(lambda: len(sub.events) == 5, what="five events")
        first = sub.events[0].payload
        assert {k: v for k, v in first.items() if k != "timestamp"} == {
            "topic": events, "partition": 0, "offset": 0, "key": "k", "key_encoding": "utf-8",
            "value": "r0", "value_encoding": "utf-8", "value_size": 2,
        }
        assert first["timestamp"] > 1_700_000_000
        assert [e.payload["value"] for e in sub.events] == ["r0", "r1", "r2", "r3", "r4"]
        # Nothing confirmed stored yet: emitting the events did not move the position.
        assert position("test", events) == 0
        third, last = (sub.events[i].payload["offset"] + 1 for i in (2, 4))
        sub.confirm(3)
        await wait_until(lambda: position("test", events) == third, what="commit through the third record")
        sub.confirm()
        await wait_until(lambda: position("test", events) == last, what="commit through the fifth record")
        produce(events, ["r5"])
        await wait_until(lambda: len(sub.events) == 6, what="the new record")
        assert sub.events[5].payload["value"] == "r5"
        assert sub.error is None
    finally:
        await sub.stop()


async def test_a_restart_delivers_again_what_was_never_confirmed(
    manager: SharedStreamManager, topics_backend: str, events: str
) -> None:
    produce(events, [f"r{i}" for i in range(6)])
    sub = Subscriber(manager, trigger(topic=events), 1).start()
    await wait_until(lambda: len(sub.events) == 6, what="six events")
    sub.confirm(2)
    second = sub.events[1].payload["offset"] + 1
    await wait_until(lambda: position("test", events) == second, what="commit through the second record")
    await sub.stop()  # the triggerer went away with four events unconfirmed

    again = Subscriber(SharedStreamManager(), trigger(topic=events), 7).start()
    try:
        await wait_until(lambda: len(again.events) == 4, what="the unconfirmed events again")
        assert [e.payload["value"] for e in again.events] == ["r2", "r3", "r4", "r5"]
        assert again.offsets() == [e.payload["offset"] for e in sub.events[2:]]
    finally:
        await again.stop()


async def test_an_ack_timeout_delivers_the_record_again_in_the_same_session() -> None:
    produce("events", ["r0", "r1", "r2"])
    manager = SharedStreamManager(ack_timeout=0.3)
    sub = Subscriber(manager, trigger(), 1).start()
    other = Subscriber(manager, trigger(), 2).start()  # a sibling on the same consumer keeps the stream alive
    try:
        await wait_until(lambda: len(other.events) >= 3, what="the sibling's events")
        other.confirm()
        # `sub` never confirms: it is force-failed, and the producer reads from offset 0 again.
        await wait_until(lambda: len(other.events) >= 6, what="the failed records delivered again")
        assert other.offsets()[:6] == [0, 1, 2, 0, 1, 2]
        assert position("test", "events") == 0  # the failure holds the position until they are stored
        other.confirm()
        await wait_until(lambda: position("test", "events") == 3, what="the redelivered records committed")
    finally:
        await sub.stop()
        await other.stop()
    assert sub.error is not None and "did not finish processing" in str(sub.error)


async def test_records_beyond_max_in_flight_wait_for_confirmations(manager: SharedStreamManager) -> None:
    produce("events", [f"r{i}" for i in range(20)])
    sub = Subscriber(manager, trigger(max_in_flight=5), 1).start()
    try:
        await wait_until(lambda: len(sub.events) == 5, what="five events")
        sub.confirm()
        await wait_until(lambda: len(sub.events) == 10, what="five more events")
        await wait_until(lambda: (sub.confirm(), len(sub.events) == 20)[1], what="all twenty events, confirming as they come")
        sub.confirm()
        await wait_until(lambda: position("test", "events") == 20, what="all committed")
        assert sub.offsets() == list(range(20))
        # Checked as each event arrived, so a sixth one before the first confirmation would show.
        assert sub.most_unconfirmed == 5
    finally:
        await sub.stop()


async def test_start_latest_skips_what_was_there_before_the_first_start(
    manager: SharedStreamManager, topics_backend: str, events: str
) -> None:
    produce(events, ["old"])
    sub = Subscriber(manager, trigger(topic=events, start="latest"), 1).start()
    try:
        await wait_until(lambda: position("test", events) == 1, what="the start committed")
        produce(events, ["new"])
        await wait_until(lambda: len(sub.events) == 1, what="the new record")
        assert sub.events[0].payload["value"] == "new"
    finally:
        await sub.stop()


async def test_start_latest_on_an_empty_topic_keeps_what_comes_while_the_triggerer_is_away(
    manager: SharedStreamManager, topics_backend: str, events: str
) -> None:
    produce(events, [])
    first = Subscriber(manager, trigger(topic=events, start="latest"), 1).start()
    await wait_until(lambda: position("test", events) == 0, what="the start committed")
    await first.stop()
    produce(events, ["while-away"])  # no watcher runs
    again = Subscriber(SharedStreamManager(), trigger(topic=events, start="latest"), 2).start()
    try:
        await wait_until(lambda: len(again.events) == 1, what="the record written while away")
        assert again.events[0].payload["value"] == "while-away"
    finally:
        await again.stop()


async def test_a_topic_created_after_the_watcher_started_is_read_from_its_first_record(
    manager: SharedStreamManager, caplog: pytest.LogCaptureFixture, topics_backend: str, topic_name: Callable[[str], str]
) -> None:
    later = topic_name("later")
    sub = Subscriber(manager, trigger(topic=later, start="latest"), 1).start()
    try:
        await wait_until(lambda: f"Topic {later} does not exist (yet)" in caplog.text, what="the watcher to wait for the topic")
        produce(later, ["a", "b"])
        await wait_until(lambda: len(sub.events) == 2, what="both records of the new topic")
        assert [e.payload["value"] for e in sub.events] == ["a", "b"]
    finally:
        await sub.stop()


async def test_a_topic_deleted_and_created_again_is_read_from_its_first_record(manager: SharedStreamManager) -> None:
    produce("events", ["old-0", "old-1", "old-2"])
    sub = Subscriber(manager, trigger(), 1).start()
    try:
        await wait_until(lambda: len(sub.events) == 3, what="the old records")
        sub.confirm()
        await wait_until(lambda: position("test", "events") == 3, what="the old records committed")
        topics = open_topics()
        try:
            topics.delete_topic("events")
        finally:
            topics.close()
        produce("events", ["new-0"])
        await wait_until(lambda: len(sub.events) == 4, what="the new topic's record")
        assert sub.events[3].payload["value"] == "new-0" and sub.events[3].payload["offset"] == 0
        sub.confirm()
        await wait_until(lambda: position("test", "events") == 1, what="the new topic's position")
        assert sub.error is None
    finally:
        await sub.stop()


class Gate:
    """Holds the next read of the embedded log (in its worker thread) until released: what happens
    meanwhile happens between two reads."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.armed = threading.Event()
        self.held = threading.Event()
        self.release = threading.Event()
        real = EmbeddedTopics.read

        def read(topics: EmbeddedTopics, *args: Any, **kwargs: Any) -> Any:
            if self.armed.is_set():
                self.armed.clear()
                self.held.set()
                self.release.wait(30)
            return real(topics, *args, **kwargs)

        monkeypatch.setattr(EmbeddedTopics, "read", read)


def replace_topic(topic: str, values: list[str]) -> None:
    topics = open_topics()
    try:
        topics.delete_topic(topic)
    finally:
        topics.close()
    produce(topic, values)


async def test_a_topic_replaced_and_refilled_between_two_reads_is_read_from_its_first_record(
    manager: SharedStreamManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22: 100 records consumed, the topic deleted, created again and refilled with 150 before
    the next read: only 50 were delivered (from offset 100), silently."""
    produce("events", [f"old-{i}" for i in range(100)])
    gate = Gate(monkeypatch)
    sub = Subscriber(manager, trigger(), 1).start()
    try:
        await wait_until(lambda: len(sub.events) == 100, what="the old records")
        sub.confirm()
        await wait_until(lambda: position("test", "events") == 100, what="the old records committed")
        gate.armed.set()
        await wait_until(gate.held.is_set, what="the next read to be held")
        replace_topic("events", [f"new-{i}" for i in range(150)])
        gate.release.set()
        await wait_until(lambda: len(sub.events) == 250, what="every record of the new topic")
        assert [e.payload["value"] for e in sub.events[100:]] == [f"new-{i}" for i in range(150)]
        sub.confirm()
        await wait_until(lambda: position("test", "events") == 150, what="the new topic's records committed")
        assert sub.error is None
    finally:
        await sub.stop()


async def test_without_shared_streams_a_replaced_topic_is_read_from_its_first_record(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    produce("events", [f"old-{i}" for i in range(5)])
    run = trigger(consumer="standalone").run()
    assert [(await asyncio.wait_for(run.__anext__(), 20)).payload["value"] for _ in range(5)] == [
        f"old-{i}" for i in range(5)]
    gate = Gate(monkeypatch)
    gate.armed.set()
    nxt = asyncio.ensure_future(run.__anext__())
    await wait_until(gate.held.is_set, what="the next read to be held")
    replace_topic("events", [f"new-{i}" for i in range(8)])
    gate.release.set()
    values = [(await asyncio.wait_for(nxt, 20)).payload["value"]]
    values += [(await asyncio.wait_for(run.__anext__(), 20)).payload["value"] for _ in range(7)]
    assert values == [f"new-{i}" for i in range(8)]
    await run.aclose()


async def test_values_no_event_carries_are_never_read(manager: SharedStreamManager, monkeypatch: pytest.MonkeyPatch) -> None:
    """The triggerer hosts every DAG's triggers: it holds neither a batch of big records nor any
    value an event leaves out (issue 22: 1.1 GB over 40 records of 25 MB)."""
    produce("events", [b"s", b"b" * 200_000, b"t", b"c" * 300_000])
    asked: list[dict[str, Any]] = []
    real = EmbeddedTopics.read

    def read(topics: EmbeddedTopics, *args: Any, **kwargs: Any) -> Any:
        records = real(topics, *args, **kwargs)
        asked.append({**kwargs, "largest": max((len(r.value) for r in records), default=0)})
        return records

    monkeypatch.setattr(EmbeddedTopics, "read", read)
    sub = Subscriber(manager, trigger(max_value_bytes=1000), 1).start()
    try:
        await wait_until(lambda: len(sub.events) == 4, what="four events")
    finally:
        await sub.stop()
    assert [(e.payload["value"], e.payload["value_encoding"], e.payload["value_size"]) for e in sub.events] == [
        ("s", "utf-8", 1), (None, "omitted", 200_000), ("t", "utf-8", 1), (None, "omitted", 300_000)]
    assert asked and all(a["max_value_bytes"] == 1000 and a["max_bytes"] == 8 * 1024 * 1024 for a in asked)
    assert max(a["largest"] for a in asked) == 1  # the large values never left the database


async def test_a_log_that_looks_shorter_while_the_position_is_kept_is_waited_out_not_read_again(
    manager: SharedStreamManager, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What turned a broken view of the embedded log (its SQLite locks lost) into every record
    delivered again: an empty read and an end before the position were taken for a new topic."""
    produce("events", ["r0", "r1", "r2"])
    sub = Subscriber(manager, trigger(), 1).start()
    try:
        await wait_until(lambda: len(sub.events) == 3, what="three events")
        sub.confirm()
        await wait_until(lambda: position("test", "events") == 3, what="the records committed")
        broken = {"on": True}
        real_read, real_end = EmbeddedTopics.read, EmbeddedTopics.end_offset
        monkeypatch.setattr(EmbeddedTopics, "read", lambda self, *a, **k: [] if broken["on"] else real_read(self, *a, **k))
        monkeypatch.setattr(EmbeddedTopics, "end_offset", lambda self, *a, **k: 0 if broken["on"] else real_end(self, *a, **k))
        await wait_until(lambda: "ends at offset 0, before consumer test's committed position 3" in caplog.text,
                         what="the watcher to wait out the short log")
        broken["on"] = False
        produce("events", ["r3"])
        await wait_until(lambda: len(sub.events) == 4, what="the next record")
        sub.confirm()
        await wait_until(lambda: position("test", "events") == 4, what="the next record committed")
        assert sub.offsets() == [0, 1, 2, 3]
        assert "was deleted and created again" not in caplog.text
    finally:
        await sub.stop()


async def test_binary_and_oversized_values(manager: SharedStreamManager) -> None:
    blob = bytes([0xFF, 0x00, 0x80, 0x41])  # not UTF-8
    produce("events", [blob, b"x" * 101, "é"])
    sub = Subscriber(manager, trigger(max_value_bytes=100), 1).start()
    try:
        await wait_until(lambda: len(sub.events) == 3, what="three events")
        binary, big, text = (e.payload for e in sub.events)
    finally:
        await sub.stop()
    assert binary["value_encoding"] == "base64" and base64.b64decode(binary["value"]) == blob
    assert big["value"] is None and big["value_encoding"] == "omitted" and big["value_size"] == 101
    assert text["value"] == "é" and text["value_size"] == 2


async def test_a_filter_skips_reshapes_and_its_failures_skip_one_record(manager: SharedStreamManager) -> None:
    produce("events", [f"r{i}" for i in range(6)])
    even = Subscriber(manager, trigger(consumer="even", apply_function="record_filters.even_offsets"), 1).start()
    shaped = Subscriber(
        manager,
        trigger(consumer="shaped", apply_function="record_filters.tagged", apply_function_args=["t"],
                apply_function_kwargs={"upper": True}),
        2,
    ).start()
    fragile = Subscriber(manager, trigger(consumer="fragile", apply_function="record_filters.explode_on_three"), 3).start()
    asynchronous = Subscriber(manager, trigger(consumer="async", apply_function="record_filters.async_keep_all"), 4).start()
    try:
        await wait_until(lambda: len(even.events) == 3 and len(shaped.events) == 6, what="filtered events")
        await wait_until(lambda: len(fragile.events) == 5 and len(asynchronous.events) == 6, what="all events")
        for sub in (even, shaped, fragile, asynchronous):
            sub.confirm()
        assert even.offsets() == [0, 2, 4]
        assert shaped.events[1].payload == {"tag": "t", "value": "R1", "offset": 1}
        assert [e.payload["value"] for e in fragile.events] == ["r0", "r1", "r2", "r4", "r5"]
        # Skipped and refused records are handled: every consumer commits to the end.
        for name in ("even", "shaped", "fragile", "async"):
            await wait_until(lambda name=name: position(name, "events") == 6, what=f"{name} committed to the end")
    finally:
        for sub in (even, shaped, fragile, asynchronous):
            await sub.stop()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("record_filters.missing", "apply_function record_filters.missing: record_filters has no attribute missing"),
        ("record_filters.NOT_A_FUNCTION", "apply_function record_filters.NOT_A_FUNCTION is a int, not a function"),
        ("record_filters.Callable", "apply_function record_filters.Callable is a type, not a function"),
        ("no_such_package.f", "apply_function no_such_package.f: cannot import no_such_package"),
    ],
)
async def test_a_filter_that_cannot_be_loaded_skips_records_with_the_reason_logged(
    manager: SharedStreamManager, caplog: pytest.LogCaptureFixture, path: str, message: str
) -> None:
    produce("events", ["r0"])
    sub = Subscriber(manager, trigger(apply_function=path), 1).start()
    try:
        await wait_until(lambda: position("test", "events") == 1, what="the refused record committed past")
    finally:
        await sub.stop()
    assert sub.events == []
    assert any(message in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]


async def test_the_backend_is_only_called_from_worker_threads_and_the_loop_keeps_running(
    manager: SharedStreamManager, monkeypatch: pytest.MonkeyPatch, topics_backend: str, events: str
) -> None:
    from fluvio_connectors.topics.fluvio import FluvioTopics

    backend_class = FluvioTopics if topics_backend == "fluvio" else EmbeddedTopics
    loop_thread = threading.get_ident()
    calls: list[tuple[str, bool]] = []
    for name in ("read", "commit", "consumer_position", "end_offset"):
        original = getattr(backend_class, name)

        def spy(self: Any, *args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            calls.append((_name, threading.get_ident() == loop_thread))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(backend_class, name, spy)
    ticks = 0

    async def tick() -> None:  # another coroutine of the triggerer's event loop
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    produce(events, ["r0"])
    sub = Subscriber(manager, trigger(topic=events), 1).start()
    try:
        await wait_until(lambda: len(sub.events) == 1, what="one event")
        sub.confirm()
        await wait_until(lambda: [name for name, _ in calls].count("commit") == 2, what="the commit after the start")
        # Reading on at the end of the topic: the loop must keep turning while the reads wait.
        reads = [name for name, _ in calls].count("read")
        at_start = ticks
        await wait_until(lambda: [name for name, _ in calls].count("read") >= reads + 10, what="ten more reads")
        assert ticks - at_start >= 10, f"the event loop turned only {ticks - at_start} times during ten reads"
    finally:
        ticker.cancel()
        await sub.stop()
    assert {name for name, _ in calls} >= {"read", "commit", "consumer_position"}
    assert not [name for name, on_loop in calls if on_loop], calls
    assert position("test", events) == sub.events[0].payload["offset"] + 1


async def test_a_fluvio_endpoint_nobody_listens_on_fails_the_watcher_in_one_line(manager: SharedStreamManager) -> None:
    sub = Subscriber(manager, trigger(hook_params={"host": "127.0.0.1", "port": 9}), 1).start()
    await wait_until(lambda: sub.task is not None and sub.task.done(), what="the trigger to fail")
    assert str(sub.error).startswith("cannot connect to Fluvio at 127.0.0.1:9")
    assert "\n" not in str(sub.error)


# -- standalone run(): Airflow 3.0-3.2, and a task deferring with a timeout ------------------------


async def test_run_with_a_timeout_ends_with_a_timeout_event() -> None:
    produce("events", [])
    event = await asyncio.wait_for(trigger(timeout=0.3).run().__anext__(), 20)
    assert isinstance(event, TriggerEvent)
    assert event.payload == {
        "status": "timeout", "topic": "events", "partition": 0, "message": "no record in topic events within 0.3 s",
    }


async def test_run_with_a_timeout_returns_the_next_record_and_commits_it(topics_backend: str, events: str) -> None:
    produce(events, ["r0", "r1"])
    first = trigger(topic=events, timeout=30, consumer="once")
    run = first.run()
    event = await asyncio.wait_for(run.__anext__(), 60)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(run.__anext__(), 60)
    assert event.payload["value"] == "r0"
    assert position("once", events) == event.payload["offset"] + 1
    event = await asyncio.wait_for(trigger(topic=events, timeout=30, consumer="once").run().__anext__(), 60)
    assert event.payload["value"] == "r1"


async def test_run_without_shared_streams_yields_every_record_and_commits_batches() -> None:
    produce("events", ["r0", "r1", "r2"])
    standalone = trigger(consumer="old-airflow")
    run = standalone.run()
    payloads = [(await asyncio.wait_for(run.__anext__(), 20)).payload for _ in range(3)]
    assert [p["value"] for p in payloads] == ["r0", "r1", "r2"]
    produce("events", ["r3"])
    assert (await asyncio.wait_for(run.__anext__(), 20)).payload["value"] == "r3"
    assert position("old-airflow", "events") == 3  # the batch r0..r2 was committed before reading on
    await run.aclose()
