"""The Connectors pages under load: how fast the list of N connectors answers, and what an open page
costs the API server.

    .venv/bin/python bench/ui_bench.py [--connectors 100] [--seconds 60] [--samples 40]

Starts Airflow's api-server alone (SQLite, the SimpleAuthManager, the provider's plugin from its
entry point) on 127.0.0.1 with a throwaway state directory, and creates N test-connectors (local
runtime, embedded log, one record a second each) through the plugin's API. Then:

* list: ``GET /fluvio/api/connectors`` (N rows) ``--samples`` times one after another, over HTTP
  with the page's cookie: median, p90, max; and ``service.connectors()`` in this process (no HTTP,
  no auth) for the part that is the runtime's;
* an open page: headless Chromium on the connector page, then on the list page, each for
  ``--seconds``: the api-server's CPU time (its process tree) over that time, minus what it used
  over as long with no page open, as a share of one core.

About 5 GB of memory for 100 connectors (a supervisor and a program each). Prints figures only;
it never passes or fails on time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

CONFIG = "name: {name}\ntype: test-connector\ntopic: {name}\ncreate_topic: true\nparameters:\n  timeout: 1000\n"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def show(label: str, seconds: list[float]) -> None:
    ms = [s * 1000 for s in seconds]
    print(f"{label:<44} median {statistics.median(ms):6.1f} ms   p90 {percentile(ms, 0.9):6.1f} ms   max {max(ms):6.1f} ms")


def measure_cpu(pid: int, seconds: float) -> float:
    """The share of one core the process tree of ``pid`` used over ``seconds`` (events_bench's)."""
    from events_bench import measure_cpu as measure

    return measure(pid, seconds)


def open_page(base_url: str, token: str, path: str, seconds: float, api_pid: int) -> tuple[float, int]:
    """The api-server's CPU share while Chromium shows ``path`` for ``seconds``, and how many
    requests the page sent meanwhile."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=os.environ.get("FLUVIO_E2E_CHROMIUM", "/usr/bin/chromium"),
                                             args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context()
        context.add_cookies([{"name": "_token", "value": token, "url": base_url}])
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"{base_url}{path}")
        page.wait_for_selector("h1")
        time.sleep(5)  # the page's first loads are not what stays open
        requests.clear()
        share = measure_cpu(api_pid, seconds)
        browser.close()
    return share, len(requests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connectors", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()

    import httpx
    from airflow_cluster import ADMIN_USER, AirflowCluster

    root = Path(tempfile.mkdtemp(prefix="fluvio-ui-bench-"))
    cluster = AirflowCluster(root=root, dags_folder=root / "dags", fluvio_home=root / "fluvio-home")
    (root / "dags").mkdir()
    names = [f"bench-{i:03d}" for i in range(args.connectors)]
    cluster.start(components=("api-server",))
    api_pid = cluster.procs["api-server"].pid
    token = cluster.token(ADMIN_USER)
    client = httpx.Client(base_url=f"{cluster.base_url}/fluvio/api", headers={"Authorization": f"Bearer {token}"}, timeout=120)
    cookie_client = httpx.Client(base_url=f"{cluster.base_url}/fluvio/api", cookies={"_token": token}, timeout=120)
    try:
        start = time.monotonic()
        for name in names:
            answer = client.post("/connectors", json={"config": CONFIG.format(name=name)})
            assert answer.status_code == 201, answer.text
        created = time.monotonic() - start
        deadline = time.monotonic() + 300
        while True:
            rows = client.get("/connectors").json()["connectors"]
            running = sum(row["status"] == "Running" for row in rows)
            if running == len(names) or time.monotonic() > deadline:
                break
            time.sleep(1)
        load = os.getloadavg()[0]
        print(f"{len(names)} test-connectors created through the page's API in {created:.1f} s, {running} Running; "
              f"{os.cpu_count()} CPUs, load average {load:.1f}, python {sys.version.split()[0]}")

        timings = []
        for _ in range(args.samples):
            begin = time.perf_counter()
            answer = cookie_client.get("/connectors")
            timings.append(time.perf_counter() - begin)
            assert answer.status_code == 200 and len(answer.json()["connectors"]) == len(names)
        show(f"list of {len(names)} over HTTP (api-server)", timings)
        print(f"  answer size {len(answer.content) / 1024:.0f} KiB")

        os.environ["FLUVIO_CONNECTORS_HOME"] = str(cluster.fluvio_home)
        from airflow_provider_fluvio.runtimes.local import LocalRuntime

        runtime = LocalRuntime()
        local = []
        for _ in range(args.samples):
            begin = time.perf_counter()
            assert len(runtime.list()) == len(names)
            local.append(time.perf_counter() - begin)
        show(f"  of which LocalRuntime.list() of {len(names)}", local)

        idle = measure_cpu(api_pid, args.seconds)
        print(f"api-server CPU with no page open: {idle * 100:.2f}% of a core over {args.seconds:g} s")
        pages: list[tuple[str, str]] = [
            ("connector page", f"/fluvio/connectors/{names[0]}?conn=fluvio_default"),
            (f"list page ({len(names)} connectors)", "/fluvio/connectors"),
        ]
        for label, path in pages:
            share, sent = open_page(cluster.base_url, token, path, args.seconds, api_pid)
            print(f"api-server CPU with the {label} open: {share * 100:.2f}% of a core "
                  f"({(share - idle) * 100:+.2f}% over idle; {sent} requests in {args.seconds:g} s)")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        for name in names:
            client.delete(f"/connectors/{name}")
        client.close()
        cookie_client.close()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
