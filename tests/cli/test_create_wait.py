"""``fluvio-connector create --wait``: a bounded wait that, when it gives up, says why and that the
connector is still there (and how to delete it)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_fluvio.cli import main
from airflow_provider_fluvio.runtimes.local import LocalRuntime

STILL_THERE = "; the connector is still there: fluvio-connector delete unreachable removes it"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def unreachable(tmp_path: Path) -> Iterator[Path]:
    """The seed's MQTT example, pointed at a 127.0.0.1 port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "unreachable.yaml"
    path.write_text(f"""\
version: latest
name: unreachable
type: mqtt
direction: source
topic: my-mqtt
create_topic: true
parameters:
  mqtt-url: "mqtt://127.0.0.1:{port}"
  mqtt-topic: "/hfp/v2/journey/#"
  timeout: 2
""")
    yield path
    runtime = LocalRuntime()
    for info in runtime.list():
        runtime.delete(info.name)


def test_create_wait_gives_up_after_the_pending_timeout(capsys: pytest.CaptureFixture[str], unreachable: Path) -> None:
    code, out, err = run(capsys, "create", "--config", str(unreachable), "--wait", "600", "--pending-timeout", "3")
    assert code == 1
    assert out == 'connector "unreachable" created\n'
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.fullmatch(
        r"error: connector unreachable has been Pending for \d+s \(pending_timeout 3s\): "
        r"(starting|reconnecting: cannot connect to mqtt://127\.0\.0\.1:\d+: .+)" + re.escape(STILL_THERE) + "\n",
        err,
    ), err
    assert LocalRuntime().status("unreachable").status.value == "Pending"  # still there, still trying
    assert run(capsys, "delete", "unreachable")[0] == 0


def test_create_wait_deadline_says_the_connector_stays(capsys: pytest.CaptureFixture[str], unreachable: Path) -> None:
    code, _out, err = run(capsys, "create", "--config", str(unreachable), "--wait", "1")
    assert code == 1
    assert err.startswith("error: connector unreachable is still Pending (") and err.endswith(f" after 1s{STILL_THERE}\n")


def test_create_help_documents_the_pending_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["create", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--pending-timeout SECONDS" in text and "default: 600." in text
