"""Run a connector on Kubernetes: create a test-connector, wait until its pod is Running, read the
records it wrote to Fluvio, delete it.

create_connector   configs/kubernetes_test_connector.yaml rendered for this run (unique name and
                   topic, image tag ``connector_version``); its secret goes into a Kubernetes Secret
wait_running       the connector's pod is Running (ready)
read_records       the ``count`` records the pod wrote to its topic in the Fluvio cluster
check_records      exactly "Hello, Fluvio! - 1" .. "Hello, Fluvio! - N", in order
delete_connector   a teardown: runs even when a task above failed; Kubernetes' garbage collector
                   removes the connector's ConfigMap and Secret with its Deployment

Every task uses the ``fluvio`` connection named by the ``fluvio_conn_id`` param (default
``fluvio_kubernetes``). Define it before triggering, with:

* ``runtime``: ``kubernetes``;
* ``namespace``: where the connector Deployments go (it must exist);
* where the cluster config comes from, one of ``kube_config_path`` (a kubeconfig file on the
  worker), ``kube_config`` (the kubeconfig itself) or ``in_cluster`` (the worker runs in a pod
  whose service account may manage Deployments, ConfigMaps and Secrets there and read pods);
* ``image_registry``: the registry holding the ``fluvio-connector-test-connector`` image (tagged
  ``connector_version``), e.g. ``ghcr.io/acme``;
* host and port: the Fluvio SC. Topics must live in a Fluvio cluster the connector pods reach, so
  this address must work from the worker (which creates the topic and reads the records) and from
  the pods (which produce to it). Without a host, topics go to the worker's embedded log, which no
  pod can write to;
* ``host_network`` (optional): ``true`` runs the pods on their node's network, where the Fluvio
  cluster is reachable only there (e.g. a local cluster whose SPU advertises ``localhost``).

For example, as an environment variable of every Airflow component::

    AIRFLOW_CONN_FLUVIO_KUBERNETES='{"conn_type": "fluvio", "host": "fluvio-sc-public.fluvio.svc",
      "port": 9003, "extra": {"runtime": "kubernetes", "namespace": "connectors",
      "in_cluster": true, "image_registry": "ghcr.io/acme"}}'

The connector's ``API_TOKEN`` secret (the test-connector ignores it; it shows where a secret goes)
comes from the Airflow Variable ``fluvio_example_api_token``; it is masked in task logs and kept
out of the ConfigMap and XCom.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_fluvio.operators.connector import (
    FluvioConsumeOperator,
    FluvioCreateConnectorOperator,
    FluvioDeleteConnectorOperator,
    dns_label,
)
from airflow_provider_fluvio.sensors.connector import FluvioConnectorSensor

# The same expression as the name in configs/kubernetes_test_connector.yaml: one connector per run.
CONNECTOR = '{{ ("example-k8s-" ~ run_id) | dns_label }}'
FLUVIO_CONN_ID = "{{ params.fluvio_conn_id }}"

with DAG(
    dag_id="example_fluvio_kubernetes",
    description="Run a test-connector as a Kubernetes Deployment, wait until it is Running, delete it.",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={
        "fluvio_conn_id": Param(
            "fluvio_kubernetes", type="string", minLength=1, description="The fluvio connection (runtime kubernetes)."
        ),
        "connector_version": Param(
            "0.1.0", type="string", minLength=1, description="Tag of the connector image to run."
        ),
        "count": Param(10, type="integer", minimum=1, maximum=100_000, description="Records to produce."),
    },
    user_defined_filters={"dns_label": dns_label},
    tags=["example", "fluvio", "kubernetes"],
) as dag:
    create_connector = FluvioCreateConnectorOperator(
        task_id="create_connector",
        config="configs/kubernetes_test_connector.yaml",  # relative to this file's folder
        secrets={"API_TOKEN": "{{ var.value.get('fluvio_example_api_token', 'not-a-real-token') }}"},
        fluvio_conn_id=FLUVIO_CONN_ID,
    )

    wait_running = FluvioConnectorSensor(
        task_id="wait_running",
        connector_name=CONNECTOR,
        fluvio_conn_id=FLUVIO_CONN_ID,
        poke_interval=5,  # pulling an image and starting a pod takes seconds to minutes
        pending_timeout=300,  # below timeout: a pod that never gets ready fails the wait with its reason
        timeout=600,
    )

    read_records = FluvioConsumeOperator(
        task_id="read_records",
        topic=CONNECTOR,
        count="{{ params.count }}",
        timeout=120,  # one record a second (the config's timeout)
        fluvio_conn_id=FLUVIO_CONN_ID,
    )

    @task
    def check_records(values: list[str], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Every record, in order, exactly as the test-connector in the pod wrote them."""
        count = int((params or {})["count"])
        expected = [f"Hello, Fluvio! - {i}" for i in range(1, count + 1)]
        if values != expected:
            raise ValueError(f"expected {count} records 'Hello, Fluvio! - 1..{count}', got {values[:5]}...")
        return {"records": len(values), "first": values[0], "last": values[-1]}

    delete_connector = FluvioDeleteConnectorOperator(
        task_id="delete_connector",
        connector_name=CONNECTOR,
        fluvio_conn_id=FLUVIO_CONN_ID,
        ignore_missing=True,  # nothing to delete if create_connector failed
    )

    checked = check_records(read_records.output)
    create_connector >> wait_running >> read_records
    checked >> delete_connector.as_teardown(setups=create_connector)


if __name__ == "__main__":
    dag.test()
