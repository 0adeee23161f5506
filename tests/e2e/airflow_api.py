"""The few calls of Airflow's public REST API (``/api/v2``) the end-to-end tests make, with bounded waits."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from airflow_cluster import wait_for

FINISHED_RUN_STATES = frozenset({"success", "failed"})


@dataclass
class RunResult:
    """A finished DAG run: its state, how long it took, and what polling saw of its tasks on the way:
    their states, and for deferred ones the trigger's class and whether a triggerer had claimed it."""

    run_id: str
    state: str
    seconds: float
    seen_states: dict[str, list[str]] = field(default_factory=dict)
    seen_triggers: dict[str, set[str]] = field(default_factory=dict)
    claimed_by_triggerer: set[str] = field(default_factory=set)


class AirflowApi:
    """A thin client for ``/api/v2`` that carries the admin's token."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` and return its JSON; any non-2xx status is an error naming the path."""
        response = self.client.get(path, params=params or None)
        if response.status_code >= 300:
            raise AssertionError(f"GET {path} -> {response.status_code}: {response.text[:500]}")
        return response.json()

    def wait_for_dag(self, dag_id: str, timeout: float = 60) -> dict[str, Any]:
        """Wait until the dag-processor has parsed ``dag_id`` (it shows up in the API) and return it."""
        import_errors: list[str] = []

        def parsed() -> dict[str, Any] | None:
            response = self.client.get(f"/dags/{dag_id}")
            if response.status_code == 200:
                return dict(response.json())
            errors = self.client.get("/importErrors").json().get("import_errors", [])
            import_errors[:] = [f"{e['filename']}: {e['stack_trace'][-800:]}" for e in errors]
            return None

        try:
            return wait_for(f"DAG {dag_id} to be parsed", parsed, timeout)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; import errors: {import_errors or 'none'}") from exc

    @contextlib.contextmanager
    def connection(self, **fields: Any) -> Iterator[None]:
        """An Airflow connection defined for the block, as an admin does in the UI, and removed after.

        The metadata DB here is SQLite: a write may answer 500 after its 5 s busy timeout while the
        scheduler writes, so both are retried then (a connection left behind made the next test's
        POST a 409)."""
        conn_id = fields["connection_id"]
        answers: list[httpx.Response] = []

        def defined() -> bool:
            answers.append(self.client.post("/connections", json=fields))
            return answers[-1].status_code < 500  # 500: busy, nothing written

        wait_for(f"connection {conn_id} to be defined", defined, timeout=60)
        assert answers[-1].status_code == 201, f"defining {conn_id}: {answers[-1].status_code} {answers[-1].text}"
        try:
            yield
        finally:
            self.remove_connection(conn_id)

    def remove_connection(self, conn_id: str) -> None:
        """Delete the connection ``conn_id``, again while the metadata DB answers 500 (busy)."""
        wait_for(f"connection {conn_id} to be removed",
                 lambda: self.client.delete(f"/connections/{conn_id}").status_code in (204, 404), timeout=60)

    def unpause(self, dag_id: str) -> None:
        """Unpause ``dag_id`` (new DAGs start paused)."""
        response = self.client.patch(f"/dags/{dag_id}", json={"is_paused": False})
        assert response.status_code == 200, response.text
        assert response.json()["is_paused"] is False

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Trigger a run of ``dag_id`` now with ``conf`` (DAG params) and return its run id."""
        body = {"logical_date": None, "conf": conf or {}}
        response = self.client.post(f"/dags/{dag_id}/dagRuns", json=body)
        assert response.status_code == 200, f"triggering {dag_id}: {response.status_code} {response.text}"
        return str(response.json()["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> RunResult:
        """Poll the run until it is finished; record every task state seen on the way."""
        start = time.monotonic()
        seen: dict[str, list[str]] = {}
        triggers: dict[str, set[str]] = {}
        claimed: set[str] = set()

        def finished() -> str | None:
            instances = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
            for ti in instances:
                states = seen.setdefault(ti["task_id"], [])
                if ti["state"] and (not states or states[-1] != ti["state"]):
                    states.append(ti["state"])
                if ti.get("trigger"):
                    triggers.setdefault(ti["task_id"], set()).add(ti["trigger"]["classpath"])
                    if ti["trigger"].get("triggerer_id") is not None:
                        claimed.add(ti["task_id"])
            state = self.get(f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            return state if state in FINISHED_RUN_STATES else None

        state = wait_for(f"run {run_id} of {dag_id} to finish", finished, timeout, interval=0.3)
        return RunResult(
            run_id=run_id,
            state=state,
            seconds=time.monotonic() - start,
            seen_states=seen,
            seen_triggers=triggers,
            claimed_by_triggerer=claimed,
        )

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """The run's task instances by task id."""
        instances = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti for ti in instances}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[dict[str, Any]]:
        """The structured log of one task try (the worker's part and, for a deferred task, the trigger's)."""
        body = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}")
        return list(body["content"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """The deserialized XCom value a task pushed."""
        body = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}", deserialize="true")
        return body["value"]


def log_text(events: list[dict[str, Any]]) -> str:
    """A task log as plain lines ``logger | event``, for assertions and failure messages."""
    lines = []
    for event in events:
        extra = f" {event['error_detail']}" if event.get("error_detail") else ""
        lines.append(f"{event.get('logger') or '-'} | {event.get('event')}{extra}")
    return "\n".join(lines)
