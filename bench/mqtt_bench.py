"""MQTT benchmark: the broker's limit (the C client) against the connector into a topics backend.

    .venv/bin/python bench/mqtt_bench.py [--messages 100000] [--repeat 2] [--backend fluvio [--fluvio HOST:PORT]]

The connector writes into the embedded log (default) or, with ``--backend fluvio``, into the Fluvio
cluster at ``--fluvio`` (default ``FLUVIO_ENDPOINT``), a fresh topic per run.

One local mosquitto (a free 127.0.0.1 port, ``max_queued_messages 0``: the stock 1000 makes the
broker itself drop messages under a flood). For qos 0 and qos 1, the same stream of 100-byte
messages is published as fast as the broker takes it: the publisher writes pre-built PUBLISH
packets on one socket and keeps it open until the subscriber has everything (``mosquitto_pub -l``
would disconnect at the end of its input and drop unsent qos 1 messages). Rates are measured from
the first byte published to the last message received (C client: ``mosquitto_sub -C N`` exits;
connector: its status file says N records are stored, checked against the topic afterwards), best
of ``--repeat`` runs because this machine is shared.

The C client runs with its defaults (MQTT 3.1.1, the broker's in-flight window of 20) and, at
qos 1, also as MQTT 5 with the receive maximum the connector announces; the ratio uses the better
of the two. Then the end-to-end latency at 1,000 messages/s (publish time in the payload, a reader
polling the topic every millisecond), and the connector's peak RSS.

Prints figures; never asserts on time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "connectors"))

from fluvio_connectors.mqtt import RECEIVE_MAXIMUM  # noqa: E402
from fluvio_connectors.status import ProgramState, read_status  # noqa: E402
from fluvio_connectors.topics import Topics  # noqa: E402
from fluvio_connectors.topics.embedded import EmbeddedTopics  # noqa: E402
from fluvio_connectors.topics.fluvio import FluvioTopics  # noqa: E402

PAYLOAD_SIZE = 100


# --------------------------------------------------------------------------- MQTT bytes


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id: str) -> bytes:
    body = _string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + _string(client_id)
    return b"\x10" + _varint(len(body)) + body


def publish_packet(topic: str, payload: bytes, qos: int, mid: int) -> bytes:
    body = _string(topic) + (struct.pack("!H", mid) if qos else b"") + payload
    return bytes([0x30 | (qos << 1)]) + _varint(len(body)) + body


class Publisher:
    """A raw MQTT 3.1.1 publisher: one socket, packets written in bulk, acknowledgements drained."""

    def __init__(self, port: int, client_id: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(client_id))
        connack = self._recv_exactly(4)
        if connack[:2] != b"\x20\x02" or connack[3] != 0:
            raise RuntimeError(f"the broker refused the publisher: {connack!r}")
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _recv_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise RuntimeError("the broker closed the publisher's connection")
            data += chunk
        return data

    def _drain(self) -> None:  # PUBACKs: read and forget, so the broker never blocks on us
        try:
            while self.sock.recv(65536):
                pass
        except OSError:
            pass

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        self.sock.close()


def stream(topic: str, qos: int, count: int) -> bytes:
    payload = b"x" * PAYLOAD_SIZE
    return b"".join(publish_packet(topic, payload, qos, i % 65535 + 1) for i in range(count))


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition, timeout: float, what: str, interval: float = 0.005):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")


class Mosquitto:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        config = workdir / "mosquitto.conf"
        # The log (subscriptions only) tells when mosquitto_sub has subscribed.
        self.log = workdir / "mosquitto.log"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "max_queued_messages 0",
                 "persistence false", f"log_dest file {self.log}", "log_type subscribe"]
        if os.geteuid() == 0:
            lines.append("user root")
        config.write_text("\n".join(lines) + "\n")
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_until(listening, 10, "mosquitto to listen")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def c_client_rate(broker: Mosquitto, workdir: Path, qos: int, count: int, v5: bool = False) -> float:
    topic = f"bench/c/{qos}/{time.monotonic_ns()}"
    out = workdir / f"sub-{time.monotonic_ns()}.out"
    command = ["mosquitto_sub", "-p", str(broker.port), "-t", topic, "-q", str(qos), "-C", str(count)]
    if v5:
        command += ["-V", "mqttv5", "-D", "connect", "receive-maximum", str(RECEIVE_MAXIMUM)]
    data = stream(topic, qos, count)
    with open(out, "wb") as handle:
        sub = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: topic.encode() in broker.log.read_bytes(), 10, "mosquitto_sub to subscribe")
        publisher = Publisher(broker.port, f"pub-{time.monotonic_ns()}")
        started = time.perf_counter()
        publisher.send(data)
        sub.wait(timeout=300)
        elapsed = time.perf_counter() - started
        publisher.close()
    finally:
        if sub.poll() is None:
            sub.kill()
        out.unlink(missing_ok=True)
    return count / elapsed


class Connector:
    """The MQTT connector as a process with its own state directory, writing into a fresh topic of
    the embedded log or of the Fluvio cluster at ``fluvio``."""

    def __init__(self, broker: Mosquitto, workdir: Path, qos: int, topic_filter: str, fluvio: str | None) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="conn-", dir=workdir))
        self.topic = f"bench-{time.monotonic_ns()}"
        config = {"name": "bench", "type": "mqtt", "topic": self.topic, "create_topic": True,
                  "parameters": {"mqtt-url": f"127.0.0.1:{broker.port}", "mqtt-topic": topic_filter, "qos": qos,
                                 "client-id": f"bench-{time.monotonic_ns()}"}}
        (self.home / "config.yaml").write_text(json.dumps(config))
        self.status_file = self.home / "status.json"
        env = {**os.environ, "FLUVIO_CONNECTORS_HOME": str(self.home),
               "FLUVIO_CONNECTOR_STATUS_FILE": str(self.status_file), "FLUVIO_CONNECTOR_HEARTBEAT": "0.05"}
        env.pop("FLUVIO_ENDPOINT", None)
        if fluvio:
            env["FLUVIO_ENDPOINT"] = fluvio
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fluvio_connectors.mqtt", "--config", str(self.home / "config.yaml")],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.home / "connector.log", "wb"),  # noqa: SIM115
        )
        self.topics: Topics = FluvioTopics(fluvio, timeout=120) if fluvio else EmbeddedTopics(self.home / "topics.db")
        self._count = 0
        self._next = 0

        def ready() -> bool:
            status = read_status(self.status_file)
            if self.process.poll() is not None:
                raise RuntimeError((self.home / "connector.log").read_text())
            return status is not None and status.state is ProgramState.READY

        wait_until(ready, 60, "the connector to be ready", interval=0.05)

    def new_records(self) -> list[Any]:
        """Records stored since the last call (counted: offsets need not be consecutive)."""
        records = self.topics.read(self.topic, self._next)
        if records:
            self._next = records[-1].offset + 1
            self._count += len(records)
        return records

    def records(self) -> int:
        self.new_records()
        return self._count

    def stored(self) -> int:
        """Records the connector says it stored (its status file, rewritten every 50 ms)."""
        status = read_status(self.status_file)
        return status.records if status is not None else 0

    def rss_kib(self) -> tuple[int, int]:
        """Current and peak RSS of the connector and its Fluvio client process, if it has one."""
        pids = [self.process.pid, *_children(self.process.pid)]
        current = peak = 0
        for pid in pids:
            fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
            current += int(fields["VmRSS"].split()[0])
            peak += int(fields["VmHWM"].split()[0])
        return current, peak

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        self.topics.close()
        shutil.rmtree(self.home, ignore_errors=True)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def connector_rate(broker: Mosquitto, workdir: Path, qos: int, count: int,
                   fluvio: str | None) -> tuple[float, tuple[int, int]]:
    topic = f"bench/conn/{qos}/{time.monotonic_ns()}"
    connector = Connector(broker, workdir, qos, topic, fluvio)
    try:
        data = stream(topic, qos, count)
        publisher = Publisher(broker.port, f"pub-{time.monotonic_ns()}")
        started = time.perf_counter()
        publisher.send(data)
        # The connector's own count: reading the topic meanwhile would take CPU from what is measured.
        wait_until(lambda: connector.stored() >= count, 300, f"{count} records", interval=0.02)
        elapsed = time.perf_counter() - started
        publisher.close()
        held = connector.records()
        if held < count:
            raise RuntimeError(f"the connector said {count} records were stored; the topic holds {held}")
        return count / elapsed, connector.rss_kib()
    finally:
        connector.stop()


def latency(broker: Mosquitto, workdir: Path, qos: int, rate: int, seconds: float,
            fluvio: str | None) -> tuple[float, float, float]:
    """p50, p99, max milliseconds from publish to the record being readable."""
    topic = f"bench/lat/{qos}/{time.monotonic_ns()}"
    connector = Connector(broker, workdir, qos, topic, fluvio)
    count = int(rate * seconds)
    delays: list[float] = []
    done = threading.Event()

    def read() -> None:
        while len(delays) < count:
            records = connector.new_records()
            now = time.time()
            for record in records:
                sent = float(bytes(json.loads(record.value)["payload"]).decode().split()[0])
                delays.append((now - sent) * 1000)
            time.sleep(0.001)  # the reader polls the log every millisecond
        done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    publisher = Publisher(broker.port, f"pub-{time.monotonic_ns()}")
    try:
        started = time.perf_counter()
        for i in range(count):
            due = started + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)  # pacing the publisher at `rate` messages a second
            payload = f"{time.time():.6f} ".encode().ljust(PAYLOAD_SIZE, b"x")
            publisher.send(publish_packet(topic, payload, qos, i % 65535 + 1))
        if not done.wait(60):
            raise TimeoutError("the reader did not see every record")
    finally:
        publisher.close()
        connector.stop()
    ordered = sorted(delays)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1], ordered[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs per figure; the best is kept")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--backend", choices=["embedded", "fluvio"], default="embedded")
    parser.add_argument("--fluvio", default=os.environ.get("FLUVIO_ENDPOINT"), metavar="HOST:PORT",
                        help="the Fluvio cluster of --backend fluvio (default FLUVIO_ENDPOINT)")
    args = parser.parse_args()
    if args.backend == "fluvio" and not args.fluvio:
        print("--backend fluvio needs a cluster: --fluvio HOST:PORT or FLUVIO_ENDPOINT", file=sys.stderr)
        return 2
    fluvio = args.fluvio if args.backend == "fluvio" else None
    into = f"Fluvio at {fluvio}" if fluvio else "embedded log"
    if not shutil.which("mosquitto_sub"):
        print("mosquitto_sub is not installed (apt-get install mosquitto mosquitto-clients)", file=sys.stderr)
        return 2
    n, repeat = args.messages, args.repeat
    workdir = Path(tempfile.mkdtemp(prefix="mqtt-bench-"))
    broker = Mosquitto(workdir)
    rss: list[tuple[int, int]] = []
    try:
        print(f"mosquitto on 127.0.0.1:{broker.port}; {n:,} messages of {PAYLOAD_SIZE} bytes; best of {repeat}; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        results: dict[str, list[float]] = {}
        for qos in (0, 1):
            results[f"c{qos}"] = [c_client_rate(broker, workdir, qos, n) for _ in range(repeat)]
            if qos:
                results["c1v5"] = [c_client_rate(broker, workdir, qos, n, v5=True) for _ in range(repeat)]
            runs = [connector_rate(broker, workdir, qos, n, fluvio) for _ in range(repeat)]
            results[f"k{qos}"] = [rate for rate, _ in runs]
            rss += [mem for _, mem in runs]

        def show(key: str) -> str:
            return f"{max(results[key]):>9,.0f}/s  (runs: {', '.join(f'{r:,.0f}' for r in results[key])})"

        print(f"C client mosquitto_sub, qos 0:               {show('c0')}")
        print(f"C client mosquitto_sub, qos 1 (MQTT 3.1.1):  {show('c1')}")
        print(f"C client mosquitto_sub, qos 1 (MQTT 5, receive-maximum {RECEIVE_MAXIMUM}): {show('c1v5')}")
        c1 = max(results["c1"] + results["c1v5"])
        print(f"connector -> {into}, qos 0: {show('k0')}  ratio {max(results['k0']) / max(results['c0']):.2f}")
        print(f"connector -> {into}, qos 1: {show('k1')}  ratio {max(results['k1']) / c1:.2f}")
        for qos in (1, 0):
            p50, p99, worst = latency(broker, workdir, qos, 1000, args.latency_seconds, fluvio)
            print(f"latency publish -> record readable, 1,000 msg/s, qos {qos}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                  f"max {worst:.1f} ms")
        current, peak = max(r[0] for r in rss), max(r[1] for r in rss)
        with_client = " (with its Fluvio client process)" if fluvio else ""
        print(f"connector RSS{with_client}: {current / 1024:.1f} MiB at the end of a flood, peak {peak / 1024:.1f} MiB")
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
