"""The Kubernetes example DAG (``dags_examples/example_fluvio_kubernetes.py``) in real Airflow
(``dag.test()`` on SQLite, triggers inline), against the local cluster of ``k8s/`` with its real
node and the real Fluvio cluster: the whole production path, DAG to Deployment to pod to topic and
back to the DAG.

create_connector   a test-connector from configs/kubernetes_test_connector.yaml, its API_TOKEN from
                   the Airflow Variable ``fluvio_example_api_token``
wait_running       FluvioConnectorSensor, in poke and in deferrable mode
read_records       FluvioConsumeOperator: the records the pod wrote to Fluvio
check_records      exactly Hello, Fluvio! - 1..count
delete_connector   FluvioDeleteConnectorOperator, a teardown

The connection is what a deployment defines: an ``AIRFLOW_CONN_*`` variable (the Fluvio SC as host
and port, runtime kubernetes, namespace, kube_config_path, image_registry, host_network: the local
Fluvio cluster's SPU advertises localhost, which only the node's network reaches), under the
DAG's default ``fluvio_kubernetes`` in one run and under another id, named by the
``fluvio_conn_id`` param, in the other.

So that the sensor really waits, the real node is cordoned while the DAG starts: the pod stays
Pending (Unschedulable) until the sensor has looked twice, then the node is uncordoned and the
scheduler places it. These tests assume nothing else schedules pods on the real node meanwhile
(true for the per-session test cluster).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from airflow_runs import xcom
from example_dags import load_example
from real_pods import REGISTRY, VERSION

if TYPE_CHECKING:
    from conftest import KubeNamespace
    from fluvio_cluster import FluvioCluster

pytestmark = [pytest.mark.system]

DEFAULT_CONN_ID = "fluvio_kubernetes"  # the DAG's fluvio_conn_id param default
OTHER_CONN_ID = "fluvio_k8s_system"
TOKEN = "tok-" + uuid.uuid4().hex
HOLD_TIMEOUT = 30.0  # the node stays cordoned at most this long, whatever happens
PLACED_TIMEOUT = 60.0  # for the pod to be placed once the node is uncordoned
GONE_TIMEOUT = 60.0
COUNT = 3


@pytest.fixture
def define_connection(
    real_namespace: KubeNamespace, fluvio_cluster: FluvioCluster, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], None]:
    """Define a ``fluvio`` connection to the Fluvio cluster and the module's namespace, as a
    deployment does: an ``AIRFLOW_CONN_*`` variable; and the Variable the example reads its
    connector's secret from."""
    monkeypatch.delenv("KUBECONFIG", raising=False)  # the connection alone says where to go
    for conn_id in (DEFAULT_CONN_ID, OTHER_CONN_ID):
        monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}", raising=False)
    monkeypatch.setenv("AIRFLOW_VAR_FLUVIO_EXAMPLE_API_TOKEN", TOKEN)

    def define(conn_id: str) -> None:
        host, port = fluvio_cluster.endpoint.rsplit(":", 1)
        extra = {
            "runtime": "kubernetes",
            "namespace": real_namespace.namespace,
            "kube_config_path": real_namespace.kubeconfig,
            "image_registry": REGISTRY,
            "host_network": True,
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}",
                           json.dumps({"conn_type": "fluvio", "host": host, "port": int(port), "extra": extra}))

    return define


@dataclass
class Looks:
    """Every status look the sensor (or its trigger) took, as (outcome, status), and every event
    the trigger fired. Observed only: the real methods run and their results are returned."""

    checks: list[tuple[str, str | None]] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)
    waited_twice: threading.Event = field(default_factory=threading.Event)

    def waits(self) -> int:
        return sum(1 for outcome, _ in self.checks if outcome == "waiting")


@pytest.fixture
def looks(monkeypatch: pytest.MonkeyPatch) -> Looks:
    from airflow_provider_fluvio.hooks.fluvio import FluvioHook
    from airflow_provider_fluvio.triggers.connector import FluvioConnectorStatusTrigger

    seen = Looks()
    check_connector = FluvioHook.check_connector
    run = FluvioConnectorStatusTrigger.run

    def observed_check(self: FluvioHook, *args: Any, **kwargs: Any) -> Any:
        check = check_connector(self, *args, **kwargs)
        seen.checks.append((check.outcome, check.info.status.value if check.info else None))
        if check.info:
            seen.names.add(check.info.name)
        if seen.waits() >= 2:
            seen.waited_twice.set()
        return check

    async def observed_run(self: FluvioConnectorStatusTrigger) -> Any:
        async for event in run(self):
            seen.events.append(dict(event.payload))
            yield event

    monkeypatch.setattr(FluvioHook, "check_connector", observed_check)
    monkeypatch.setattr(FluvioConnectorStatusTrigger, "run", observed_run)
    return seen


@dataclass
class Hold:
    """What the cordon watcher saw while the pod was held Pending, and where it went after."""

    objects: dict[str, Any] = field(default_factory=dict)
    node: str | None = None
    error: BaseException | None = None


@pytest.fixture
def hold_pods(real_namespace: KubeNamespace, real_node: str, looks: Looks) -> Iterator[Callable[[], Hold]]:
    """Cordon the real node; a watcher uncordons it once the sensor has seen the connector waiting
    twice (or after HOLD_TIMEOUT), after noting which of its objects exist, then notes the node the
    pod is placed on. Always uncordoned."""
    from kubernetes import client

    core = client.CoreV1Api(real_namespace.api_client)
    cordoned = [real_node]
    stop = threading.Event()
    watchers: list[threading.Thread] = []

    def uncordon() -> None:
        for node in cordoned:
            core.patch_node(node, {"spec": {"unschedulable": False}})

    def start() -> Hold:
        hold = Hold()
        for node in cordoned:
            core.patch_node(node, {"spec": {"unschedulable": True}})

        def watch() -> None:
            name = None
            try:
                if looks.waited_twice.wait(HOLD_TIMEOUT) and not stop.is_set():
                    (name,) = looks.names
                    hold.objects = objects_of(real_namespace, name)
            except BaseException as exc:  # reported by the test, not lost in a thread
                hold.error = exc
            finally:
                uncordon()
            deadline = time.monotonic() + PLACED_TIMEOUT
            while name and hold.node is None and not stop.is_set() and time.monotonic() < deadline:
                placed = [p.spec.node_name for p in objects_of(real_namespace, name)["Pod"] if p.spec.node_name]
                hold.node = placed[0] if placed else None
                time.sleep(0.2)

        watcher = threading.Thread(target=watch, name="uncordon-watcher", daemon=True)
        watchers.append(watcher)
        watcher.start()
        return hold

    try:
        yield start
    finally:
        stop.set()
        looks.waited_twice.set()  # wake a watcher still holding
        for watcher in watchers:
            watcher.join(timeout=HOLD_TIMEOUT)
        uncordon()


def objects_of(kube_namespace: KubeNamespace, name: str) -> dict[str, Any]:
    """Connector ``name``'s objects in the namespace, by kind: the ones named after it, and its
    pods by their instance label (a long name is cut short in a pod's generated name)."""
    from kubernetes import client

    apps, core = client.AppsV1Api(kube_namespace.api_client), client.CoreV1Api(kube_namespace.api_client)
    ns = kube_namespace.namespace
    named: dict[str, Any] = {
        "Deployment": apps.list_namespaced_deployment(ns).items,
        "ConfigMap": core.list_namespaced_config_map(ns).items,
        "Secret": core.list_namespaced_secret(ns).items,
    }
    found = {kind: [o for o in items if o.metadata.name.startswith(name)] for kind, items in named.items()}
    found["Pod"] = core.list_namespaced_pod(ns, label_selector=f"app.kubernetes.io/instance={name}").items
    return found


@pytest.mark.parametrize(
    ("deferrable", "conn_id"), [(False, DEFAULT_CONN_ID), (True, OTHER_CONN_ID)], ids=["poke", "deferrable"]
)
def test_example_dag_through_kubernetes(
    airflow_db: None,
    define_connection: Callable[[str], None],
    real_namespace: KubeNamespace,
    real_node: str,
    fluvio_cluster: FluvioCluster,
    looks: Looks,
    hold_pods: Callable[[], Hold],
    deferrable: bool,
    conn_id: str,
) -> None:
    from airflow_provider_fluvio.sensors.connector import FluvioConnectorSensor

    define_connection(conn_id)
    dag = load_example("example_fluvio_kubernetes").dag
    sensor = dag.get_task("wait_running")
    assert isinstance(sensor, FluvioConnectorSensor)
    sensor.mode, sensor.deferrable = "poke", deferrable
    sensor.poke_interval, sensor.timeout = 0.5, HOLD_TIMEOUT * 4  # the example's 5 s would slow the test
    run_conf: dict[str, Any] = {"connector_version": VERSION, "count": COUNT}
    if conn_id != DEFAULT_CONN_ID:
        run_conf["fluvio_conn_id"] = conn_id

    hold = hold_pods()
    dr = dag.test(run_conf=run_conf)
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dr.get_task_instances()}

    assert hold.error is None, hold.error
    assert str(getattr(dr.state, "value", dr.state)) == "success", states
    assert states == {"create_connector": "success", "wait_running": "success", "read_records": "success",
                      "check_records": "success", "delete_connector": "success"}

    created = xcom(dag.dag_id, dr.run_id, "create_connector")
    name = created["name"]
    assert name.startswith("example-k8s-")
    assert (created["runtime"], created["type"], created["topic"], created["version"]) == (
        "kubernetes", "test-connector", name, VERSION)
    assert created["config"]["secrets"] == ["API_TOKEN"]
    assert TOKEN not in json.dumps(created)

    # The sensor saw the connector Pending (nodes cordoned) twice, then Running.
    assert looks.checks[:2] == [("waiting", "Pending"), ("waiting", "Pending")]
    assert looks.checks[-1] == ("reached", "Running")
    assert xcom(dag.dag_id, dr.run_id, "wait_running")["status"] == "Running"
    if deferrable:
        # The first look was the worker's; the rest were the trigger's, which fired success once.
        assert [e["status"] for e in looks.events] == ["success"]
        assert looks.events[0]["info"]["status"] == "Running"
        assert looks.events[0]["polls"] >= 2
    else:
        assert looks.events == []

    # While it ran, the API server held the connector's Deployment (the image of the connection's
    # registry, tagged connector_version), its ConfigMap, and its Secret (the token there only).
    held = {kind: [o.metadata.name for o in items] for kind, items in hold.objects.items()}
    assert held["Deployment"] == [name]
    assert held["ConfigMap"] == [f"{name}-config"]
    assert held["Secret"] == [f"{name}-secrets"]
    (deployment,) = hold.objects["Deployment"]
    assert [c.image for c in deployment.spec.template.spec.containers] == [
        f"{REGISTRY}/fluvio-connector-test-connector:{VERSION}"
    ]
    (secret,) = hold.objects["Secret"]
    assert base64.b64decode(secret.data["API_TOKEN"]).decode() == TOKEN
    (config_map,) = hold.objects["ConfigMap"]
    assert "API_TOKEN" in config_map.data["config.yaml"] and TOKEN not in json.dumps(config_map.data)
    assert [p.status.phase for p in hold.objects["Pod"]] == ["Pending"]
    assert hold.node == real_node  # then it ran on the real node

    # The records the DAG read are the ones the pod wrote to the Fluvio cluster: its topic, read with
    # Fluvio's own CLI, holds exactly them (the pod was its only producer).
    hello = [f"Hello, Fluvio! - {i}" for i in range(1, COUNT + 1)]
    assert xcom(dag.dag_id, dr.run_id, "read_records") == hello
    assert xcom(dag.dag_id, dr.run_id, "check_records") == {"records": COUNT, "first": hello[0], "last": hello[-1]}
    fluvio = fluvio_cluster.cli("consume", name, "--start", "0", "-d", "--disable-progressbar")
    assert fluvio.returncode == 0, fluvio.stderr
    assert fluvio.stdout.splitlines() == hello

    # After delete_connector nothing of it is left (the runtime or the garbage collector removed it).
    deadline = time.monotonic() + GONE_TIMEOUT
    left = objects_of(real_namespace, name)
    while any(left[kind] for kind in ("Deployment", "ConfigMap", "Secret", "Pod")):
        assert time.monotonic() < deadline, {k: [o.metadata.name for o in v] for k, v in left.items()}
        time.sleep(0.2)
        left = objects_of(real_namespace, name)
