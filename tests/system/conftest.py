"""System tests: a real Kubernetes API (k8s/up.sh: kube-apiserver, controller-manager, scheduler,
kwok fake nodes and, where the machine can run one, a real node), one per pytest session, started
on first use; a fresh namespace in it for each test module that asks for one; the real Fluvio
cluster (the session fixture of tests/conftest.py); an MQTT broker on the host (tests/connectors' fixtures).

The two kinds of node are kept apart: the real node is tainted ``fluvio.test/real-node:NoSchedule``
and labelled ``fluvio.test/node=real``, the kwok nodes ``fluvio.test/node=kwok``. A namespace says
where its pods go (the API server's PodNodeSelector and PodTolerationRestriction admission
plugins): ``kube_namespace`` to the kwok nodes, ``real_namespace`` to the real node (with the
toleration), so the project's runtime needs no test-only options to land where a test means it to.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kube_cluster import make_kube_cluster_fixture, read_env

# tests/connectors' real MQTT broker
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "connectors"))
from connector_fixtures import Broker, broker_kind

kube_cluster = make_kube_cluster_fixture("session")

SERVICE_ACCOUNT_TIMEOUT = 30.0
NODE_LABEL = "fluvio.test/node"
REAL_NODE_TAINT = "fluvio.test/real-node"


@dataclass(frozen=True)
class KubeNamespace:
    """A namespace of the local cluster: its admin kube config file, its name, and an API client
    (the test module's own; closed with the namespace)."""

    kubeconfig: str
    namespace: str
    api_client: Any


def _namespace(kube_cluster: str, request: pytest.FixtureRequest, node_kind: str) -> Iterator[KubeNamespace]:
    """A fresh namespace named after the test module whose pods go to nodes of ``node_kind``;
    deleted (with all it holds) at the end."""
    from kubernetes import client, config

    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    prefix = re.sub(r"[^a-z0-9]+", "-", module.lower()).strip("-")[:40]
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    annotations = {"scheduler.alpha.kubernetes.io/node-selector": f"{NODE_LABEL}={node_kind}"}
    if node_kind == "real":
        annotations["scheduler.alpha.kubernetes.io/defaultTolerations"] = json.dumps(
            [{"key": REAL_NODE_TAINT, "operator": "Exists", "effect": "NoSchedule"}])
    api_client = config.new_client_from_config(config_file=kube_cluster)
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, annotations=annotations)))
    try:
        # Pods are refused until the controller-manager has made the default ServiceAccount:
        # waiting here keeps that start-up delay out of what the tests measure and assert.
        deadline = time.monotonic() + SERVICE_ACCOUNT_TIMEOUT
        while not core.list_namespaced_service_account(name, field_selector="metadata.name=default").items:
            if time.monotonic() >= deadline:
                pytest.fail(f"no default ServiceAccount in namespace {name} after {SERVICE_ACCOUNT_TIMEOUT:g}s")
            time.sleep(0.1)
        yield KubeNamespace(kube_cluster, name, api_client)
    finally:
        core.delete_namespace(name)
        api_client.close()


@pytest.fixture(scope="module")
def kube_namespace(kube_cluster: str, request: pytest.FixtureRequest) -> Iterator[KubeNamespace]:
    """A fresh namespace whose pods run on the kwok nodes (staged states, nothing really runs)."""
    yield from _namespace(kube_cluster, request, "kwok")


@pytest.fixture(scope="session")
def real_node(kube_cluster: str) -> str:
    """The name of the cluster's real node (kubelet + containerd, connector images loaded).

    Skips with up.sh's reason where this machine cannot run one; fails instead with
    ``FLUVIO_K8S_REAL_NODE=1`` (CI), as up.sh itself does.
    """
    env = read_env(Path(kube_cluster).parent)
    if env.get("FLUVIO_K8S_REAL_NODE"):
        return str(env["FLUVIO_K8S_REAL_NODE"])
    reason = env.get("FLUVIO_K8S_REAL_NODE_SKIPPED") or "the cluster was started without one"
    if os.environ.get("FLUVIO_K8S_REAL_NODE") == "1":
        pytest.fail(f"a real node is required (FLUVIO_K8S_REAL_NODE=1) but: {reason}")
    pytest.skip(f"no real Kubernetes node: {reason}")


@pytest.fixture(scope="module")
def real_namespace(kube_cluster: str, real_node: str, request: pytest.FixtureRequest) -> Iterator[KubeNamespace]:
    """A fresh namespace whose pods run on the real node: real containers of the connector images."""
    yield from _namespace(kube_cluster, request, "real")


@pytest.fixture(scope="module")
def airflow_db() -> None:
    """A fresh metadata DB for a module that runs DAGs (dag.test() needs the tables); tests/conftest.py
    chose SQLite."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Start MQTT brokers on the host's 127.0.0.1 (``users=``); all stopped after the test."""
    started: list[Broker] = []

    def start(**options: Any) -> Broker:
        broker = Broker(kind=broker_kind(), workdir=tmp_path / f"broker-{len(started)}", **options)
        started.append(broker)
        return broker.start()

    yield start
    for broker in started:
        broker.stop()
