"""A test connector killed twice mid-run on a real Fluvio cluster: each greeting is in the topic
exactly once and the status counts them (records are counted, never offsets subtracted).

Runs on the session's real Fluvio cluster (tests/fluvio_cluster.py); skipped with the reason
without one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fluvio_cluster import FluvioCluster
from polling import wait_until

from airflow_provider_fluvio.runtimes import supervisor as sv
from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from airflow_provider_fluvio.runtimes.local import LocalRuntime
from fluvio_connectors.config import load_config
from fluvio_connectors.errors import TopicNotFoundError
from fluvio_connectors.settings import Settings
from fluvio_connectors.topics.fluvio import FluvioTopics

pytestmark = [pytest.mark.system, pytest.mark.fluvio]


@pytest.fixture
def endpoint(fluvio_cluster: FluvioCluster) -> str:
    return fluvio_cluster.endpoint


@pytest.fixture
def runtime(fluvio_home: Path, endpoint: str) -> Iterator[LocalRuntime]:
    rt = LocalRuntime(Settings(home=fluvio_home, fluvio_endpoint=endpoint), backoff_initial=0.05, backoff_max=0.5)
    yield rt
    for info in rt.list():
        rt.delete(info.name)


def test_a_killed_connector_resumes_on_a_fluvio_cluster(runtime: LocalRuntime, endpoint: str) -> None:
    name = f"resume-{uuid.uuid4().hex[:10]}"
    topics = FluvioTopics(endpoint)

    def values() -> list[str]:
        return [r.value_text() for r in topics.read(name)] if topics.topic_exists(name) else []

    try:
        runtime.create(load_config({"name": name, "type": "test-connector", "topic": name, "create_topic": True,
                                    "parameters": {"count": 40, "timeout": "100ms"}}, secrets={}))
        for killed_after in (8, 20):
            wait_until(lambda n=killed_after: len(values()) >= n, 90, f"{killed_after} records")
            state = sv.read_state(runtime.root / name)
            assert state is not None and state.program_pid is not None
            os.kill(state.program_pid, signal.SIGKILL)
            wait_until(lambda p=state.program_pid: (s := sv.read_state(runtime.root / name)) is not None
                       and s.program_pid not in (None, p), 60, "the restart")
        wait_until(lambda: runtime.status(name).status == ConnectorStatus.STOPPED, 120, "Stopped")
        assert values() == [f"Hello, Fluvio! - {i}" for i in range(1, 41)]
        assert runtime.status(name).records == 40
    finally:
        runtime.delete(name)
        with contextlib.suppress(TopicNotFoundError):
            topics.delete_topic(name)
        topics.close()
