"""The MQTT source against a real broker: records, qos, sessions, TLS, credentials, failures."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from connector_fixtures import (
    Broker,
    ConnectorProcess,
    TlsMaterial,
    mqtt_config,
    read_topic,
    topic_size,
    wait_for,
)
from hostile_broker import HostileBroker, publish

from fluvio_connectors.settings import Settings
from fluvio_connectors.status import ProgramState

MQTT = "fluvio_connectors.mqtt"
Make = Callable[..., ConnectorProcess]


def values(topic: str) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in read_topic(topic)]


def wait_records(topic: str, count: int, timeout: float = 30) -> None:
    wait_for(lambda: topic_size(topic) >= count, timeout, f"{count} records in topic {topic}")


def payload_texts(topic: str) -> list[str]:
    return [bytes(v["payload"]).decode() for v in values(topic)]


def test_messages_become_records_in_order_with_the_exact_json(broker: Broker, connector: Make) -> None:
    proc = connector(MQTT, mqtt_config(broker, "readings", **{"mqtt-topic": "sensors/#"})).start()
    proc.wait_state(ProgramState.READY)
    payloads = [f"reading {i}" for i in range(200)]
    broker.publish("sensors/kitchen", payloads, qos=1)
    wait_records("readings", 200)

    records = read_topic("readings")
    assert [r.key for r in records] == [None] * 200
    assert [r.offset for r in records] == list(range(200))
    assert [r.value for r in records] == [
        ('{"mqtt_topic":"sensors/kitchen","payload":[' + ",".join(str(b) for b in p.encode()) + "]}").encode()
        for p in payloads
    ]
    assert proc.stop() == 0
    assert proc.status().state is ProgramState.STOPPED  # type: ignore[union-attr]
    assert topic_size("readings") == 200


def test_wildcards_and_several_filters(broker: Broker, connector: Make) -> None:
    config = mqtt_config(broker, "matched", **{"mqtt-topic": ["sensors/+/temp", "alerts/#"]})
    proc = connector(MQTT, config).start()
    proc.wait_state(ProgramState.READY)
    for topic in ("sensors/a/temp", "sensors/a/humidity", "sensors/a/b/temp", "alerts", "alerts/fire/1",
                  "other/x", "sensors/b/temp", "alerts/fence"):
        broker.publish(topic, [topic], qos=1)
    # The last message matches (a fence): once it is stored, any wrongly matched one before it is too.
    wait_records("matched", 5)
    assert [(v["mqtt_topic"], bytes(v["payload"]).decode()) for v in values("matched")] == [
        (t, t) for t in ("sensors/a/temp", "alerts", "alerts/fire/1", "sensors/b/temp", "alerts/fence")
    ]


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_each_qos_delivers_every_message_once_while_connected(
    broker: Broker, connector: Make, qos: int
) -> None:
    proc = connector(MQTT, mqtt_config(broker, "by-qos", qos=qos)).start()
    proc.wait_state(ProgramState.READY)
    broker.publish("sensors/q", [f"m{i}" for i in range(300)], qos=qos)
    wait_records("by-qos", 300)
    assert payload_texts("by-qos") == [f"m{i}" for i in range(300)]
    assert proc.stop() == 0
    status = proc.status()
    assert status is not None and status.records == 300 and status.counters["messages"] == 300


@pytest.mark.parametrize("qos", [1, 2])
def test_messages_published_while_the_connector_is_down_wait_in_its_session(
    broker: Broker, connector: Make, qos: int
) -> None:
    proc = connector(MQTT, mqtt_config(broker, "queued", qos=qos)).start()
    proc.wait_state(ProgramState.READY)
    broker.publish("sensors/x", ["before"], qos=qos)
    wait_records("queued", 1)
    assert proc.stop() == 0

    broker.publish("sensors/x", [f"while down {i}" for i in range(50)], qos=qos)
    proc.start().wait_state(ProgramState.READY)
    wait_records("queued", 51)
    assert payload_texts("queued") == ["before"] + [f"while down {i}" for i in range(50)]


def test_qos0_uses_a_clean_session_so_nothing_waits_while_down(broker: Broker, connector: Make) -> None:
    proc = connector(MQTT, mqtt_config(broker, "clean", qos=0)).start()
    proc.wait_state(ProgramState.READY)
    assert proc.stop() == 0
    broker.publish("sensors/x", ["missed"], qos=1)
    proc.start().wait_state(ProgramState.READY)
    broker.publish("sensors/x", ["seen"], qos=1)
    # A session kept by the broker would hand over "missed" at the reconnect, before "seen".
    wait_for(lambda: "seen" in payload_texts("clean"), 30, "the message published after the restart")
    assert payload_texts("clean") == ["seen"]


@pytest.mark.parametrize("qos", [0, 1])
def test_a_slow_topic_backend_makes_the_connector_wait_never_drop(
    broker: Broker, connector: Make, qos: int
) -> None:
    proc = connector(MQTT, mqtt_config(broker, "slow", qos=qos)).start()
    proc.wait_state(ProgramState.READY)
    total = 10_000  # more than the connector buffers: the rest must wait in sockets and the broker
    log = sqlite3.connect(Settings.from_env().log_path, timeout=10, isolation_level=None)
    try:
        log.execute("BEGIN IMMEDIATE")  # the backend stalls: every write waits for this lock
        broker.publish("sensors/slow", [f"{i}" for i in range(total)], qos=qos)
        assert topic_size_while_locked(log, "slow") == 0
    finally:
        log.execute("ROLLBACK")
        log.close()
    wait_records("slow", total, timeout=60)
    assert payload_texts("slow") == [f"{i}" for i in range(total)]
    assert proc.stop() == 0


def rss_mib(pid: int) -> float:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_a_stalled_backend_leaves_the_flood_in_the_broker_not_in_memory(broker: Broker, connector: Make) -> None:
    proc = connector(MQTT, mqtt_config(broker, "flood", qos=0)).start()
    proc.wait_state(ProgramState.READY)
    before = rss_mib(proc.pid)
    total, payload = 20_000, b"p" * 1024  # 20 MiB: far more than the connector may hold
    log = sqlite3.connect(Settings.from_env().log_path, timeout=10, isolation_level=None)
    try:
        log.execute("BEGIN IMMEDIATE")
        broker.publish("sensors/flood", [payload] * total, qos=0)
        grown = rss_mib(proc.pid) - before
    finally:
        log.execute("ROLLBACK")
        log.close()
    assert grown < 12, f"the connector grew by {grown:.1f} MiB while its backend was stalled"
    wait_records("flood", total, timeout=60)
    assert proc.stop() == 0


def topic_size_while_locked(log: sqlite3.Connection, topic: str) -> int:
    row = log.execute(
        "SELECT p.next_offset FROM partitions p JOIN topics t ON t.id = p.topic_id WHERE t.name = ?", (topic,)
    ).fetchone()
    return int(row[0]) if row else 0


def test_json_payloads_and_invalid_json_is_counted_and_reported(broker: Broker, connector: Make) -> None:
    config = mqtt_config(broker, "json-out", **{"payload-output-type": "json"})
    proc = connector(MQTT, config).start()
    proc.wait_state(ProgramState.READY)
    broker.publish("sensors/j", ['{"t": 21.5, "unit": "C"}', "[1, 2]", "not json", '"text"', b"\xff", "7"])
    wait_records("json-out", 4)
    wait_for(lambda: (s := proc.status()) and s.counters.get("invalid_json") == 2, 10, "invalid_json == 2")
    assert [r.value for r in read_topic("json-out")] == [
        b'{"mqtt_topic":"sensors/j","payload":{"t":21.5,"unit":"C"}}',
        b'{"mqtt_topic":"sensors/j","payload":[1,2]}',
        b'{"mqtt_topic":"sensors/j","payload":"text"}',
        b'{"mqtt_topic":"sensors/j","payload":7}',
    ]
    status = proc.status()
    assert status is not None and status.state is ProgramState.READY
    assert status.counters["messages"] == 6
    assert "not valid JSON" in (status.last_error or "")
    assert "not valid JSON" in proc.log()
    assert proc.stop() == 0


def test_binary_payloads_keep_every_byte(broker: Broker, connector: Make) -> None:
    proc = connector(MQTT, mqtt_config(broker, "bin", **{"payload-output-type": "binary"})).start()
    proc.wait_state(ProgramState.READY)
    broker.publish("sensors/b", [bytes(range(256)), b""])
    wait_records("bin", 2)
    assert [v["payload"] for v in values("bin")] == [list(range(256)), []]


def test_tls_with_a_private_ca_and_client_certificate(
    broker_factory: Callable[..., Broker], connector: Make, tls_material: TlsMaterial
) -> None:
    broker = broker_factory(tls=tls_material, require_client_cert=True)
    secrets = {
        "MQTT_CA_CERT": tls_material.ca_pem.replace("\n", "\\n"),
        "MQTT_CLIENT_CERT": tls_material.client_cert_pem.replace("\n", "\\n"),
        "MQTT_CLIENT_KEY": tls_material.client_key_pem.replace("\n", "\\n"),
    }
    # A NAME=VALUE secrets file holds one line per secret: PEM newlines written as \n.
    proc = connector(MQTT, mqtt_config(broker, "secure"), secrets=secrets).start()
    proc.wait_state(ProgramState.READY)
    broker.publish("sensors/tls", ["over tls"])
    wait_records("secure", 1)
    assert payload_texts("secure") == ["over tls"]
    assert "BEGIN" not in proc.log()  # no certificate or key material in the log


def test_tls_refuses_a_broker_the_ca_does_not_vouch_for(
    broker_factory: Callable[..., Broker], connector: Make, tls_material: TlsMaterial
) -> None:
    broker = broker_factory(tls=tls_material)
    proc = connector(MQTT, mqtt_config(broker, "untrusted")).start()  # system CAs only
    status = proc.wait_state(ProgramState.RECONNECTING)
    assert "certificate verify failed" in (status.last_error or "").lower()
    assert proc.stop() == 0


def test_username_and_password_from_the_secrets_file(
    broker_factory: Callable[..., Broker], connector: Make
) -> None:
    broker = broker_factory(users={"sensor-reader": "s3cret-pass"})
    secrets = {"MQTT_USERNAME": "sensor-reader", "MQTT_PASSWORD": "s3cret-pass"}
    proc = connector(MQTT, mqtt_config(broker, "authed"), secrets=secrets).start()
    proc.wait_state(ProgramState.READY)
    broker.publish("sensors/a", ["authenticated"])
    wait_records("authed", 1)
    assert proc.stop() == 0
    assert "s3cret-pass" not in proc.log()


def test_a_password_with_url_delimiters_reaches_the_broker_as_written(
    broker_factory: Callable[..., Broker], connector: Make
) -> None:
    """Percent-encoded in the URL, or a secret put into it: the broker gets the password itself
    (issue 22: ``p%40ss`` was sent undecoded, a secret holding ``/`` was refused as a bad port)."""
    password = "p@ss/w#rd?50%"
    broker = broker_factory(users={"sensor-reader": password})
    address = broker.url.split("://", 1)[1]
    encoded = f"mqtt://sensor-reader:p%40ss%2Fw%23rd%3F50%25@{address}"
    referenced = "mqtt://sensor-reader:${{ secrets.READER_PASSWORD }}@" + address
    for topic, url in (("encoded", encoded), ("referenced", referenced)):
        proc = connector(MQTT, mqtt_config(broker, topic, **{"mqtt-url": url}),
                         secrets={"READER_PASSWORD": password}).start()
        proc.wait_state(ProgramState.READY)
        broker.publish("sensors/a", [topic])
        wait_records(topic, 1)
        assert proc.stop() == 0
        assert password not in proc.log() and "p%40ss" not in proc.log()


def test_wrong_password_is_a_clear_fatal_error(
    broker_factory: Callable[..., Broker], connector: Make
) -> None:
    broker = broker_factory(users={"sensor-reader": "s3cret-pass"})
    url = broker.url.replace("mqtt://", "mqtt://sensor-reader:wrong-pass@")
    proc = connector(MQTT, mqtt_config(broker, "denied", **{"mqtt-url": url})).start()
    assert proc.wait(timeout=20) == 1
    status = proc.status()
    assert status is not None and status.state is ProgramState.FAILED
    assert "refused the connection" in (status.last_error or "")
    log = proc.log()
    assert "wrong-pass" not in log and "Traceback" not in log
    assert "refused the connection" in log.splitlines()[-1]


def test_broker_restart_while_running_reconnects_and_carries_on(
    broker: Broker, connector: Make
) -> None:
    proc = connector(MQTT, mqtt_config(broker, "restarts", timeout=2)).start()
    proc.wait_state(ProgramState.READY)
    broker.publish("sensors/r", [f"before {i}" for i in range(20)])
    wait_records("restarts", 20)

    broker.stop()
    status = proc.wait_state(ProgramState.RECONNECTING, timeout=15)
    assert "127.0.0.1" in (status.last_error or "")
    broker.start()
    status = proc.wait_state(ProgramState.READY, timeout=20)
    broker.publish("sensors/r", [f"after {i}" for i in range(20)])
    wait_records("restarts", 40)
    assert payload_texts("restarts") == [f"before {i}" for i in range(20)] + [f"after {i}" for i in range(20)]
    assert proc.status().counters["reconnects"] >= 1  # type: ignore[union-attr]
    assert "lost the connection" in proc.log()


def test_started_before_the_broker_it_is_ready_only_once_subscribed(connector: Make, broker: Broker) -> None:
    broker.stop()
    proc = connector(MQTT, mqtt_config(broker, "late", timeout=1)).start()
    status = proc.wait_state(ProgramState.RECONNECTING)
    assert "cannot connect" in (status.last_error or "")
    broker.start()
    proc.wait_state(ProgramState.READY, timeout=20)
    broker.publish("sensors/late", ["hello"])
    wait_records("late", 1)


@pytest.mark.parametrize(("qos", "total"), [(1, 10_000), (2, 3_000)])
def test_sigkill_in_the_middle_of_a_stream_loses_nothing(
    broker: Broker, connector: Make, qos: int, total: int, topics_backend: str, topic_name: Callable[[str], str]
) -> None:
    if broker.kind == "amqtt":
        pytest.skip("amqtt 0.12 does not send unacknowledged qos 1 messages again when a persistent session "
                    "resumes (MQTT-4.4.0-1), so no client can be at-least-once across a crash with it; "
                    "this test needs mosquitto")
    crash = topic_name("crash")
    proc = connector(MQTT, mqtt_config(broker, crash, qos=qos)).start()
    proc.wait_state(ProgramState.READY)

    published: list[int] = []
    errors: list[BaseException] = []

    def publish() -> None:
        try:
            for start in range(0, total, 500):  # in chunks, so the stream lasts past the kill
                payloads = [f"{i}" for i in range(start, start + 500)]
                published.append(broker.publish("sensors/s", payloads, qos=qos))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    publisher = threading.Thread(target=publish)
    publisher.start()
    wait_records(crash, total // 5, timeout=60)
    proc.signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    killed_at = topic_size(crash)
    publisher.join(timeout=120)
    assert not errors and sum(published) == total

    proc.start().wait_state(ProgramState.READY)
    wait_for(lambda: len({bytes(v["payload"]) for v in values(crash)}) >= total, 60,
             f"all {total} messages in the topic")
    counts = Counter(int(bytes(v["payload"]).decode()) for v in values(crash))
    missing = set(range(total)) - set(counts)
    duplicates = sum(n - 1 for n in counts.values())
    print(f"killed with {killed_at} records stored; {duplicates} duplicates after the restart")
    assert not missing
    assert set(counts) == set(range(total))
    assert proc.stop() == 0
    # Every duplicate is a message the broker sent again (DUP flag), and the status counts those.
    status = proc.status()
    assert status is not None and status.counters.get("redelivered", 0) >= duplicates


def test_sigterm_stores_and_acknowledges_everything_received_then_exits_0(
    broker: Broker, connector: Make
) -> None:
    proc = connector(MQTT, mqtt_config(broker, "graceful", qos=1)).start()
    proc.wait_state(ProgramState.READY)
    broker.publish("sensors/g", [f"{i}" for i in range(3_000)])
    proc.signal(signal.SIGTERM)
    # 0, not the 1 of a stop that outlasted FLUVIO_CONNECTOR_STOP_GRACE.
    assert proc.wait(timeout=30) == 0
    status = proc.status()
    assert status is not None and status.state is ProgramState.STOPPED
    assert topic_size("graceful") == status.records  # everything counted is stored

    proc.start().wait_state(ProgramState.READY)
    # The broker redelivers what was not acknowledged at the reconnect, before anything new: a
    # message published now is the fence after any duplicate.
    broker.publish("sensors/g", ["fence"])
    wait_for(lambda: "fence" in payload_texts("graceful"), 30, "the fence after the restart")
    counts = Counter(payload_texts("graceful"))
    assert set(counts) == {f"{i}" for i in range(3_000)} | {"fence"}
    assert max(counts.values()) == 1  # acknowledged before disconnecting: nothing comes twice


def test_mqtt311_only_broker_is_used_with_mqtt_3_1_1(
    broker_factory: Callable[..., Broker], connector: Make
) -> None:
    broker = broker_factory(kind="amqtt")
    proc = connector(MQTT, mqtt_config(broker, "v311", qos=1)).start()
    proc.wait_state(ProgramState.READY, timeout=30)
    broker.publish("sensors/v", [f"{i}" for i in range(100)])
    wait_records("v311", 100)
    assert payload_texts("v311") == [f"{i}" for i in range(100)]
    assert "switching to MQTT 3.1.1" in proc.log()


def test_a_test_connector_config_is_refused(connector: Make) -> None:
    config = {"name": "wrong-program", "type": "test-connector", "topic": "t", "create_topic": True}
    proc = connector(MQTT, config).start()
    assert proc.wait() == 2
    assert "this program runs mqtt connectors" in proc.log()


def test_messages_over_max_message_size_are_skipped_counted_and_acknowledged(connector: Make) -> None:
    """Issue 22: a 255 MB payload took 4.4 GB and crash-looped forever. A broker that ignores the
    Maximum Packet Size the connector announces sends 20 MB, then just over max-message-size, then
    a small message: the first two are skipped (topic and size logged and counted, acknowledged so
    the broker does not send them again), the third is stored."""
    broker = HostileBroker(packets=[publish("big/one", 20 * 1024 * 1024, 1), publish("big/two", 65_000, 2),
                                    publish("small/one", 5, 3)])
    try:
        config = mqtt_config(None, "sized", **{"mqtt-url": broker.url, "max-message-size": "64kb", "qos": 1})
        proc = connector(MQTT, config).start()
        wait_records("sized", 1)
        wait_for(lambda: sorted(broker.acked) == [1, 2, 3], 30, "every message acknowledged")
        assert payload_texts("sized") == ["ppppp"]
        status = wait_for(lambda: (s := proc.status()) is not None and s.counters.get("too_large") == 2 and s,
                          30, "the status to count the skipped messages")
        assert status.counters["messages"] == 3
        log = proc.log()
        assert "message on 'big/one' (20971520 bytes) not stored: larger than max-message-size (64000 bytes)" in log
        # further ones within a minute are summed up in the log; the status says the last one
        assert status.last_error == "message on 'big/two' (65000 bytes) not stored: larger than max-message-size (64000 bytes)"
        assert proc.stop() == 0
    finally:
        broker.close()


def test_an_mqtt5_broker_keeps_messages_over_the_announced_maximum_packet_size(
    broker: Broker, connector: Make
) -> None:
    """The connector announces max-message-size to the broker, which then never sends it more."""
    proc = connector(MQTT, mqtt_config(broker, "announced", **{"max-message-size": "10kb"})).start()
    proc.wait_state(ProgramState.READY)
    broker.publish("sensors/a", [b"x" * 200_000, b"fits"])
    wait_records("announced", 1)
    assert payload_texts("announced") == ["fits"]
    assert proc.stop() == 0
