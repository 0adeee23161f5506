"""The local runtime against a careless or hostile user (issue 22): a stale or forged pid in
``supervisor.json``, a damaged state file, the state removed under a running connector, a create
killed at its handshake, a full disk, a read-only home, a log that grows without end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from runtime_testing import gone, greeter, greetings, state_of, values, wait_for_status, wait_until
from tiny_disk import tiny_disk

from airflow_provider_fluvio.runtimes import supervisor as sv
from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from airflow_provider_fluvio.runtimes.local import LocalRuntime
from fluvio_connectors.errors import BackendError, ConnectorExistsError, ConnectorNotFoundError
from fluvio_connectors.settings import HOME_ENV
from fluvio_connectors.status import ProgramState, ProgramStatus
from fluvio_connectors.topics.embedded import EmbeddedTopics

FAILED = {ConnectorStatus.FAILED}
CLI = [sys.executable, "-m", "airflow_provider_fluvio.cli"]


def stopped(proc: psutil.Process) -> bool:
    """Whether ``proc`` has exited (a zombie counts)."""
    return gone(proc.pid) or not proc.is_running()


@pytest.fixture
def bystanders() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Unrelated processes a test starts (and always stops)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL) if os.getpgid(proc.pid) == proc.pid else proc.kill()
        proc.wait()


def rewrite_state(state_dir: Path, **changes: Any) -> None:
    data = json.loads((state_dir / sv.STATE_FILE).read_text())
    data.update(changes)
    (state_dir / sv.STATE_FILE).write_text(json.dumps(data))


# --------------------------------------------------------------------------- 1: foreign processes


def test_delete_signals_no_process_it_cannot_prove_is_the_connectors(
    make_runtime: Callable[..., LocalRuntime], bystanders: Callable[..., subprocess.Popen[bytes]]
) -> None:
    """The connector's processes died (a reboot, kill -9) and their pids went to others: a process
    group led by the recorded supervisor pid, and a process whose command line even names the
    connector's directory. delete removes the connector and signals none of them."""
    runtime = make_runtime()
    runtime.create(greeter("reused"))
    wait_for_status(runtime, "reused", ConnectorStatus.RUNNING, forbidden=FAILED)
    state_dir = runtime.root / "reused"
    state = state_of(runtime, "reused")
    os.killpg(state.pid, signal.SIGKILL)
    wait_until(lambda: gone(state.pid) and gone(state.program_pid), 30, "the connector's processes to be gone")
    # A real, unrelated group: its leader and a member; its id is what supervisor.json now records.
    group = bystanders(["sh", "-c", "sleep 300 & wait"], start_new_session=True)
    member = wait_until(lambda: psutil.Process(group.pid).children(), 10, "the group's member")[0]
    assert os.getpgid(member.pid) == group.pid
    lookalike = bystanders([sys.executable, "-c", "import time; time.sleep(300)", str(state_dir / "config.yaml")],
                           start_new_session=True)
    rewrite_state(state_dir, pid=group.pid, program_pid=lookalike.pid)

    assert runtime.status("reused").status == ConnectorStatus.FAILED  # not mistaken for a live supervisor
    runtime.delete("reused")
    assert not state_dir.exists()
    for proc in (group, lookalike):
        assert proc.poll() is None and psutil.Process(proc.pid).status() != psutil.STATUS_STOPPED
    assert member.is_running() and member.status() != psutil.STATUS_ZOMBIE


def test_pid_one_or_below_in_supervisor_json_is_never_signalled(make_runtime: Callable[..., LocalRuntime]) -> None:
    runtime = make_runtime()
    runtime.create(greeter("init", count=1, timeout=1))
    wait_for_status(runtime, "init", ConnectorStatus.STOPPED, forbidden=FAILED)
    wait_until(lambda: state_of(runtime, "init").phase == sv.FINISHED, 10, "the supervisor to finish")
    for pid in (1, 0, -1):
        rewrite_state(runtime.root / "init", pid=pid)
        info = runtime.status("init")
        assert info.status == ConnectorStatus.FAILED
        assert info.reason == (f"supervisor.json: pid: expected a whole number from 2, got {pid}; delete the "
                               "connector and create it again")
    runtime.delete("init")
    assert runtime.list() == []


# --------------------------------------------------------------------------- 14: damaged state files


def test_each_connector_is_read_on_its_own_and_a_damaged_one_is_failed_with_the_reason(
    make_runtime: Callable[..., LocalRuntime],
) -> None:
    runtime = make_runtime()
    runtime.create(greeter("healthy"))
    wait_for_status(runtime, "healthy", ConnectorStatus.RUNNING, forbidden=FAILED)
    record = json.loads((runtime.root / "healthy" / sv.STATE_FILE).read_text())
    damaged = {
        "pid-text": json.dumps({**record, "pid": "abc"}),
        "restarts-text": json.dumps({**record, "restarts": "many"}),
        "an-array": "[1, 2, 3]",
        "not-json": "{",
    }
    for name, text in damaged.items():
        where = runtime.root / name
        where.mkdir(mode=0o700)
        (where / "config.yaml").write_text(greeter(name).to_yaml())
        (where / sv.STATE_FILE).write_text(text)
    broken_config = runtime.root / "bad-config"
    broken_config.mkdir(mode=0o700)
    (broken_config / "config.yaml").write_text("name: [unclosed\n")
    odd_status = runtime.root / "odd-status"
    shutil.copytree(runtime.root / "healthy", odd_status)
    (odd_status / "config.yaml").write_text(greeter("odd-status").to_yaml())
    (odd_status / sv.STATUS_FILE).write_text(json.dumps({"state": "ready", "pid": record["program_pid"],
                                                         "updated_at": "now", "counters": {"x": "many"}}))

    infos = {info.name: info for info in runtime.list()}
    assert set(infos) == {"healthy", *damaged, "bad-config", "odd-status"}
    assert infos["healthy"].status == ConnectorStatus.RUNNING
    reasons = {name: infos[name].reason for name in (*damaged, "bad-config")}
    assert reasons == {
        "pid-text": 'supervisor.json: pid: expected a whole number from 2, got "abc"; delete the connector and '
                    "create it again",
        "restarts-text": 'supervisor.json: restarts: expected a whole number from 0, got "many"; delete the '
                         "connector and create it again",
        "an-array": "supervisor.json: expected a JSON object, got list; delete the connector and create it again",
        "not-json": "supervisor.json is not JSON; delete the connector and create it again",
        "bad-config": "its config.yaml is not valid YAML; delete it and create it again",
    }
    assert all(infos[name].status == ConnectorStatus.FAILED for name in reasons)
    # a copy of another connector's state is not that connector: its processes are not this one's
    assert infos["odd-status"].status == ConnectorStatus.FAILED
    for name in [*damaged, "bad-config", "odd-status"]:
        runtime.delete(name)
    assert [info.name for info in runtime.list()] == ["healthy"]
    assert runtime.status("healthy").status == ConnectorStatus.RUNNING  # untouched by those deletes


@pytest.mark.parametrize("state", list(ProgramState))
def test_every_status_a_program_writes_is_read_back(tmp_path: Path, state: ProgramState) -> None:
    # The check of a damaged status file must not refuse what a program writes (a halted sink's
    # status, dropped, left its connector Pending "starting" and restarted as hung).
    written = ProgramStatus(state=state, connector="c", last_error="why", counters={"skipped": 1},
                            direction="sink", position=7, lag=3)
    (tmp_path / sv.STATUS_FILE).write_text(written.to_json())
    assert sv.read_program_status(tmp_path) == json.loads(written.to_json())
    (tmp_path / sv.STATUS_FILE).write_text(ProgramStatus(state=state).to_json())  # a source's
    assert sv.read_program_status(tmp_path) is not None


# --------------------------------------------------------------------------- 11: state removed


def test_a_connector_whose_state_is_removed_stops_and_its_name_is_free_again(
    make_runtime: Callable[..., LocalRuntime],
) -> None:
    runtime = make_runtime()
    runtime.create(greeter("erased"))
    wait_for_status(runtime, "erased", ConnectorStatus.RUNNING, forbidden=FAILED)
    state = state_of(runtime, "erased")
    assert state.program_pid is not None
    supervisor, program = psutil.Process(state.pid), psutil.Process(state.program_pid)
    state_dir = runtime.root / "erased"
    shutil.rmtree(state_dir, ignore_errors=True)  # `rm -rf`, racing the program's status writes
    wait_until(lambda: stopped(supervisor) and stopped(program), 30, "the supervisor and the program to stop")
    if state_dir.exists():  # rm -rf raced a file being written: what is left is no connector
        assert not (state_dir / "config.yaml").exists()
    assert runtime.list() == []
    with pytest.raises(ConnectorNotFoundError):
        runtime.delete("erased")
    assert not state_dir.exists()
    runtime.create(greeter("erased"))
    wait_for_status(runtime, "erased", ConnectorStatus.RUNNING, forbidden=FAILED)


# --------------------------------------------------------------------------- 12: create killed at its handshake


def test_a_create_killed_at_its_handshake_is_finished_by_a_retry(
    make_runtime: Callable[..., LocalRuntime], tmp_path: Path, fluvio_home: Path
) -> None:
    """The creator dies while it waits for the supervisor's handshake (an Airflow worker killed):
    the supervisor starts the connector all the same; a create of another config says why the
    name is taken; a retry of the same config succeeds, and the records continue once each."""
    reached, gate = tmp_path / "reached", tmp_path / "gate"
    python = tmp_path / "python"
    python.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        if [ "$1" = "-I" ]; then  # the supervisor: hold it before its handshake
            touch {reached}
            while [ ! -e {gate} ]; do sleep 0.02; done
        fi
        exec {sys.executable} "$@"
    """))
    python.chmod(0o700)
    runtime = make_runtime(python=str(python))
    config = greeter("halfway", count=60, timeout="20ms")
    creator = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from airflow_provider_fluvio.runtimes.local import LocalRuntime
        from fluvio_connectors.config import load_config
        config = load_config({config.document()!r}, secrets={{}})
        LocalRuntime(python={str(python)!r}).create(config)
    """)], env={**os.environ, HOME_ENV: str(fluvio_home)})
    wait_until(reached.exists, 60, "the supervisor to be started")
    creator.kill()
    creator.wait()
    gate.touch()
    wait_until(lambda: len(values("halfway")) >= 5, 60, "the connector to produce without its creator")
    with pytest.raises(ConnectorExistsError, match="a create of it was interrupted: create it again with the "
                                                   "same config to finish that create, or delete it"):
        runtime.create(greeter("halfway", count=61, timeout="20ms"))

    runtime.create(config)  # the retry
    info = wait_for_status(runtime, "halfway", ConnectorStatus.STOPPED, timeout=60, forbidden=FAILED)
    assert values("halfway") == greetings(60) and info.records == 60
    with pytest.raises(ConnectorExistsError, match=r"^connector halfway already exists$"):
        runtime.create(config)  # a finished create is a connector like any other


def test_a_create_killed_before_its_supervisor_started_is_failed_at_once(
    make_runtime: Callable[..., LocalRuntime],
) -> None:
    runtime = make_runtime()
    config = greeter("stillborn", count=3, timeout=1)
    where = runtime.root / "stillborn"
    where.mkdir(parents=True, mode=0o700)
    (where / "config.yaml").write_text(config.to_yaml())
    (where / "create.json").write_text(json.dumps({"creator_pid": 999_999_999, "creator_started": time.time(),
                                                   "start_offset": 0, "replicas": 1, "done": False}))
    info = runtime.status("stillborn")
    assert info.status == ConnectorStatus.FAILED
    assert info.reason == ("its create was interrupted before its supervisor started; create it again with the "
                           "same config, or delete it")
    runtime.create(config)
    wait_for_status(runtime, "stillborn", ConnectorStatus.STOPPED, forbidden=FAILED)
    assert values("stillborn") == greetings(3)


# --------------------------------------------------------------------------- 4: a full disk


def test_a_full_disk_makes_the_connector_wait_and_it_recovers_when_space_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_runtime: Callable[..., LocalRuntime]
) -> None:
    with tiny_disk(tmp_path / "disk") as disk:
        home = disk.path / "home"
        monkeypatch.setenv(HOME_ENV, str(home))
        runtime = make_runtime()
        runtime.create(greeter("cramped", count=150, timeout="20ms"))
        wait_until(lambda: len(values("cramped")) >= 10, 60, "the first records")
        state = state_of(runtime, "cramped")
        supervisor = psutil.Process(state.pid)
        disk.fill()
        info = wait_until(lambda: "the disk is full" in ((i := runtime.status("cramped")).reason or "") and i,
                          60, "the status to say the disk is full")
        assert info.status == ConnectorStatus.PENDING
        assert info.reason == (f"the disk is full (no space left where {home} is); the connector waits and "
                               "resumes by itself once space is freed")
        # reading works on a full disk: the CLI, with the log open elsewhere or not
        env = {**os.environ, HOME_ENV: str(home)}
        # (the program may still store a few records into pages its log already has: count around the list)
        before = len(values("cramped"))
        listed = subprocess.run([*CLI, "topic", "list"], capture_output=True, text=True, env=env, timeout=60)
        after = len(values("cramped"))
        assert listed.returncode == 0, listed.stderr
        ((name, partitions, records),) = [line.split()[:3] for line in listed.stdout.splitlines()][1:]
        assert (name, partitions) == ("cramped", "1") and before <= int(records) <= after, listed.stdout
        read = subprocess.run([*CLI, "consume", "cramped", "-B", "-d", "-n", "3"], capture_output=True, text=True,
                              env=env, timeout=60)
        assert (read.returncode, read.stdout) == (0, "\n".join(greetings(3)) + "\n"), read.stderr
        assert supervisor.is_running()
        disk.free()
        info = wait_for_status(runtime, "cramped", ConnectorStatus.STOPPED, timeout=90, forbidden=FAILED)
        assert values("cramped") == greetings(150) and info.records == 150
        assert supervisor.pid == state.pid  # the same supervisor all along
        runtime.delete("cramped")


def test_the_supervisor_survives_a_state_it_cannot_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same without root: the write fails with ENOSPC where it is made."""
    (tmp_path / "config.yaml").write_text("x")
    supervisor = sv.Supervisor(tmp_path, "m", sv.RestartPolicy(), sys.executable)
    real = sv.write_json_atomic
    failing = True

    def write(path: Path, data: dict[str, Any]) -> None:
        if failing:
            raise OSError(28, os.strerror(28))
        real(path, data)

    monkeypatch.setattr(sv, "write_json_atomic", write)
    supervisor.save(restarts=3)
    assert supervisor.write_error == "No space left on device" and not (tmp_path / sv.STATE_FILE).exists()
    failing = False
    supervisor.save_again_at = 0.0
    assert supervisor.housekeeping()
    assert supervisor.write_error is None and sv.read_state(tmp_path).restarts == 3  # type: ignore[union-attr]


def test_reading_a_log_that_cannot_be_written(tmp_path: Path) -> None:
    """A full disk, then a read-only home: reads still work; a write says why it cannot be made."""
    with tiny_disk(tmp_path / "disk") as disk:
        log = disk.path / "topics.db"
        with EmbeddedTopics(log) as topics:
            topics.create_topic("kept")
            with topics.producer("kept") as producer:
                producer.send_many([(None, f"r{i}".encode()) for i in range(5)])
        disk.fill()
        with EmbeddedTopics(log) as topics:
            assert topics.list_topics() == ["kept"]
            assert [r.value for r in topics.read("kept")] == [f"r{i}".encode() for i in range(5)]
            with pytest.raises(BackendError, match=r"nothing can be written to the topic log now: .*\(the disk is full\)"):
                topics.create_topic("more")
        disk.free()
        view = tmp_path / "read-only"  # the same files, seen through a read-only mount
        view.mkdir()
        subprocess.run(["mount", "--bind", str(disk.path), str(view)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
            with EmbeddedTopics(view / "topics.db") as topics:
                assert [r.value for r in topics.read("kept", 3)] == [b"r3", b"r4"]
                with pytest.raises(BackendError, match="nothing can be written to the topic log now"):
                    topics.delete_topic("kept")
        finally:
            subprocess.run(["umount", "-l", str(view)], check=True)


# --------------------------------------------------------------------------- 16: private files, rotation


def test_state_files_are_private_and_the_log_rotates_by_size(
    make_runtime: Callable[..., LocalRuntime], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a proof-of-life line every 20 ms (it is written with a heartbeat)
    monkeypatch.setenv("FLUVIO_CONNECTOR_LIFE_INTERVAL", "0.02")
    monkeypatch.setenv("FLUVIO_CONNECTOR_HEARTBEAT", "0.02")
    runtime = make_runtime(log_max_bytes=4096)
    runtime.create(greeter("chatty", count=100, timeout="20ms"))
    state_dir = runtime.root / "chatty"
    wait_for_status(runtime, "chatty", ConnectorStatus.STOPPED, forbidden=FAILED)
    wait_until(lambda: state_of(runtime, "chatty").phase == sv.FINISHED, 10, "the supervisor to finish")
    current = (state_dir / "connector.log").read_text().splitlines()
    older = (state_dir / "connector.log.1").read_text().splitlines()
    assert any("connector.log reached" in line and "its earlier lines are in connector.log.1" in line
               for line in current + older)
    # at most one check interval (1 s) of lines past the limit, far less than the 100 records' lines
    assert (state_dir / "connector.log").stat().st_size < 4 * 4096
    assert runtime.logs("chatty", tail=None) == older + current
    assert runtime.logs("chatty", tail=len(current) + 2) == older[-2:] + current
    for path in [state_dir, *state_dir.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"
