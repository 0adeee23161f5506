"""What a Kubernetes Deployment carries so that a pod Kubernetes restarts does the right thing: it
continues from what the topic holds (not from 1), and a stopped or hung program is restarted by a
liveness probe on its heartbeat. And since when a connector has been Pending."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from runtime_testing import FakeKube, wait_until

from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from airflow_provider_fluvio.runtimes.kubernetes import KubernetesRuntime
from fluvio_connectors.config import load_config
from fluvio_connectors.status import ProgramState, read_status
from fluvio_connectors.topics import open_topics


def greeter(count: int, timeout: str = "10ms") -> Any:
    return load_config({"version": "v1", "name": "pod-greeter", "type": "test-connector", "topic": "greetings",
                        "create_topic": True, "parameters": {"count": count, "timeout": timeout}}, secrets={})


def container_of(fake_kube: FakeKube, name: str) -> dict[str, Any]:
    deployment = fake_kube.get("deployments", name)
    assert deployment is not None
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def topic_values(start: int = 0) -> list[str]:
    topics = open_topics()
    try:
        return [r.value_text() for r in topics.read("greetings", start)]
    finally:
        topics.close()


def test_the_deployment_carries_the_topic_position_at_creation(
    kube_runtime: KubernetesRuntime, fake_kube: FakeKube
) -> None:
    topics = open_topics()
    try:
        topics.create_topic("greetings")
        with topics.producer("greetings") as producer:
            for i in (1, 2, 3):  # a deleted connector's records: they stay, and do not count
                producer.send(None, f"Hello, Fluvio! - {i}".encode())
    finally:
        topics.close()
    kube_runtime.create(greeter(20))
    env = {e["name"]: e["value"] for e in container_of(fake_kube, "pod-greeter")["env"]}
    assert env["FLUVIO_CONNECTOR_START_OFFSET"] == "3"


def test_a_liveness_probe_on_the_heartbeat(kube_runtime: KubernetesRuntime, fake_kube: FakeKube) -> None:
    kube_runtime.create(greeter(20))
    container = container_of(fake_kube, "pod-greeter")
    probe = container["livenessProbe"]
    assert probe["exec"]["command"] == ["python", "-m", "fluvio_connectors.probe", "--liveness"]
    # Three failures in a row, ten seconds apart, on a status file stale after 30 s.
    assert (probe["periodSeconds"], probe["failureThreshold"]) == (10, 3)
    assert container["readinessProbe"]["exec"]["command"] == ["python", "-m", "fluvio_connectors.probe"]


def test_a_restarted_container_continues_where_the_topic_is(
    kube_runtime: KubernetesRuntime, fake_kube: FakeKube, tmp_path: Path, fluvio_home: Path
) -> None:
    """The container as Kubernetes runs it (its args and environment from the Deployment), killed
    mid-run and started again with the same environment, as the kubelet restarts it."""
    kube_runtime.create(greeter(150))
    container = container_of(fake_kube, "pod-greeter")
    env = {**os.environ, **{e["name"]: e["value"] for e in container["env"]}}
    # This machine's paths instead of the pod's volumes; the rest is the Deployment's.
    env.update({"FLUVIO_CONNECTORS_HOME": str(fluvio_home), "FLUVIO_CONNECTOR_STATUS_FILE": str(tmp_path / "status.json")})
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(yaml.safe_load(fake_kube.get("configmaps", "pod-greeter-config")["data"]["config.yaml"])))  # type: ignore[index]
    command = [sys.executable, "-m", "fluvio_connectors.test_connector", "--config", str(config)]
    assert container["args"] == ["--config", "/etc/fluvio-connector/config.yaml"]

    first = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    wait_until(lambda: len(topic_values()) >= 40 or first.poll() is not None, 60, "40 records from the first run")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert 0 < len(topic_values()) < 150, "the first run was killed mid-run"
    second = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        # It stays alive once finished (FLUVIO_CONNECTOR_STAY_AFTER_FINISH, the Deployment's way).
        deadline = time.monotonic() + 120
        while (status := read_status(tmp_path / "status.json")) is None or status.state is not ProgramState.FINISHED:
            assert time.monotonic() < deadline and second.poll() is None, f"not finished: {status}"
            time.sleep(0.05)
        assert status.records == 150
        assert second.poll() is None  # still there, idle
    finally:
        second.terminate()
        second.wait(timeout=30)
    assert topic_values() == [f"Hello, Fluvio! - {i}" for i in range(1, 151)]


def test_pending_since_is_the_last_ready_transition_of_the_newest_pod(
    kube_runtime: KubernetesRuntime, fake_kube: FakeKube
) -> None:
    created = kube_runtime.create(greeter(20))
    assert created.status == ConnectorStatus.PENDING and created.pending_since is not None  # no pod yet
    fake_kube.add_pod("pod-greeter", {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "2026-01-01T10:00:00Z"}],
        "containerStatuses": [{"name": "connector", "ready": False, "restartCount": 0, "image": "x", "imageID": "",
                               "state": {"running": {"startedAt": "2026-01-01T09:00:00Z"}}}],
    })
    info = kube_runtime.status("pod-greeter")
    assert info.status == ConnectorStatus.PENDING
    assert info.pending_since == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert info.to_dict()["pending_since"] == "2026-01-01T10:00:00+00:00"
