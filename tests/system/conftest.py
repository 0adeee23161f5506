"""System tests: a real Kubernetes API (k8s/up.sh: kube-apiserver, controller-manager, scheduler,
kwok fake nodes), one per pytest session, started on first use; and a fresh namespace in it for
each test module that asks for one."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kube_cluster import make_kube_cluster_fixture

kube_cluster = make_kube_cluster_fixture("session")

SERVICE_ACCOUNT_TIMEOUT = 30.0


@dataclass(frozen=True)
class KubeNamespace:
    """A namespace of the local cluster: its admin kube config file, its name, and an API client
    (the test module's own; closed with the namespace)."""

    kubeconfig: str
    namespace: str
    api_client: Any


@pytest.fixture(scope="module")
def kube_namespace(kube_cluster: str, request: pytest.FixtureRequest) -> Iterator[KubeNamespace]:
    """A fresh namespace, named after the test module, deleted (with all it holds) at its end."""
    from kubernetes import client, config

    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    prefix = re.sub(r"[^a-z0-9]+", "-", module.lower()).strip("-")[:40]
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    api_client = config.new_client_from_config(config_file=kube_cluster)
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
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
