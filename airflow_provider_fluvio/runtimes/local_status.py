"""A local replica's status from what its supervisor's record, its program's status file and their
processes show: a pure function of one observation (``ReplicaSeen``), so each case is a row of a
table (``tests/runtimes/test_local_status.py``). ``local.py`` makes the observation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from airflow_provider_fluvio.runtimes import supervisor as sv
from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from fluvio_connectors.status import HUNG_PREFIX, STALE_AFTER_SECONDS, ProgramState

# A directory with a config but no supervisor record yet is being created; after this long the
# creator died half-way and the connector is Failed.
CREATING_GRACE_SECONDS = 30.0


class ReplicaSeen(NamedTuple):
    """One look at a replica. A process is ``"running"``, ``"stopped"`` (SIGSTOP) or None (gone,
    a zombie, or not this connector's)."""

    state: sv.SupervisorState | None  # supervisor.json; None: not written yet
    program: Mapping[str, Any] | None  # the program's status file of the current run, if any
    supervisor: str | None
    program_process: str | None
    created_at: float | None  # when the config was written (read only while ``state`` is None)
    now: float  # seconds since the epoch
    # Where there is no space left, while the supervisor lives (None: the disk is not full).
    disk_full: str | None = None
    # A create of it was interrupted before its supervisor started (its creator is gone).
    interrupted: bool = False


def replica_status(seen: ReplicaSeen) -> tuple[ConnectorStatus, str | None, float | None]:
    """The status, its reason, and since when it has been Pending (when it is). A full disk makes
    any status but Running Pending: the supervisor carries on once there is space again."""
    status, reason, since = _status(seen)
    if seen.disk_full is not None and status != ConnectorStatus.RUNNING:
        return ConnectorStatus.PENDING, (
            f"the disk is full (no space left where {seen.disk_full} is); the connector waits and resumes by "
            "itself once space is freed"), since or seen.now
    return status, reason, since


def _status(seen: ReplicaSeen) -> tuple[ConnectorStatus, str | None, float | None]:
    state, program, supervisor, program_process = seen.state, seen.program, seen.supervisor, seen.program_process
    if state is None:
        if seen.interrupted:
            return ConnectorStatus.FAILED, (
                "its create was interrupted before its supervisor started; create it again with the same "
                "config, or delete it"), None
        created = seen.created_at or 0.0
        if seen.now - created < CREATING_GRACE_SECONDS:
            return ConnectorStatus.PENDING, "starting", created
        return ConnectorStatus.FAILED, "its supervisor never started; delete and create it again", None
    program_alive = program_process is not None
    if supervisor is None:
        if state.phase == sv.FINISHED:
            return ConnectorStatus.STOPPED, "finished", None
        if state.phase == sv.STOPPED:
            return ConnectorStatus.STOPPED, "stopped", None
        if program_alive:
            how = "stopped (SIGSTOP)" if program_process == "stopped" else "running"
            return ConnectorStatus.FAILED, (
                f"its supervisor (pid {state.pid}) is gone; its program (pid {state.program_pid}) is still "
                f"{how}, unsupervised; delete the connector (that stops it) and create it again"
            ), None
        return ConnectorStatus.FAILED, (
            f"its supervisor (pid {state.pid}) is gone (killed, or the machine restarted) and so is its "
            "program; delete the connector and create it again"
        ), None
    if state.crash_loop:
        return ConnectorStatus.FAILED, failure(state), None
    pending_since = state.pending_since
    halted = ""
    if supervisor == "stopped":
        halted = (f"; its supervisor (pid {state.pid}) is stopped (SIGSTOP): nothing restarts the "
                  f"connector until it continues (kill -CONT {state.pid})")
    restarter = halted or "; its supervisor restarts it"
    if supervisor == "stopped" and not program_alive and state.phase in (sv.STARTING, sv.RUNNING):
        return ConnectorStatus.PENDING, (
            f"its program (pid {state.program_pid}) has exited and {halted[2:].split(':')[0]}: nothing "
            f"restarts it until the supervisor continues (kill -CONT {state.pid})"
        ), pending_since or seen.now
    if program and program_alive:
        program_state = program.get("state")
        updated = float(program.get("updated_at", 0.0))
        age = seen.now - updated
        if age >= STALE_AFTER_SECONDS and program_state != ProgramState.FAILED:
            said = str(program.get("last_error") or "")
            why = said if said.startswith(HUNG_PREFIX) else "stopped or hung"
            return ConnectorStatus.PENDING, (
                f"no heartbeat from the connector for {age:.0f}s ({why}){restarter}"
            ), pending_since or updated
        if program_state == ProgramState.READY:
            return ConnectorStatus.RUNNING, halted.lstrip("; ") or None, None
        if program_state == ProgramState.HALTED:  # a sink, alive and waiting for a change
            return ConnectorStatus.FAILED, str(program.get("last_error") or "halted"), None
        if program_state == ProgramState.FINISHED:
            return ConnectorStatus.STOPPED, "finished", None
        if program_state == ProgramState.STOPPED:  # told to stop, flushing on its way out
            return ConnectorStatus.PENDING, f"stopping{halted}", pending_since or updated
        if program_state == ProgramState.RECONNECTING:
            return ConnectorStatus.PENDING, (
                f"reconnecting: {program.get('last_error') or 'source lost'}{halted}"
            ), pending_since or updated
    if state.phase == sv.BACKOFF and state.restarts:
        return ConnectorStatus.PENDING, (
            f"restarting after {sv.exit_and_error(state.last_exit_code, state.last_error)} "
            f"(restart {state.restarts}){halted}"
        ), pending_since or state.updated_at
    return ConnectorStatus.PENDING, f"starting{halted}", pending_since or state.program_started_at or state.started_at


def failure(state: sv.SupervisorState) -> str:
    """Why a connector the supervisor keeps restarting is Failed."""
    if state.last_exit_code == sv.CONFIG_ERROR_EXIT:
        return f"bad config (exit code 2): {state.last_error}; fix it, then delete and create the connector again"
    times = "once" if state.restarts == 1 else f"{state.restarts} times"
    return f"crash loop: restarted {times}; last run: {sv.exit_and_error(state.last_exit_code, state.last_error)}"


__all__ = ["CREATING_GRACE_SECONDS", "ReplicaSeen", "failure", "replica_status"]
