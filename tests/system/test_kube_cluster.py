"""Checks that the local control plane (k8s/up.sh + kwok stages) behaves like a real cluster for the
things the provider's system tests rely on: Ready nodes, Deployments becoming ready, CrashLoopBackOff
and ImagePullBackOff simulation, Job completion and ownerReference garbage collection.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypeVar

import polling
import pytest

try:  # tests/system as a package, or as a rootdir-relative plain directory
    from .kube_cluster import make_kube_cluster_fixture
except ImportError:  # pragma: no cover - depends on the pytest import mode / layout
    from kube_cluster import make_kube_cluster_fixture

kubernetes = pytest.importorskip("kubernetes", reason="the `kubernetes` Python client is not installed")

pytestmark = [pytest.mark.system, pytest.mark.slow]

# Shares the process-wide cluster with any `kube_cluster` fixture a conftest.py provides.
kube_cluster = make_kube_cluster_fixture()

T = TypeVar("T")
READY_TIMEOUT = 60.0


def wait_for(
    what: str, fn: Callable[[], T | None], timeout: float = READY_TIMEOUT, interval: float = 0.25
) -> T:
    """``polling.wait_until``; an API error counts as "not yet" (the last one is named at the deadline)."""
    return polling.wait_until(fn, timeout, what, interval=interval, retry_on=(kubernetes.client.ApiException,))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def api_client(kube_cluster):
    client = kubernetes.config.new_client_from_config(config_file=kube_cluster)
    yield client
    client.close()


@pytest.fixture
def namespace(api_client):
    core = kubernetes.client.CoreV1Api(api_client)
    name = f"kc-{uuid.uuid4().hex[:10]}"
    core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name)))
    # pods need the namespace's default ServiceAccount (created by the controller-manager)
    wait_for(
        f"default ServiceAccount in {name}", lambda: core.read_namespaced_service_account("default", name)
    )
    yield name
    core.delete_namespace(name)


def deployment(name: str, image: str, labels: dict | None = None) -> kubernetes.client.V1Deployment:
    k = kubernetes.client
    pod_labels = {"app": name, **(labels or {})}
    return k.V1Deployment(
        metadata=k.V1ObjectMeta(name=name),
        spec=k.V1DeploymentSpec(
            replicas=1,
            selector=k.V1LabelSelector(match_labels={"app": name}),
            template=k.V1PodTemplateSpec(
                metadata=k.V1ObjectMeta(labels=pod_labels),
                spec=k.V1PodSpec(containers=[k.V1Container(name="main", image=image)]),
            ),
        ),
    )


def first_waiting_pod(core, namespace: str, app: str, reason: str):
    def check():
        for pod in core.list_namespaced_pod(namespace, label_selector=f"app={app}").items:
            for cs in pod.status.container_statuses or []:
                if cs.state and cs.state.waiting and cs.state.waiting.reason == reason:
                    return pod
        return None

    return wait_for(f"a pod of {app} with a container waiting in {reason}", check)


def test_fake_nodes_are_ready(api_client):
    core = kubernetes.client.CoreV1Api(api_client)
    nodes = core.list_node(label_selector="type=kwok").items
    assert len(nodes) >= 1
    for node in nodes:
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert ready and ready[0].status == "True", node.metadata.name
        assert not [t for t in (node.spec.taints or []) if t.effect in ("NoSchedule", "NoExecute")]
        assert node.metadata.annotations.get("kwok.x-k8s.io/node") == "fake"
        assert int(node.status.allocatable["pods"]) > 0


def test_server_version_is_pinned(api_client):
    info = kubernetes.client.VersionApi(api_client).get_code()
    assert info.git_version.startswith("v1.36."), info.git_version


def test_deployment_becomes_ready(api_client, namespace):
    apps = kubernetes.client.AppsV1Api(api_client)
    core = kubernetes.client.CoreV1Api(api_client)
    apps.create_namespaced_deployment(namespace, deployment("ok", "example/ok:1"))
    wait_for(
        "deployment ok readyReplicas == 1",
        lambda: (apps.read_namespaced_deployment("ok", namespace).status.ready_replicas or 0) == 1,
    )
    pods = core.list_namespaced_pod(namespace, label_selector="app=ok").items
    assert len(pods) == 1
    pod = pods[0]
    assert pod.spec.node_name and pod.spec.node_name.startswith("kwok-node-")
    assert pod.status.phase == "Running"
    conds = {c.type: c.status for c in pod.status.conditions}
    assert conds["Ready"] == "True" and conds["ContainersReady"] == "True"
    cs = pod.status.container_statuses[0]
    assert cs.ready and cs.started and cs.state.running is not None
    assert pod.status.pod_ip and pod.status.pod_ip.startswith("127.")


@pytest.mark.parametrize(
    "image,labels",
    [("example/crashloop:1", None), ("example/ok:1", {"fluvio.test/fail": "crashloop"})],
    ids=["by-image", "by-label"],
)
def test_crashloop_backoff(api_client, namespace, image, labels):
    apps = kubernetes.client.AppsV1Api(api_client)
    core = kubernetes.client.CoreV1Api(api_client)
    apps.create_namespaced_deployment(namespace, deployment("crash", image, labels))
    pod = first_waiting_pod(core, namespace, "crash", "CrashLoopBackOff")
    cs = pod.status.container_statuses[0]
    assert cs.restart_count > 0
    assert cs.last_state.terminated is not None and cs.last_state.terminated.exit_code == 1
    assert not cs.ready
    conds = {c.type: c.status for c in pod.status.conditions}
    assert conds["Ready"] == "False"
    assert not apps.read_namespaced_deployment("crash", namespace).status.ready_replicas


@pytest.mark.parametrize(
    "image,labels",
    [("example/badimage:1", None), ("example/ok:1", {"fluvio.test/fail": "imagepull"})],
    ids=["by-image", "by-label"],
)
def test_image_pull_backoff(api_client, namespace, image, labels):
    apps = kubernetes.client.AppsV1Api(api_client)
    core = kubernetes.client.CoreV1Api(api_client)
    apps.create_namespaced_deployment(namespace, deployment("pull", image, labels))
    pod = first_waiting_pod(core, namespace, "pull", "ImagePullBackOff")
    cs = pod.status.container_statuses[0]
    assert "Back-off pulling image" in cs.state.waiting.message
    assert image in cs.state.waiting.message
    assert pod.status.phase == "Pending"
    assert not apps.read_namespaced_deployment("pull", namespace).status.ready_replicas


def test_job_completes(api_client, namespace):
    k = kubernetes.client
    batch = k.BatchV1Api(api_client)
    job = k.V1Job(
        metadata=k.V1ObjectMeta(name="once"),
        spec=k.V1JobSpec(
            backoff_limit=0,
            template=k.V1PodTemplateSpec(
                spec=k.V1PodSpec(
                    restart_policy="Never", containers=[k.V1Container(name="main", image="example/ok:1")]
                ),
            ),
        ),
    )
    batch.create_namespaced_job(namespace, job)
    wait_for(
        "job once succeeded",
        lambda: (batch.read_namespaced_job("once", namespace).status.succeeded or 0) == 1,
    )


def test_garbage_collector_deletes_owned_configmap(api_client, namespace):
    k = kubernetes.client
    apps = k.AppsV1Api(api_client)
    core = k.CoreV1Api(api_client)
    dep = apps.create_namespaced_deployment(namespace, deployment("owner", "example/ok:1"))
    wait_for(
        "deployment owner ready",
        lambda: (apps.read_namespaced_deployment("owner", namespace).status.ready_replicas or 0) == 1,
    )
    owner_ref = k.V1OwnerReference(
        api_version="apps/v1", kind="Deployment", name="owner", uid=dep.metadata.uid
    )
    core.create_namespaced_config_map(
        namespace,
        k.V1ConfigMap(metadata=k.V1ObjectMeta(name="owned", owner_references=[owner_ref]), data={"a": "b"}),
    )
    apps.delete_namespaced_deployment(
        "owner", namespace, body=k.V1DeleteOptions(propagation_policy="Background")
    )

    def gone(read):
        try:
            read()
        except k.ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return False

    wait_for(
        "garbage collector to delete ConfigMap owned",
        lambda: gone(lambda: core.read_namespaced_config_map("owned", namespace)),
    )
    wait_for(
        "pods of deployment owner to be deleted",
        lambda: not core.list_namespaced_pod(namespace, label_selector="app=owner").items,
    )
