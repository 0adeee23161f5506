"""What importing the provider costs a DAG file: extra time and memory of importing its operator,
sensor and hook modules on top of ``import airflow.sdk``.

    .venv/bin/python bench/import_bench.py [--runs N]

Each measurement is a fresh interpreter (DAG processors import DAG files in fresh processes too);
the figures are medians over ``--runs``. Two baselines:

* ``import airflow.sdk`` alone (the brief's figure);
* ``airflow.sdk`` plus the base classes any DAG with operators already loads (BaseOperator,
  BaseSensorOperator, BaseHook), which isolates the provider's own share.

Two sets of modules: all three (operators, sensor, hook), and what a DAG file with operators and a
sensor imports (the operators and sensor modules import the hook only when a task runs).

Two kinds of import: with bytecode caches, as an installed provider is imported (pip writes them at
install; here they go to a private ``PYTHONPYCACHEPREFIX``, filled by a first run), and compiled
from source, as in an environment with ``PYTHONDONTWRITEBYTECODE=1`` (this machine's shells set
it; most of what such an import costs is compiling the provider's source).

It also lists heavy modules the import must not pull in (kubernetes, fluvio, paho). Prints figures
with the machine's load average; never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_MODULES = (
    "airflow_provider_fluvio.operators.connector",
    "airflow_provider_fluvio.sensors.connector",
    "airflow_provider_fluvio.hooks.fluvio",
)
DAG_MODULES = PROVIDER_MODULES[:2]
HEAVY = ("kubernetes", "fluvio", "paho", "airflow_provider_fluvio.runtimes.kubernetes")

PROBE = r"""
import json, sys, time

def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

start = time.perf_counter()
import airflow.sdk
if BASES:
    from airflow.sdk import BaseHook, BaseOperator, BaseSensorOperator
base_seconds = time.perf_counter() - start
before_rss, before_modules = rss_kib(), set(sys.modules)
start = time.perf_counter()
import importlib
for name in MODULES:
    importlib.import_module(name)
seconds = time.perf_counter() - start
new = sorted(set(sys.modules) - before_modules)
heavy = [m for m in new if m.split(".")[0] in HEAVY or m in HEAVY]
print(json.dumps({"base": base_seconds, "seconds": seconds, "rss_kib": rss_kib() - before_rss,
                  "new_modules": len(new), "heavy": heavy, "top": sorted({m.split(".")[0] for m in new})}))
"""


def measure(bases: bool, runs: int, modules: tuple[str, ...], cache: str | None) -> list[dict[str, Any]]:
    """``runs`` fresh interpreters; ``cache``: a bytecode cache directory (None: compile from source)."""
    code = f"BASES = {bases!r}\nMODULES = {modules!r}\nHEAVY = {HEAVY!r}\n" + PROBE
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = cache
        subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, env=env, timeout=300,
                       check=True)  # fills the cache
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=True
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def report(title: str, results: list[dict[str, Any]]) -> float:
    ms = [float(r["seconds"]) * 1000 for r in results]
    kib = [int(r["rss_kib"]) for r in results]
    base = [float(r["base"]) * 1000 for r in results]
    print(f"{title}")
    print(f"  baseline import:          median {statistics.median(base):7.1f} ms")
    print(
        f"  provider modules, extra:  median {statistics.median(ms):7.1f} ms "
        f"(min {min(ms):.1f}, max {max(ms):.1f}, {len(ms)} runs)"
    )
    print(f"  provider modules, RSS:    median {statistics.median(kib) / 1024:7.2f} MiB")
    print(
        f"  modules newly imported:   {results[0]['new_modules']} "
        f"(top-level packages: {', '.join(results[0]['top'])})"
    )
    heavy = results[0]["heavy"]
    print(f"  heavy modules pulled in:  {', '.join(heavy) if heavy else 'none'}")
    return statistics.median(ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"{args.runs} fresh interpreters each; target < 10 ms; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs\n")
    summary = []
    with tempfile.TemporaryDirectory(prefix="import-bench-pycache-") as cache:
        for kind, where in (("with bytecode caches (installed)", cache), ("compiled from source", None)):
            for label, modules in (("operators + sensor + hook", PROVIDER_MODULES),
                                   ("operators + sensor (a DAG file)", DAG_MODULES)):
                plain = report(f"{label}, {kind}, on top of `import airflow.sdk`:",
                               measure(False, args.runs, modules, where))
                print()
                based = report(f"{label}, {kind}, on top of `import airflow.sdk` + BaseOperator, "
                               "BaseSensorOperator, BaseHook:", measure(True, args.runs, modules, where))
                print()
                summary.append((f"{label}, {kind}", plain, based))
    print("summary (median extra ms over airflow.sdk / over airflow.sdk + base classes):")
    for label, plain, based in summary:
        print(f"  {label:60} {plain:6.1f} / {based:6.1f}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
