"""What the event tests read from a running Airflow: the topic's asset, its record events, the runs
of the DAG scheduled on it and what they processed; and the deployment's topics themselves (its
embedded log, or the Fluvio cluster its ``FLUVIO_ENDPOINT`` names)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from airflow_api import AirflowApi
from airflow_cluster import AirflowCluster

from fluvio_connectors.topics import Topics
from fluvio_connectors.topics.embedded import EmbeddedTopics
from fluvio_connectors.topics.fluvio import FluvioTopics


@contextmanager
def deployment_log(airflow: AirflowCluster) -> Iterator[Topics]:
    """The topics every process of the deployment uses: the Fluvio cluster of its
    ``FLUVIO_ENDPOINT``, else its embedded log."""
    endpoint = airflow.extra_env.get("FLUVIO_ENDPOINT")
    topics: Topics = FluvioTopics(endpoint) if endpoint else EmbeddedTopics(airflow.fluvio_home / "topics.db")
    try:
        yield topics
    finally:
        topics.close()


def asset(api: AirflowApi, uri: str) -> dict[str, Any] | None:
    """The asset with exactly this URI, as the REST API shows it (None before it exists)."""
    found = [a for a in api.get("/assets", uri_pattern=uri, limit=100)["assets"] if a["uri"] == uri]
    return found[0] if found else None


def asset_events(api: AirflowApi, asset_id: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Every event of the asset, oldest first.

    Airflow 3.3.2's ``/assets/events`` answers 500 while a run an event created is still queued
    (its ``start_date`` is null and the response model refuses that); such a page is asked again
    until the run has started, within ``timeout``."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        params = {"asset_id": asset_id, "limit": 100, "offset": len(events), "order_by": "timestamp"}
        response = api.client.get("/assets/events", params=params)
        if response.status_code == 500 and time.monotonic() < deadline:
            time.sleep(0.5)  # polling interval while the run starts
            continue
        assert response.status_code == 200, f"GET /assets/events -> {response.status_code}: {response.text[:300]}"
        page = response.json()["asset_events"]
        events += page
        if len(page) < 100:
            return events


def record_payloads(events: list[dict[str, Any]], offsets: range) -> list[dict[str, Any]]:
    """The record payloads (events from the watcher) whose offset is in ``offsets``, in event order."""
    payloads = []
    for event in events:
        extra = event.get("extra") or {}
        payload = extra.get("payload")
        if extra.get("from_trigger") and isinstance(payload, dict) and payload.get("offset") in offsets:
            payloads.append(payload)
    return payloads


def processed(api: AirflowApi, dag_id: str, task_id: str) -> list[dict[str, Any]]:
    """What ``task_id`` returned in every successful run of ``dag_id``, concatenated in run order."""
    runs = api.get(f"/dags/{dag_id}/dagRuns", limit=1000, order_by="id")["dag_runs"]
    done: list[dict[str, Any]] = []
    for run in runs:
        if run["state"] == "success":
            done += api.xcom(dag_id, run["dag_run_id"], task_id) or []
    return done


def unfinished_runs(api: AirflowApi, dag_id: str) -> int:
    runs = api.get(f"/dags/{dag_id}/dagRuns", limit=1000)["dag_runs"]
    return len([r for r in runs if r["state"] not in ("success", "failed")])


def wait_processed(
    api: AirflowApi,
    dag_id: str,
    task_id: str,
    complete: Callable[[list[dict[str, Any]]], bool],
    timeout: float,
) -> list[dict[str, Any]]:
    """Wait until what ``dag_id`` processed satisfies ``complete`` and no run is left. Nothing is
    written to help it along: the example DAGs' ``requeue_leftovers`` must get every queued event
    processed on Airflow 3.3.2 (apache/airflow#56050)."""
    deadline = time.monotonic() + timeout
    while True:
        results = processed(api, dag_id, task_id)
        if unfinished_runs(api, dag_id) == 0 and complete(results):
            return results
        if time.monotonic() > deadline:
            done = sorted(r.get("offset", -1) for r in results)
            raise AssertionError(f"timed out after {timeout:g} s waiting for {dag_id} to process the records; "
                                 f"processed offsets: {done}")
        time.sleep(0.5)  # polling interval


def consumed_offsets(api: AirflowApi, dag_id: str) -> list[int]:
    """The record offsets of the asset events every run of ``dag_id`` consumed (a run's
    ``triggering_asset_events``), all runs together."""
    offsets: list[int] = []
    for run in api.get(f"/dags/{dag_id}/dagRuns", limit=1000, order_by="id")["dag_runs"]:
        events = api.get(f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents")["asset_events"]
        offsets += [e["extra"]["payload"]["offset"] for e in events if (e.get("extra") or {}).get("payload")]
    return offsets
