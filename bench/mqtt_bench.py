"""MQTT benchmark: the broker's limit (the C client) against the connector into a topics backend.

    .venv/bin/python bench/mqtt_bench.py [--messages 100000] [--repeat 3] [--backend fluvio [--fluvio HOST:PORT]]

The connector writes into the embedded log (default) or, with ``--backend fluvio``, into the Fluvio
cluster at ``--fluvio`` (default ``FLUVIO_ENDPOINT``), a fresh topic per run (deleted after).

One local mosquitto (a free 127.0.0.1 port, ``max_queued_messages 0``: the stock 1000 makes the
broker itself drop messages under a flood). For qos 0 and qos 1, the same stream of 100-byte
messages is published as fast as the broker takes it: the publisher writes pre-built PUBLISH
packets on one socket and keeps it open until the subscriber has everything (``mosquitto_pub -l``
would disconnect at the end of its input and drop unsent qos 1 messages). Rates are measured from
the first byte published to the last message received (C client: ``mosquitto_sub -C N`` exits;
connector: the embedded log holds N records, or into Fluvio its status file says N are stored,
checked against the topic afterwards), best of ``--repeat`` runs, the C client's and the
connector's runs interleaved so that load from other jobs hits both sides of a ratio alike.

The C client runs with its defaults (MQTT 3.1.1, the broker's in-flight window of 20) and, at
qos 1, also as MQTT 5 with the receive maximum the connector announces; the ratio uses the better
of the two. Then the latency from publish to readable at 100, 1,000 and 10,000 messages a second
(publish time in the payload; the publisher sends every message as it falls due; a reader polls
the log every 0.2 ms, which the figure includes; into Fluvio, Fluvio's CLI consuming the topic
when it is at hand, ``--fluvio-cli``, else a poll of the topic through the client every ms). Then
the connector's RSS (with its Fluvio client process, if it has one): ready, before any message,
and at the end of the floods above (the largest of the runs, for qos 0 and for qos 1).

Prints figures, each with the machine's load average; never asserts on time.
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
READ_POLL = 0.0002  # seconds between two reads of the embedded log by the latency reader


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
    """The MQTT connector as a process (or ``replicas`` processes splitting the stream) with its own
    state directory, writing into a fresh topic of the embedded log there or of the Fluvio cluster
    at ``fluvio`` (deleted at the end)."""

    def __init__(self, broker: Mosquitto, workdir: Path, qos: int, topic_filter: str, fluvio: str | None = None,
                 *, replicas: int = 1) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="conn-", dir=workdir))
        self.fluvio = fluvio
        self.topic = f"bench-{time.monotonic_ns()}"
        config = {"name": "bench", "type": "mqtt", "topic": self.topic, "create_topic": True,
                  "parameters": {"mqtt-url": f"127.0.0.1:{broker.port}", "mqtt-topic": topic_filter, "qos": qos,
                                 "client-id": f"bench-{time.monotonic_ns()}"}}
        (self.home / "config.yaml").write_text(json.dumps(config))
        env = {**os.environ, "FLUVIO_CONNECTORS_HOME": str(self.home)}
        env.pop("FLUVIO_ENDPOINT", None)
        if fluvio:  # stored() reads the status files: written often
            env.update(FLUVIO_ENDPOINT=fluvio, FLUVIO_CONNECTOR_HEARTBEAT="0.05")
        self.processes: list[subprocess.Popen[bytes]] = []
        self.status_files: list[Path] = []
        for index in range(replicas):
            status_file = self.home / f"status-{index}.json"
            replica_env = {**env, "FLUVIO_CONNECTOR_STATUS_FILE": str(status_file)}
            if replicas > 1:
                replica_env.update(FLUVIO_CONNECTOR_REPLICAS=str(replicas), FLUVIO_CONNECTOR_REPLICA=str(index))
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "fluvio_connectors.mqtt", "--config", str(self.home / "config.yaml")],
                env=replica_env, stdout=subprocess.DEVNULL,
                stderr=open(self.home / f"connector-{index}.log", "wb"),  # noqa: SIM115
            ))
            self.status_files.append(status_file)
        self.process = self.processes[0]
        self.topics: Topics = FluvioTopics(fluvio, timeout=120) if fluvio else EmbeddedTopics(self.home / "topics.db")
        self._count = 0
        self._next = 0

        def ready() -> bool:
            for index, process in enumerate(self.processes):
                if process.poll() is not None:
                    raise RuntimeError((self.home / f"connector-{index}.log").read_text())
            statuses = [read_status(f) for f in self.status_files]
            return all(s is not None and s.state is ProgramState.READY for s in statuses)

        wait_until(ready, 60, "the connector to be ready", interval=0.05)

    def new_records(self) -> list[Any]:
        """Records stored since the last call (counted: offsets need not be consecutive)."""
        records = self.topics.read(self.topic, self._next)
        if records:
            self._next = records[-1].offset + 1
            self._count += len(records)
        return records

    def records(self) -> int:
        """Records in the topic."""
        self.new_records()
        return self._count

    def stored(self) -> int:
        """How many records are stored: the embedded log's end (its offsets are dense: cheap and
        exact), or what the programs say they stored (their status files, rewritten every 50 ms:
        reading a Fluvio topic meanwhile would take CPU from what is measured)."""
        if not self.fluvio:
            return int(self.topics.end_offset(self.topic))
        return sum((s.records if (s := read_status(f)) else 0) for f in self.status_files)

    def rss_kib(self) -> tuple[int, int]:
        """Current and peak RSS of the connector and its Fluvio client process, if it has one."""
        pids = [self.process.pid, *_children(self.process.pid)]
        current = peak = 0
        for pid in pids:
            fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
            current += int(fields["VmRSS"].split()[0])
            peak += int(fields["VmHWM"].split()[0])
        return current, peak

    def cpu_seconds(self) -> float:
        """CPU time the connector's processes (and their Fluvio client processes) have used so far."""
        total = 0.0
        for process in self.processes:
            for pid in (process.pid, *_children(process.pid)):
                with contextlib.suppress(OSError):
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.wait(timeout=30)
        if self.fluvio:
            with contextlib.suppress(Exception):  # a bench topic left behind is only clutter
                self.topics.delete_topic(self.topic)
        self.topics.close()
        shutil.rmtree(self.home, ignore_errors=True)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def connector_rate(broker: Mosquitto, workdir: Path, qos: int, count: int,
                   fluvio: str | None = None) -> tuple[float, tuple[int, int], int]:
    """Messages a second; the connector's current and peak RSS at the end of the flood, and its
    RSS when it was ready, before any message (KiB)."""
    topic = f"bench/conn/{qos}/{time.monotonic_ns()}"
    connector = Connector(broker, workdir, qos, topic, fluvio)
    try:
        ready_rss = connector.rss_kib()[0]
        data = stream(topic, qos, count)
        publisher = Publisher(broker.port, f"pub-{time.monotonic_ns()}")
        started = time.perf_counter()
        publisher.send(data)
        wait_until(lambda: connector.stored() >= count, 300, f"{count} records", interval=0.005)
        elapsed = time.perf_counter() - started
        publisher.close()
        held = connector.records()
        if held < count:
            raise RuntimeError(f"the connector said {count} records were stored; the topic holds {held}")
        return count / elapsed, connector.rss_kib(), ready_rss
    finally:
        connector.stop()


def sent_at(value: bytes) -> float:
    """The publish time a latency run's record carries."""
    return float(bytes(json.loads(value)["payload"]).decode().split()[0])


def latency(broker: Mosquitto, workdir: Path, qos: int, rate: int, seconds: float,
            fluvio: str | None = None, fluvio_cli: list[str] | None = None) -> tuple[float, float, float, int]:
    """p50, p99 and max milliseconds from publish to the record being readable, and how many
    messages. The publisher sends every message that is due, stamped with its time. The reader:
    for the embedded log, a poll of the log every ``READ_POLL`` seconds; for Fluvio, Fluvio's own
    CLI consuming the topic (``fluvio_cli``: the command and its profile's environment), whose
    lines are timed as they arrive, else a poll of the topic through the client every ms."""
    topic = f"bench/lat/{qos}/{time.monotonic_ns()}"
    connector = Connector(broker, workdir, qos, topic, fluvio)
    count = int(rate * seconds)
    delays: list[float] = []
    done = threading.Event()
    consumer: subprocess.Popen[bytes] | None = None

    def poll_log() -> None:
        while len(delays) < count:
            records = connector.new_records()
            now = time.time()
            delays.extend((now - sent_at(record.value)) * 1000 for record in records)
            if not records:
                time.sleep(READ_POLL if not fluvio else 0.001)  # polling the log
        done.set()

    def consume() -> None:
        assert consumer is not None and consumer.stdout is not None
        for line in consumer.stdout:
            delays.append((time.time() - sent_at(line)) * 1000)
            if len(delays) >= count:
                break
        done.set()

    if fluvio and fluvio_cli:
        consumer = subprocess.Popen([*fluvio_cli, "consume", connector.topic, "-B"], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # the consumer connects (a record sent before is read at once, and counted late)
    reader = threading.Thread(target=consume if consumer is not None else poll_log, daemon=True)
    reader.start()
    publisher = Publisher(broker.port, f"pub-{time.monotonic_ns()}")
    try:
        started = time.perf_counter()
        sent = 0
        while sent < count:
            due = min(count, int((time.perf_counter() - started) * rate) + 1)
            if due > sent:
                stamp = f"{time.time():.6f} ".encode().ljust(PAYLOAD_SIZE, b"x")
                publisher.send(b"".join(publish_packet(topic, stamp, qos, i % 65535 + 1) for i in range(sent, due)))
                sent = due
            else:
                time.sleep(max(0.0, started + sent / rate - time.perf_counter()))  # pacing the publisher
        if not done.wait(120):
            raise TimeoutError("the reader did not see every record")
    finally:
        publisher.close()
        if consumer is not None:
            consumer.kill()
            consumer.wait()
        connector.stop()
    ordered = sorted(delays)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1], ordered[-1], len(ordered)


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def add_fluvio_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=["embedded", "fluvio"], default="embedded",
                        help="where the connector writes (fluvio: a fresh topic of the cluster at --fluvio)")
    parser.add_argument("--fluvio", default=os.environ.get("FLUVIO_ENDPOINT"), metavar="HOST:PORT",
                        help="the Fluvio cluster of --backend fluvio (default FLUVIO_ENDPOINT)")
    parser.add_argument("--fluvio-cli", metavar="PATH", default=shutil.which("fluvio"),
                        help="Fluvio's CLI, the latency reader (default: fluvio on the PATH)")
    parser.add_argument("--fluvio-home", metavar="DIR", default=None,
                        help="HOME for the CLI, where its profile for that cluster is (default: yours)")


def backend(args: argparse.Namespace) -> tuple[str | None, str]:
    """The Fluvio endpoint the connector writes to (None: the embedded log), and what to call it."""
    if args.backend != "fluvio":
        return None, "embedded log"
    if not args.fluvio:
        raise SystemExit("--backend fluvio needs a cluster: --fluvio HOST:PORT or FLUVIO_ENDPOINT")
    return args.fluvio, f"Fluvio at {args.fluvio}"


def fluvio_cli(args: argparse.Namespace) -> list[str] | None:
    """The CLI command, with the HOME its profile is in."""
    if not args.fluvio_cli:
        return None
    home = [f"HOME={args.fluvio_home}"] if args.fluvio_home else []
    return ["env", *home, args.fluvio_cli]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--rates", default="100,1000,10000", help="messages a second for the latency runs")
    add_fluvio_options(parser)
    args = parser.parse_args()
    fluvio, into = backend(args)
    if not shutil.which("mosquitto_sub"):
        print("mosquitto_sub is not installed (apt-get install mosquitto mosquitto-clients)", file=sys.stderr)
        return 2
    n, repeat = args.messages, args.repeat
    workdir = Path(tempfile.mkdtemp(prefix="mqtt-bench-"))
    broker = Mosquitto(workdir)
    rss: dict[int, list[tuple[int, int]]] = {0: [], 1: []}
    ready_rss: list[int] = []
    try:
        print(f"mosquitto on 127.0.0.1:{broker.port}; {n:,} messages of {PAYLOAD_SIZE} bytes; best of {repeat}; "
              f"connector -> {into}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        results: dict[str, list[float]] = {key: [] for key in ("c0", "c1", "c1v5", "k0", "k1")}
        # Interleaved, so a burst of load from other jobs hits both sides of each ratio alike.
        for _ in range(repeat):
            for qos in (0, 1):
                results[f"c{qos}"].append(c_client_rate(broker, workdir, qos, n))
                if qos:
                    results["c1v5"].append(c_client_rate(broker, workdir, qos, n, v5=True))
                rate, mem, ready_mem = connector_rate(broker, workdir, qos, n, fluvio)
                results[f"k{qos}"].append(rate)
                rss[qos].append(mem)
                ready_rss.append(ready_mem)

        def show(key: str) -> str:
            return f"{max(results[key]):>9,.0f}/s  (runs: {', '.join(f'{r:,.0f}' for r in results[key])})"

        print(f"C client mosquitto_sub, qos 0:               {show('c0')}")
        print(f"C client mosquitto_sub, qos 1 (MQTT 3.1.1):  {show('c1')}")
        print(f"C client mosquitto_sub, qos 1 (MQTT 5, receive-maximum {RECEIVE_MAXIMUM}): {show('c1v5')}")
        c1 = max(results["c1"] + results["c1v5"])
        print(f"connector -> {into}, qos 0: {show('k0')}  ratio {max(results['k0']) / max(results['c0']):.2f}"
              f" (target >= 0.8)")
        print(f"connector -> {into}, qos 1: {show('k1')}  ratio {max(results['k1']) / c1:.2f}"
              f" (target >= 1.2)  {load()}")
        for rate in (int(r) for r in args.rates.split(",")):
            for qos in (1, 0):
                p50, p99, worst, count = latency(broker, workdir, qos, rate, args.latency_seconds, fluvio,
                                                 fluvio_cli(args))
                print(f"latency publish -> readable in the {into}, {rate:,} msg/s, qos {qos}: p50 {p50:.2f} ms, "
                      f"p99 {p99:.2f} ms, max {worst:.1f} ms ({count:,} messages; {load()})")
        every = rss[0] + rss[1]
        current, peak = max(r[0] for r in every), max(r[1] for r in every)
        with_client = " (with its Fluvio client process)" if fluvio else ""
        print(f"connector RSS{with_client}: {current / 1024:.1f} MiB at the end of a flood, peak {peak / 1024:.1f} MiB "
              f"(target < 40 MB; {load()})")
        by_qos = ", ".join(f"qos {q} {max(r[0] for r in rss[q]) / 1024:.1f} MiB" for q in (0, 1))
        print(f"connector RSS{with_client}: ready {max(ready_rss) / 1024:.1f} MiB; at the end of a flood: {by_qos} "
              f"(largest of the runs)")
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
