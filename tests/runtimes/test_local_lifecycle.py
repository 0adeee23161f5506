"""The local runtime when its processes are attacked: kill -9 and kill -STOP of the program, of the
supervisor and of the whole process group, a program that hangs, and a source that never answers.
After each, the topic holds what it must and ``status`` says what is true."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import socket
import time
from collections.abc import Callable

import psutil
import pytest
from runtime_testing import gone, greeter, greetings, live_group_members, state_of, values, wait_for_status, wait_until

from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from airflow_provider_fluvio.runtimes.local import LocalRuntime
from fluvio_connectors.config import load_config
from fluvio_connectors.settings import Settings

FAILED = {ConnectorStatus.FAILED}


# --------------------------------------------------------------------------- 1: exactly count


def test_a_killed_program_resumes_and_each_greeting_is_stored_once(make_runtime: Callable[..., LocalRuntime]) -> None:
    """count 40: kill -9 the program twice mid-run; the topic holds 1..40 once, the status says 40."""
    runtime = make_runtime()
    runtime.create(greeter("counted", count=40, timeout="50ms"))
    for killed_after in (10, 25):
        wait_until(lambda n=killed_after: len(values("counted")) >= n, 30, f"{killed_after} records")
        victim = state_of(runtime, "counted").program_pid
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda v=victim: state_of(runtime, "counted").program_pid not in (None, v), 30, "the restart")
    info = wait_for_status(runtime, "counted", ConnectorStatus.STOPPED, timeout=60, forbidden=FAILED)
    assert values("counted") == greetings(40)
    assert info.records == 40 and info.restarts == 2


def test_a_recreated_connector_is_a_new_run_on_the_same_topic(make_runtime: Callable[..., LocalRuntime]) -> None:
    runtime = make_runtime()
    runtime.create(greeter("again", count=3, timeout=1))
    wait_for_status(runtime, "again", ConnectorStatus.STOPPED, forbidden=FAILED)
    runtime.delete("again")
    runtime.create(greeter("again", count=3, timeout=1))
    info = wait_for_status(runtime, "again", ConnectorStatus.STOPPED, forbidden=FAILED)
    assert values("again") == greetings(3) + greetings(3)
    assert info.records == 3  # this connector's records, not the deleted one's


# --------------------------------------------------------------------------- 8: liveness


def test_a_stopped_program_is_restarted_after_the_liveness_timeout(make_runtime: Callable[..., LocalRuntime]) -> None:
    runtime = make_runtime(liveness_timeout=3.0)
    runtime.create(greeter("frozen", count=200, timeout="20ms"))
    wait_until(lambda: len(values("frozen")) >= 20, 30, "20 records")
    victim = state_of(runtime, "frozen").program_pid
    assert victim is not None
    os.kill(victim, signal.SIGSTOP)
    state = wait_until(lambda: (s := state_of(runtime, "frozen")).restarts >= 1 and s, 60, "a liveness restart")
    # 3 s, or a little more when the machine is busy
    assert state.last_error is not None and re.fullmatch(r"no heartbeat for \d+s: stopped or hung", state.last_error)
    assert any(re.search(r"no heartbeat for \d+s: stopped or hung; restarting it", line) for line in runtime.logs("frozen"))
    wait_until(lambda: gone(victim), 30, "the stopped program to be gone")
    info = wait_for_status(runtime, "frozen", ConnectorStatus.STOPPED, timeout=60, forbidden=FAILED)
    assert values("frozen") == greetings(200) and info.records == 200


def test_a_stopped_and_continued_process_group_is_not_taken_for_a_hang(
    make_runtime: Callable[..., LocalRuntime],
) -> None:
    """kill -STOP and later kill -CONT of the whole group: the supervisor was not watching
    meanwhile, so the silence is not the program's fault; it carries on without a restart."""
    runtime = make_runtime(liveness_timeout=3.0)
    runtime.create(greeter("paused-group", timeout="20ms"))
    wait_for_status(runtime, "paused-group", ConnectorStatus.RUNNING, forbidden=FAILED)
    state = state_of(runtime, "paused-group")
    status_file = runtime.root / "paused-group" / "status.json"
    supervisor = psutil.Process(state.pid)
    os.killpg(state.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: time.time() - json.loads(status_file.read_text())["updated_at"] > 5, 60,
                   "a silence longer than the liveness timeout")
        # The supervisor first: it watches the still stopped program for a while (it has used
        # some CPU) without counting the time it was stopped itself.
        used = sum(supervisor.cpu_times()[:2])
        os.kill(state.pid, signal.SIGCONT)
        wait_until(lambda: sum(supervisor.cpu_times()[:2]) > used + 0.005, 60, "the supervisor to run again")
        assert state.program_pid is not None and not gone(state.program_pid)
    finally:
        os.killpg(state.pid, signal.SIGCONT)
    before = len(values("paused-group"))
    wait_until(lambda: len(values("paused-group")) > before + 100, 60, "100 more records")
    after = state_of(runtime, "paused-group")
    assert (after.program_pid, after.restarts) == (state.program_pid, 0)


def test_a_hung_program_stops_heartbeating_and_is_restarted(
    make_runtime: Callable[..., LocalRuntime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A program blocked for good in a call (here: waiting for the topic log's writer lock, held by
    this test) keeps its heartbeat thread but makes no progress: it is restarted as hung."""
    monkeypatch.setenv("FLUVIO_CONNECTOR_HANG_AFTER", "2")
    runtime = make_runtime(liveness_timeout=3.0)
    runtime.create(greeter("stuck", count=100, timeout="20ms"))
    wait_for_status(runtime, "stuck", ConnectorStatus.RUNNING, forbidden=FAILED)
    wait_until(lambda: len(values("stuck")) >= 5, 30, "5 records")
    with open(f"{Settings.from_env().log_path}.lock", "ab") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            state = wait_until(lambda: (s := state_of(runtime, "stuck")).restarts >= 1 and s, 60, "a restart")
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    assert state.last_error is not None and state.last_error.startswith("no heartbeat for ")
    assert "hung: no progress for " in state.last_error
    info = wait_for_status(runtime, "stuck", ConnectorStatus.STOPPED, timeout=60, forbidden=FAILED)
    assert values("stuck") == greetings(100) and info.records == 100


# --------------------------------------------------------------------------- 9: the supervisor


def test_a_killed_supervisor_takes_its_program_with_it(make_runtime: Callable[..., LocalRuntime]) -> None:
    runtime = make_runtime()
    runtime.create(greeter("headless", timeout="20ms"))
    wait_for_status(runtime, "headless", ConnectorStatus.RUNNING, forbidden=FAILED)
    state = state_of(runtime, "headless")
    os.kill(state.pid, signal.SIGKILL)
    wait_until(lambda: gone(state.program_pid), 30, "the program to stop after its supervisor")
    info = runtime.status("headless")
    assert info.status == ConnectorStatus.FAILED
    assert info.reason == (f"its supervisor (pid {state.pid}) is gone (killed, or the machine restarted) and so "
                           "is its program; delete the connector and create it again")
    assert any("its supervisor" in line and "is gone" in line for line in runtime.logs("headless"))
    assert live_group_members(state.pid) == []
    runtime.delete("headless")
    assert runtime.list() == []


def test_the_whole_process_group_killed(make_runtime: Callable[..., LocalRuntime]) -> None:
    runtime = make_runtime()
    runtime.create(greeter("group", timeout="20ms"))
    wait_for_status(runtime, "group", ConnectorStatus.RUNNING, forbidden=FAILED)
    state = state_of(runtime, "group")
    os.killpg(state.pid, signal.SIGKILL)
    wait_until(lambda: live_group_members(state.pid) == [], 30, "the group to be gone")
    info = runtime.status("group")
    assert info.status == ConnectorStatus.FAILED and "and so is its program" in (info.reason or "")
    runtime.delete("group")
    assert runtime.list() == []


def test_a_supervisor_killed_while_its_program_is_stopped(make_runtime: Callable[..., LocalRuntime]) -> None:
    runtime = make_runtime()
    runtime.create(greeter("frozen-orphan", timeout="20ms"))
    wait_for_status(runtime, "frozen-orphan", ConnectorStatus.RUNNING, forbidden=FAILED)
    state = state_of(runtime, "frozen-orphan")
    assert state.program_pid is not None
    os.kill(state.program_pid, signal.SIGSTOP)
    # kill() returns before a busy machine has stopped the program: wait until it has
    program = psutil.Process(state.program_pid)
    wait_until(lambda: program.status() == psutil.STATUS_STOPPED, 30, "the program to be stopped")
    os.kill(state.pid, signal.SIGKILL)
    info = wait_for_status(runtime, "frozen-orphan", ConnectorStatus.FAILED)
    assert info.reason == (f"its supervisor (pid {state.pid}) is gone; its program (pid {state.program_pid}) is "
                           "still stopped (SIGSTOP), unsupervised; delete the connector (that stops it) and "
                           "create it again")
    runtime.delete("frozen-orphan")
    assert gone(state.program_pid) and live_group_members(state.pid) == []


def test_a_stopped_supervisor_is_reported_and_delete_still_works(make_runtime: Callable[..., LocalRuntime]) -> None:
    runtime = make_runtime()
    runtime.create(greeter("paused", timeout="20ms"))
    wait_for_status(runtime, "paused", ConnectorStatus.RUNNING, forbidden=FAILED)
    state = state_of(runtime, "paused")
    os.kill(state.pid, signal.SIGSTOP)
    halted = f"its supervisor (pid {state.pid}) is stopped (SIGSTOP)"
    wait_until(lambda: halted in (runtime.status("paused").reason or ""), 30, "the stopped supervisor reported")
    assert runtime.status("paused").status == ConnectorStatus.RUNNING  # the program still runs
    assert state.program_pid is not None
    os.kill(state.program_pid, signal.SIGKILL)  # and now nothing restarts it
    info = wait_until(lambda: (i := runtime.status("paused")).status != ConnectorStatus.RUNNING and i, 30,
                      "the lost program reported")
    assert info.status == ConnectorStatus.PENDING
    assert info.reason == (f"its program (pid {state.program_pid}) has exited and {halted}: nothing restarts "
                           f"it until the supervisor continues (kill -CONT {state.pid})")
    runtime.delete("paused")  # continues the supervisor, which stops
    assert live_group_members(state.pid) == [] and runtime.list() == []


# --------------------------------------------------------------------------- 10 and 16: what status says


def test_a_program_stopped_by_sigterm_is_stopped_not_finished(make_runtime: Callable[..., LocalRuntime]) -> None:
    runtime = make_runtime()
    runtime.create(greeter("terminated", timeout="20ms"))
    wait_for_status(runtime, "terminated", ConnectorStatus.RUNNING, forbidden=FAILED)
    pid = state_of(runtime, "terminated").program_pid
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    info = wait_for_status(runtime, "terminated", ConnectorStatus.STOPPED, forbidden=FAILED)
    assert info.reason == "stopped"
    assert any("was stopped by a signal (exit code 0)" in line for line in runtime.logs("terminated"))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


def test_an_unreachable_source_is_pending_since_its_creation(make_runtime: Callable[..., LocalRuntime]) -> None:
    runtime = make_runtime()
    config = load_config({"name": "nowhere", "type": "mqtt", "topic": "nowhere", "create_topic": True,
                          "parameters": {"mqtt-url": f"mqtt://127.0.0.1:{closed_port()}", "mqtt-topic": "a/#",
                                         "timeout": 2}}, secrets={})
    created = runtime.create(config)
    info = wait_until(lambda: (i := runtime.status("nowhere")).reason
                      and i.reason.startswith("reconnecting") and i, 30, "reconnecting")
    assert info.status == ConnectorStatus.PENDING
    assert "cannot connect to mqtt://127.0.0.1:" in (info.reason or "")
    assert info.pending_since is not None and created.pending_since is not None
    assert info.pending_since == created.pending_since  # without a break since it was created


def test_a_crash_loop_reason_says_each_fact_once(make_runtime: Callable[..., LocalRuntime]) -> None:
    runtime = make_runtime(max_crashes=2, stable_after=600)
    runtime.create(greeter("killed", timeout="20ms"))
    for restarts in (1, 2):
        wait_for_status(runtime, "killed", ConnectorStatus.RUNNING, forbidden=FAILED)
        pid = state_of(runtime, "killed").program_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda n=restarts: state_of(runtime, "killed").restarts == n, 30, f"restart {restarts}")
    info = wait_for_status(runtime, "killed", ConnectorStatus.FAILED)
    assert info.reason == "crash loop: restarted 2 times; last run: killed by SIGKILL"
    assert not any("killed by SIGKILL: killed by SIGKILL" in line for line in runtime.logs("killed"))
