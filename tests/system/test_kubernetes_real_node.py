"""The Kubernetes runtime with real pods: the connector images run by the real node's kubelet and
containerd (k8s/node.sh), in a namespace whose pods go there (conftest.py's ``real_namespace``).

What kwok can only pretend is real here: the readiness probe runs in the container, ``logs`` is the
container's log, a program that fails goes into the kubelet's CrashLoopBackOff, a deleted pod gets
SIGTERM, the garbage collector removes what the Deployment owned, and records cross the real Fluvio
cluster (tests that need it skip without one: tests/fluvio_cluster.py).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from real_pods import VERSION, pods_of, real_runtime, wait_status, wait_until

from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from fluvio_connectors.config import load_config
from fluvio_connectors.topics.fluvio import FluvioTopics

if TYPE_CHECKING:
    from conftest import Broker, KubeNamespace
    from fluvio_cluster import FluvioCluster

pytestmark = [pytest.mark.system]


def tc_config(name: str, **parameters: Any) -> Any:
    return load_config({"version": VERSION, "name": name, "type": "test-connector", "topic": f"{name}-topic",
                        "create_topic": True, "parameters": {"timeout": 200, **parameters},
                        "secrets": {"API_TOKEN": "t0ken-" + uuid.uuid4().hex}}, secrets={})


def test_a_pod_on_the_pod_network_runs_ready_through_its_probe(real_namespace: KubeNamespace, real_node: str) -> None:
    runtime = real_runtime(real_namespace)  # no endpoint: the pod writes to an embedded log of its own
    runtime.create(tc_config("bridged", count=3))
    info = wait_status(runtime, "bridged", ConnectorStatus.RUNNING, forbidden=ConnectorStatus.FAILED)
    assert (info.runtime, info.version, info.restarts) == ("kubernetes", VERSION, 0)
    (pod,) = pods_of(real_namespace, "bridged")
    assert pod.spec.node_name == real_node and not pod.spec.host_network
    assert pod.status.pod_ip and pod.status.pod_ip.startswith("10.")  # an address on the node's bridge
    (container,) = pod.status.container_statuses
    assert container.ready and container.state.running
    # the connector ran in the container and says so in its own log, read through the API server
    log = wait_until(lambda: (lines := runtime.logs("bridged")) and any("finished: 3 records" in x for x in lines)
                     and lines, "the connector's log to say it finished")
    assert any("starting:" in line and "connector bridged (test-connector source" in line for line in log)
    runtime.delete("bridged")


def test_a_crashing_connector_is_failed_with_its_own_reason(real_namespace: KubeNamespace) -> None:
    # The pods are told of a Fluvio cluster where none listens: the program exits 1 at start, again
    # and again, and the kubelet backs off (CrashLoopBackOff).
    runtime = real_runtime(real_namespace, fluvio_endpoint="127.0.0.1:1")
    runtime.create(tc_config("crashing"))
    info = wait_status(runtime, "crashing", ConnectorStatus.FAILED, forbidden=ConnectorStatus.RUNNING)
    assert info.reason is not None and info.reason.startswith("CrashLoopBackOff: exit code 1: "), info.reason
    # the program's one line (the termination message kept from its log)
    assert "cannot connect to Fluvio at 127.0.0.1:1" in info.reason and "Traceback" not in info.reason
    (pod,) = pods_of(real_namespace, "crashing")
    (container,) = pod.status.container_statuses
    assert container.last_state.terminated.exit_code == 1
    # the container's log (of the crashed run, or of the next run once the kubelet restarts it)
    wait_until(lambda: any("cannot connect to Fluvio at 127.0.0.1:1" in line for line in runtime.logs("crashing")),
               "the program's error in the container log")
    runtime.delete("crashing")


def test_delete_stops_the_pod_with_sigterm_and_the_garbage_collector_removes_the_rest(
    real_namespace: KubeNamespace,
) -> None:
    from kubernetes import client, watch

    apps, core = client.AppsV1Api(real_namespace.api_client), client.CoreV1Api(real_namespace.api_client)
    ns = real_namespace.namespace
    runtime = real_runtime(real_namespace)
    runtime.create(tc_config("stopping"))
    wait_status(runtime, "stopping", ConnectorStatus.RUNNING, forbidden=ConnectorStatus.FAILED)
    (pod,) = pods_of(real_namespace, "stopping")

    # Every state the pod goes through until it is gone, from a watch started before the delete.
    states: list[Any] = []
    watching = threading.Event()

    def watch_pod() -> None:
        w = watch.Watch()
        for event in w.stream(core.list_namespaced_pod, ns, field_selector=f"metadata.name={pod.metadata.name}",
                              timeout_seconds=120):
            watching.set()
            for status in event["object"].status.container_statuses or []:
                states.append(status.state)
            if event["type"] == "DELETED":
                w.stop()

    watcher = threading.Thread(target=watch_pod, daemon=True)
    watcher.start()
    assert watching.wait(30), "the pod watch did not start"
    runtime.delete("stopping")
    watcher.join(150)
    assert not watcher.is_alive(), "the pod was not deleted"
    terminated = [s.terminated for s in states if s.terminated]
    assert terminated, "the pod was never seen terminated"
    # exit 0, reason Completed: the program stopped on SIGTERM within the grace period (a kill
    # after the grace period would be exit 137)
    assert (terminated[-1].exit_code, terminated[-1].reason) == (0, "Completed")
    for read in (lambda: core.read_namespaced_config_map("stopping-config", ns),
                 lambda: core.read_namespaced_secret("stopping-secrets", ns)):
        with pytest.raises(client.exceptions.ApiException) as excinfo:
            read()
        assert excinfo.value.status == 404

    # Deleting the Deployment alone (as `kubectl delete deployment` does): the garbage collector
    # removes the ConfigMap and Secret it owns, and its pod.
    runtime.create(tc_config("collected"))
    apps.delete_namespaced_deployment("collected", ns, body=client.V1DeleteOptions(propagation_policy="Background"))

    def collected() -> bool:
        names = {cm.metadata.name for cm in core.list_namespaced_config_map(ns).items}
        names |= {s.metadata.name for s in core.list_namespaced_secret(ns).items}
        return not ({"collected-config", "collected-secrets"} & names) and not pods_of(real_namespace, "collected")

    wait_until(collected, "the garbage collector to remove collected's ConfigMap, Secret and pod")


def fluvio_payloads(endpoint: str, topic: str) -> list[str]:
    with FluvioTopics(endpoint) as topics:
        return [bytes(json.loads(r.value)["payload"]).decode() for r in topics.read(topic)]


def test_mqtt_pod_replaced_mid_stream_loses_no_message(
    real_namespace: KubeNamespace, fluvio_cluster: FluvioCluster, broker_factory: Callable[..., Broker]
) -> None:
    from kubernetes import client

    broker = broker_factory()  # on the host's 127.0.0.1: the pods use the node's network
    topic = f"pods-mqtt-{uuid.uuid4().hex[:8]}"
    config = load_config({"version": VERSION, "name": "survivor", "type": "mqtt", "topic": topic,
                          "create_topic": True,
                          "parameters": {"mqtt-url": broker.url, "mqtt-topic": "plant/#", "qos": 1}}, secrets={})
    runtime = real_runtime(real_namespace, endpoint=fluvio_cluster.endpoint, host_network=True)
    runtime.create(config)
    wait_status(runtime, "survivor", ConnectorStatus.RUNNING, forbidden=ConnectorStatus.FAILED)
    (first,) = pods_of(real_namespace, "survivor")

    total, published = 600, []
    half = threading.Event()

    def publish() -> None:
        for batch in range(0, total, 20):
            published.extend(f"reading {i}" for i in range(batch, batch + 20))
            broker.publish("plant/line-1", published[-20:], qos=1)
            if len(published) >= total // 2:
                half.set()

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    assert half.wait(120), "the publisher did not get half way"
    # mid-stream: the pod goes (SIGTERM), the Deployment makes another one
    client.CoreV1Api(real_namespace.api_client).delete_namespaced_pod(first.metadata.name, real_namespace.namespace)
    wait_until(lambda: [p for p in pods_of(real_namespace, "survivor") if p.metadata.name != first.metadata.name
                        and any(c.ready for c in p.status.container_statuses or [])],
               "a replacement pod to be ready")
    publisher.join(300)
    assert len(published) == total
    got = wait_until(lambda: (p := fluvio_payloads(fluvio_cluster.endpoint, topic)) and set(p) >= set(published)
                     and p, f"all {total} messages in topic {topic}")
    assert set(got) == set(published)  # at least once: every message, nothing else
    runtime.delete("survivor")


def test_the_real_node_is_ready_apart_from_the_kwok_nodes_with_the_images(real_node: str, kube_cluster: str) -> None:
    from kubernetes import client, config

    with config.new_client_from_config(config_file=kube_cluster) as api:
        nodes = {n.metadata.name: n for n in client.CoreV1Api(api).list_node().items}
    node = nodes[real_node]
    assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"
    assert node.metadata.labels["fluvio.test/node"] == "real"
    assert [(t.key, t.effect) for t in node.spec.taints or []] == [("fluvio.test/real-node", "NoSchedule")]
    info = node.status.node_info
    assert info.kubelet_version == "v1.36.3" and info.container_runtime_version.startswith("containerd://1.6")
    (address,) = [a.address for a in node.status.addresses if a.type == "InternalIP"]
    assert address.startswith("10.213.")  # the node's own bridge
    images = {name for image in node.status.images for name in image.names}
    assert {f"localhost/fluvio-connector-{t}:{VERSION}" for t in ("test-connector", "mqtt")} <= images
    kwok = [n for name, n in nodes.items() if name != real_node]
    assert kwok and all(n.metadata.labels["fluvio.test/node"] == "kwok" and not n.spec.taints for n in kwok)
