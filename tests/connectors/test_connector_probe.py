"""The readiness probe: exit 0 only for a fresh ready/finished status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fluvio_connectors import probe
from fluvio_connectors.status import STALE_AFTER_SECONDS, ProgramState, ProgramStatus, write_status


def status_file(tmp_path: Path, state: ProgramState, age: float = 0.0, error: str | None = None) -> Path:
    path = tmp_path / "status.json"
    write_status(path, ProgramStatus(state=state, connector="my-mqtt", records=7, last_error=error))
    if age:
        updated = ProgramStatus.from_dict(json.loads(path.read_text()))
        updated.updated_at -= age
        path.write_text(updated.to_json())
    return path


@pytest.mark.parametrize("state", [ProgramState.READY, ProgramState.FINISHED])
def test_fresh_ready_or_finished_is_healthy(tmp_path: Path, state: ProgramState,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert probe.main(["--status-file", str(status_file(tmp_path, state))]) == 0
    assert capsys.readouterr().out.strip() == f"my-mqtt: {state.value}, 7 records"


@pytest.mark.parametrize(
    ("state", "error", "expected"),
    [
        (ProgramState.STARTING, None, "my-mqtt: starting"),
        (ProgramState.RECONNECTING, "cannot connect to mqtt://b", "my-mqtt: reconnecting (cannot connect"),
        (ProgramState.FAILED, "topic t does not exist", "my-mqtt: failed (topic t does not exist)"),
        (ProgramState.STOPPED, None, "my-mqtt: stopped"),
    ],
)
def test_other_states_are_not_ready(tmp_path: Path, state: ProgramState, error: str | None, expected: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert probe.main(["--status-file", str(status_file(tmp_path, state, error=error))]) == 1
    assert capsys.readouterr().err.startswith(expected)


def test_a_stale_status_means_hung(tmp_path: Path) -> None:
    healthy, reason = probe.check(status_file(tmp_path, ProgramState.READY, age=STALE_AFTER_SECONDS + 5))
    assert not healthy and "hung" in reason


def test_missing_or_garbled_status(tmp_path: Path) -> None:
    healthy, reason = probe.check(tmp_path / "nothing.json")
    assert not healthy and "no status yet" in reason
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json")
    healthy, reason = probe.check(garbled)
    assert not healthy and "not a readable connector status" in reason


def test_as_a_command_reading_the_environment(tmp_path: Path) -> None:
    path = status_file(tmp_path, ProgramState.READY)
    env = {"FLUVIO_CONNECTOR_STATUS_FILE": str(path), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "fluvio_connectors.probe", "--quiet"], env=env,
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and ok.stdout == ""
    env["FLUVIO_CONNECTOR_STATUS_FILE"] = str(tmp_path / "absent.json")
    bad = subprocess.run([sys.executable, "-m", "fluvio_connectors.probe"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert bad.returncode == 1 and "no status yet" in bad.stderr
