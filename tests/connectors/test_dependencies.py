"""A library without a private name the programs rely on stops them at their start with one line
naming what is missing and what to install, never a traceback from inside a thread later."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from connector_fixtures import ConnectorProcess

from fluvio_connectors.config_files import read_secrets_file
from fluvio_connectors.errors import DependencyError
from fluvio_connectors.status import ProgramState

Make = Callable[..., ConnectorProcess]

# Imported by Python at start-up from PYTHONPATH: makes the installed paho look like a release
# that renamed one of the internals mqtt_client.py uses.
WITHOUT_PACKET_READ = "import paho.mqtt.client as paho\ndel paho.Client._packet_read\n"


def test_a_paho_without_an_internal_stops_the_mqtt_source_in_one_line(connector: Make, tmp_path: Path) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(WITHOUT_PACKET_READ)
    config = {"name": "old-paho", "type": "mqtt", "topic": "old-paho", "create_topic": True,
              "parameters": {"mqtt-url": "mqtt://127.0.0.1:1", "mqtt-topic": "a"}}
    proc = connector("fluvio_connectors.mqtt", config, env={"PYTHONPATH": str(shim)}).start()
    assert proc.wait(timeout=60) == 1
    status = proc.status()
    assert status is not None and status.state is ProgramState.FAILED
    assert status.last_error is not None and status.last_error.startswith(
        "paho-mqtt 2.2.0 lacks Client._packet_read, which the MQTT source relies on; install "
        "paho-mqtt>=2.2,<2.3 (as connectors/requirements.txt pins)")
    assert "Traceback" not in proc.log()


def test_a_dotenv_without_its_parser_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import dotenv.parser

    monkeypatch.delattr(dotenv.parser, "parse_stream")
    secrets = tmp_path / "secrets.env"
    secrets.write_text("A=1\n")
    with pytest.raises(DependencyError) as error:
        read_secrets_file(secrets)
    assert str(error.value).startswith("python-dotenv ")
    assert str(error.value).endswith(" lacks dotenv.parser.parse_stream, which reading a secrets file relies on; "
                                     "install python-dotenv>=1.0,<2 (as connectors/requirements.txt pins)")
