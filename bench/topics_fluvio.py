"""The Fluvio part of ``topics_bench.py``: the project's producer and reader against the bare
``fluvio`` client's best paths and against ``fluvio produce -f``, on the same records.

Each variant runs ``rounds`` times, interleaved (the machine is shared: the median says more than
one run), into a fresh topic; the figures are records per second from the first send to the last
acknowledgement, and the CPU time all processes doing the work spent per record (on a busy
machine the steadier figure: throughput follows it once the cores are taken). The bare client
runs in its own process (this project never calls the client in the caller's process), so it
pays neither our process boundary nor our checks.
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

# The bare client: prints "<variant> <seconds>" for each variant it is asked for.
BARE = r'''
import asyncio, sys, time
import fluvio

endpoint, count, value_size, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
client = fluvio.Fluvio.connect_with_config(fluvio.FluvioConfig.new(endpoint))
records = [(b"", b"x" * value_size)] * count

def send_all(topic, confirm):
    producer = client.topic_producer(topic)
    started = time.perf_counter()
    outputs = []
    for i in range(0, count, batch):
        outputs += producer.send_all(records[i:i + batch])
    producer.flush()
    if confirm:
        for output in outputs:
            output.wait()
    return time.perf_counter() - started

def async_send_all(topic, confirm):
    producer = client.topic_producer(topic)
    async def run():
        started = time.perf_counter()
        outputs = []
        for i in range(0, count, batch):
            outputs += await producer.async_send_all(records[i:i + batch])
        await producer.async_flush()
        if confirm:
            for output in outputs:
                output.wait()  # every result is in after the flush
        return time.perf_counter() - started
    return asyncio.run(run())

def per_record(topic, confirm):
    producer = client.topic_producer(topic)
    started = time.perf_counter()
    outputs = [producer.send(b"", records[0][1]) for _ in range(count)]
    producer.flush()
    if confirm:
        for output in outputs:
            output.wait()
    return time.perf_counter() - started

def read(topic, _confirm):
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
    name, _, confirm = variant.partition("+")
    seconds = globals()[name](topic, confirm == "confirm")
    print(variant, seconds, flush=True)
'''

CONFIRMED = ("send_all+confirm", "async_send_all+confirm", "per_record+confirm")
UNCONFIRMED = ("send_all", "async_send_all")


def run(endpoint: str, *, count: int, value_size: int, batch: int, rounds: int, fluvio_bin: str | None) -> None:
    topics = FluvioTopics(endpoint, timeout=120)
    made: list[str] = []

    def fresh() -> str:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        topics.create_topic(name)
        made.append(name)
        return name

    bare = subprocess.Popen([sys.executable, "-c", BARE, endpoint, str(count), str(value_size), str(batch)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def bare_run(variant: str, topic: str) -> float:
        assert bare.stdin is not None and bare.stdout is not None
        before = _cpu(bare.pid)
        bare.stdin.write(f"{variant} {topic}\n")
        bare.stdin.flush()
        name, seconds = bare.stdout.readline().split()
        assert name == variant
        cpu_used.append(_cpu(bare.pid) - before)
        return float(seconds)

    cpu_used: list[float] = []  # the CPU seconds of the last measurement

    value = b"x" * value_size
    records = [(None, value)] * count

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
    lines_file.write_bytes((value + b"\n") * count)
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
    for variant in (*CONFIRMED, *UNCONFIRMED):
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

    try:
        for _ in range(rounds):
            for name, call in variants.items():
                topic = fresh()
                measure(name, call, topic, results)
                if name == "project producer":
                    measure("project read()", project_read, topic, reads)
                    measure("bare consumer", lambda t: bare_run("read", t), topic, reads)
    finally:
        bare.kill()
        bare.wait()
        lines_file.unlink()
    load = os.getloadavg()
    print(f"Fluvio at {endpoint}: {count:,} records of {value_size} B, batches of {batch}, median of {rounds} "
          f"interleaved rounds (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
    medians = {name: statistics.median(rates) for name, rates in {**results, **reads}.items()}
    for name, rates in {**results, **reads}.items():
        spread = ", ".join(f"{r / 1000:.0f}k" for r in rates)
        print(f"  {name:<26} {medians[name]:>9,.0f} records/s ({spread}); "
              f"CPU {statistics.median(cpu[name]):.1f} us/record")
    best_confirmed = max(CONFIRMED, key=lambda v: medians[f"bare {v}"])
    best_any = max((*CONFIRMED, *UNCONFIRMED), key=lambda v: medians[f"bare {v}"])
    project = medians["project producer"]
    print(f"  project producer / bare client's best confirmed path ({best_confirmed}): "
          f"{project / medians[f'bare {best_confirmed}']:.2f} in records/s, "
          f"{statistics.median(cpu[f'bare {best_confirmed}']) / statistics.median(cpu['project producer']):.2f} "
          "in records per CPU second")
    print(f"  project producer / bare client's fastest path, unconfirmed ({best_any}): "
          f"{project / medians[f'bare {best_any}']:.2f}")
    if cli is not None:
        print(f"  project producer / fluvio produce -f: {project / medians['fluvio produce -f']:.2f}")
    print(f"  project read() / bare consumer: {medians['project read()'] / medians['bare consumer']:.2f}")
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
