"""Throughput of the topics backends: the embedded log (writes in batches of 1 and of 500,
reads, two writers) and, given a cluster, Fluvio (the project's producer against the bare client's
best paths and ``fluvio produce -f``; reads).

Run: ``.venv/bin/python bench/topics_bench.py`` (or ``make bench``). The embedded part works in a
temporary directory and takes well under a minute. The Fluvio part runs when a cluster is named
(``--fluvio HOST:PORT`` or ``FLUVIO_ENDPOINT``; ``--fluvio-bin`` or ``FLUVIO_BIN_DIR`` adds the
``fluvio`` CLI) and takes a few minutes; ``--only fluvio`` skips the embedded part. Prints
figures, asserts nothing about time.

Each record has a 100-byte value and no key. "batch of 1" means ``send`` + ``flush`` per record:
one transaction per record, the cost a connector pays when it must know each record is stored
before acknowledging it. The single-writer figures are printed for both durability modes:
``normal`` (the default; survives any process crash) and ``full`` (``FLUVIO_EMBEDDED_SYNC=full``;
one fsync per commit, survives a power loss too).
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fluvio_connectors.topics.embedded import EmbeddedTopics

VALUE = b"x" * 100

WRITER = """
import sys, time
from pathlib import Path
from fluvio_connectors.topics.embedded import EmbeddedTopics

db, topic, tag, count, batch, start_file = sys.argv[1:7]
count, batch = int(count), int(batch)
topics = EmbeddedTopics(Path(db))
topics.topic_exists(topic)  # connected and ready
Path(start_file + "." + tag).touch()
deadline = time.monotonic() + 60
while not Path(start_file).exists() and time.monotonic() < deadline:
    time.sleep(0.001)
value = tag.encode() + b"x" * 99
with topics.producer(topic, batch_size=batch) as producer:
    for i in range(count):
        producer.send(None, value)
        if batch == 1:
            producer.flush()
"""


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f} records/s  ({count:,} records in {seconds:.2f} s)"


def write_batches_of_one(topics: EmbeddedTopics, budget_s: float, max_records: int) -> tuple[int, float]:
    topics.create_topic("batch-1")
    with topics.producer("batch-1", batch_size=1) as producer:
        started = time.perf_counter()
        count = 0
        while count < max_records and time.perf_counter() - started < budget_s:
            producer.send(None, VALUE)
            producer.flush()
            count += 1
        return count, time.perf_counter() - started


def write_batches_of_500(topics: EmbeddedTopics, count: int) -> float:
    topics.create_topic("batch-500")
    started = time.perf_counter()
    with topics.producer("batch-500", batch_size=500) as producer:
        for _ in range(count):
            producer.send(None, VALUE)
    return time.perf_counter() - started


def read_all(topics: EmbeddedTopics, topic: str) -> tuple[int, float, float]:
    started = time.perf_counter()
    records = topics.read(topic)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    streamed = sum(1 for _ in topics.stream(topic, 0, follow=False))
    stream_s = time.perf_counter() - started
    assert streamed == len(records)
    return len(records), read_s, stream_s


def two_writers(directory: Path, count: int, batch: int) -> tuple[int, float, int]:
    """Two producer processes writing ``count`` records each at the same time."""
    db = directory / f"two-writers-{batch}.db"
    topics = EmbeddedTopics(db)
    topics.create_topic("shared")
    start = directory / f"go-{batch}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), "shared", tag, str(count), str(batch), str(start)]
        )
        for tag in ("a", "b")
    ]
    deadline = time.monotonic() + 60
    while not all(Path(f"{start}.{tag}").exists() for tag in ("a", "b")) and time.monotonic() < deadline:
        time.sleep(0.005)
    started = time.perf_counter()
    start.touch()
    for proc in procs:
        proc.wait(timeout=120)
    elapsed = time.perf_counter() - started
    records = topics.read("shared")
    assert [r.offset for r in records] == list(range(2 * count)), "offsets must be dense"
    switches = sum(1 for a, b in itertools.pairwise(records) if a.value[:1] != b.value[:1])
    topics.close()
    return len(records), elapsed, switches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-500-records", type=int, default=200_000)
    parser.add_argument("--batch-1-seconds", type=float, default=4.0)
    parser.add_argument("--two-writer-records", type=int, default=50_000, help="per writer, batches of 500")
    parser.add_argument("--fluvio", default=os.environ.get("FLUVIO_ENDPOINT"), metavar="HOST:PORT",
                        help="a Fluvio cluster for the Fluvio part (default FLUVIO_ENDPOINT)")
    parser.add_argument("--fluvio-bin", default=os.environ.get("FLUVIO_BIN_DIR"), metavar="DIR",
                        help="folder of the fluvio CLI, for `fluvio produce -f` (default FLUVIO_BIN_DIR)")
    parser.add_argument("--fluvio-records", type=int, default=100_000)
    parser.add_argument("--fluvio-rounds", type=int, default=5)
    parser.add_argument("--only", choices=["embedded", "fluvio"], default=None)
    args = parser.parse_args()

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.only != "fluvio":
        embedded(args)
    if args.only != "embedded":
        if not args.fluvio:
            print("Fluvio: skipped (no cluster: --fluvio HOST:PORT or FLUVIO_ENDPOINT)")
            return
        import topics_fluvio

        topics_fluvio.run(args.fluvio, count=args.fluvio_records, value_size=len(VALUE), batch=500,
                          rounds=args.fluvio_rounds, fluvio_bin=args.fluvio_bin)
    print(f"load average {os.getloadavg()[0]:.1f}")


def embedded(args: argparse.Namespace) -> None:
    for mode in ("normal", "full"):
        with tempfile.TemporaryDirectory(prefix="topics-bench-") as tmp:
            directory = Path(tmp)
            topics = EmbeddedTopics(directory / "topics.db", synchronous=mode)
            print(f"embedded topic log, SQLite WAL, synchronous={mode.upper()}, 100-byte values, in {directory}")

            count, seconds = write_batches_of_one(topics, args.batch_1_seconds, max_records=20_000)
            print(f"write, batches of 1   {rate(count, seconds)}")

            seconds = write_batches_of_500(topics, args.batch_500_records)
            print(f"write, batches of 500 {rate(args.batch_500_records, seconds)}")

            count, read_s, stream_s = read_all(topics, "batch-500")
            print(f"read()                {rate(count, read_s)}")
            print(f"stream(follow=False)  {rate(count, stream_s)}")
            topics.close()

    with tempfile.TemporaryDirectory(prefix="topics-bench-") as tmp:
        directory = Path(tmp)
        print(f"two writer processes (default durability), in {directory}")

        count, seconds, switches = two_writers(directory, args.two_writer_records, batch=500)
        print(f"2 writer processes, batches of 500 {rate(count, seconds)}, {switches} writer switches")
        count, seconds, switches = two_writers(directory, 1_000, batch=1)
        print(f"2 writer processes, batches of 1   {rate(count, seconds)}, {switches} writer switches")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
