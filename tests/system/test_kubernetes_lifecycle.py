"""What a restarted pod needs, as a real API server stores it: the topic position at creation in
the pod template's environment (so a container Kubernetes restarts continues instead of starting
over) and a liveness probe on the program's heartbeat (so a stopped or hung one is restarted)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_fluvio.runtimes.kubernetes import KubernetesRuntime
from fluvio_connectors.config import load_config
from fluvio_connectors.topics import open_topics

if TYPE_CHECKING:
    from conftest import KubeNamespace

pytestmark = [pytest.mark.system]


def test_the_stored_deployment_carries_the_start_offset_and_a_liveness_probe(
    kube_namespace: KubeNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes import client

    monkeypatch.setenv("KUBECONFIG", kube_namespace.kubeconfig)
    topics = open_topics()
    try:
        topics.create_topic("sys-resume-topic")
        with topics.producer("sys-resume-topic") as producer:
            for i in range(5):
                producer.send(None, f"earlier {i}".encode())
    finally:
        topics.close()
    runtime = KubernetesRuntime(namespace=kube_namespace.namespace, registry="example")
    runtime.create(load_config({"version": "0.1.0", "name": "sys-resume", "type": "test-connector",
                                "topic": "sys-resume-topic", "create_topic": True,
                                "parameters": {"count": 10}}, secrets={}))
    try:
        stored = client.AppsV1Api(kube_namespace.api_client).read_namespaced_deployment(
            "sys-resume", kube_namespace.namespace)
        (container,) = stored.spec.template.spec.containers
        env = {e.name: e.value for e in container.env}
        assert env["FLUVIO_CONNECTOR_START_OFFSET"] == "5"
        liveness = container.liveness_probe
        assert liveness._exec.command == ["python", "-m", "fluvio_connectors.probe", "--liveness"]
        assert (liveness.period_seconds, liveness.failure_threshold, liveness.initial_delay_seconds) == (10, 3, 10)
    finally:
        runtime.delete("sys-resume")
