"""Sink benchmark: sql-sink and http-sink against bare loops that do the same work with the same guarantee.

    .venv/bin/python bench/sink_bench.py [--records 100000] [--repeat 3] [--latency-seconds 10] [--requests 5000]

All on the embedded log (a fresh state directory), one real PostgreSQL (Debian's, started by the
bench with ``initdb``/``pg_ctl`` on a free port, as the tests do) and SQLite files (in WAL mode: what a
file read while a sink writes it needs, or a reader holds the writer back).

1. Throughput into PostgreSQL and into SQLite: ``--records`` JSON records of about 100 bytes
   (``{"id", "device", "temp", "payload"}``) already in a topic. The connector (``python -m
   fluvio_connectors.sql_sink``, its defaults: batches of 1,000) is timed from its ``ready`` status
   (connected, position read) to the moment its offsets row says every record is in (a poll every
   5 ms). The bare loop, in this process, reads the same records from the log 1,000 at a time,
   parses each with ``json.loads``, builds the row tuple and writes the batch with the position in
   one transaction (PostgreSQL: ``COPY`` plus ``UPDATE`` of the offsets row; SQLite: ``executemany``
   plus ``UPDATE``): the same guarantee. Best of ``--repeat`` runs each, interleaved.
2. Produced -> row visible at 1,000 records a second for ``--latency-seconds``: each record is
   stored in the topic as it falls due (its time in it), a watcher polls the sink's offsets row
   every 1 ms (rows and position commit together, so the position says which rows are visible);
   a record's latency is from just before it was produced to the first poll that sees it.
3. http-sink against a bare ``httpx`` loop: ``--requests`` records of ~100 bytes POSTed to a
   receiver in another process (a threaded ``http.server``, answering 200), with 1 and with 8
   requests in flight; the bare loop reads the log, sends each record with its Idempotency-Key
   from as many threads, and stores the position as a named consumer every 250 ms, as the sink.

Prints figures with the machine's load; never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "connectors"))
sys.path.insert(0, str(ROOT / "tests" / "sinks"))

import yaml  # noqa: E402
from postgres_server import PostgresServer, postgres_server  # noqa: E402

from fluvio_connectors.status import ProgramState, read_status  # noqa: E402
from fluvio_connectors.topics.embedded import EmbeddedTopics  # noqa: E402

BATCH = 1000
PAYLOAD = "x" * 44
COLUMNS = {"id": "bigint", "device": "text", "temp": "double precision", "payload": "text"}
TABLE_SQL = "CREATE TABLE {t} (id BIGINT, device TEXT, temp DOUBLE PRECISION, payload TEXT)"


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def record(i: int) -> bytes:
    return json.dumps({"id": i, "device": f"d{i % 97}", "temp": 20 + (i % 100) / 10, "payload": PAYLOAD}).encode()


def mapping(table: str) -> dict[str, Any]:
    return {"table": table, "map-columns": {c: {"json-key": c, "value": {"type": t}} for c, t in COLUMNS.items()}}


class Bench:
    def __init__(self, home: Path, pg: PostgresServer) -> None:
        self.home = home
        self.pg = pg
        self.topics = EmbeddedTopics(home / "topics.db")
        self.runs = 0

    def env(self, status: Path) -> dict[str, str]:
        return {**os.environ, "FLUVIO_CONNECTORS_HOME": str(self.home), "FLUVIO_CONNECTOR_STATUS_FILE": str(status),
                "FLUVIO_CONNECTOR_HEARTBEAT": "0.5", "PYTHONPATH": str(ROOT / "connectors")}

    def fill(self, topic: str, count: int) -> None:
        self.topics.create_topic(topic)
        producer = self.topics.producer(topic, batch_size=5000)
        producer.send_many((None, record(i)) for i in range(count))
        producer.flush()
        producer.close()

    # ---- targets

    def target(self, kind: str) -> tuple[str, Callable[[str], int]]:
        """A fresh empty table and offsets table: (url, next_offset reader)."""
        self.runs += 1
        if kind == "postgresql":
            schema = f"run{self.runs}"
            self.pg.execute(f"CREATE SCHEMA {schema}")
            self.pg.execute(TABLE_SQL.format(t=f"{schema}.events"))
            url = f"{self.pg.url()}?options=-csearch_path%3D{schema}"
            conn = self.pg.connect(options=f"-csearch_path={schema}")

            def position_pg(consumer: str) -> int:
                try:
                    row = conn.execute("SELECT next_offset FROM fluvio_sink_offsets WHERE connector = %s",
                                       (consumer,)).fetchone()
                except Exception:
                    return -1
                return int(row[0]) if row else -1

            return url, position_pg
        path = self.home / f"run{self.runs}.db"
        with sqlite3.connect(path) as db:
            # WAL, as a database read while a sink writes would be set up: a reader (the position
            # polls) then never holds the writer back (in rollback-journal mode it can, for up to
            # SQLite's busy-handler sleeps of 100 ms)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(TABLE_SQL.format(t="events"))
        reader = sqlite3.connect(path, timeout=30, check_same_thread=False)

        def position_sqlite(consumer: str) -> int:
            try:
                row = reader.execute("SELECT next_offset FROM fluvio_sink_offsets WHERE connector = ?",
                                     (consumer,)).fetchone()
            except sqlite3.Error:
                return -1
            return int(row[0]) if row else -1

        return f"sqlite://{path}", position_sqlite

    # ---- the connector

    def start_sink(self, name: str, topic: str, url: str, **parameters: Any) -> tuple[subprocess.Popen[bytes], Path]:
        workdir = self.home / "sinks" / f"{name}-{self.runs}"
        workdir.mkdir(parents=True)
        config = {"name": name, "type": "sql-sink", "topic": topic, "parameters": {"url": url, "mapping": mapping("events"),
                                                                                   **parameters}}
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        status = workdir / "status.json"
        proc = subprocess.Popen([sys.executable, "-m", "fluvio_connectors.sql_sink", "--config", str(workdir / "config.yaml")],
                                env=self.env(status), stdout=subprocess.DEVNULL, stderr=open(workdir / "log", "wb"))  # noqa: SIM115
        return proc, status

    def sink_run(self, kind: str, topic: str, count: int) -> tuple[float, float]:
        """(wall seconds, CPU seconds of the connector process) from ready to every row in."""
        url, position = self.target(kind)
        name = f"sink-{kind}"
        proc, status = self.start_sink(name, topic, url)
        try:
            wait(lambda: is_ready(status), 60, "ready")
            cpu = process_cpu(proc.pid)
            started = time.perf_counter()
            wait(lambda: position(name) >= count, 600, f"{count} rows", interval=0.005)
            return time.perf_counter() - started, process_cpu(proc.pid) - cpu
        finally:
            stop(proc)

    # ---- the bare loops (same batches, rows and position in one transaction)

    def bare_run(self, kind: str, topic: str, count: int) -> tuple[float, float]:
        """The bare loop, while its position is polled every 5 ms as the connector's is (a reader
        of a SQLite file holds the writer back a little: both sides get the same)."""
        url, position = self.target(kind)
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                position("bare")
                time.sleep(0.005)

        poller = threading.Thread(target=poll, daemon=True)
        try:
            if kind == "postgresql":
                return self._bare_postgresql(topic, count, poller)
            return self._bare_sqlite(url.removeprefix("sqlite://"), topic, count, poller)
        finally:
            done.set()
            poller.join()

    def _bare_postgresql(self, topic: str, count: int, poller: threading.Thread) -> tuple[float, float]:
        import psycopg

        conn = psycopg.connect(self.pg.url(), options=f"-csearch_path=run{self.runs}")
        conn.execute("CREATE TABLE fluvio_sink_offsets (connector TEXT PRIMARY KEY, next_offset BIGINT)")
        conn.execute("INSERT INTO fluvio_sink_offsets VALUES ('bare', 0)")
        conn.commit()

        def write(rows: list[tuple[Any, ...]], expected: int, position: int) -> None:
            with conn.transaction():
                conn.execute("UPDATE fluvio_sink_offsets SET next_offset = %s WHERE connector = 'bare' AND "
                             "next_offset = %s", (position, expected))
                with conn.cursor().copy("COPY events (id, device, temp, payload) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)

        try:
            return self._bare_loop(topic, count, poller, write)
        finally:
            conn.close()

    def _bare_sqlite(self, path: str, topic: str, count: int, poller: threading.Thread) -> tuple[float, float]:
        db = sqlite3.connect(path, isolation_level=None, timeout=30)
        db.execute("CREATE TABLE fluvio_sink_offsets (connector TEXT PRIMARY KEY, next_offset INTEGER)")
        db.execute("INSERT INTO fluvio_sink_offsets VALUES ('bare', 0)")

        def write(rows: list[tuple[Any, ...]], expected: int, position: int) -> None:
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE fluvio_sink_offsets SET next_offset = ? WHERE connector = 'bare' AND next_offset = ?",
                       (position, expected))
            db.executemany("INSERT INTO events (id, device, temp, payload) VALUES (?, ?, ?, ?)", rows)
            db.execute("COMMIT")

        try:
            return self._bare_loop(topic, count, poller, write)
        finally:
            db.close()

    def _bare_loop(self, topic: str, count: int, poller: threading.Thread,
                   write: Callable[[list[tuple[Any, ...]], int, int], None]) -> tuple[float, float]:
        """Batches of ``BATCH`` records from the log, parsed, each written with its position by
        ``write(rows, expected, new position)``; (wall seconds, CPU seconds of this thread)."""
        poller.start()
        started, cpu = time.perf_counter(), time.thread_time()
        position = 0
        while position < count:
            batch = self.topics.read(topic, position, max_records=BATCH)
            write([_row(r.value) for r in batch], position, batch[-1].offset + 1)
            position = batch[-1].offset + 1
        return time.perf_counter() - started, time.thread_time() - cpu

    # ---- latency

    def latency(self, kind: str, seconds: float, rate: float = 1000.0, linger: str | None = None) -> list[float]:
        topic = f"latency-{kind}"
        self.topics.create_topic(topic)
        url, position = self.target(kind)
        name = f"latency-{kind}"
        proc, status = self.start_sink(name, topic, url, **({"linger": linger} if linger is not None else {}))
        produced: list[float] = []
        seen: dict[int, float] = {}
        done = threading.Event()

        def watch() -> None:
            last = 0
            while not done.is_set():
                current = position(name)
                now = time.perf_counter()  # after the answer: it holds what was committed by now
                for offset in range(last, max(last, current)):
                    seen[offset] = now
                last = max(last, current)
                time.sleep(0.001)

        try:
            wait(lambda: is_ready(status), 60, "ready")
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            producer = self.topics.producer(topic, batch_size=1)
            total = int(seconds * rate)
            start = time.perf_counter()
            for i in range(total):
                due = start + i / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                produced.append(time.perf_counter())
                producer.send(None, record(i))
                producer.flush()
            wait(lambda: len(seen) >= total, 60, "every record visible")
            done.set()
            watcher.join()
            return [seen[i] - produced[i] for i in range(total)]
        finally:
            done.set()
            stop(proc)


def _row(value: bytes) -> tuple[Any, ...]:
    data = json.loads(value)
    return (int(data["id"]), str(data["device"]), float(data["temp"]), str(data["payload"]))


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def is_ready(status: Path) -> bool:
    found = read_status(status)
    return found is not None and found.state is ProgramState.READY


def wait(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(interval)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# --------------------------------------------------------------------------- http


def http_bench(home: Path, topics: EmbeddedTopics, requests: int, repeat: int) -> None:
    import httpx

    receiver = subprocess.Popen([sys.executable, str(ROOT / "tests" / "sinks" / "http_receiver.py")],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        url = receiver.stdout.readline().strip()
        probe = httpx.Client(timeout=5)
        topic = "http-bench"
        topics.create_topic(topic)
        producer = topics.producer(topic, batch_size=5000)
        producer.send_many((None, record(i)) for i in range(requests))
        producer.flush()

        def arrived_after(started: float) -> float | None:
            """When the last record last reached the receiver, if after ``started`` (the clocks of
            both processes are CLOCK_MONOTONIC)."""
            answer = probe.get(url, params={"key": f'"{topic}:0:{requests - 1}"'})
            at = float(answer.text) if answer.status_code == 200 else None
            return at if at is not None and at > started else None

        for in_flight in (1, 8):
            sinks, bares = [], []
            for run in range(repeat):
                bares.append(bare_http(topics, topic, url, requests, in_flight, f"bare-{in_flight}-{run}", arrived_after))
                sinks.append(sink_http(home, topic, url, requests, in_flight, f"http-{in_flight}-{run}", arrived_after))
            best_sink, best_bare = min(w for w, _ in sinks), min(w for w, _ in bares)
            sink_cpu, bare_cpu = statistics.median(c for _, c in sinks), statistics.median(c for _, c in bares)
            print(f"http-sink, {requests} requests, {in_flight} in flight: connector {requests / best_sink:,.0f} req/s, "
                  f"bare httpx loop {requests / best_bare:,.0f} req/s, ratio {best_bare / best_sink:.2f} (best of "
                  f"{repeat}); CPU s (median): connector {sink_cpu:.2f}, bare {bare_cpu:.2f}, ratio "
                  f"{bare_cpu / sink_cpu:.2f} ({load()})")
        probe.close()
    finally:
        receiver.terminate()
        receiver.wait(10)


def bare_http(topics: EmbeddedTopics, topic: str, url: str, requests: int, in_flight: int, consumer: str,
              arrived_after: Callable[[float], float | None]) -> tuple[float, float]:
    """The bare loop: read, POST each record with its key from ``in_flight`` threads, store the
    position every 250 ms; timed from its start to the last record's arrival."""
    import httpx

    client = httpx.Client(timeout=15, limits=httpx.Limits(max_connections=in_flight))

    def send(item: Any) -> None:
        client.post(url, content=item.value, headers={
            "Idempotency-Key": f'"{topic}:0:{item.offset}"', "Content-Type": "application/json"}).raise_for_status()

    done = threading.Event()

    def poll() -> None:  # as the connector's run is watched: the same load on the receiver
        while not done.wait(0.005):
            arrived_after(float("inf"))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    started, cpu = time.monotonic(), time.process_time()
    position, stored = 0, 0.0
    with ThreadPoolExecutor(in_flight) as pool:
        while position < requests:
            batch = topics.read(topic, position, max_records=max(64, 8 * in_flight))
            list(pool.map(send, batch))
            position = batch[-1].offset + 1
            if time.monotonic() - stored >= 0.25:
                topics.commit(consumer, topic, position)
                stored = time.monotonic()
    topics.commit(consumer, topic, position)
    used = time.process_time() - cpu  # this process: the loop's threads and the watcher's polls
    done.set()
    poller.join()
    client.close()
    end = arrived_after(started)
    assert end is not None
    return end - started, used


def sink_http(home: Path, topic: str, url: str, requests: int, in_flight: int, name: str,
              arrived_after: Callable[[float], float | None]) -> tuple[float, float]:
    """The connector (a consumer of its own, from the beginning), timed from its ready status to
    the last record's arrival."""
    workdir = home / "http" / name
    workdir.mkdir(parents=True)
    config = {"name": name, "type": "http-sink", "topic": topic, "parameters": {
        "endpoint": url, "headers": ["Content-Type: application/json"], "max-in-flight": in_flight}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    status = workdir / "status.json"
    env = {**os.environ, "FLUVIO_CONNECTORS_HOME": str(home), "FLUVIO_CONNECTOR_STATUS_FILE": str(status),
           "PYTHONPATH": str(ROOT / "connectors"), "FLUVIO_CONNECTOR_HEARTBEAT": "0.5"}
    proc = subprocess.Popen([sys.executable, "-m", "fluvio_connectors.http_sink", "--config",
                             str(workdir / "config.yaml")], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(workdir / "log", "wb"))  # noqa: SIM115
    try:
        wait(lambda: is_ready(status), 60, "ready")
        started, cpu = time.monotonic(), process_cpu(proc.pid)
        wait(lambda: arrived_after(started) is not None, 600, "every request", interval=0.005)
        end = arrived_after(started)
        assert end is not None
        return end - started, process_cpu(proc.pid) - cpu
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--parts", default="sql,latency,http", help="which of sql, latency, http to run")
    parser.add_argument("--linger", default=None, help="the sinks' linger in the latency runs (default: theirs)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    home = Path(tempfile.mkdtemp(prefix="sink-bench-"))
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    try:
        with postgres_server() as pg:
            if pg is None:
                raise SystemExit("PostgreSQL is not installed (apt-get install postgresql)")
            bench = Bench(home, pg)
            bench.fill("events", args.records)
            print(f"{args.records:,} records of about {len(record(0))} bytes in the embedded log; {load()}")
            for kind in ("postgresql", "sqlite") if "sql" in parts else ():
                sinks, bares = [], []
                for _ in range(args.repeat):
                    bares.append(bench.bare_run(kind, "events", args.records))
                    sinks.append(bench.sink_run(kind, "events", args.records))
                sink, bare = min(w for w, _ in sinks), min(w for w, _ in bares)
                sink_cpu, bare_cpu = statistics.median(c for _, c in sinks), statistics.median(c for _, c in bares)
                print(f"sql-sink into {kind}: connector {args.records / sink:,.0f} rec/s, bare loop "
                      f"{args.records / bare:,.0f} rec/s, ratio {bare / sink:.2f} (best of {args.repeat}; wall s: "
                      f"connector {', '.join(f'{w:.2f}' for w, _ in sinks)}, bare {', '.join(f'{w:.2f}' for w, _ in bares)}); "
                      f"CPU s (median): connector {sink_cpu:.2f}, bare {bare_cpu:.2f}, ratio {bare_cpu / sink_cpu:.2f} "
                      f"({load()})")
            for kind in ("postgresql", "sqlite") if "latency" in parts else ():
                latencies = bench.latency(kind, args.latency_seconds, linger=args.linger)
                ms = [x * 1000 for x in latencies]
                print(f"produced -> row visible in {kind} at 1,000 rec/s for {args.latency_seconds:g} s"
                      f"{'' if args.linger is None else f' (linger {args.linger})'}: p50 "
                      f"{statistics.median(ms):.1f} ms, p99 {percentile(ms, 99):.1f} ms, max {max(ms):.1f} ms ({load()})")
            if "http" in parts:
                http_bench(home, bench.topics, args.requests, args.repeat)
            bench.topics.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
