"""FluvioConnectorStatusTrigger: serializes to primitives and back, ends with one event
(success, error, timeout at its own deadline), and never blocks the event loop."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_fluvio.hooks.fluvio import FluvioHook
from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from airflow_provider_fluvio.triggers.connector import FluvioConnectorStatusTrigger

PENDING, RUNNING, FAILED = ConnectorStatus.PENDING, ConnectorStatus.RUNNING, ConnectorStatus.FAILED


def make(deadline_in: float = 30.0, **kwargs: Any) -> FluvioConnectorStatusTrigger:
    args: dict[str, Any] = {
        "connector_name": "hook-test",
        "poll_interval": 0.01,
        "deadline": time.time() + deadline_in,
    }
    args.update(kwargs)
    return FluvioConnectorStatusTrigger(**args)


async def first_event(trigger: FluvioConnectorStatusTrigger, limit: float = 20.0) -> dict[str, Any]:
    event = await asyncio.wait_for(trigger.run().__anext__(), limit)
    assert isinstance(event, TriggerEvent)
    return dict(event.payload)


def test_serialize_round_trip() -> None:
    trigger = FluvioConnectorStatusTrigger(
        connector_name="c1",
        target_status="Stopped",
        fluvio_conn_id="fluvio_prod",
        hook_params={"runtime": "kubernetes", "namespace": "ns"},
        poll_interval=7,
        deadline=1_900_000_000.5,
        fail_on_failed=False,
        fail_on_missing=False,
        log_tail=5,
        pending_timeout=90,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_fluvio.triggers.connector.FluvioConnectorStatusTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs  # primitives only
    assert kwargs == {
        "connector_name": "c1",
        "target_status": "Stopped",
        "fluvio_conn_id": "fluvio_prod",
        "hook_params": {"runtime": "kubernetes", "namespace": "ns"},
        "poll_interval": 7.0,
        "deadline": 1_900_000_000.5,
        "fail_on_failed": False,
        "fail_on_missing": False,
        "log_tail": 5,
        "pending_timeout": 90.0,
    }
    from airflow.sdk._shared.module_loading import import_string

    rebuilt = import_string(classpath)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


async def test_success_after_pending(scripted_runtime: Any, seed_config: dict[str, Any]) -> None:
    runtime = scripted_runtime(statuses=[PENDING, PENDING, RUNNING])
    FluvioHook().create_connector(seed_config)
    event = await first_event(make())
    assert (event["status"], event["polls"], event["info"]["status"]) == ("success", 3, "Running")
    assert runtime.looks == 3


async def test_failed_connector_is_an_error_with_its_reason(
    scripted_runtime: Any, seed_config: dict[str, Any]
) -> None:
    scripted_runtime(
        statuses=[PENDING, FAILED], reason="crash loop: topic hook-topic does not exist", log=["boom"]
    )
    FluvioHook().create_connector(seed_config)
    event = await first_event(make())
    assert event["status"] == "error"
    assert event["message"] == (
        "connector hook-test is Failed: crash loop: topic hook-topic does not exist\n"
        "the last log line of hook-test:\n  boom"
    )
    assert "retryable" not in event


async def test_own_deadline_ends_the_wait(scripted_runtime: Any, seed_config: dict[str, Any]) -> None:
    scripted_runtime(statuses=[PENDING])
    FluvioHook().create_connector(seed_config)
    # The deadline, not the poll interval (far beyond first_event's limit), bounds the sleep.
    event = await first_event(make(deadline_in=0.3, poll_interval=3600), limit=60)
    assert event["status"] == "timeout"
    assert event["message"] == "connector hook-test is Pending; waiting for Running"


async def test_missing_connector_with_real_runtime(set_connection: Any, tmp_path: Path) -> None:
    set_connection("fluvio_default", conn_type="fluvio", extra={"state_dir": str(tmp_path)})
    event = await first_event(make())
    assert event["status"] == "error"
    assert event["message"] == "connector hook-test not found; it was never created or has been deleted"
    waiting = await first_event(make(deadline_in=0.2, fail_on_missing=False))
    assert waiting["status"] == "timeout"


async def test_unknown_connection_is_a_retryable_error() -> None:
    event = await first_event(make(fluvio_conn_id="no_such_conn"))
    assert event["status"] == "error" and event["retryable"] is True
    assert "no_such_conn" in event["message"]


async def test_status_calls_do_not_block_the_event_loop(
    scripted_runtime: Any, seed_config: dict[str, Any], monkeypatch: Any
) -> None:
    runtime = scripted_runtime(statuses=[PENDING, RUNNING])
    FluvioHook().create_connector(seed_config)
    slow_status = runtime.status
    loop_ran = threading.Event()

    def blocking_status(name: str) -> Any:
        # A slow Kubernetes API call, say: it returns only once the event loop has run meanwhile,
        # which it never could if the call were made on the loop.
        if not loop_ran.wait(30):
            raise RuntimeError("the event loop did not run while a status call was in progress")
        return slow_status(name)

    monkeypatch.setattr(runtime, "status", blocking_status)

    async def ticker() -> None:
        for _ in range(5):
            await asyncio.sleep(0.01)
        loop_ran.set()

    ticking = asyncio.create_task(ticker())
    try:
        event = await first_event(make(), limit=60)
    finally:
        ticking.cancel()
    assert event["status"] == "success", event
