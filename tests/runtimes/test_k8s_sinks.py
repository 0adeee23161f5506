"""Sinks on the Kubernetes runtime (behind the fake API server): what their objects say, what is
refused before anything is made, their lag, and a halted sink seen as Failed with its reason."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from runtime_testing import FakeKube

from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from airflow_provider_fluvio.runtimes.kubernetes import KubernetesRuntime
from fluvio_connectors.config import ConnectorConfig, load_config
from fluvio_connectors.errors import ConfigError
from fluvio_connectors.topics import open_topics

PASSWORD = "pg-pa55-zz9"


def sink(url: str = f"postgresql://writer:{PASSWORD}@db.example:5432/sensors", **extra: Any) -> ConnectorConfig:
    return load_config({
        "name": "readings-sink", "type": "sql-sink", "topic": "readings", "create_topic": True,
        "consumer": {"id": "readings-position", "partition": 0},
        "parameters": {"url": url, "mapping": {"table": "readings", "map-columns": {
            "id": {"json-key": "id", "value": {"type": "int"}}}}}, **extra})


def running_not_ready() -> dict[str, Any]:
    return {"phase": "Running", "conditions": [], "containerStatuses": [{
        "name": "connector", "ready": False, "restartCount": 0, "image": "x", "imageID": "",
        "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}, "lastState": {}}]}


def test_a_sink_deployment_names_its_direction_and_position_and_stores_no_password(
        kube_runtime: KubernetesRuntime, fake_kube: FakeKube) -> None:
    kube_runtime.create(sink())
    deployment = fake_kube.get("deployments", "readings-sink")
    assert deployment is not None
    annotations = deployment["metadata"]["annotations"]
    assert {k.split("/")[1]: v for k, v in annotations.items()} == {
        "topic": "readings", "version": "latest", "direction": "sink", "consumer": "readings-position",
        "partition": "0"}
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "example/fluvio-connector-sql-sink:latest"
    config_map = fake_kube.get("configmaps", "readings-sink-config")
    assert config_map is not None and PASSWORD not in str(config_map)
    secret = fake_kube.get("secrets", "readings-sink-secrets")
    assert secret is not None and base64.b64decode(secret["data"]["SQL_URL"]).decode().endswith("@db.example:5432/sensors")


def test_sqlite_and_replicas_are_refused_before_anything_is_made(kube_runtime: KubernetesRuntime,
                                                                 fake_kube: FakeKube) -> None:
    with pytest.raises(ConfigError, match="a SQLite database is a file, and a pod's files go with the pod"):
        kube_runtime.create(sink(url="sqlite:///data/readings.db"))
    with pytest.raises(ConfigError, match="cannot be split between 2 instances"):
        kube_runtime.create(sink(), replicas=2)
    assert fake_kube.journal == []
    topics = open_topics()
    try:
        assert not topics.topic_exists("readings")
    finally:
        topics.close()


def test_a_halted_sink_is_failed_with_the_reason_its_readiness_probe_gives(kube_runtime: KubernetesRuntime,
                                                                          fake_kube: FakeKube) -> None:
    kube_runtime.create(sink())
    fake_kube.set_deployment_status("readings-sink", {"replicas": 1, "unavailableReplicas": 1})
    pod = fake_kube.add_pod("readings-sink", running_not_ready())
    assert kube_runtime.status("readings-sink").status == ConnectorStatus.PENDING  # not ready yet: no reason
    reason = "record at offset 2 of topic readings: not JSON (Expecting value); the sink stopped at it"
    fake_kube.add_event(pod, "Unhealthy", "Readiness probe failed: starting", when="2026-01-01T00:00:01Z")
    fake_kube.add_event(pod, "Unhealthy", f"Readiness probe failed: readings-sink: halted ({reason})\n",
                        when="2026-01-01T00:00:09Z")
    info = kube_runtime.status("readings-sink")
    assert (info.status, info.reason, info.direction) == (ConnectorStatus.FAILED, reason, "sink")
    (listed,) = kube_runtime.list()
    assert (listed.status, listed.reason) == (ConnectorStatus.FAILED, reason)
    # a later probe that says something else (it was fixed and restarted, say) is what counts
    fake_kube.add_event(pod, "Unhealthy", "Readiness probe failed: readings-sink: starting",
                        when="2026-01-01T00:01:00Z")
    assert kube_runtime.status("readings-sink").status == ConnectorStatus.PENDING


def test_a_sinks_lag_comes_from_its_position_in_the_topics_backend(kube_runtime: KubernetesRuntime) -> None:
    kube_runtime.create(sink())
    assert kube_runtime.status("readings-sink").lag is None  # no position stored yet
    topics = open_topics()
    try:
        producer = topics.producer("readings")
        producer.send_many([(None, b"{}")] * 10)
        producer.flush()
        topics.commit("readings-position", "readings", 7)
    finally:
        topics.close()
    info = kube_runtime.status("readings-sink")
    assert (info.position, info.lag, info.direction) == (7, 3, "sink")
