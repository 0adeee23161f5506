"""Helpers of the system tests that run connectors as real pods on the real node (conftest.py's
``real_namespace``): the images are the project's own (docker/build-images.sh), tagged with the
project's version and loaded into the node's containerd by k8s/up.sh, so the runtime names them
with the registry ``localhost``."""

from __future__ import annotations

import importlib.metadata
import time
from typing import TYPE_CHECKING, Any

import polling
import pytest

from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorStatus
from airflow_provider_fluvio.runtimes.kubernetes import KubernetesRuntime
from fluvio_connectors.settings import Settings

if TYPE_CHECKING:
    from conftest import KubeNamespace
    from kubernetes.client import V1Pod

VERSION = importlib.metadata.version("airflow-provider-fluvio")  # the images' tag
REGISTRY = "localhost"  # how containerd names an image podman built (localhost/NAME:TAG)
TIMEOUT = 180.0  # a pod start on a loaded machine; normally a few seconds


def real_runtime(ns: KubeNamespace, *, endpoint: str | None = None, **options: Any) -> KubernetesRuntime:
    """The Kubernetes runtime on the namespace; ``endpoint``: topics in that Fluvio cluster (the
    runtime's and the pods'), else the test's embedded log (the pods then get no endpoint and write
    to an embedded log of their own)."""
    settings = Settings.from_env().with_(fluvio_endpoint=endpoint)
    return KubernetesRuntime(settings, namespace=ns.namespace, kube_config_path=ns.kubeconfig, registry=REGISTRY,
                             **options)


def wait_status(runtime: KubernetesRuntime, name: str, wanted: ConnectorStatus,
                forbidden: ConnectorStatus | None = None, timeout: float = TIMEOUT) -> ConnectorInfo:
    deadline = time.monotonic() + timeout
    while True:
        info = runtime.status(name)
        if info.status == wanted:
            return info
        assert info.status != forbidden, f"{name} became {info.status}: {info.reason}"
        if time.monotonic() >= deadline:
            pytest.fail(f"{name} still {info.status} ({info.reason}) after {timeout:g}s, wanted {wanted}")
        time.sleep(0.3)


def pods_of(ns: KubeNamespace, name: str) -> list[V1Pod]:
    from kubernetes import client

    core = client.CoreV1Api(ns.api_client)
    pods = core.list_namespaced_pod(ns.namespace, label_selector=f"app.kubernetes.io/instance={name}").items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def wait_until(condition: Any, what: str, timeout: float = TIMEOUT) -> Any:
    """``polling.wait_until`` with this module's argument order and pace."""
    return polling.wait_until(condition, timeout, what, interval=0.2)
