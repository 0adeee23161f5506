"""The local runtime's status mapping (``runtimes/local_status.py``) as a table: one observation of
a replica (supervisor record, program status file, the two processes) per row, and the status,
reason and pending-since a user would see."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_fluvio.runtimes import supervisor as sv
from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from airflow_provider_fluvio.runtimes.local_status import CREATING_GRACE_SECONDS, ReplicaSeen, replica_status

NOW = 1_000_000.0
PENDING, RUNNING, FAILED, STOPPED = (ConnectorStatus.PENDING, ConnectorStatus.RUNNING, ConnectorStatus.FAILED,
                                     ConnectorStatus.STOPPED)


def state(phase: str = sv.RUNNING, **changes: Any) -> sv.SupervisorState:
    fields: dict[str, Any] = {"phase": phase, "pid": 100, "module": "m", "started_at": NOW - 50,
                              "program_pid": 101, "program_started_at": NOW - 40, "pending_since": None,
                              "updated_at": NOW - 5}
    return sv.SupervisorState(**{**fields, **changes})


def program(state_: str, age: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {"state": state_, "pid": 101, "updated_at": NOW - age, **extra}


def seen(state_: sv.SupervisorState | None, program_: dict[str, Any] | None = None, supervisor: str | None = "running",
         program_process: str | None = "running", created_at: float | None = None) -> ReplicaSeen:
    return ReplicaSeen(state_, program_, supervisor, program_process, created_at, NOW)


HALTED = "; its supervisor (pid 100) is stopped (SIGSTOP): nothing restarts the connector until it continues (kill -CONT 100)"

TABLE: list[tuple[str, ReplicaSeen, tuple[ConnectorStatus, str | None, float | None]]] = [
    ("created a moment ago, no supervisor record yet",
     seen(None, created_at=NOW - 2), (PENDING, "starting", NOW - 2)),
    ("no supervisor record long after the create",
     seen(None, created_at=NOW - CREATING_GRACE_SECONDS - 1),
     (FAILED, "its supervisor never started; delete and create it again", None)),
    ("ready with a fresh heartbeat",
     seen(state(), program("ready")), (RUNNING, None, None)),
    ("ready, its supervisor stopped with SIGSTOP",
     seen(state(), program("ready"), supervisor="stopped"), (RUNNING, HALTED[2:], None)),
    ("finished its count",
     seen(state(), program("finished")), (STOPPED, "finished", None)),
    ("supervisor gone after the program finished",
     seen(state(sv.FINISHED), supervisor=None, program_process=None), (STOPPED, "finished", None)),
    ("supervisor gone after a delete's signal",
     seen(state(sv.STOPPED), supervisor=None, program_process=None), (STOPPED, "stopped", None)),
    ("supervisor killed, program still running",
     seen(state(), program("ready"), supervisor=None),
     (FAILED, "its supervisor (pid 100) is gone; its program (pid 101) is still running, unsupervised; "
              "delete the connector (that stops it) and create it again", None)),
    ("supervisor killed, program stopped with SIGSTOP",
     seen(state(), program("ready"), supervisor=None, program_process="stopped"),
     (FAILED, "its supervisor (pid 100) is gone; its program (pid 101) is still stopped (SIGSTOP), unsupervised; "
              "delete the connector (that stops it) and create it again", None)),
    ("supervisor and program gone (killed, or a reboot)",
     seen(state(), supervisor=None, program_process=None),
     (FAILED, "its supervisor (pid 100) is gone (killed, or the machine restarted) and so is its program; "
              "delete the connector and create it again", None)),
    ("crash loop",
     seen(state(sv.BACKOFF, crash_loop=True, restarts=5, last_exit_code=1, last_error="boom"), program_process=None),
     (FAILED, "crash loop: restarted 5 times; last run: exit code 1: boom", None)),
    ("bad config: exit code 2",
     seen(state(sv.BACKOFF, crash_loop=True, restarts=1, last_exit_code=2, last_error="parameters.x: bad"),
          program_process=None),
     (FAILED, "bad config (exit code 2): parameters.x: bad; fix it, then delete and create the connector again", None)),
    ("supervisor stopped, program exited meanwhile",
     seen(state(pending_since=NOW - 7), supervisor="stopped", program_process=None),
     (PENDING, "its program (pid 101) has exited and its supervisor (pid 100) is stopped (SIGSTOP): nothing restarts "
               "it until the supervisor continues (kill -CONT 100)", NOW - 7)),
    ("no heartbeat for longer than the liveness threshold",
     seen(state(), program("ready", age=45)),
     (PENDING, "no heartbeat from the connector for 45s (stopped or hung); its supervisor restarts it", NOW - 45)),
    ("no heartbeat, the program said it hung",
     seen(state(pending_since=NOW - 60), program("ready", age=31, last_error="hung: flush for 31s")),
     (PENDING, "no heartbeat from the connector for 31s (hung: flush for 31s); its supervisor restarts it", NOW - 60)),
    ("stopping: flushing on its way out",
     seen(state(), program("stopped", age=2)), (PENDING, "stopping", NOW - 2)),
    ("reconnecting to its source",
     seen(state(pending_since=NOW - 9), program("reconnecting", last_error="cannot connect to mqtt://b:1883")),
     (PENDING, "reconnecting: cannot connect to mqtt://b:1883", NOW - 9)),
    ("reconnecting, supervisor stopped",
     seen(state(pending_since=NOW - 9), program("reconnecting"), supervisor="stopped"),
     (PENDING, f"reconnecting: source lost{HALTED}", NOW - 9)),
    ("in backoff after a crash",
     seen(state(sv.BACKOFF, restarts=2, last_exit_code=1, last_error="topic t does not exist", updated_at=NOW - 3),
          program_process=None),
     (PENDING, "restarting after exit code 1: topic t does not exist (restart 2)", NOW - 3)),
    ("program starting, no status file yet",
     seen(state(sv.STARTING)), (PENDING, "starting", NOW - 40)),
    ("program starting, its status file says starting",
     seen(state(sv.STARTING, pending_since=NOW - 12), program("starting")), (PENDING, "starting", NOW - 12)),
]


@pytest.mark.parametrize(("case", "observed", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_replica_status(case: str, observed: ReplicaSeen, expected: tuple[ConnectorStatus, str | None, float | None]) -> None:
    assert replica_status(observed) == expected
