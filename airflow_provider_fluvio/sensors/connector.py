"""``FluvioConnectorSensor``: wait until a connector is Running (or another status), or a sink is drained.

Works in ``poke``, ``reschedule`` and deferrable mode. A connector that is ``Failed`` (or does not
exist) fails the task at once, with the reason and the last lines of the connector's log, instead of
waiting for the timeout. So does a connector that has been ``Pending`` without a break for
``pending_timeout`` (10 minutes by default: one that can never reach its source keeps retrying
forever, and the sensor's own ``timeout`` is seven days by default). Those failures are
``AirflowFailException`` (a retry of the sensor would see the same), so ``soft_fail=True`` turns
them, like a timeout, into a skip.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_fluvio import DEFAULT_CONN_ID
from airflow_provider_fluvio.pending import DEFAULT_PENDING_TIMEOUT, pending_seconds
from airflow_provider_fluvio.statuses import normalize_status
from airflow_provider_fluvio.ui.links import FluvioConnectorLink
from airflow_provider_fluvio.waiting import StatusCheck, WaitParams
from fluvio_connectors.errors import ConfigError, FluvioConnectorError
from fluvio_connectors.messages import one_line

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_fluvio.hooks.fluvio import FluvioHook
    from airflow_provider_fluvio.progress import ProgressLog


class FluvioConnectorSensor(BaseSensorOperator):
    """Wait until the connector ``connector_name`` has status ``target_status``.

    ``Running`` is also met by ``Stopped``: a finite connector (a test-connector with ``count``)
    that already finished did run. ``Drained`` waits until a sink is Running with lag 0: its target
    (a table, an HTTP endpoint) holds every record its topic held at that look; each look logs how
    far it is (records delivered, lag), a Failed sink fails the task at once with its reason, and
    a source fails it (only sinks have a lag). Returns the connector's status (name, type, topic,
    status, reason, restarts, records; a sink's direction, position and lag) to XCom.

    :param connector_name: The connector to wait for (templated).
    :param target_status: ``Running`` (default), ``Stopped``, ``Pending``, ``Failed``, or
        ``Drained`` for a sink (templated).
    :param fluvio_conn_id: The ``fluvio`` connection (templated); default ``fluvio_default``.
    :param fail_on_failed: Fail at once when the connector is ``Failed`` (default True).
    :param fail_on_missing: Fail at once when there is no such connector (default True); with
        False, wait for it to be created.
    :param log_tail: How many of the connector's last log lines a failure message shows.
    :param pending_timeout: Fail (with the pending reason and the last log lines) once the connector
        has been ``Pending`` for this long without a break, as its runtime reports it: seconds or a
        ``timedelta``; default 600 (10 minutes); None waits as long as ``timeout``. The connector
        itself keeps retrying (a source that is briefly down comes back); only the wait ends.
    :param hook_params: Extra ``FluvioHook`` arguments (they beat the connection's fields).
    :param deferrable: Wait in the triggerer instead of a worker slot; ``poke_interval`` becomes
        the trigger's polling interval and ``timeout`` its deadline. Default: Airflow's
        ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("connector_name", "fluvio_conn_id", "target_status")
    ui_color = "#e0f2ee"
    operator_extra_links = (FluvioConnectorLink(),)

    def __init__(
        self,
        *,
        connector_name: str,
        target_status: str = "Running",
        fluvio_conn_id: str = DEFAULT_CONN_ID,
        fail_on_failed: bool = True,
        fail_on_missing: bool = True,
        log_tail: int = 20,
        pending_timeout: float | timedelta | None = DEFAULT_PENDING_TIMEOUT,
        hook_params: dict[str, Any] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.connector_name = connector_name
        self.target_status = target_status
        self.fluvio_conn_id = fluvio_conn_id
        self.fail_on_failed = fail_on_failed
        self.fail_on_missing = fail_on_missing
        self.log_tail = log_tail
        self.pending_timeout = pending_seconds(pending_timeout)
        self.hook_params = dict(hook_params or {})
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> FluvioHook:
        """The task's one hook: every poke asks the same runtime client."""
        from airflow_provider_fluvio.hooks.fluvio import FluvioHook  # not at DAG-parse time

        return FluvioHook(self.fluvio_conn_id, **self.hook_params)

    def wait_params(self) -> WaitParams:
        """What this sensor waits for (its templated ``target_status`` rendered), as the hook and
        the trigger take it."""
        return WaitParams(normalize_status(self.target_status), self.fail_on_failed, self.fail_on_missing,
                          self.log_tail, self.pending_timeout)

    def _check(self) -> StatusCheck:
        try:
            return self.hook.check_connector(self.connector_name, **self.wait_params()._asdict())
        except ConfigError as exc:  # a bad name or connection: no retry helps
            raise AirflowFailException(one_line(str(exc))) from None
        except FluvioConnectorError as exc:
            raise AirflowException(one_line(str(exc))) from None

    def _progress_log(self) -> ProgressLog:
        progress = self.__dict__.get("_progress")
        if progress is None:
            from airflow_provider_fluvio.progress import ProgressLog

            progress = self.__dict__["_progress"] = ProgressLog()
        return progress

    def poke(self, context: Context) -> PokeReturnValue:
        check = self._check()
        line = self._progress_log().line(check)  # on a change, else at most every 30 s
        if line:
            self.log.info("%s", line)
        if check.outcome == "failed":
            raise AirflowFailException(check.message)
        return PokeReturnValue(is_done=check.outcome == "reached", xcom_value=check.xcom())

    def _timed_out(self, message: str) -> str:
        """Airflow's timeout message, and what the last look at the connector saw."""
        last = self._progress_log().last
        if last is None:
            return message
        from airflow_provider_fluvio.progress import describe_progress

        return f"{message} At the last look: {last.message}{describe_progress(last.info)}"

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as exc:
                raise AirflowSensorTimeout(self._timed_out(str(exc))) from None
            except AirflowSkipException as exc:  # soft_fail turned the timeout into a skip
                if not str(exc).startswith("Sensor has timed out"):
                    raise
                raise AirflowSkipException(self._timed_out(str(exc))) from None
        # Poke once in the worker: a connector already Running (or Failed) needs no triggerer.
        try:
            result = self.poke(context)
        except AirflowFailException:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException("Skipping: the connector failed and soft_fail is set") from None
            raise
        if result.is_done:
            return result.xcom_value
        from airflow_provider_fluvio.triggers.connector import FluvioConnectorStatusTrigger

        hook = self.hook
        if "kube_config" in hook.hook_params:
            # Trigger arguments are stored in the metadata database; a kubeconfig belongs in the connection.
            raise AirflowFailException(
                "kube_config cannot be a hook_params entry of a deferrable sensor (it would be stored with "
                "the trigger); put it in the fluvio connection's kube_config field instead"
            )
        self.defer(
            trigger=FluvioConnectorStatusTrigger(
                connector_name=self.connector_name,
                fluvio_conn_id=self.fluvio_conn_id,
                hook_params=hook.hook_params,
                poll_interval=self.poke_interval,
                deadline=time.time() + self.timeout,
                **self.wait_params()._asdict(),
            ),
            method_name="execute_complete",
            # Airflow's own deadline, a little after the trigger's: the trigger's message is better.
            timeout=timedelta(seconds=self.timeout + max(30.0, self.poke_interval * 2)),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: return the status, or fail with the trigger's message."""
        if not event:
            raise AirflowException(f"the trigger watching {self.connector_name} ended without an event")
        status = event.get("status")
        message = str(event.get("message") or "")
        if status == "success":
            self.log.info("%s", message)
            return event.get("info") or {}
        if status == "timeout":
            raise AirflowSensorTimeout(f"Sensor has timed out after {self.timeout:g} s; {message}")
        if event.get("retryable"):  # the backend could not be asked: a retry may help
            raise AirflowException(message)
        # Failed or missing: no retry will help (soft_fail still turns this into a skip).
        raise AirflowFailException(message or f"watching connector {self.connector_name} failed")
