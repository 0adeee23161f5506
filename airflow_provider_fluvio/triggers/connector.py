"""``FluvioConnectorStatusTrigger``: waits in the triggerer until a connector reaches a status.

It only waits; deciding what a result means is the sensor's job. Every status look-up runs in a
worker thread (the runtime reads files or calls the Kubernetes API), so the triggerer's event loop
never blocks. The trigger ends itself at its own deadline (``dag.test()`` does not enforce the
deferral timeout), with one event: ``{"status": "success" | "error" | "timeout", "message", ...}``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_fluvio.waiting import WaitParams


class FluvioConnectorStatusTrigger(BaseTrigger):
    """Poll a connector's status until it is ``target_status``, it fails, or ``deadline`` passes.

    :param connector_name: The connector to watch.
    :param target_status: ``Running`` (also met by ``Stopped``: it ran and finished), ``Stopped``, ...,
        or ``Drained`` (a sink Running with lag 0; each poll logs its records delivered and lag).
    :param fluvio_conn_id: The ``fluvio`` connection.
    :param hook_params: Explicit ``FluvioHook`` arguments (primitives), as the sensor got them.
    :param poll_interval: Seconds between looks.
    :param deadline: Wall-clock time (seconds since the epoch) after which the trigger yields
        ``timeout``; absolute, so a triggerer restart does not extend the wait.
    :param fail_on_failed: A ``Failed`` connector ends the wait with ``error``.
    :param fail_on_missing: A missing connector ends the wait with ``error``.
    :param log_tail: Log lines of a failed connector to include in the message.
    :param pending_timeout: A connector Pending without a break for this many seconds ends the wait
        with ``error`` (None: no such limit).
    """

    def __init__(
        self,
        connector_name: str,
        target_status: str = "Running",
        fluvio_conn_id: str | None = "fluvio_default",
        hook_params: dict[str, Any] | None = None,
        poll_interval: float = 5.0,
        deadline: float | None = None,
        fail_on_failed: bool = True,
        fail_on_missing: bool = True,
        log_tail: int = 20,
        pending_timeout: float | None = None,
    ) -> None:
        super().__init__()
        self.connector_name = connector_name
        self.fluvio_conn_id = fluvio_conn_id
        self.hook_params = dict(hook_params or {})
        self.poll_interval = float(poll_interval)
        self.deadline = float(deadline) if deadline is not None else time.time() + 7 * 24 * 3600
        # What it waits for, as the sensor gave it (waiting.py judges each look with it).
        self.wait = WaitParams(target_status, fail_on_failed, fail_on_missing, log_tail,
                               None if pending_timeout is None else float(pending_timeout))

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "connector_name": self.connector_name,
                "fluvio_conn_id": self.fluvio_conn_id,
                "hook_params": dict(self.hook_params),
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                **self.wait._asdict(),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_fluvio.hooks.fluvio import FluvioHook
        from fluvio_connectors.errors import ConfigError
        from fluvio_connectors.names import check_connector_name

        name = self.connector_name
        try:
            check_connector_name(name)
        except ConfigError as exc:  # never a path, nor an API call, for a name that cannot exist
            yield _event("error", name, str(exc))
            return
        try:
            hook = FluvioHook(self.fluvio_conn_id, **self.hook_params)
            await hook.aload_connection()
        except Exception as exc:
            yield _event("error", name, str(exc), retryable=True)
            return
        from airflow_provider_fluvio.progress import ProgressLog

        progress = ProgressLog()
        polls = 0
        while True:
            polls += 1
            try:
                check = await asyncio.to_thread(hook.check_connector, name, **self.wait._asdict())
            except Exception as exc:
                # The backend could not be asked (unlike a Failed connector, a retry may help).
                yield _event("error", name, str(exc), polls=polls, retryable=True)
                return
            if check.outcome in ("reached", "failed"):
                status = "success" if check.outcome == "reached" else "error"
                yield _event(status, name, check.message, polls=polls, info=check.xcom())
                return
            remaining = self.deadline - time.time()
            if remaining <= 0:
                yield _event("timeout", name, check.message, polls=polls)
                return
            line = progress.line(check)  # on a change, else at most every 30 s
            if line:
                self.log.info("%s (poll %d)", line, polls)
            await asyncio.sleep(min(self.poll_interval, remaining))


def _event(status: str, connector: str, message: str, **extra: Any) -> TriggerEvent:
    """The one event a run yields: ``{"status": success|error|timeout, "connector", "message", ...}``."""
    return TriggerEvent({"status": status, "connector": connector, "message": message, **extra})
