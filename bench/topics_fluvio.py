"""The Fluvio part of ``topics_bench.py``: the project's producer and reader against the bare
``fluvio`` client's paths and against ``fluvio produce -f``, on the same records.

The bare client's producer paths, in a process of their own (this project never calls the client in
the caller's process), so they pay neither our process boundary nor our checks. Each builds the
client's records from the same list of distinct values (the conversion is part of the work):

- with the project's guarantee (a flush reports every batch the cluster refused):
  ``wait_each``: ``send_all`` in calls of 2,000 with the client's default config, ``flush``,
  ``wait`` on every record's result; ``wait_batches``: what ``fluvio_client/producing.py`` does:
  its batch size, one partition, batches cut by size only, calls that fit in one batch, ``flush``,
  ``wait`` on the last result of each call;
- without it (``flush`` alone misses a batch the SPU refused): ``flush_only``: ``send_all`` in
  calls of 2,000 with the client's default config, then ``flush``; ``flush_only_big``: the same
  with the project's batch size; ``async_flush_only``: ``async_send_all`` and ``async_flush``
  with the default config.

Each variant runs ``rounds`` times, interleaved (the machine is shared), into a fresh topic; the
figures are records per second from the first send to the flush's end, best and median, and the
CPU time all processes doing the work spent per record (on a busy machine the steadier figure).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from fluvio_connectors.topics.fluvio import FluvioTopics
from fluvio_connectors.topics.fluvio_client import producing

# The bare client: prints "<variant> <seconds>" for each "<variant> <topic>" line it reads.
BARE = r'''
import asyncio, sys, time
from itertools import repeat
import fluvio

endpoint, count, value_size, batch_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
client = fluvio.Fluvio.connect_with_config(fluvio.FluvioConfig.new(endpoint))
values = [b"%0*d" % (value_size, i) for i in range(count)]
Record = fluvio._ProducerBatchRecord
FRAME = 2_000

def native(topic, config=None):
    producer = client.topic_producer(topic) if config is None else client.topic_producer_with_config(topic, config)
    return producer._inner

def flush_only(topic, config=None):
    producer = native(topic, config)
    started = time.perf_counter()
    for i in range(0, count, FRAME):
        producer.send_all(list(map(Record, repeat(b""), values[i:i + FRAME])))
    producer.flush()
    return time.perf_counter() - started

def flush_only_big(topic):
    return flush_only(topic, fluvio.TopicProducerConfigBuilder().batch_size(batch_bytes).build())

def wait_each(topic):
    producer = native(topic)
    started = time.perf_counter()
    outputs = []
    for i in range(0, count, FRAME):
        outputs += producer.send_all(list(map(Record, repeat(b""), values[i:i + FRAME])))
    producer.flush()
    for output in outputs:
        output.wait()
    return time.perf_counter() - started

def wait_batches(topic):
    # the project's batches, a day of linger (cut by size only), partition 0; each call fits in a batch
    config = (fluvio.TopicProducerConfigBuilder().batch_size(batch_bytes).linger(86_400_000)
              .set_specific_partitioner(0).build())
    producer = native(topic, config)
    per_call = max(1, (batch_bytes - 1_024) // (value_size + 64))
    started = time.perf_counter()
    last = []
    for i in range(0, count, FRAME):
        records = list(map(Record, repeat(b""), values[i:i + FRAME]))
        for j in range(0, len(records), per_call):
            last.append(producer.send_all(records[j:j + per_call])[-1])
    producer.flush()
    for output in last:
        output.wait()
    return time.perf_counter() - started

def async_flush_only(topic):
    producer = native(topic)
    async def run():
        started = time.perf_counter()
        for i in range(0, count, FRAME):
            await producer.async_send_all(list(map(Record, repeat(b""), values[i:i + FRAME])))
        await producer.async_flush()
        return time.perf_counter() - started
    return asyncio.run(run())

def read(topic):
    builder = fluvio.ConsumerConfigExtBuilder(topic)
    builder.offset_start(fluvio.Offset.beginning())
    builder.disable_continuous(True)
    builder.max_bytes(16 * 1024 * 1024)
    started = time.perf_counter()
    got = [(r.offset(), bytes(r.key()), bytes(r.value()), r.timestamp()) for r in client.consumer_with_config(builder.build())]
    elapsed = time.perf_counter() - started
    assert len(got) == count, f"read {len(got)} of {count}"
    return elapsed

for line in sys.stdin:
    variant, topic = line.split()
    print(variant, globals()[variant](topic), flush=True)
'''

SAME_GUARANTEE = ("wait_each", "wait_batches")
WEAKER = ("flush_only", "flush_only_big", "async_flush_only")


def run(endpoint: str, *, count: int, value_size: int, batch: int, rounds: int, fluvio_bin: str | None) -> None:
    topics = FluvioTopics(endpoint, timeout=120)
    made: list[str] = []

    def fresh() -> str:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        topics.create_topic(name)
        made.append(name)
        return name

    bare = subprocess.Popen([sys.executable, "-c", BARE, endpoint, str(count), str(value_size),
                             str(producing.CLIENT_BATCH_BYTES)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    cpu_used: list[float] = []  # the CPU seconds of the last measurement

    def bare_run(variant: str, topic: str) -> float:
        assert bare.stdin is not None and bare.stdout is not None
        before = _cpu(bare.pid)
        bare.stdin.write(f"{variant} {topic}\n")
        bare.stdin.flush()
        name, seconds = bare.stdout.readline().split()
        assert name == variant
        cpu_used.append(_cpu(bare.pid) - before)
        return float(seconds)

    values = [b"%0*d" % (value_size, i) for i in range(count)]  # distinct, as the bare client's
    records = [(None, value) for value in values]

    def project_producer(topic: str) -> float:
        producer = topics.producer(topic, batch_size=batch)
        helper = topics._client._helper
        assert helper is not None
        before = time.process_time() + _cpu(helper.process.pid)
        started = time.perf_counter()
        producer.send_many(records)
        producer.flush()
        elapsed = time.perf_counter() - started
        cpu_used.append(time.process_time() + _cpu(helper.process.pid) - before)
        producer.close()
        return elapsed

    def project_read(topic: str) -> float:
        helper = topics._client._helper
        assert helper is not None
        before = time.process_time() + _cpu(helper.process.pid)
        started = time.perf_counter()
        got = topics.read(topic)
        elapsed = time.perf_counter() - started
        cpu_used.append(time.process_time() + _cpu(helper.process.pid) - before)
        assert len(got) == count, f"read {len(got)} of {count}"
        return elapsed

    lines_file = Path(tempfile.mkstemp(prefix="fluvio-produce-", suffix=".txt")[1])
    lines_file.write_bytes(b"".join(value + b"\n" for value in values))
    cli = _cli(fluvio_bin, endpoint)

    def cli_produce(topic: str) -> float:
        assert cli is not None
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([cli[0], "produce", topic, "-f", str(lines_file)], env=cli[1], check=True,
                       stdout=subprocess.DEVNULL, timeout=600)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_used.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        return elapsed

    variants: dict[str, Callable[[str], float]] = {"project producer": project_producer}
    for variant in (*SAME_GUARANTEE, *WEAKER):
        variants[f"bare {variant}"] = lambda topic, v=variant: bare_run(v, topic)
    if cli is not None:
        variants["fluvio produce -f"] = cli_produce
    results: dict[str, list[float]] = {name: [] for name in variants}
    reads: dict[str, list[float]] = {"project read()": [], "bare consumer": []}
    cpu: dict[str, list[float]] = {name: [] for name in (*variants, *reads)}

    def measure(name: str, call: Callable[[str], float], topic: str, into: dict[str, list[float]]) -> None:
        cpu_used.clear()
        into[name].append(count / call(topic))
        cpu[name].append(cpu_used[-1] * 1e6 / count)

    loads = [os.getloadavg()[0]]
    try:
        for _ in range(rounds):
            for name, call in variants.items():
                topic = fresh()
                measure(name, call, topic, results)
                if name == "project producer":
                    measure("project read()", project_read, topic, reads)
                    measure("bare consumer", lambda t: bare_run("read", t), topic, reads)
            loads.append(os.getloadavg()[0])
    finally:
        bare.kill()
        bare.wait()
        lines_file.unlink()
    print(f"Fluvio at {endpoint}: {count:,} records of {value_size} B (distinct values, no key), the project's "
          f"producer with batch_size={batch}; {rounds} interleaved rounds; 1-minute load average "
          f"{min(loads):.1f} to {max(loads):.1f} during the run")
    print(f"  {'':<24} {'median':>9} {'best':>9}  records/s   CPU us/record (median)   all rounds")
    medians = {name: statistics.median(rates) for name, rates in {**results, **reads}.items()}
    bests = {name: max(rates) for name, rates in {**results, **reads}.items()}
    for name, rates in {**results, **reads}.items():
        spread = ", ".join(f"{r / 1000:.0f}k" for r in rates)
        print(f"  {name:<24} {medians[name]:>9,.0f} {bests[name]:>9,.0f}              "
              f"{statistics.median(cpu[name]):>5.1f}                  {spread}")

    def ratio(name: str) -> str:
        return (f"{medians['project producer'] / medians[name]:.2f} of the median, "
                f"{bests['project producer'] / bests[name]:.2f} of the best, "
                f"{statistics.median(cpu[name]) / statistics.median(cpu['project producer']):.2f} in records per CPU s")

    same = max(SAME_GUARANTEE, key=lambda v: medians[f"bare {v}"])
    fastest = max((*SAME_GUARANTEE, *WEAKER), key=lambda v: medians[f"bare {v}"])
    print(f"  project / bare client's best path with the same guarantee (bare {same}): {ratio(f'bare {same}')}")
    print(f"  project / bare client's fastest path, any guarantee (bare {fastest}): {ratio(f'bare {fastest}')}")
    if cli is not None:
        print(f"  project / fluvio produce -f: {ratio('fluvio produce -f')}")
    print(f"  project read() / bare consumer: {medians['project read()'] / medians['bare consumer']:.2f} of the median")
    for name in made:
        topics.delete_topic(name)
    topics.close()


def _cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cli(fluvio_bin: str | None, endpoint: str) -> tuple[str, dict[str, str]] | None:
    """The ``fluvio`` CLI and an environment whose profile names ``endpoint``, if there is a CLI."""
    if not fluvio_bin:
        return None
    home = Path(tempfile.mkdtemp(prefix="fluvio-bench-home-"))
    (home / ".fluvio").mkdir()
    (home / ".fluvio" / "config").write_text(
        'version = "2.0"\ncurrent_profile = "bench"\n\n[profile.bench]\ncluster = "bench"\n\n'
        f'[cluster.bench]\nendpoint = "{endpoint}"\nuse_spu_local_address = false\n\n'
        '[cluster.bench.tls]\ntls_policy = "disabled"\n'
    )
    return str(Path(fluvio_bin) / "fluvio"), {**os.environ, "HOME": str(home)}
