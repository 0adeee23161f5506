"""Local runtime: time from ``create`` to ``Running``, and from ``delete`` to gone.

    .venv/bin/python bench/runtime_bench.py [--connectors 10] [--home DIR]

Creates test-connectors one after another in a throwaway state directory (embedded topics), polls
``status`` every 5 ms until each is Running, and prints the median and p90 of create→Running (the
time ``create`` itself takes, and the time until the program reports ready), then of delete. Prints
figures only; it never passes or fails on time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

DEADLINE_SECONDS = 60.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def show(label: str, values: list[float]) -> None:
    ms = {"median": statistics.median(values), "p90": percentile(values, 0.9), "min": min(values),
          "max": max(values)}
    print(f"{label:<28}" + "   ".join(f"{k} {v * 1000:6.0f} ms" for k, v in ms.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connectors", type=int, default=10)
    parser.add_argument("--home", type=Path, default=None, help="state directory (default: a temporary one)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="fluvio-runtime-bench-"))
    os.environ["FLUVIO_CONNECTORS_HOME"] = str(home)
    os.environ.pop("FLUVIO_ENDPOINT", None)

    from airflow_provider_fluvio.runtimes.base import ConnectorStatus
    from airflow_provider_fluvio.runtimes.local import LocalRuntime
    from fluvio_connectors.config import load_config

    runtime = LocalRuntime()
    # Warm up this process's imports and the topic log, as a long-lived Airflow worker would have.
    runtime.create(load_config({"name": "bench-warmup", "type": "test-connector", "topic": "bench",
                                "create_topic": True, "parameters": {"count": 1}}, secrets={}))
    runtime.delete("bench-warmup")

    to_running, create_call, deletes = [], [], []
    names = [f"bench-{i}" for i in range(args.connectors)]
    try:
        for name in names:
            config = load_config({"name": name, "type": "test-connector", "topic": "bench",
                                  "create_topic": True, "parameters": {"timeout": 1000}}, secrets={})
            start = time.perf_counter()
            runtime.create(config)
            create_call.append(time.perf_counter() - start)
            deadline = time.monotonic() + DEADLINE_SECONDS
            while True:
                info = runtime.status(name)
                if info.status == ConnectorStatus.RUNNING:
                    to_running.append(time.perf_counter() - start)
                    break
                if info.status == ConnectorStatus.FAILED or time.monotonic() > deadline:
                    print(f"{name}: {info.status} ({info.reason}); log:", *runtime.logs(name, 10), sep="\n  ")
                    return 1
                time.sleep(0.005)
        for name in names:
            start = time.perf_counter()
            runtime.delete(name)
            deletes.append(time.perf_counter() - start)
    finally:
        for info in runtime.list():
            runtime.delete(info.name)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"local runtime, {args.connectors} test-connectors one after another, {os.cpu_count()} CPUs, "
          f"load average {load:.1f}, python {sys.version.split()[0]}")
    show("create -> Running", to_running)
    show("  of which create() call", create_call)
    show("delete (stop + remove)", deletes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
