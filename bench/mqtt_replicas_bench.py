"""Replicas: aggregate rate of 1, 2 and 4 MQTT connector instances splitting one stream.

    .venv/bin/python bench/mqtt_replicas_bench.py [--messages 100000] [--repeat 2] [--backend fluvio [--fluvio HOST:PORT]]

The same mosquitto, publisher and connector processes as ``mqtt_bench.py``; with N replicas the
connector is N processes with ``FLUVIO_CONNECTOR_REPLICAS=N`` and their own index, subscribed to
``$share/bench/<filter>`` (MQTT 5 shared subscriptions), writing to one topic: of the embedded log
(all of them in one SQLite file), or with ``--backend fluvio`` of the Fluvio cluster at
``--fluvio``. For qos 0 and 1, the stream is published as fast as the broker takes it and the rate
runs until every message is stored (embedded: the topic holds them all; Fluvio: the replicas'
status files count them, checked against the topic afterwards).

Besides the rate, each line shows how busy the broker, the connector processes (with their Fluvio
client processes) and, for a Fluvio cluster on this machine, its servers were (CPU seconds per
second of the run; 1.00 is one core): when the broker sits near one core (mosquitto is
single-threaded), more replicas cannot add anything; on a 2-core machine the connector processes,
the broker, the publisher (and the Fluvio servers) share two cores. Best of ``--repeat``; prints the load
average; never asserts on time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mqtt_bench import Connector, Mosquitto, Publisher, add_fluvio_options, backend, load, stream, wait_until


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fluvio_servers() -> list[int]:
    """The Fluvio servers (SC, SPU) running on this machine, if the cluster is local."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "fluvio-run":
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def run(broker: Mosquitto, workdir: Path, qos: int, replicas: int, count: int,
        fluvio: str | None) -> tuple[float, float, float, float]:
    """Messages a second; the broker's, the connectors' and (a local cluster) the Fluvio servers'
    CPU (cores busy) during the run."""
    topic = f"bench/rep/{qos}/{time.monotonic_ns()}"
    connector = Connector(broker, workdir, qos, topic, fluvio, replicas=replicas)
    try:
        data = stream(topic, qos, count)
        publisher = Publisher(broker.port, f"pub-{time.monotonic_ns()}")
        servers = fluvio_servers() if fluvio else []
        broker_cpu, connector_cpu = cpu_seconds(broker.process.pid), connector.cpu_seconds()
        server_cpu = sum(cpu_seconds(pid) for pid in servers)
        started = time.perf_counter()
        publisher.send(data)
        wait_until(lambda: connector.stored() >= count, 600, f"{count} records", interval=0.01)
        elapsed = time.perf_counter() - started
        broker_cpu = (cpu_seconds(broker.process.pid) - broker_cpu) / elapsed
        connector_cpu = (connector.cpu_seconds() - connector_cpu) / elapsed
        server_cpu = (sum(cpu_seconds(pid) for pid in servers) - server_cpu) / elapsed
        publisher.close()
        held = connector.records()
        if held < count:
            raise RuntimeError(f"the replicas said {count} records were stored; the topic holds {held}")
        return count / elapsed, broker_cpu, connector_cpu, server_cpu
    finally:
        connector.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--replicas", default="1,2,4")
    add_fluvio_options(parser)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mqtt-replicas-bench-"))
    broker = Mosquitto(workdir)
    fluvio, into = backend(args)
    try:
        print(f"mosquitto on 127.0.0.1:{broker.port}; {args.messages:,} messages of 100 bytes; best of "
              f"{args.repeat}; {load()} on {os.cpu_count()} CPUs")
        for qos in (0, 1):
            for replicas in (int(r) for r in args.replicas.split(",")):
                runs = [run(broker, workdir, qos, replicas, args.messages, fluvio) for _ in range(args.repeat)]
                rate, broker_cpu, connector_cpu, server_cpu = max(runs)
                servers = f", Fluvio servers {server_cpu:.2f}" if fluvio else ""
                print(f"{replicas} replica{'s' if replicas > 1 else ' '} -> {into}, qos {qos}: {rate:>9,.0f}/s "
                      f"(runs: {', '.join(f'{r[0]:,.0f}' for r in runs)}); cores busy: broker {broker_cpu:.2f}, "
                      f"connectors {connector_cpu:.2f}{servers}; {load()}", flush=True)
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
