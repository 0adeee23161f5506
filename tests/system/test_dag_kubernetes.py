"""An example-shaped DAG through the Kubernetes runtime in real Airflow (``dag.test()`` on SQLite,
triggers inline), against the local control plane of ``k8s/`` (kwok makes pods Ready).

create_connector   FluvioCreateConnectorOperator, a test-connector with a secret, through the
                   ``fluvio_k8s`` connection (runtime kubernetes, namespace, kube_config_path,
                   image_registry), given as ``AIRFLOW_CONN_FLUVIO_K8S``
wait_running       FluvioConnectorSensor, in poke and in deferrable mode
delete_connector   FluvioDeleteConnectorOperator, a teardown

So that the sensor really waits (kwok makes a pod Ready within a second), the fake nodes are
cordoned while the DAG runs: the pod stays Pending (Unschedulable) until the sensor has looked
twice, then the nodes are uncordoned and the scheduler places it. Cordoning is cluster-wide: these
tests assume nothing else schedules pods in the cluster meanwhile (true for the per-session test
cluster; sharing one through FLUVIO_K8S_KUBECONFIG with other runs would disturb them briefly).

The example DAGs of ``dags_examples/`` cannot run here: they use ``fluvio_default`` with no
parameter to name another connection, and they wait for the connector's records, which kwok
(no container runs) never produces.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

pytestmark = [pytest.mark.system]

CONN_ID = "fluvio_k8s"
TOKEN = "tok-" + uuid.uuid4().hex
HOLD_TIMEOUT = 30.0  # the nodes stay cordoned at most this long, whatever happens
GONE_TIMEOUT = 30.0
NAME = '{{ ("k8s-" ~ run_id) | dns_label }}'
CONFIG = """\
version: 0.1.0
name: {{ ("k8s-" ~ run_id) | dns_label }}
type: test-connector
topic: {{ ("k8s-" ~ run_id) | dns_label }}
create_topic: true
parameters:
  timeout: 1000
secrets:
  - API_TOKEN
"""


@dataclass(frozen=True)
class Cluster:
    kubeconfig: str
    namespace: str
    api_client: Any


@pytest.fixture(scope="module")
def cluster(kube_cluster: str) -> Iterator[Cluster]:
    """A fresh namespace in the local cluster (``kube_cluster``: tests/system/conftest.py)."""
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=kube_cluster)
    core = client.CoreV1Api(api_client)
    name = f"fluvio-dag-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield Cluster(kube_cluster, name, api_client)
    finally:
        core.delete_namespace(name)
        api_client.close()


@pytest.fixture(scope="module")
def airflow_db() -> None:
    """A fresh metadata DB (dag.test() needs the tables); tests/conftest.py chose SQLite."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture
def fluvio_k8s(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``fluvio_k8s`` connection, as a deployment defines it: an ``AIRFLOW_CONN_*`` variable."""
    extra = {
        "runtime": "kubernetes",
        "namespace": cluster.namespace,
        "kube_config_path": cluster.kubeconfig,
        "image_registry": "example",
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "fluvio", "extra": extra}))
    monkeypatch.delenv("KUBECONFIG", raising=False)  # the connection alone says where to go


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
    """What the cordon watcher saw while the pod was held Pending."""

    objects: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None


@pytest.fixture
def hold_pods(cluster: Cluster, looks: Looks) -> Iterator[Callable[[], Hold]]:
    """Cordon every node; a watcher uncordons them once the sensor has seen the connector waiting
    twice (or after HOLD_TIMEOUT), after noting which of its objects exist. Always uncordoned."""
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client)
    cordoned: list[str] = [
        n.metadata.name
        for n in core.list_node().items
        if n.metadata and n.metadata.name and not (n.spec and n.spec.unschedulable)
    ]
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
            try:
                if looks.waited_twice.wait(HOLD_TIMEOUT) and not stop.is_set():
                    (name,) = looks.names
                    hold.objects = objects_of(cluster, name)
            except BaseException as exc:  # reported by the test, not lost in a thread
                hold.error = exc
            finally:
                uncordon()

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


def objects_of(cluster: Cluster, name: str) -> dict[str, Any]:
    """Connector ``name``'s objects in the namespace, by kind (its pods carry its name too)."""
    from kubernetes import client

    apps, core = client.AppsV1Api(cluster.api_client), client.CoreV1Api(cluster.api_client)
    ns = cluster.namespace
    found: dict[str, Any] = {
        "Deployment": apps.list_namespaced_deployment(ns).items,
        "ConfigMap": core.list_namespaced_config_map(ns).items,
        "Secret": core.list_namespaced_secret(ns).items,
        "Pod": core.list_namespaced_pod(ns).items,
    }
    return {kind: [o for o in items if o.metadata.name.startswith(name)] for kind, items in found.items()}


def register(dag: Any) -> None:
    """Serialize a DAG built in a test into the DB (dag.test() refuses unserialized DAGs)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder="/dev/null", collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def xcom(dag_id: str, run_id: str, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run_id, dag_ids=dag_id, task_ids=task_id, key="return_value")
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def build_dag(dag_id: str, deferrable: bool) -> Any:
    from airflow.sdk import DAG

    from airflow_provider_fluvio.operators.connector import (
        FluvioCreateConnectorOperator,
        FluvioDeleteConnectorOperator,
        dns_label,
    )
    from airflow_provider_fluvio.sensors.connector import FluvioConnectorSensor

    with DAG(dag_id, schedule=None, catchup=False, user_defined_filters={"dns_label": dns_label}) as dag:
        create = FluvioCreateConnectorOperator(
            task_id="create_connector", config=CONFIG, fluvio_conn_id=CONN_ID, secrets={"API_TOKEN": TOKEN}
        )
        wait = FluvioConnectorSensor(
            task_id="wait_running",
            connector_name=NAME,
            fluvio_conn_id=CONN_ID,
            mode="poke",
            deferrable=deferrable,
            poke_interval=0.5,
            timeout=HOLD_TIMEOUT * 2,
        )
        delete = FluvioDeleteConnectorOperator(
            task_id="delete_connector", connector_name=NAME, fluvio_conn_id=CONN_ID
        )
        create >> wait >> delete.as_teardown(setups=create)
    return dag


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_create_wait_delete_through_kubernetes(
    airflow_db: None,
    fluvio_k8s: None,
    cluster: Cluster,
    looks: Looks,
    hold_pods: Callable[[], Hold],
    deferrable: bool,
) -> None:
    dag = build_dag(f"fluvio_k8s_{'deferrable' if deferrable else 'poke'}_{uuid.uuid4().hex[:6]}", deferrable)
    register(dag)
    hold = hold_pods()
    dr = dag.test()
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dr.get_task_instances()}

    assert hold.error is None, hold.error
    assert str(getattr(dr.state, "value", dr.state)) == "success", states
    assert states == {"create_connector": "success", "wait_running": "success", "delete_connector": "success"}

    created = xcom(dag.dag_id, dr.run_id, "create_connector")
    name = created["name"]
    assert name.startswith("k8s-")
    assert (created["runtime"], created["type"], created["topic"]) == ("kubernetes", "test-connector", name)
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

    # While it ran, the API server held the connector's Deployment, ConfigMap and Secret (the token there).
    held = {kind: [o.metadata.name for o in items] for kind, items in hold.objects.items()}
    assert held["Deployment"] == [name]
    assert held["ConfigMap"] == [f"{name}-config"]
    assert held["Secret"] == [f"{name}-secrets"]
    (secret,) = hold.objects["Secret"]
    assert base64.b64decode(secret.data["API_TOKEN"]).decode() == TOKEN
    assert [p.status.phase for p in hold.objects["Pod"]] == ["Pending"]

    # After delete_connector nothing of it is left (the runtime or the garbage collector removed it).
    deadline = time.monotonic() + GONE_TIMEOUT
    left = objects_of(cluster, name)
    while any(left[kind] for kind in ("Deployment", "ConfigMap", "Secret")):
        assert time.monotonic() < deadline, {k: [o.metadata.name for o in v] for k, v in left.items()}
        time.sleep(0.2)
        left = objects_of(cluster, name)
