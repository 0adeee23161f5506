"""The Kubernetes runtime against autospec'd real client classes (see conftest.FakeKube).

What a user would see: the objects that reach the API server (after a wire round trip), the
statuses and reasons for every state a Deployment and its pods can be in, and the errors.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from runtime_testing import FakeKube, api_exception, from_wire, to_wire

from airflow_provider_fluvio.runtimes import get_runtime
from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from airflow_provider_fluvio.runtimes.kubernetes import (
    KubernetesRuntime,
    connector_info,
    deployment_status,
    image_pull_policy,
)
from fluvio_connectors.config import load_config
from fluvio_connectors.errors import (
    BackendError,
    ConfigError,
    ConnectorExistsError,
    ConnectorNotFoundError,
    TopicMissingError,
)
from fluvio_connectors.topics import open_topics

SECRET_VALUE = "s3cr3t-Pa55"


def mqtt_config(name: str = "my-test-mqtt", version: str = "latest", **extra: Any) -> Any:
    return load_config(
        {
            "version": version,
            "name": name,
            "type": "mqtt",
            "direction": "source",
            "topic": "my-mqtt",
            "create_topic": True,
            "parameters": {"mqtt-url": "mqtt.hsl.fi", "mqtt-topic": "/hfp/v2/journey/#", **extra},
            "secrets": {"MQTT_PASSWORD": SECRET_VALUE},
        },
        secrets={},
    )


def tc_config(name: str = "my-test-connector", version: str = "v1", create_topic: bool = True) -> Any:
    return load_config(
        {
            "version": version,
            "name": name,
            "type": "test-connector",
            "topic": "my-test-connector",
            "create_topic": create_topic,
            "direction": "source",
            "parameters": {"count": 20, "timeout": 10},
        },
        secrets={},
    )


def now_z(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


# Parametrized pod timestamps are made when the module is collected, which can be minutes before
# the test runs in a full suite; the status mapping is time-relative, so they are moved forward by
# the time that has passed (keeping "5 s ago" 5 s ago).
_COLLECTED_AT = datetime.now(UTC)


def as_of_now(value: Any) -> Any:
    elapsed = datetime.now(UTC) - _COLLECTED_AT
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value):
        moved = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + elapsed
        return moved.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):
        return {k: as_of_now(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_of_now(v) for v in value]
    return value


# --------------------------------------------------------------------------- manifests


def test_manifests_round_trip_through_the_client_models(kube_runtime: KubernetesRuntime) -> None:
    config = mqtt_config()
    deployment = kube_runtime.build_deployment(config)
    wire = to_wire(deployment)
    assert to_wire(from_wire(wire, "V1Deployment")) == wire
    owner = from_wire({**wire, "metadata": {**wire["metadata"], "uid": "1234"}}, "V1Deployment")
    for obj, kind in (
        (kube_runtime.build_config_map(config, owner), "V1ConfigMap"),
        (kube_runtime.build_secret(config, owner), "V1Secret"),
    ):
        data = to_wire(obj)
        assert to_wire(from_wire(data, kind)) == data


def test_deployment_manifest(kube_runtime: KubernetesRuntime) -> None:
    wire = to_wire(kube_runtime.build_deployment(mqtt_config()))
    labels = {
        "app.kubernetes.io/name": "fluvio-connector",
        "app.kubernetes.io/instance": "my-test-mqtt",
        "app.kubernetes.io/managed-by": "airflow-provider-fluvio",
        "app.kubernetes.io/component": "mqtt",
    }
    assert wire["apiVersion"] == "apps/v1" and wire["kind"] == "Deployment"
    assert wire["metadata"]["name"] == "my-test-mqtt"
    assert wire["metadata"]["labels"] == labels
    assert wire["metadata"]["annotations"]["airflow-provider-fluvio/topic"] == "my-mqtt"
    spec = wire["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    template_labels = spec["template"]["metadata"]["labels"]
    assert labels.items() <= template_labels.items()
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    (container,) = pod["containers"]
    assert container["image"] == "example/fluvio-connector-mqtt:latest"
    assert container["imagePullPolicy"] == "Always"
    assert container["args"] == ["--config", "/etc/fluvio-connector/config.yaml"]
    assert container["readinessProbe"]["exec"]["command"] == ["python", "-m", "fluvio_connectors.probe"]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == 1000
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/fluvio-connector"]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/tmp"]["name"]]["emptyDir"] is not None
    assert volumes[mounts["/etc/fluvio-connector"]["name"]]["configMap"]["name"] == "my-test-mqtt-config"
    assert container["envFrom"] == [{"secretRef": {"name": "my-test-mqtt-secrets"}}]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["FLUVIO_CONNECTOR_STATUS_FILE"].startswith("/tmp/")
    assert env["FLUVIO_CONNECTORS_HOME"].startswith("/tmp/")
    assert env["FLUVIO_CONNECTOR_STAY_AFTER_FINISH"] == "1"  # a finished connector is not run again
    assert SECRET_VALUE not in json.dumps(wire)


def test_deployment_without_secrets_has_no_env_from(kube_runtime: KubernetesRuntime) -> None:
    (container,) = to_wire(kube_runtime.build_deployment(tc_config()))["spec"]["template"]["spec"][
        "containers"
    ]
    assert "envFrom" not in container
    assert container["image"] == "example/fluvio-connector-test-connector:v1"


def test_fluvio_endpoint_reaches_the_pod(fake_kube: FakeKube) -> None:
    runtime = KubernetesRuntime(
        apps_api=fake_kube.apps, core_api=fake_kube.core, fluvio_endpoint="fluvio-sc-public:9003"
    )
    (container,) = to_wire(runtime.build_deployment(tc_config()))["spec"]["template"]["spec"]["containers"]
    assert {"name": "FLUVIO_ENDPOINT", "value": "fluvio-sc-public:9003"} in container["env"]


def test_host_network_option(fake_kube: FakeKube) -> None:
    default = to_wire(KubernetesRuntime(apps_api=fake_kube.apps, core_api=fake_kube.core)
                      .build_deployment(tc_config()))["spec"]["template"]["spec"]
    assert "hostNetwork" not in default and "dnsPolicy" not in default
    runtime = KubernetesRuntime(apps_api=fake_kube.apps, core_api=fake_kube.core, host_network=True)
    pod = to_wire(runtime.build_deployment(tc_config()))["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"  # Service names still resolve
    assert pod["securityContext"]["runAsNonRoot"] is True  # the rest of the pod is unchanged


@pytest.mark.parametrize(
    ("version", "policy"),
    [("latest", "Always"), ("dev", "Never"), ("0.1.0", "IfNotPresent"), ("v1", "IfNotPresent")],
)
def test_image_pull_policy_follows_the_version(fake_kube: FakeKube, version: str, policy: str) -> None:
    assert image_pull_policy(version) == policy
    runtime = KubernetesRuntime(
        apps_api=fake_kube.apps, core_api=fake_kube.core, registry="reg.example:5000/"
    )
    (container,) = to_wire(runtime.build_deployment(tc_config(version=version)))["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["image"] == f"reg.example:5000/fluvio-connector-test-connector:{version}"
    assert container["imagePullPolicy"] == policy


def test_image_tag_option_overrides_the_version(fake_kube: FakeKube) -> None:
    runtime = KubernetesRuntime(apps_api=fake_kube.apps, core_api=fake_kube.core, image_tag="dev")
    (container,) = to_wire(runtime.build_deployment(tc_config(version="v1")))["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["image"] == "fluvio-connector-test-connector:dev"
    assert container["imagePullPolicy"] == "Never"


# --------------------------------------------------------------------------- create / delete


def test_create_makes_deployment_configmap_and_secret_owned_by_it(
    kube_runtime: KubernetesRuntime, fake_kube: FakeKube
) -> None:
    info = kube_runtime.create(mqtt_config())
    assert info.status == ConnectorStatus.PENDING
    assert (info.name, info.type, info.topic, info.runtime) == (
        "my-test-mqtt",
        "mqtt",
        "my-mqtt",
        "kubernetes",
    )
    deployment = fake_kube.get("deployments", "my-test-mqtt")
    assert deployment is not None and deployment["spec"]["replicas"] == 1
    uid = deployment["metadata"]["uid"]
    config_map = fake_kube.get("configmaps", "my-test-mqtt-config")
    secret = fake_kube.get("secrets", "my-test-mqtt-secrets")
    assert config_map is not None and secret is not None
    for owned in (config_map, secret):
        (ref,) = owned["metadata"]["ownerReferences"]
        assert (ref["apiVersion"], ref["kind"], ref["name"], ref["uid"]) == (
            "apps/v1",
            "Deployment",
            "my-test-mqtt",
            uid,
        )
    stored = yaml.safe_load(config_map["data"]["config.yaml"])
    assert stored["name"] == "my-test-mqtt" and stored["secrets"] == ["MQTT_PASSWORD"]
    assert SECRET_VALUE not in json.dumps(config_map) + json.dumps(deployment)
    assert base64.b64decode(secret["data"]["MQTT_PASSWORD"]).decode() == SECRET_VALUE
    # the topic rule ran first: create_topic made the topic
    topics = open_topics()
    try:
        assert topics.topic_exists("my-mqtt")
    finally:
        topics.close()


def test_pod_never_starts_before_its_configmap_and_secret_exist(
    kube_runtime: KubernetesRuntime, fake_kube: FakeKube
) -> None:
    kube_runtime.create(mqtt_config())
    assert fake_kube.journal == [
        "create deployments my-test-mqtt replicas=0",
        "create configmaps my-test-mqtt-config",
        "create secrets my-test-mqtt-secrets",
        "patch deployments my-test-mqtt replicas=1",
    ]


def test_create_of_an_existing_name_fails_and_changes_nothing(
    kube_runtime: KubernetesRuntime, fake_kube: FakeKube
) -> None:
    kube_runtime.create(tc_config())
    before = copy.deepcopy(fake_kube.objects)
    with pytest.raises(ConnectorExistsError, match="connector my-test-connector already exists"):
        kube_runtime.create(tc_config())
    assert fake_kube.objects == before


def test_create_race_lost_at_the_api_server_is_an_exists_error(
    kube_runtime: KubernetesRuntime, fake_kube: FakeKube
) -> None:
    fake_kube.fail["create_namespaced_deployment"] = api_exception(409, "Conflict", "already exists")
    with pytest.raises(ConnectorExistsError):
        kube_runtime.create(tc_config())


def test_missing_topic_fails_and_creates_nothing(
    kube_runtime: KubernetesRuntime, fake_kube: FakeKube
) -> None:
    with pytest.raises(TopicMissingError, match="topic my-test-connector does not exist"):
        kube_runtime.create(tc_config(create_topic=False))
    assert all(not objects for objects in fake_kube.objects.values())


def test_existing_topic_without_create_topic_is_fine(
    kube_runtime: KubernetesRuntime, fake_kube: FakeKube
) -> None:
    topics = open_topics()
    try:
        topics.create_topic("my-test-connector")
    finally:
        topics.close()
    kube_runtime.create(tc_config(create_topic=False))
    assert fake_kube.names("deployments") == ["my-test-connector"]


@pytest.mark.parametrize(
    "failing", ["create_namespaced_config_map", "create_namespaced_secret", "patch_namespaced_deployment"]
)
def test_a_failed_step_leaves_nothing_half_created(
    kube_runtime: KubernetesRuntime, fake_kube: FakeKube, failing: str
) -> None:
    fake_kube.fail[failing] = api_exception(403, "Forbidden", f"user cannot {failing}")
    with pytest.raises(BackendError, match="403 Forbidden") as excinfo:
        kube_runtime.create(mqtt_config())
    assert SECRET_VALUE not in str(excinfo.value)
    fake_kube.gc_lag = True
    assert fake_kube.names("deployments") == []
    assert fake_kube.names("configmaps") == []
    assert fake_kube.names("secrets") == []


def test_a_name_taken_by_a_foreign_deployment_is_refused(
    kube_runtime: KubernetesRuntime, fake_kube: FakeKube
) -> None:
    fake_kube.put(
        "deployments",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "my-test-connector", "labels": {"app": "web"}},
            "spec": {"selector": {}, "template": {}},
            "status": {},
        },
    )
    with pytest.raises(BackendError, match="not managed by airflow-provider-fluvio"):
        kube_runtime.create(tc_config())
    with pytest.raises(ConnectorNotFoundError):
        kube_runtime.status("my-test-connector")
    with pytest.raises(ConnectorNotFoundError):
        kube_runtime.delete("my-test-connector")
    assert fake_kube.names("deployments") == ["my-test-connector"]
    assert kube_runtime.list() == []


def test_delete_removes_everything_and_keeps_the_topic(
    kube_runtime: KubernetesRuntime, fake_kube: FakeKube
) -> None:
    kube_runtime.create(mqtt_config())
    fake_kube.gc_lag = True  # our own deletes clean up, whatever the garbage collector does
    kube_runtime.delete("my-test-mqtt")
    assert fake_kube.names("deployments") == fake_kube.names("configmaps") == fake_kube.names("secrets") == []
    call = fake_kube.apps.delete_namespaced_deployment.call_args
    assert call.kwargs["body"].propagation_policy == "Background"  # the call returns; the collector finishes
    topics = open_topics()
    try:
        assert topics.topic_exists("my-mqtt")
    finally:
        topics.close()
    with pytest.raises(ConnectorNotFoundError, match="connector my-test-mqtt not found"):
        kube_runtime.delete("my-test-mqtt")


def test_recreate_replaces_a_leftover_configmap_not_yet_collected(
    kube_runtime: KubernetesRuntime, fake_kube: FakeKube
) -> None:
    kube_runtime.create(tc_config())
    old_uid = fake_kube.get("deployments", "my-test-connector")["metadata"]["uid"]  # type: ignore[index]
    # Someone deleted only the Deployment (kubectl); the GC has not removed the ConfigMap yet.
    fake_kube.gc_lag = True
    fake_kube.apps.delete_namespaced_deployment("my-test-connector", "default")
    kube_runtime.create(tc_config())
    new_uid = fake_kube.get("deployments", "my-test-connector")["metadata"]["uid"]  # type: ignore[index]
    config_map = fake_kube.get("configmaps", "my-test-connector-config")
    assert config_map is not None and new_uid != old_uid
    assert config_map["metadata"]["ownerReferences"][0]["uid"] == new_uid


def test_a_foreign_configmap_is_never_replaced(kube_runtime: KubernetesRuntime, fake_kube: FakeKube) -> None:
    fake_kube.put(
        "configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "my-test-connector-config"},
            "data": {"a": "b"},
        },
    )
    with pytest.raises(BackendError, match="ConfigMap my-test-connector-config not managed"):
        kube_runtime.create(tc_config())
    assert fake_kube.get("configmaps", "my-test-connector-config")["data"] == {"a": "b"}  # type: ignore[index]
    assert fake_kube.names("deployments") == []


def test_api_unreachable_is_a_backend_error(fake_kube: FakeKube) -> None:
    fake_kube.apps.list_namespaced_deployment.side_effect = ConnectionRefusedError(111, "Connection refused")
    runtime = KubernetesRuntime(apps_api=fake_kube.apps, core_api=fake_kube.core)
    with pytest.raises(BackendError, match="cannot reach the Kubernetes API"):
        runtime.list()


# --------------------------------------------------------------------------- status mapping

READY_CONTAINER = {
    "name": "connector",
    "ready": True,
    "restartCount": 0,
    "image": "example/x:latest",
    "imageID": "",
    "started": True,
    "state": {"running": {"startedAt": "2026-01-01T00:00:05Z"}},
}


def container(
    state: dict[str, Any], *, ready: bool = False, restarts: int = 0, last: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "name": "connector",
        "ready": ready,
        "restartCount": restarts,
        "image": "example/x:latest",
        "imageID": "",
        "state": state,
        "lastState": last or {},
    }


def pod_status(
    *containers: dict[str, Any], phase: str = "Running", conditions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": conditions or []}
    if containers:
        status["containerStatuses"] = list(containers)
    return status


def terminated(code: int, reason: str, message: str = "", finished: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "exitCode": code,
        "reason": reason,
        "finishedAt": finished or now_z(),
        "startedAt": "2026-01-01T00:00:00Z",
    }
    if message:
        out["message"] = message
    return out


def status_after(
    fake_kube: FakeKube, runtime: KubernetesRuntime, deployment_status_: dict[str, Any], *pods: dict[str, Any]
) -> tuple[ConnectorStatus, str | None]:
    runtime.create(tc_config())
    fake_kube.set_deployment_status("my-test-connector", deployment_status_)
    for status in pods:
        fake_kube.add_pod("my-test-connector", status)
    info = runtime.status("my-test-connector")
    (listed,) = runtime.list()
    assert (listed.status, listed.reason) == (info.status, info.reason)
    return info.status, info.reason


PROGRESSING = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
NOT_AVAILABLE = {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}


@pytest.mark.parametrize(
    ("deployment", "pods", "expected", "reason_part"),
    [
        pytest.param({}, [], ConnectorStatus.PENDING, None, id="just-created-no-pod"),
        pytest.param(
            {"replicas": 1, "unavailableReplicas": 1, "conditions": [PROGRESSING, NOT_AVAILABLE]},
            [
                pod_status(
                    phase="Pending",
                    conditions=[
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": "0/2 nodes are available",
                        }
                    ],
                )
            ],
            ConnectorStatus.PENDING,
            "Unschedulable: 0/2 nodes are available",
            id="unschedulable",
        ),
        pytest.param(
            {"replicas": 1, "unavailableReplicas": 1, "conditions": [PROGRESSING]},
            [pod_status(container({"waiting": {"reason": "ContainerCreating"}}), phase="Pending")],
            ConnectorStatus.PENDING,
            "ContainerCreating",
            id="container-creating",
        ),
        pytest.param(
            {"replicas": 1, "unavailableReplicas": 1},
            [pod_status(container({"running": {"startedAt": now_z()}}))],
            ConnectorStatus.PENDING,
            None,
            id="started-not-ready-yet",
        ),
        pytest.param(
            {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1},
            [pod_status(READY_CONTAINER)],
            ConnectorStatus.RUNNING,
            None,
            id="ready",
        ),
        pytest.param(
            {"replicas": 1, "unavailableReplicas": 1},
            [
                pod_status(
                    container(
                        {
                            "waiting": {
                                "reason": "CrashLoopBackOff",
                                "message": "back-off 40s restarting failed container",
                            }
                        },
                        restarts=3,
                        last={
                            "terminated": terminated(
                                1, "Error", "starting\nerror: topic my-test-connector does not exist"
                            )
                        },
                    )
                )
            ],
            ConnectorStatus.FAILED,
            "CrashLoopBackOff: exit code 1: error: topic my-test-connector does not exist",
            id="crash-loop",
        ),
        pytest.param(
            {"replicas": 1, "unavailableReplicas": 1},
            [
                pod_status(
                    container(
                        {
                            "waiting": {
                                "reason": "ImagePullBackOff",
                                "message": 'Back-off pulling image "example/x:9.9"',
                            }
                        }
                    ),
                    phase="Pending",
                )
            ],
            ConnectorStatus.FAILED,
            'ImagePullBackOff: Back-off pulling image "example/x:9.9"',
            id="image-pull-backoff",
        ),
        pytest.param(
            {"replicas": 1, "unavailableReplicas": 1},
            [
                pod_status(
                    container({"waiting": {"reason": "ErrImagePull", "message": "manifest unknown"}}),
                    phase="Pending",
                )
            ],
            ConnectorStatus.FAILED,
            "ErrImagePull: manifest unknown",
            id="err-image-pull",
        ),
        pytest.param(
            {"replicas": 1, "unavailableReplicas": 1},
            [
                pod_status(
                    container(
                        {
                            "waiting": {
                                "reason": "ErrImageNeverPull",
                                "message": "image is not present with pull policy of Never",
                            }
                        }
                    ),
                    phase="Pending",
                )
            ],
            ConnectorStatus.FAILED,
            "ErrImageNeverPull",
            id="dev-image-missing",
        ),
        pytest.param(
            {"replicas": 1, "unavailableReplicas": 1},
            [
                pod_status(
                    container(
                        {
                            "waiting": {
                                "reason": "CreateContainerConfigError",
                                "message": 'secret "my-test-connector-secrets" not found',
                            }
                        }
                    ),
                    phase="Pending",
                )
            ],
            ConnectorStatus.FAILED,
            'CreateContainerConfigError: secret "my-test-connector-secrets" not found',
            id="create-container-config-error",
        ),
        pytest.param(
            {
                "replicas": 1,
                "unavailableReplicas": 1,
                "conditions": [
                    NOT_AVAILABLE,
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": 'ReplicaSet "my-test-connector-7d9f8b6c5d" has timed out progressing.',
                    },
                ],
            },
            [pod_status(container({"running": {"startedAt": now_z()}}))],
            ConnectorStatus.FAILED,
            "ProgressDeadlineExceeded: ReplicaSet",
            id="progress-deadline",
        ),
        pytest.param(
            {
                "replicas": 1,
                "unavailableReplicas": 1,
                "conditions": [
                    {
                        "type": "ReplicaFailure",
                        "status": "True",
                        "reason": "FailedCreate",
                        "message": 'pods "x" is forbidden: exceeded quota',
                    }
                ],
            },
            [],
            ConnectorStatus.FAILED,
            "FailedCreate: pods",
            id="replica-failure-quota",
        ),
        pytest.param(
            {"replicas": 1, "unavailableReplicas": 1},
            [pod_status(container({"terminated": terminated(0, "Completed")}), phase="Running")],
            ConnectorStatus.STOPPED,
            "finished",
            id="completed",
        ),
        pytest.param(
            {"replicas": 1, "unavailableReplicas": 1},
            [
                pod_status(
                    container(
                        {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}},
                        restarts=1,
                        last={"terminated": terminated(0, "Completed")},
                    )
                )
            ],
            ConnectorStatus.STOPPED,
            "finished",
            id="completed-then-backoff",
        ),
        pytest.param(
            {"replicas": 1, "unavailableReplicas": 1},
            [pod_status(container({"terminated": terminated(1, "Error", "boom")}))],
            ConnectorStatus.PENDING,
            "restarting: exit code 1: boom",
            id="first-crash-is-not-failed",
        ),
        pytest.param(
            {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1},
            [
                pod_status(
                    container(
                        {"running": {"startedAt": now_z()}},
                        ready=True,
                        restarts=4,
                        last={
                            "terminated": terminated(
                                1, "Error", "lost the topic", finished=now_z(timedelta(seconds=-5))
                            )
                        },
                    )
                )
            ],
            ConnectorStatus.FAILED,
            "CrashLoopBackOff: exit code 1: lost the topic",
            id="ready-but-crash-looping",
        ),
        pytest.param(
            {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1},
            [
                pod_status(
                    container(
                        {"running": {"startedAt": now_z()}},
                        ready=True,
                        restarts=4,
                        last={
                            "terminated": terminated(1, "Error", "old", finished=now_z(timedelta(minutes=-5)))
                        },
                    )
                )
            ],
            ConnectorStatus.RUNNING,
            None,
            id="recovered-after-old-crashes",
        ),
    ],
)
def test_status_mapping(
    kube_runtime: KubernetesRuntime,
    fake_kube: FakeKube,
    deployment: dict[str, Any],
    pods: list[dict[str, Any]],
    expected: ConnectorStatus,
    reason_part: str | None,
) -> None:
    status, reason = status_after(fake_kube, kube_runtime, as_of_now(deployment), *as_of_now(pods))
    assert status == expected, reason
    if reason_part is None:
        assert reason is None or expected == ConnectorStatus.PENDING
    else:
        assert reason is not None and reason_part in reason


def test_status_ignores_pods_of_a_deleted_same_name_connector(
    kube_runtime: KubernetesRuntime, fake_kube: FakeKube
) -> None:
    kube_runtime.create(tc_config())
    # A terminating pod, and a pod of an earlier incarnation still crash-looping, carry the labels.
    fake_kube.add_pod(
        "my-test-connector", pod_status(container({"waiting": {"reason": "CrashLoopBackOff"}})), deleting=True
    )
    fake_kube.add_pod(
        "my-test-connector",
        pod_status(container({"waiting": {"reason": "ImagePullBackOff"}})),
        incarnation="0123456789abcdef",
    )
    assert kube_runtime.status("my-test-connector").status == ConnectorStatus.PENDING


def test_restarts_and_started_at_come_from_the_pod(
    kube_runtime: KubernetesRuntime, fake_kube: FakeKube
) -> None:
    kube_runtime.create(tc_config())
    fake_kube.set_deployment_status("my-test-connector", {"replicas": 1, "readyReplicas": 1})
    fake_kube.add_pod(
        "my-test-connector",
        pod_status(
            {
                **READY_CONTAINER,
                "restartCount": 2,
                "lastState": {"terminated": terminated(137, "OOMKilled", finished="2026-01-01T00:00:00Z")},
            }
        ),
    )
    info = kube_runtime.status("my-test-connector")
    assert info.status == ConnectorStatus.RUNNING
    assert info.restarts == 2
    assert info.started_at == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    assert json.loads(json.dumps(info.to_dict()))["restarts"] == 2


def test_status_of_a_missing_connector(kube_runtime: KubernetesRuntime) -> None:
    with pytest.raises(ConnectorNotFoundError, match="connector nope not found"):
        kube_runtime.status("nope")
    with pytest.raises(ConnectorNotFoundError):
        kube_runtime.logs("nope")


def test_connector_info_from_plain_models() -> None:
    """The mapping also accepts objects a watch or an informer hands over (no API call)."""
    from kubernetes import client

    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(
            name="c1",
            labels={"app.kubernetes.io/component": "mqtt"},
            annotations={"airflow-provider-fluvio/topic": "t"},
        ),
        spec=client.V1DeploymentSpec(selector=client.V1LabelSelector(), template=client.V1PodTemplateSpec()),
        status=client.V1DeploymentStatus(ready_replicas=1),
    )
    info = connector_info(deployment, [])
    assert (info.name, info.type, info.topic, info.status) == ("c1", "mqtt", "t", ConnectorStatus.RUNNING)
    assert deployment_status(deployment, []) == (ConnectorStatus.RUNNING, None)


def test_list_shows_only_our_connectors_sorted(kube_runtime: KubernetesRuntime, fake_kube: FakeKube) -> None:
    kube_runtime.create(tc_config("zeta"))
    kube_runtime.create(mqtt_config("alpha"))
    fake_kube.put(
        "deployments",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"selector": {}, "template": {}},
            "status": {},
        },
    )
    fake_kube.set_deployment_status("alpha", {"readyReplicas": 1})
    infos = kube_runtime.list()
    assert [(i.name, i.type, i.status) for i in infos] == [
        ("alpha", "mqtt", ConnectorStatus.RUNNING),
        ("zeta", "test-connector", ConnectorStatus.PENDING),
    ]
    selector = fake_kube.apps.list_namespaced_deployment.call_args.kwargs["label_selector"]
    assert "app.kubernetes.io/managed-by=airflow-provider-fluvio" in selector


# --------------------------------------------------------------------------- logs


def test_logs_read_the_current_pod(kube_runtime: KubernetesRuntime, fake_kube: FakeKube) -> None:
    kube_runtime.create(tc_config())
    assert kube_runtime.logs("my-test-connector") == []  # no pod yet
    pod = fake_kube.add_pod("my-test-connector", pod_status(READY_CONTAINER))
    fake_kube.logs[pod] = "\n".join(f"line {i}" for i in range(1, 51))
    assert kube_runtime.logs("my-test-connector", tail=3) == ["line 48", "line 49", "line 50"]
    call = fake_kube.core.read_namespaced_pod_log.call_args
    assert call.args[:2] == (pod, "default") and call.kwargs["tail_lines"] == 3
    assert call.kwargs["container"] == "connector"


def test_logs_of_a_container_not_started_yet(kube_runtime: KubernetesRuntime, fake_kube: FakeKube) -> None:
    kube_runtime.create(tc_config())
    fake_kube.add_pod(
        "my-test-connector", pod_status(container({"waiting": {"reason": "ContainerCreating"}}))
    )
    fake_kube.core.read_namespaced_pod_log.side_effect = api_exception(
        400, "Bad Request", 'container "connector" is waiting to start: ContainerCreating'
    )
    assert kube_runtime.logs("my-test-connector") == []


def test_follow_logs_streams_lines(kube_runtime: KubernetesRuntime, fake_kube: FakeKube) -> None:
    kube_runtime.create(tc_config())
    pod = fake_kube.add_pod("my-test-connector", pod_status(READY_CONTAINER))

    class Stream:
        released = False

        def stream(self, amt: int) -> Any:
            yield b"first li"
            yield b"ne\nsecond line\nthi"
            yield b"rd"

        def release_conn(self) -> None:
            Stream.released = True

    fake_kube.core.read_namespaced_pod_log.side_effect = lambda *a, **k: Stream()
    assert list(kube_runtime.follow_logs("my-test-connector")) == ["first line", "second line", "third"]
    call = fake_kube.core.read_namespaced_pod_log.call_args
    assert call.args[0] == pod and call.kwargs["follow"] is True and call.kwargs["_preload_content"] is False
    assert Stream.released


# --------------------------------------------------------------------------- kube config resolution

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- {name: one, cluster: {server: "https://127.0.0.1:6443"}}
- {name: two, cluster: {server: "https://127.0.0.2:7443"}}
users:
- {name: admin, user: {token: abc}}
contexts:
- {name: ctx-one, context: {cluster: one, user: admin, namespace: ns1}}
- {name: ctx-two, context: {cluster: two, user: admin}}
current-context: ctx-one
"""


@pytest.fixture
def kubeconfig_file(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return path


def host_of(runtime: KubernetesRuntime) -> str:
    return str(runtime.apps.api_client.configuration.host)


def test_default_kube_config_comes_from_kubeconfig_env(
    kubeconfig_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig_file))
    assert host_of(KubernetesRuntime()) == "https://127.0.0.1:6443"
    assert host_of(KubernetesRuntime(cluster_context="ctx-two")) == "https://127.0.0.2:7443"


def test_kube_config_path_and_context(kubeconfig_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    runtime = KubernetesRuntime(kube_config_path=str(kubeconfig_file), cluster_context="ctx-two")
    assert host_of(runtime) == "https://127.0.0.2:7443"
    assert runtime.core.api_client is runtime.apps.api_client


def test_kube_config_inline(kubeconfig_file: Path) -> None:
    assert host_of(KubernetesRuntime(kube_config=KUBECONFIG)) == "https://127.0.0.1:6443"
    assert (
        host_of(KubernetesRuntime(kube_config=yaml.safe_load(KUBECONFIG), cluster_context="ctx-two"))
        == "https://127.0.0.2:7443"
    )


def test_more_than_one_config_source_is_an_error(kubeconfig_file: Path) -> None:
    with pytest.raises(ConfigError, match="in_cluster and kube_config_path"):
        KubernetesRuntime(in_cluster=True, kube_config_path=str(kubeconfig_file))


def test_unknown_context_and_missing_files_are_clear_errors(kubeconfig_file: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="cannot load the Kubernetes configuration"):
        KubernetesRuntime(kube_config_path=str(kubeconfig_file), cluster_context="nope").list()
    missing = tmp_path / "missing"
    with pytest.raises(ConfigError, match=f"kube config file {missing} does not exist"):
        KubernetesRuntime(kube_config_path=str(missing)).list()


def test_in_cluster_outside_a_pod_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(BackendError, match="cannot load the Kubernetes configuration"):
        KubernetesRuntime(in_cluster=True).list()


def test_get_runtime_builds_it_and_checks_the_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = get_runtime("kubernetes", namespace="connectors", registry="example")
    assert isinstance(runtime, KubernetesRuntime) and runtime.namespace == "connectors"
    with pytest.raises(ConfigError, match="not a valid namespace"):
        get_runtime("kubernetes", namespace="Bad_NS")


def test_kubernetes_is_not_imported_by_the_runtime_package() -> None:
    import subprocess
    import sys

    code = (
        "import sys, airflow_provider_fluvio.runtimes, airflow_provider_fluvio.runtimes.kubernetes; "
        "print('kubernetes' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
