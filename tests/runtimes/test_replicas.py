"""Replicas: how their statuses make one, how their logs merge, how a program learns which it is,
and how the Kubernetes runtime runs them (a StatefulSet: stable identities)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from runtime_testing import FakeKube

from airflow_provider_fluvio.runtimes.base import ConnectorRuntime, ConnectorStatus, ReplicaStatus
from airflow_provider_fluvio.runtimes.replicas import combine, merge_logs
from fluvio_connectors.catalog import validate_topic_filter
from fluvio_connectors.config import load_config
from fluvio_connectors.errors import ConfigError
from fluvio_connectors.replicas import from_env, shared_filter

RUNNING, PENDING, FAILED, STOPPED = (ConnectorStatus.RUNNING, ConnectorStatus.PENDING, ConnectorStatus.FAILED,
                                     ConnectorStatus.STOPPED)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def replica(name: str, status: ConnectorStatus, reason: str | None = None, since: datetime | None = None) -> ReplicaStatus:
    return ReplicaStatus(name=name, status=status, reason=reason, pending_since=since)


# --------------------------------------------------------------------------- status


def test_running_only_when_every_replica_runs() -> None:
    assert combine([replica("0", RUNNING), replica("1", RUNNING)]) == (RUNNING, None, None)


def test_a_replica_not_running_yet_makes_it_pending_since_the_longest_wait() -> None:
    status, reason, since = combine([
        replica("0", RUNNING),
        replica("1", PENDING, "reconnecting: broker gone", T0 + timedelta(seconds=5)),
        replica("2", PENDING, "starting", T0),
    ])
    assert status == PENDING
    assert reason == "1 of 3 replicas running; replica 1: reconnecting: broker gone"
    assert since == T0


def test_one_failed_replica_fails_the_connector_with_its_reason() -> None:
    status, reason, since = combine([replica("0", RUNNING), replica("1", FAILED, "crash loop: restarted 5 times")])
    assert (status, reason, since) == (FAILED, "replica 1: crash loop: restarted 5 times", None)


def test_a_replica_stopped_while_others_run_is_a_failure_all_stopped_is_stopped() -> None:
    status, reason, _ = combine([replica("0", RUNNING), replica("1", STOPPED, "stopped")])
    assert status == FAILED and reason is not None and reason.startswith("replica 1 is Stopped (stopped)")
    assert combine([replica("0", STOPPED, "stopped"), replica("1", STOPPED, "stopped")])[0] == STOPPED


def test_one_replica_is_reported_as_it_is() -> None:
    assert combine([replica("0", PENDING, "starting", T0)]) == (PENDING, "starting", T0)


def test_logs_merge_in_time_order_and_a_traceback_stays_with_its_line() -> None:
    first = ["2026-01-01T00:00:01.000Z INFO a", "2026-01-01T00:00:03.000Z ERROR boom", "Traceback (most recent call last):",
             "  File x", "2026-01-01T00:00:05.000Z INFO c"]
    second = ["2026-01-01T00:00:02.000Z INFO b", "2026-01-01T00:00:04.000Z INFO d"]
    assert merge_logs([("0", first), ("1", second)]) == [
        "[replica 0] 2026-01-01T00:00:01.000Z INFO a",
        "[replica 1] 2026-01-01T00:00:02.000Z INFO b",
        "[replica 0] 2026-01-01T00:00:03.000Z ERROR boom",
        "[replica 0] Traceback (most recent call last):",
        "[replica 0]   File x",
        "[replica 1] 2026-01-01T00:00:04.000Z INFO d",
        "[replica 0] 2026-01-01T00:00:05.000Z INFO c",
    ]
    assert merge_logs([("0", first), ("1", second)], tail=2) == [
        "[replica 1] 2026-01-01T00:00:04.000Z INFO d", "[replica 0] 2026-01-01T00:00:05.000Z INFO c"]
    assert merge_logs([("0", first)], tail=0) == []


# --------------------------------------------------------------------------- programs


@pytest.mark.parametrize(("env", "expected"), [
    ({}, (1, None)),
    ({"FLUVIO_CONNECTOR_REPLICAS": "3", "FLUVIO_CONNECTOR_REPLICA": "2"}, (3, 2)),
    ({"FLUVIO_CONNECTOR_REPLICAS": "3", "FLUVIO_CONNECTOR_POD_NAME": "my-connector-1"}, (3, 1)),
])
def test_a_program_learns_how_many_replicas_and_which_it_is(env: dict[str, str], expected: tuple[int, int | None]) -> None:
    assert from_env(env) == expected


@pytest.mark.parametrize(("env", "message"), [
    ({"FLUVIO_CONNECTOR_REPLICAS": "0"}, "FLUVIO_CONNECTOR_REPLICAS: expected a whole number from 1 to 16, got 0"),
    ({"FLUVIO_CONNECTOR_REPLICAS": "two"}, "expected a whole number from 1 to 16, got 'two'"),
    ({"FLUVIO_CONNECTOR_REPLICAS": "2"}, "FLUVIO_CONNECTOR_REPLICA: missing"),
    ({"FLUVIO_CONNECTOR_REPLICAS": "2", "FLUVIO_CONNECTOR_REPLICA": "2"}, "expected a replica index from 0 to 1, got '2'"),
    ({"FLUVIO_CONNECTOR_REPLICAS": "2", "FLUVIO_CONNECTOR_POD_NAME": "my-connector-7d9f8"},
     "FLUVIO_CONNECTOR_POD_NAME: expected a replica index from 0 to 1, got '7d9f8'"),
])
def test_bad_replica_settings_are_one_clear_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_env(env)
    assert message in str(caught.value)


def test_shared_filters() -> None:
    assert shared_filter("sensors/#", "my-connector") == "$share/my-connector/sensors/#"
    assert shared_filter("$share/mine/sensors/#", "my-connector") == "$share/mine/sensors/#"
    assert validate_topic_filter("$share/g/sensors/+/temp") == "$share/g/sensors/+/temp"
    for bad in ("$share/g", "$share//a", "$share/+/a"):
        with pytest.raises(ValueError, match="expected a shared subscription"):
            validate_topic_filter(bad)


# --------------------------------------------------------------------------- Kubernetes


def mqtt(name: str = "scaled") -> Any:
    return load_config({"name": name, "type": "mqtt", "topic": name, "create_topic": True,
                        "parameters": {"mqtt-url": "broker:1883", "mqtt-topic": "sensors/#", "qos": 1},
                        "secrets": ["MQTT_PASSWORD"]}, secrets={"MQTT_PASSWORD": "pw"})


def ready_pod(ready: bool) -> dict[str, Any]:
    state = {"running": {"startedAt": "2026-01-01T00:00:00Z"}} if ready else {"waiting": {"reason": "ContainerCreating"}}
    return {"phase": "Running" if ready else "Pending",
            "containerStatuses": [{"name": "connector", "ready": ready, "restartCount": 0, "image": "i",
                                   "imageID": "", "state": state}]}


def test_kubernetes_runs_several_replicas_as_a_stateful_set(kube_runtime: ConnectorRuntime, fake_kube: FakeKube) -> None:
    kube_runtime.create(mqtt(), replicas=3)
    assert fake_kube.names("deployments") == []
    sts = fake_kube.get("statefulsets", "scaled")
    assert sts is not None
    assert sts["spec"]["replicas"] == 3 and sts["spec"]["podManagementPolicy"] == "Parallel"
    assert fake_kube.journal[0] == "create statefulsets scaled replicas=0"  # scaled only once it owns its objects
    assert fake_kube.journal[-1] == "patch statefulsets scaled replicas=3"
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FLUVIO_CONNECTOR_REPLICAS"]["value"] == "3"
    assert env["FLUVIO_CONNECTOR_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    for kind, name in (("configmaps", "scaled-config"), ("secrets", "scaled-secrets")):
        owner = fake_kube.get(kind, name)["metadata"]["ownerReferences"][0]  # type: ignore[index]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("StatefulSet", "scaled", sts["metadata"]["uid"])


def test_kubernetes_one_replica_stays_a_deployment(kube_runtime: ConnectorRuntime, fake_kube: FakeKube) -> None:
    kube_runtime.create(mqtt("single"))
    assert fake_kube.names("deployments") == ["single"] and fake_kube.names("statefulsets") == []
    env = {e["name"] for e in fake_kube.get("deployments", "single")["spec"]["template"]["spec"]["containers"][0]["env"]}  # type: ignore[index]
    assert "FLUVIO_CONNECTOR_REPLICAS" not in env and "FLUVIO_CONNECTOR_POD_NAME" not in env


def test_kubernetes_status_list_logs_and_delete_of_replicas(kube_runtime: ConnectorRuntime, fake_kube: FakeKube) -> None:
    kube_runtime.create(mqtt(), replicas=2)
    first = fake_kube.add_pod("scaled", ready_pod(True), name="scaled-0")
    second = fake_kube.add_pod("scaled", ready_pod(False), name="scaled-1")
    fake_kube.set_deployment_status("scaled", {"replicas": 2, "readyReplicas": 1})
    info = kube_runtime.status("scaled")
    assert info.status == ConnectorStatus.PENDING
    assert info.reason == "1 of 2 replicas ready; ContainerCreating"
    assert (info.replicas, info.replicas_running) == (2, 1)
    assert sorted((r.name, r.status) for r in info.replica_statuses) == [
        ("scaled-0", ConnectorStatus.RUNNING), ("scaled-1", ConnectorStatus.PENDING)]

    fake_kube.get("pods", second)["status"] = ready_pod(True)  # type: ignore[index]
    fake_kube.set_deployment_status("scaled", {"replicas": 2, "readyReplicas": 2})
    assert kube_runtime.status("scaled").status == ConnectorStatus.RUNNING
    (listed,) = kube_runtime.list()
    assert (listed.name, listed.status, listed.replicas, listed.replicas_running) == ("scaled", ConnectorStatus.RUNNING, 2, 2)

    fake_kube.logs[first] = "2026-01-01T00:00:01.000Z INFO one\n2026-01-01T00:00:03.000Z INFO three\n"
    fake_kube.logs[second] = "2026-01-01T00:00:02.000Z INFO two\n"
    assert kube_runtime.logs("scaled") == [
        "[replica scaled-0] 2026-01-01T00:00:01.000Z INFO one",
        "[replica scaled-1] 2026-01-01T00:00:02.000Z INFO two",
        "[replica scaled-0] 2026-01-01T00:00:03.000Z INFO three",
    ]
    assert kube_runtime.logs("scaled", replica="scaled-1") == ["2026-01-01T00:00:02.000Z INFO two"]
    with pytest.raises(ConfigError, match="no pod 'scaled-9'"):
        kube_runtime.logs("scaled", replica="scaled-9")

    kube_runtime.delete("scaled")
    assert fake_kube.names("statefulsets") == [] and fake_kube.names("configmaps") == []
    assert fake_kube.names("secrets") == [] and kube_runtime.list() == []


def test_kubernetes_a_failing_replica_fails_the_connector(kube_runtime: ConnectorRuntime, fake_kube: FakeKube) -> None:
    kube_runtime.create(mqtt(), replicas=2)
    fake_kube.add_pod("scaled", ready_pod(True), name="scaled-0")
    fake_kube.add_pod("scaled", {"phase": "Pending", "containerStatuses": [{
        "name": "connector", "ready": False, "restartCount": 0, "image": "i", "imageID": "",
        "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}}]}, name="scaled-1")
    fake_kube.set_deployment_status("scaled", {"replicas": 2, "readyReplicas": 1})
    info = kube_runtime.status("scaled")
    assert (info.status, info.reason) == (ConnectorStatus.FAILED, "ImagePullBackOff: no such image")


def test_a_name_taken_by_either_kind_is_taken(kube_runtime: ConnectorRuntime) -> None:
    from fluvio_connectors.errors import ConnectorExistsError

    kube_runtime.create(mqtt(), replicas=2)
    with pytest.raises(ConnectorExistsError):
        kube_runtime.create(mqtt())
    kube_runtime.create(mqtt("other"))
    with pytest.raises(ConnectorExistsError):
        kube_runtime.create(mqtt("other"), replicas=2)
