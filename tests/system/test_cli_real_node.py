"""The seed's test-connector through the CLI, as a real pod on the real node, writing to the real
Fluvio cluster: ``fluvio-connector create --runtime kubernetes`` makes the Deployment, the kubelet
runs the image, the readiness probe makes it Running, ``logs`` is the container's own log, and the
records are read back with the project's ``consume`` and with Fluvio's own ``fluvio consume``.

The Fluvio cluster's SPU advertises ``localhost:9010``, which only the node's own network reaches,
so the connector runs with ``--host-network``. Skipped without a real node (conftest.py) or a
Fluvio cluster (tests/tests/fluvio_cluster.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from real_pods import REGISTRY, VERSION, pods_of, wait_until
from seed_examples import SEED_TEST_CONNECTOR

if TYPE_CHECKING:
    from conftest import KubeNamespace
    from fluvio_cluster import FluvioCluster

pytestmark = [pytest.mark.system]

CLI_TIMEOUT = 240.0  # create --wait includes the pod's start


def cli(ns: KubeNamespace, endpoint: str, *args: str, kubernetes: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLUVIO_ENDPOINT": endpoint}
    for name in ("KUBECONFIG", "FLUVIO_CONNECTORS_NAMESPACE", "FLUVIO_CONNECTORS_REGISTRY", "FLUVIO_CONNECTORS_RUNTIME"):
        env.pop(name, None)
    options = ["--runtime", "kubernetes", "--kubeconfig", ns.kubeconfig, "--namespace", ns.namespace,
               "--registry", REGISTRY, "--host-network"] if kubernetes else []
    return subprocess.run([sys.executable, "-m", "airflow_provider_fluvio.cli", *args, *options], capture_output=True,
                          text=True, env=env, timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc.stdout


def test_seed_test_connector_as_a_real_pod_into_fluvio(
    real_namespace: KubeNamespace, real_node: str, fluvio_cluster: FluvioCluster, tmp_path: Path
) -> None:
    # The seed's example, verbatim but for a name of its own (the Fluvio cluster outlives test runs)
    # and the image tag: the images here carry the project's version.
    name = f"seed-{uuid.uuid4().hex[:8]}"
    text = SEED_TEST_CONNECTOR.replace("my-test-connector", name).replace("version: v1", f"version: {VERSION}")
    config = tmp_path / "test-connector.yaml"
    config.write_text(text)
    ns, endpoint = real_namespace, fluvio_cluster.endpoint

    created = ok(cli(ns, endpoint, "create", "--config", str(config), "--wait", "180"))
    assert created.splitlines() == [f'connector "{name}" created', f'connector "{name}" is Running']
    (pod,) = pods_of(ns, name)
    assert pod.spec.node_name == real_node and pod.spec.host_network
    (container,) = pod.status.container_statuses
    assert container.ready and container.image.endswith(f"fluvio-connector-test-connector:{VERSION}")
    status = json.loads(ok(cli(ns, endpoint, "status", name, "-O", "json")))
    assert (status["status"], status["runtime"], status["topic"]) == ("Running", "kubernetes", name)

    # One record a second (the seed's default): wait for three, then read them both ways.
    def three() -> list[str]:
        out = ok(cli(ns, endpoint, "consume", name, "-B", "-d", "-n", "3", "-O", "json", kubernetes=False))
        return [json.loads(line)["value"] for line in out.splitlines()]

    expected = [f"Hello, Fluvio! - {i}" for i in (1, 2, 3)]
    assert wait_until(lambda: len(values := three()) == 3 and values, "3 records in the Fluvio topic") == expected
    fluvio = fluvio_cluster.cli("consume", name, "--start", "0", "--end", "2", "-d", "--disable-progressbar")
    assert fluvio.returncode == 0, fluvio.stderr
    assert fluvio.stdout.splitlines() == expected

    # The container's own log, through the API server and the kubelet.
    logs = ok(cli(ns, endpoint, "logs", name)).splitlines()
    assert any(f"starting: /etc/fluvio-connector/config.yaml: connector {name} (test-connector source, "
               f"version {VERSION}) -> topic {name}" in line for line in logs), logs

    assert ok(cli(ns, endpoint, "delete", name)).strip() == f'connector "{name}" deleted'
    wait_until(lambda: not pods_of(ns, name), "the pod to be gone")
