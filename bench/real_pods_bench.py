"""Kubernetes runtime on the real node: time from ``create`` to ``Running`` with a real pod.

    .venv/bin/python bench/real_pods_bench.py [--runs 5] [--kubeconfig FILE]

Uses the running cluster of ``--kubeconfig`` (or ``FLUVIO_K8S_KUBECONFIG``, e.g. from
``make k8s-up``), else starts one with k8s/up.sh for the run. In a namespace whose pods go to the
real node it creates a test-connector with the project's Kubernetes runtime, polls ``status`` every
50 ms until it is Running (the Deployment's pod started by the kubelet and ready through its exec
readiness probe), deletes it and waits until its pod is gone, ``--runs`` times; prints the median and
range, and the load average. Prints figures only; never passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "system"))
DEADLINE = 180.0


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kubeconfig", default=os.environ.get("FLUVIO_K8S_KUBECONFIG"))
    args = parser.parse_args()
    os.environ["FLUVIO_CONNECTORS_HOME"] = tempfile.mkdtemp(prefix="fluvio-pods-bench-")
    os.environ.pop("FLUVIO_ENDPOINT", None)

    import kube_cluster
    from kubernetes import client, config

    from airflow_provider_fluvio.runtimes.base import ConnectorStatus
    from airflow_provider_fluvio.runtimes.kubernetes import KubernetesRuntime
    from fluvio_connectors.config import load_config

    print(f"load average at start: {load()}")
    handle = None
    kubeconfig = args.kubeconfig
    if not kubeconfig:
        t0 = time.perf_counter()
        handle = kube_cluster.start_cluster(tempfile.mkdtemp(prefix="fluvio-pods-bench-k8s-"))
        kubeconfig = str(handle.kubeconfig_path)
        print(f"cluster (build cached) up in {time.perf_counter() - t0:.1f} s")
    env = kube_cluster.read_env(Path(kubeconfig).parent)
    if not env.get("FLUVIO_K8S_REAL_NODE"):
        print(f"real pods bench skipped: no real node ({env.get('FLUVIO_K8S_REAL_NODE_SKIPPED')})")
        if handle:
            handle.stop()
        return 0
    api = config.new_client_from_config(config_file=kubeconfig)
    core = client.CoreV1Api(api)
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace, annotations={
        "scheduler.alpha.kubernetes.io/node-selector": "fluvio.test/node=real",
        "scheduler.alpha.kubernetes.io/defaultTolerations": json.dumps(
            [{"key": "fluvio.test/real-node", "operator": "Exists", "effect": "NoSchedule"}]),
    })))
    while not core.list_namespaced_service_account(namespace, field_selector="metadata.name=default").items:
        time.sleep(0.1)
    from importlib.metadata import version

    runtime = KubernetesRuntime(namespace=namespace, kube_config_path=kubeconfig, registry="localhost")
    times = []
    try:
        for i in range(args.runs):
            name = f"bench-{i}"
            cfg = load_config({"version": version("airflow-provider-fluvio"), "name": name, "type": "test-connector",
                               "topic": "bench", "create_topic": True, "parameters": {"timeout": 1000}}, secrets={})
            started = time.perf_counter()
            runtime.create(cfg)
            while (info := runtime.status(name)).status != ConnectorStatus.RUNNING:
                if info.status == ConnectorStatus.FAILED or time.perf_counter() - started > DEADLINE:
                    raise RuntimeError(f"{name}: {info.status} {info.reason}")
                time.sleep(0.05)
            times.append(time.perf_counter() - started)
            runtime.delete(name)
            selector = f"app.kubernetes.io/instance={name}"
            while core.list_namespaced_pod(namespace, label_selector=selector).items:
                time.sleep(0.1)
        print(f"real pod create to Running: p50 {statistics.median(times):.2f} s "
              f"(min {min(times):.2f}, max {max(times):.2f}, {args.runs} runs)")
    finally:
        runtime.close()
        core.delete_namespace(namespace)
        api.close()
        if handle:
            handle.stop()
    print(f"load average at end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
