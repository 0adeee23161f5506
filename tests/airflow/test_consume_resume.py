"""FluvioConsumeOperator(consumer=...) in real DAG runs (dag.test on SQLite; the embedded log, and a
real Fluvio cluster where the test takes ``topics_backend``): successive runs get the next records,
a failure before the commit repeats them on the retry."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_fluvio.hooks.fluvio import FluvioHook
from airflow_provider_fluvio.operators.connector import FluvioConsumeOperator
from fluvio_connectors.errors import BackendError


def consume_dag(dag_id: str, topic: str = "daily", **operator_kwargs: Any) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
        FluvioConsumeOperator(task_id="next_records", topic=topic, consumer="daily-report", **operator_kwargs)
    return dag


def test_each_run_gets_the_next_records_exactly_once(
    run_dag: Any, topics_backend: str, topic_name: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    daily = topic_name("daily")
    hook = FluvioHook()
    hook.produce(daily, [f"r{i}" for i in range(7)], create_topic=True)
    dag = consume_dag("fluvio_test_resume_count", daily, count=3, timeout=5)
    with counting_backends(monkeypatch) as (opened, started):
        first = run_dag(dag)
    # The consumer's position, the first commit, the reads and the last commit share one backend:
    # on a Fluvio cluster, one client process for the task.
    assert (len(opened), len(started)) == (1, 1 if topics_backend == "fluvio" else 0)
    second = run_dag(dag, register=False)
    assert first.xcom("next_records") == ["r0", "r1", "r2"]
    assert second.xcom("next_records") == ["r3", "r4", "r5"]
    sixth = hook.consumer_position(daily, "daily-report")
    with hook.topics() as topics:
        assert sixth is not None and [r.value for r in topics.read(daily, sixth)] == [b"r6"]

    third = run_dag(dag, register=False)  # only one record left: the run fails and commits nothing
    assert third.task_states["next_records"] == "failed"
    assert hook.consumer_position(daily, "daily-report") == sixth
    hook.produce(daily, ["r7", "r8"])
    assert run_dag(dag, register=False).xcom("next_records") == ["r6", "r7", "r8"]


@contextlib.contextmanager
def counting_backends(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[list[str], list[str | None]]]:
    """Note each topics backend opened and each Fluvio client process started inside."""
    from fluvio_connectors import topics as topics_module
    from fluvio_connectors.topics.fluvio_client.process import HelperProcess

    opened: list[str] = []
    started: list[str | None] = []
    real_open, real_start = topics_module.open_topics, HelperProcess.start.__func__  # type: ignore[attr-defined]
    with monkeypatch.context() as patch:
        patch.setattr(topics_module, "open_topics", lambda *a, **k: opened.append("open") or real_open(*a, **k))
        patch.setattr(HelperProcess, "start",
                      classmethod(lambda cls, endpoint: started.append(endpoint) or real_start(cls, endpoint)))
        yield opened, started


def test_without_count_a_run_takes_what_is_there_and_a_new_consumer_starts_at_offset(run_dag: Any) -> None:
    hook = FluvioHook()
    hook.produce("daily", ["a", "b", "c"], create_topic=True)
    dag = consume_dag("fluvio_test_resume_all", offset=1, output_format="records")
    assert [r["value"] for r in run_dag(dag).xcom("next_records")] == ["b", "c"]
    assert run_dag(dag, register=False).xcom("next_records") == []
    assert hook.consumer_position("daily", "daily-report") == 3


def test_a_retry_after_a_failed_commit_reads_the_same_records(run_dag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = FluvioHook()
    hook.produce("daily", ["r0", "r1", "r2", "r3"], create_topic=True)
    real_commit = FluvioHook.commit_consumer
    commits: list[int] = []

    def commit_failing_once(self: FluvioHook, topic: str, consumer: str, position: int) -> None:
        commits.append(position)
        if position > 0 and len([p for p in commits if p > 0]) == 1:
            raise BackendError("the topic log is unavailable (injected)")
        real_commit(self, topic, consumer, position)

    monkeypatch.setattr(FluvioHook, "commit_consumer", commit_failing_once)
    dag = consume_dag("fluvio_test_resume_retry", count=2, timeout=5, retries=1, retry_delay=timedelta(0))
    result = run_dag(dag)
    assert result.task_states["next_records"] == "success"
    assert result.xcom("next_records") == ["r0", "r1"]  # the retry read them again
    assert commits == [0, 2, 2]  # the start, the failed commit, the retry's commit
    assert hook.consumer_position("daily", "daily-report") == 2


def test_a_bad_consumer_name_fails_the_task_in_one_line(run_dag: Any, failures: Any) -> None:
    record, seen = failures
    FluvioHook().produce("daily", ["a"], create_topic=True)
    with DAG("fluvio_test_resume_bad", schedule=None, start_date=datetime(2024, 1, 1), default_args={"on_failure_callback": record}) as dag:
        FluvioConsumeOperator(task_id="next_records", topic="daily", consumer="no good")
    assert run_dag(dag).task_states["next_records"] == "failed"
    assert str(seen["next_records"]).startswith("'no good' is not a valid consumer name")
