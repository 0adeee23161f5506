"""Records that start DAG runs with the topic on a real Fluvio cluster: the same example DAG in a
real Airflow whose processes get ``FLUVIO_ENDPOINT`` (its own deployment, started for this module).

The watcher in the triggerer reads the cluster through the client helper and commits the cluster's
consumer offsets of ``example-orders-events`` only after Airflow stored the events. The topic and
the consumer are the example's fixed names on the session's cluster: the consumer is deleted first
so the watcher starts afresh. Offsets are taken from the records read back, never computed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_api import AirflowApi
from airflow_cluster import AirflowCluster, wait_for
from e2e_events import asset, asset_events, deployment_log, record_payloads, wait_processed
from fluvio_cluster import FluvioCluster

from airflow_provider_fluvio.assets.fluvio import fluvio_topic_asset
from fluvio_connectors.errors import ConsumerNotFoundError
from fluvio_connectors.topics.fluvio import FluvioTopics

pytestmark = [pytest.mark.e2e, pytest.mark.fluvio]

ROOT = Path(__file__).resolve().parents[2]
EVENTS_DAG = "example_fluvio_orders_events"
TOPIC = "example-orders"
CONSUMER = "example-orders-events"


@pytest.fixture(scope="module")
def fluvio_airflow(
    tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path, fluvio_cluster: FluvioCluster
) -> Iterator[AirflowCluster]:
    """A running Airflow on the example DAGs whose topics are on the session's Fluvio cluster."""
    with FluvioTopics(fluvio_cluster.endpoint) as topics:
        topics.create_topic(TOPIC)
        with contextlib.suppress(ConsumerNotFoundError):
            topics.delete_consumer(CONSUMER, TOPIC)
    root = tmp_path_factory.mktemp("e2e-airflow-fluvio")
    cluster = AirflowCluster(
        root=root,
        dags_folder=ROOT / "dags_examples",
        fluvio_home=root / "fluvio-home",
        extra_env={"AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True", "FLUVIO_ENDPOINT": fluvio_cluster.endpoint},
    )
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        logs = artifacts_dir / "logs-fluvio"
        shutil.copytree(cluster.logs_dir, logs, dirs_exist_ok=True)
        print(f"\nAirflow component logs (Fluvio deployment): {logs}")


@pytest.fixture(scope="module")
def fluvio_api(fluvio_airflow: AirflowCluster) -> Iterator[AirflowApi]:
    with fluvio_airflow.client() as client:
        yield AirflowApi(client)


def test_on_a_fluvio_cluster_each_record_becomes_one_asset_event_and_is_processed_once(
    fluvio_airflow: AirflowCluster, fluvio_api: AirflowApi, fluvio_cluster: FluvioCluster
) -> None:
    api = fluvio_api
    uri = fluvio_topic_asset(TOPIC, endpoint=fluvio_cluster.endpoint).uri
    api.wait_for_dag(EVENTS_DAG)
    api.unpause(EVENTS_DAG)

    def started() -> bool:
        with deployment_log(fluvio_airflow) as topics:
            return topics.consumer_position(CONSUMER, TOPIC) is not None

    wait_for(f"the watcher of {EVENTS_DAG} to start in the triggerer", started, timeout=180, interval=1)
    orders = asset(api, uri)
    assert orders is not None, f"no asset {uri}"

    tag = secrets.token_hex(4)
    values = [json.dumps({"order": i, "test": tag}).encode() for i in range(10)]
    with deployment_log(fluvio_airflow) as topics:
        start = topics.end_offset(TOPIC)
        with topics.producer(TOPIC) as producer:
            producer.send_many([(None, value) for value in values])
        written = [r for r in topics.read(TOPIC, start) if r.value in values]
    assert [r.value for r in written] == values
    offsets = [r.offset for r in written]

    def complete() -> list[dict[str, Any]] | None:
        payloads = record_payloads(asset_events(api, orders["id"]), offsets)  # type: ignore[arg-type]
        return payloads if {p["offset"] for p in payloads} == set(offsets) else None

    payloads = wait_for(f"asset events for offsets {offsets}", complete, timeout=180, interval=1)
    assert len(payloads) == len(values), "a record made more than one asset event"
    by_offset = {p["offset"]: p for p in payloads}
    for record in written:
        payload = by_offset[record.offset]
        assert (payload["topic"], payload["partition"], payload["key"]) == (TOPIC, 0, None)
        assert (payload["value"], payload["value_encoding"]) == (record.value.decode(), "utf-8")

    results = wait_processed(
        api, EVENTS_DAG, "process_orders", lambda done: {r["offset"] for r in done} >= set(offsets), timeout=240,
    )
    mine = [r for r in results if r["offset"] in offsets]
    assert sorted(r["offset"] for r in mine) == offsets, "a record was processed twice"
    for result in mine:
        assert result["sha256"] == hashlib.sha256(values[offsets.index(result["offset"])]).hexdigest()
    with deployment_log(fluvio_airflow) as topics:  # the cluster's consumer offset went past them
        assert (topics.consumer_position(CONSUMER, TOPIC) or 0) > offsets[-1]
