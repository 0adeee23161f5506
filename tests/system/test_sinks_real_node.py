"""Sinks as real pods on the real node, their topics in the real Fluvio cluster, their targets on
the host (the pods on the node's network reach them on 127.0.0.1, as they reach the Fluvio SPU).

The MQTT -> SQL example DAG (``dags_examples/example_fluvio_mqtt_to_sql.py``) in real Airflow
(``dag.test()`` on SQLite, triggers inline) with both connectors as pods: the MQTT source and the
sql-sink images, the broker and PostgreSQL on the host. And the http-sink image: records to a
receiver on the host, lag 0 as the runtime reports it, then a record the receiver refuses: Failed
with the record's offset and the answer (the readiness probe's events; the pod stays up).

The connections are what a deployment defines, as ``AIRFLOW_CONN_*`` variables: a ``fluvio`` one
(the Fluvio SC, runtime kubernetes, the module's namespace, the images' registry and tag, host
network), ``mqtt_default`` and a ``postgres`` one whose extra sets the schema (libpq's ``options``,
which the sink's URL and Airflow's Postgres hook both honour). The sink's URL, with its password,
goes into the Secret only.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from airflow_runs import xcom
from example_dags import load_example
from http_receiver import Answer, Received, Receiver
from postgres_server import PASSWORD, USER, PostgresServer
from real_pods import REGISTRY, VERSION, pods_of, real_runtime, wait_status, wait_until

from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from airflow_provider_fluvio.waiting import WaitParams, check_connector
from fluvio_connectors.config import load_config
from fluvio_connectors.topics.fluvio import FluvioTopics

if TYPE_CHECKING:
    from conftest import Broker, KubeNamespace
    from fluvio_cluster import FluvioCluster

pytestmark = [pytest.mark.system]

FLUVIO_CONN_ID = "fluvio_pipeline_pods"
SQL_CONN_ID = "readings_pg"
COUNT = 12
DRAINED = WaitParams(target_status="Drained")
GONE_TIMEOUT = 60.0


@pytest.fixture
def schema(postgres: PostgresServer) -> Iterator[str]:
    """A schema of the session's PostgreSQL for this test's table and the sink's offsets table."""
    name = f"pipeline_{uuid.uuid4().hex[:8]}"
    postgres.execute(f"CREATE SCHEMA {name}")
    yield name
    postgres.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def connections(real_namespace: KubeNamespace, fluvio_cluster: FluvioCluster, broker_factory: Callable[..., Broker],
                postgres: PostgresServer, schema: str, monkeypatch: pytest.MonkeyPatch) -> Broker:
    """The three connections of the example, as environment variables of the Airflow components."""
    broker = broker_factory()
    host, port = fluvio_cluster.endpoint.rsplit(":", 1)
    monkeypatch.delenv("KUBECONFIG", raising=False)  # the connection alone says where to go
    monkeypatch.setenv(f"AIRFLOW_CONN_{FLUVIO_CONN_ID.upper()}", json.dumps({
        "conn_type": "fluvio", "host": host, "port": int(port), "extra": {
            "runtime": "kubernetes", "namespace": real_namespace.namespace,
            "kube_config_path": real_namespace.kubeconfig, "image_registry": REGISTRY, "image_tag": VERSION,
            "host_network": True}}))
    monkeypatch.setenv("AIRFLOW_CONN_MQTT_DEFAULT", json.dumps({"conn_type": "mqtt", "host": "127.0.0.1",
                                                                 "port": broker.port}))
    monkeypatch.setenv(f"AIRFLOW_CONN_{SQL_CONN_ID.upper()}", json.dumps({
        "conn_type": "postgres", "host": "127.0.0.1", "port": postgres.port, "login": USER, "password": PASSWORD,
        "schema": "sinks", "extra": {"options": f"-csearch_path={schema}"}}))
    return broker


def test_mqtt_to_postgresql_with_both_connectors_as_pods(
    airflow_db: None, connections: Broker, real_namespace: KubeNamespace, real_node: str,
    fluvio_cluster: FluvioCluster, postgres: PostgresServer, schema: str,
) -> None:
    from kubernetes import client

    dag = load_example("example_fluvio_mqtt_to_sql").dag
    dr = dag.test(run_conf={"count": COUNT, "fluvio_conn_id": FLUVIO_CONN_ID, "sql_conn_id": SQL_CONN_ID})
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dr.get_task_instances()}
    assert str(getattr(dr.state, "value", dr.state)) == "success", states
    assert set(states.values()) == {"success"}, states

    source, sink = (xcom(dag.dag_id, dr.run_id, t) for t in ("create_source", "create_sink"))
    assert (source["runtime"], source["type"], sink["runtime"], sink["type"]) == (
        "kubernetes", "mqtt", "kubernetes", "sql-sink")
    assert sink["config"]["secrets"] == ["SQL_URL"] and PASSWORD not in json.dumps(sink)
    drained = xcom(dag.dag_id, dr.run_id, "wait_drained")
    assert (drained["name"], drained["runtime"], drained["direction"], drained["lag"], drained["position"]) == (
        sink["name"], "kubernetes", "sink", 0, COUNT)

    # The rows are in PostgreSQL, in the connection's schema, with the sink's position beside them.
    rows = postgres.execute(f"SELECT seq, device FROM {schema}.readings WHERE batch = %s ORDER BY seq",
                            (source["name"],))
    assert [seq for seq, _ in rows] == list(range(1, COUNT + 1))
    assert postgres.execute(f"SELECT next_offset, delivered FROM {schema}.fluvio_sink_offsets WHERE connector = %s",
                            (sink["name"],)) == [(COUNT, COUNT)]
    # The topic the source pod wrote, read with Fluvio's own CLI: one record per reading.
    fluvio = fluvio_cluster.cli("consume", source["topic"], "--start", "0", "-d", "--disable-progressbar")
    assert fluvio.returncode == 0, fluvio.stderr
    assert [json.loads(line)["payload"]["seq"] for line in fluvio.stdout.splitlines()] == list(range(1, COUNT + 1))

    # Both ran as pods (the namespace's pods go to the real node); the teardowns removed them, with
    # their ConfigMaps and Secrets.
    core = client.CoreV1Api(real_namespace.api_client)
    deadline = time.monotonic() + GONE_TIMEOUT
    while pods_of(real_namespace, source["name"]) or pods_of(real_namespace, sink["name"]):
        assert time.monotonic() < deadline, "the connectors' pods are still there"
        time.sleep(0.3)
    left = {s.metadata.name for s in core.list_namespaced_secret(real_namespace.namespace).items}
    assert not {f"{source['name']}-secrets", f"{sink['name']}-secrets"} & left


def test_http_sink_pod_delivers_every_record_then_halts_at_a_refused_one(
    real_namespace: KubeNamespace, fluvio_cluster: FluvioCluster
) -> None:
    def plan(number: int, request: Received) -> Answer:
        return Answer(status=422, body=b"no poison here") if b"poison" in request.body else Answer()

    receiver = Receiver(plan).start()
    topic = f"pods-http-{uuid.uuid4().hex[:8]}"
    runtime = real_runtime(real_namespace, endpoint=fluvio_cluster.endpoint, host_network=True)
    try:
        runtime.create(load_config({"version": VERSION, "name": "http-pod", "type": "http-sink", "topic": topic,
                                    "create_topic": True, "parameters": {"endpoint": receiver.url}}, secrets={}))
        wait_status(runtime, "http-pod", ConnectorStatus.RUNNING, forbidden=ConnectorStatus.FAILED)
        with FluvioTopics(fluvio_cluster.endpoint) as topics:
            producer = topics.producer(topic)
            for i in range(10):
                producer.send(None, json.dumps({"n": i}).encode())
            producer.flush()
            wait_until(lambda: runtime.status("http-pod").lag == 0, "the http-sink pod's lag to be 0")
            delivered = [r for r in receiver.snapshot() if r.delivered]
            assert [json.loads(r.body) for r in delivered] == [{"n": i} for i in range(10)]
            assert [r.key for r in delivered] == [f'"{topic}:0:{i}"' for i in range(10)]
            assert check_connector(runtime.status, "http-pod", DRAINED).outcome == "reached"

            producer.send(None, b'{"poison": true}')
            producer.send(None, b'{"n": 11}')
            producer.flush()
            producer.close()
        info = wait_status(runtime, "http-pod", ConnectorStatus.FAILED, forbidden=ConnectorStatus.STOPPED)
        assert info.reason and info.reason.startswith(f"record at offset 10 of topic {topic}: "), info.reason
        assert "422" in info.reason and (info.position, info.lag) == (10, 2), info
        (pod,) = pods_of(real_namespace, "http-pod")  # halted, not crashing: the container runs on
        (container,) = pod.status.container_statuses
        assert container.state.running and container.restart_count == 0 and not container.ready
        check = check_connector(runtime.status, "http-pod", DRAINED._replace(log_tail=3), logs=runtime.logs)
        assert check.outcome == "failed"
        assert check.message.startswith("sink http-pod is Failed (delivered every record before offset 10, lag 2): "
                                        f"record at offset 10 of topic {topic}: "), check.message
        assert not [r for r in receiver.snapshot() if b'"n": 11' in r.body]  # nothing after the refused one
        runtime.delete("http-pod")
    finally:
        receiver.stop()
