"""The Kubernetes runtime against a real API server (the local control plane of ``k8s/``).

Made for the local control plane of ``k8s/up.sh`` (kube-apiserver, controller-manager, scheduler
and kwok fake nodes): kwok makes a pod Ready, unless its image contains ``crashloop`` (the
container goes CrashLoopBackOff) or ``badimage`` (ImagePullBackOff). The ``registry`` option puts
those words in the image name. Any cluster works for the Running case if it can pull
``example/fluvio-connector-test-connector``; the failure cases need kwok's stages.

Each test module gets its own namespace, deleted at the end. Topics live in the embedded log.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorStatus
from airflow_provider_fluvio.runtimes.kubernetes import KubernetesRuntime
from fluvio_connectors.config import load_config
from fluvio_connectors.errors import ConnectorExistsError, ConnectorNotFoundError, TopicMissingError

pytestmark = [pytest.mark.system]

TIMEOUT = 90.0


@pytest.fixture(scope="module")
def namespace(kube_cluster: str) -> Iterator[str]:
    """A fresh namespace in the local cluster (``kube_cluster``: tests/system/conftest.py), with
    KUBECONFIG pointing at it for the runtime's default config resolution."""
    from kubernetes import client, config

    previous = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = kube_cluster
    api_client = config.new_client_from_config(config_file=os.environ["KUBECONFIG"])
    core = client.CoreV1Api(api_client)
    name = f"fluvio-test-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        core.delete_namespace(name)
        api_client.close()
        if previous is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = previous


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


def test_create_runs_lists_and_deletes(namespace: str) -> None:
    from kubernetes import client
    from kubernetes import config as kube_config

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

    api_client = kube_config.new_client_from_config(config_file=os.environ["KUBECONFIG"])
    try:
        apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
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
    finally:
        api_client.close()


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
