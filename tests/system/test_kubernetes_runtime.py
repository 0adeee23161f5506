"""The Kubernetes runtime against a real API server (the local control plane of ``k8s/``).

Made for the local control plane of ``k8s/up.sh`` (kube-apiserver, controller-manager, scheduler
and kwok fake nodes): kwok makes a pod Ready, unless its image contains ``crashloop`` (the
container goes CrashLoopBackOff) or ``badimage`` (ImagePullBackOff). The ``registry`` option puts
those words in the image name. Any cluster works for the Running case if it can pull
``example/fluvio-connector-test-connector``; the failure cases need kwok's stages.

The module works in its own namespace, deleted at the end. Topics live in the embedded log.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorStatus
from airflow_provider_fluvio.runtimes.kubernetes import KubernetesRuntime
from fluvio_connectors.config import load_config
from fluvio_connectors.errors import ConnectorExistsError, ConnectorNotFoundError, TopicMissingError

if TYPE_CHECKING:
    from conftest import KubeNamespace

pytestmark = [pytest.mark.system]

TIMEOUT = 90.0


@pytest.fixture
def namespace(kube_namespace: KubeNamespace, monkeypatch: pytest.MonkeyPatch) -> str:
    """The module's namespace (``kube_namespace``: tests/system/conftest.py), with KUBECONFIG
    pointing at the cluster: the runtime finds it by its default config resolution."""
    monkeypatch.setenv("KUBECONFIG", kube_namespace.kubeconfig)
    return kube_namespace.namespace


def runtime_for(namespace: str, registry: str = "example") -> KubernetesRuntime:
    return KubernetesRuntime(namespace=namespace, registry=registry)


def config(name: str, create_topic: bool = True, **extra: Any) -> Any:
    return load_config(
        {
            "version": "0.1.0",
            "name": name,
            "type": "test-connector",
            "topic": f"{name}-topic",
            "create_topic": create_topic,
            "parameters": {"timeout": 1000},
            **extra,
        },
        secrets={},
    )


def wait_for(
    runtime: KubernetesRuntime, name: str, wanted: ConnectorStatus, forbidden: ConnectorStatus | None = None
) -> ConnectorInfo:
    deadline = time.monotonic() + TIMEOUT
    info = runtime.status(name)
    while time.monotonic() < deadline:
        info = runtime.status(name)
        if info.status == wanted:
            return info
        assert info.status != forbidden, f"{name} became {info.status}: {info.reason}"
        time.sleep(0.5)
    pytest.fail(f"{name} still {info.status} ({info.reason}) after {TIMEOUT}s, wanted {wanted}")


def test_create_runs_lists_and_deletes(namespace: str, kube_namespace: KubeNamespace) -> None:
    from kubernetes import client

    runtime = runtime_for(namespace)
    cfg = load_config(
        {
            "version": "0.1.0",
            "name": "sys-ok",
            "type": "test-connector",
            "topic": "sys-ok-topic",
            "create_topic": True,
            "parameters": {"timeout": 1000},
            "secrets": {"API_TOKEN": "t0ken"},
        },
        secrets={},
    )
    info = runtime.create(cfg)
    assert info.status in (ConnectorStatus.PENDING, ConnectorStatus.RUNNING)
    wait_for(runtime, "sys-ok", ConnectorStatus.RUNNING, forbidden=ConnectorStatus.FAILED)
    assert [(i.name, i.type, i.topic) for i in runtime.list()] == [
        ("sys-ok", "test-connector", "sys-ok-topic")
    ]
    with pytest.raises(ConnectorExistsError):
        runtime.create(cfg)

    apps, core = client.AppsV1Api(kube_namespace.api_client), client.CoreV1Api(kube_namespace.api_client)
    deployment = apps.read_namespaced_deployment("sys-ok", namespace)
    uid = deployment.metadata.uid
    for owned in (
        core.read_namespaced_config_map("sys-ok-config", namespace),
        core.read_namespaced_secret("sys-ok-secrets", namespace),
    ):
        assert [ref.uid for ref in owned.metadata.owner_references] == [uid]
    runtime.delete("sys-ok")
    assert runtime.list() == []
    with pytest.raises(ConnectorNotFoundError):
        runtime.delete("sys-ok")
    for read in (
        lambda: apps.read_namespaced_deployment("sys-ok", namespace),
        lambda: core.read_namespaced_config_map("sys-ok-config", namespace),
        lambda: core.read_namespaced_secret("sys-ok-secrets", namespace),
    ):
        with pytest.raises(client.exceptions.ApiException) as excinfo:
            read()
        assert excinfo.value.status == 404


def test_crash_loop_is_failed_with_its_reason(namespace: str) -> None:
    runtime = runtime_for(namespace, registry="example/crashloop")
    runtime.create(config("sys-crash"))
    info = wait_for(runtime, "sys-crash", ConnectorStatus.FAILED, forbidden=ConnectorStatus.RUNNING)
    assert info.reason is not None and info.reason.startswith("CrashLoopBackOff")
    runtime.delete("sys-crash")


def test_bad_image_is_failed_with_its_reason(namespace: str) -> None:
    runtime = runtime_for(namespace, registry="example/badimage")
    runtime.create(config("sys-badimage"))
    info = wait_for(runtime, "sys-badimage", ConnectorStatus.FAILED, forbidden=ConnectorStatus.RUNNING)
    assert info.reason is not None and info.reason.split(":")[0] in ("ImagePullBackOff", "ErrImagePull")
    runtime.delete("sys-badimage")


def test_missing_topic_creates_nothing(namespace: str) -> None:
    runtime = runtime_for(namespace)
    with pytest.raises(TopicMissingError):
        runtime.create(config("sys-notopic", create_topic=False))
    assert runtime.list() == []
    with pytest.raises(ConnectorNotFoundError):
        runtime.status("sys-notopic")


def test_replicas_run_as_a_stateful_set_with_a_stable_pod_each(namespace: str, kube_namespace: KubeNamespace) -> None:
    from kubernetes import client

    runtime = runtime_for(namespace)
    mqtt = load_config(
        {"name": "sys-replicas", "type": "mqtt", "topic": "sys-replicas", "create_topic": True,
         "parameters": {"mqtt-url": "broker.invalid:1883", "mqtt-topic": "sensors/#", "qos": 1}},
        secrets={},
    )
    runtime.create(mqtt, replicas=2)
    info = wait_for(runtime, "sys-replicas", ConnectorStatus.RUNNING, forbidden=ConnectorStatus.FAILED)
    assert (info.replicas, info.replicas_running) == (2, 2)
    assert sorted(r.name for r in info.replica_statuses) == ["sys-replicas-0", "sys-replicas-1"]
    (listed,) = runtime.list()
    assert (listed.name, listed.replicas, listed.status) == ("sys-replicas", 2, ConnectorStatus.RUNNING)

    apps, core = client.AppsV1Api(kube_namespace.api_client), client.CoreV1Api(kube_namespace.api_client)
    sts = apps.read_namespaced_stateful_set("sys-replicas", namespace)
    assert sts.spec.replicas == 2
    owned = core.read_namespaced_config_map("sys-replicas-config", namespace)
    assert [(ref.kind, ref.uid) for ref in owned.metadata.owner_references] == [("StatefulSet", sts.metadata.uid)]
    pod = core.read_namespaced_pod("sys-replicas-1", namespace)
    env = {e.name: e for e in pod.spec.containers[0].env}
    assert env["FLUVIO_CONNECTOR_REPLICAS"].value == "2"
    assert env["FLUVIO_CONNECTOR_POD_NAME"].value_from.field_ref.field_path == "metadata.name"

    runtime.delete("sys-replicas")
    assert runtime.list() == []
    with pytest.raises(client.exceptions.ApiException) as excinfo:
        apps.read_namespaced_stateful_set("sys-replicas", namespace)
    assert excinfo.value.status == 404
