"""Is it Running yet (or drained)? The one decision every waiter makes about a connector.

The sensor and its trigger (through ``FluvioHook.check_connector``), the create operator's
``wait_for_running`` and the CLI's ``create --wait`` all judge a look at a connector here:
``reached`` the status waited for (``Stopped`` also meets ``Running``: it ran and finished),
``failed`` (Failed, missing, or Pending without a break for ``pending_timeout``), or ``waiting``.
``Drained`` is met by a sink that is Running with lag 0 (every record its topic held at that look
is in its target); a source can never be drained, and a waiting look says how far the sink is
(records delivered, lag). How long to keep looking is each waiter's own (a deadline, Airflow's timeout).

No Airflow, nothing heavy: the sensor imports this at DAG-parse time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from airflow_provider_fluvio.pending import pending_seconds, pending_too_long
from airflow_provider_fluvio.statuses import DRAINED, normalize_status
from fluvio_connectors.errors import ConnectorNotFoundError

if TYPE_CHECKING:
    from airflow_provider_fluvio.runtimes.base import ConnectorInfo


class WaitParams(NamedTuple):
    """What a wait for a connector is for, as the sensor, its trigger and the hook pass it on:
    the status waited for and when to give up before any deadline."""

    target_status: str = "Running"
    fail_on_failed: bool = True  # a Failed connector ends the wait
    fail_on_missing: bool = True  # a missing connector ends the wait (else: wait for it)
    log_tail: int = 20  # last log lines in the message of a failure
    pending_timeout: float | None = None  # Pending this many seconds without a break ends the wait

    def checked(self) -> WaitParams:
        """The same, the status name normalised and ``pending_timeout`` in seconds
        (``ConfigError`` / ``ValueError`` for values that are none)."""
        return self._replace(target_status=normalize_status(self.target_status),
                             pending_timeout=pending_seconds(self.pending_timeout))


class StatusCheck(NamedTuple):
    """One look at a connector, judged against the status a task waits for."""

    outcome: Literal["reached", "waiting", "failed"]
    message: str
    info: ConnectorInfo | None = None

    def xcom(self) -> dict[str, Any]:
        return self.info.to_dict() if self.info else {}


def judge(info: ConnectorInfo, target: str = "Running", *, fail_on_failed: bool = True,
          pending_timeout: float | None = None) -> StatusCheck:
    """``info`` against ``target`` (a normalised status name): ``reached``, ``failed`` (Failed when
    ``fail_on_failed``; Pending without a break for ``pending_timeout`` seconds or more, when it is
    set and the target is not Pending) or ``waiting``, with a one-line message."""
    if target == DRAINED:
        return _judge_drained(info, fail_on_failed=fail_on_failed, pending_timeout=pending_timeout)
    name, status = info.name, info.status.value
    if status == target or (target == "Running" and status == "Stopped"):
        note = " (it ran and finished on its own)" if status != target else ""
        return StatusCheck("reached", f"connector {name} is {status}{note}", info)
    if status == "Failed" and fail_on_failed:
        return StatusCheck("failed", f"connector {name} is Failed: {info.reason or 'no reason reported'}", info)
    too_long = pending_too_long(info, pending_timeout) if target != "Pending" else None
    if too_long:
        return StatusCheck("failed", too_long, info)
    reason = f" ({info.reason})" if info.reason else ""
    return StatusCheck("waiting", f"connector {name} is {status}{reason}; waiting for {target}", info)


def _judge_drained(info: ConnectorInfo, *, fail_on_failed: bool, pending_timeout: float | None) -> StatusCheck:
    """``info`` against ``Drained``: a sink Running (or Stopped) with lag 0."""
    name, status = info.name, info.status.value
    if info.direction != "sink":
        return StatusCheck("failed", f"connector {name} is a source ({info.type}): only a sink can be {DRAINED} "
                                     "(lag is how far a sink's position is behind its topic); wait for Running "
                                     "or Stopped instead", info)
    progress = sink_progress(info)
    if status == "Failed" and fail_on_failed:
        return StatusCheck("failed", f"sink {name} is Failed ({progress}): {info.reason or 'no reason reported'}", info)
    if status in ("Running", "Stopped") and info.lag == 0:
        return StatusCheck("reached", f"sink {name} is drained: {progress}", info)
    if status == "Stopped":
        return StatusCheck("failed", f"sink {name} is Stopped ({progress}): it delivers nothing more until it is "
                                     "created again", info)
    too_long = pending_too_long(info, pending_timeout)
    if too_long:
        return StatusCheck("failed", f"{too_long} ({progress})", info)
    reason = f" ({info.reason})" if info.reason else ""
    return StatusCheck("waiting", f"sink {name} is {status}{reason}: {progress}; waiting for {DRAINED} (lag 0)", info)


def sink_progress(info: ConnectorInfo) -> str:
    """How far a sink is, in words: ``delivered every record before offset 120, lag 30`` (its
    position and lag, read together from the topics backend), with what it skipped and its last error."""
    parts = [f"delivered every record before offset {info.position}" if info.position is not None
             else "no position stored yet"]
    parts.append(f"lag {info.lag}" if info.lag is not None else "lag unknown")
    skipped = info.counters.get("skipped")
    if skipped:
        parts.append(f"skipped {skipped}")
    if info.last_error and info.last_error != info.reason:
        parts.append(f"last error: {info.last_error}")
    return ", ".join(parts)


def check_connector(status: Callable[[str], ConnectorInfo], name: str, wait: WaitParams,
                    logs: Callable[[str, int], list[str]] | None = None) -> StatusCheck:
    """Look at ``name`` once (``status(name)``) and judge it for ``wait``. A missing connector is
    ``failed`` when ``fail_on_missing``, else ``waiting``. A failure's message ends with the
    connector's last ``log_tail`` log lines (read through ``logs``; not when a source was waited
    for as ``Drained``: nothing is wrong with it); one of a connector still Pending says it keeps
    retrying."""
    wait = wait.checked()
    try:
        info = status(name)
    except ConnectorNotFoundError as exc:
        if wait.fail_on_missing:
            return StatusCheck("failed", f"{exc}; it was never created or has been deleted")
        return StatusCheck("waiting", f"connector {name} does not exist (yet)")
    check = judge(info, wait.target_status, fail_on_failed=wait.fail_on_failed, pending_timeout=wait.pending_timeout)
    if check.outcome != "failed" or (wait.target_status == DRAINED and info.direction != "sink"):
        return check
    message = check.message
    if info.status.value == "Pending":
        message += "; it keeps retrying until deleted"
    return check._replace(message=with_log_tail(message, _log_tail(logs, name, wait.log_tail), name))


def wait_for(look: Callable[[], StatusCheck], timeout: float, poll_interval: float,
             on_waiting: Callable[[StatusCheck], None] | None = None) -> StatusCheck:
    """``look()`` until it is ``reached`` or ``failed``, or ``timeout`` seconds have passed (then the
    last check, ``waiting``), sleeping ``poll_interval`` seconds between looks."""
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        check = look()
        if check.outcome != "waiting":
            return check
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return check
        if on_waiting is not None:
            on_waiting(check)
        time.sleep(min(poll_interval, remaining))


def with_log_tail(message: str, lines: list[str], name: str) -> str:
    """``message``, then ``lines`` of ``name``'s log, indented."""
    if not lines:
        return message
    shown = "\n".join(f"  {line}" for line in lines)
    count = "the last log line" if len(lines) == 1 else f"last {len(lines)} log lines"
    return f"{message}\n{count} of {name}:\n{shown}"


def _log_tail(logs: Callable[[str, int], list[str]] | None, name: str, tail: int) -> list[str]:
    if logs is None or tail <= 0:
        return []
    try:
        return [line.rstrip("\n") for line in logs(name, tail)]
    except Exception as exc:  # the failure message matters more than its decoration
        return [f"(log unavailable: {exc})"]


__all__ = ["StatusCheck", "WaitParams", "check_connector", "judge", "sink_progress", "wait_for", "with_log_tail"]
