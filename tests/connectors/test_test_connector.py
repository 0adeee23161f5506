"""The test connector and the lifecycle every connector program shares, as real processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from connector_fixtures import ConnectorProcess, read_topic, topic_size, wait_for

from fluvio_connectors.settings import Settings
from fluvio_connectors.status import ProgramState
from fluvio_connectors.topics.embedded import EmbeddedTopics

TEST = "fluvio_connectors.test_connector"
Make = Callable[..., ConnectorProcess]


def config(to: str = "greetings", create_topic: bool = True, **parameters: object) -> dict[str, object]:
    return {"version": "v1", "name": "my-test-connector", "type": "test-connector", "direction": "source",
            "topic": to, "create_topic": create_topic, "parameters": parameters}


def greetings(topic: str) -> list[str]:
    return [r.value_text() for r in read_topic(topic)]


def test_count_20_gives_exactly_20_records_then_finishes(
    connector: Make, topics_backend: str, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("greetings")
    proc = connector(TEST, config(topic, count=20, timeout=10)).start()
    assert proc.wait(timeout=60) == 0
    records = read_topic(topic)
    assert [r.value_text() for r in records] == [f"Hello, Fluvio! - {i}" for i in range(1, 21)]
    assert all(r.key == b"my-test-connector" for r in records)  # its name: its own records, after a restart
    status = proc.status()
    assert status is not None and status.state is ProgramState.FINISHED and status.records == 20
    assert "finished: 20 records" in proc.log()


def test_records_are_paced_by_timeout_as_a_duration(connector: Make) -> None:
    proc = connector(TEST, config(count=5, timeout="100ms")).start()
    assert proc.wait() == 0
    stamps = [r.timestamp for r in read_topic("greetings")]
    assert len(stamps) == 5
    assert stamps[-1] - stamps[0] >= 0.3  # four intervals of 100 ms (a busy machine can only make it longer)


def test_the_seed_example_loads_unchanged_and_runs_until_stopped(connector: Make) -> None:
    seed = """\
version: v1
name: my-test-connector
type: test-connector
topic: my-test-connector
create_topic: true
direction: source
parameters:
  topic: my-test-connector
  timeout: 20
"""
    proc = connector(TEST, seed).start()
    proc.wait_state(ProgramState.READY)
    wait_for(lambda: topic_size("my-test-connector") >= 5, 20, "5 records")
    assert proc.stop() == 0
    status = proc.status()
    assert status is not None and status.state is ProgramState.STOPPED
    produced = greetings("my-test-connector")
    assert produced == [f"Hello, Fluvio! - {i}" for i in range(1, len(produced) + 1)]
    assert status.records == len(produced)  # everything counted was flushed before exiting
    assert "stopped on SIGTERM" in proc.log()


def test_sigint_also_stops_cleanly(connector: Make) -> None:
    proc = connector(TEST, config(timeout=10)).start()
    proc.wait_state(ProgramState.READY)
    proc.signal(signal.SIGINT)
    assert proc.wait() == 0
    assert proc.status().state is ProgramState.STOPPED  # type: ignore[union-attr]


def test_missing_topic_without_create_topic_exits_1_with_the_message(connector: Make) -> None:
    proc = connector(TEST, config(to="not-there", create_topic=False, count=3)).start()
    assert proc.wait() == 1
    log = proc.log()
    assert "topic not-there does not exist" in log and "create_topic: true" in log
    assert "Traceback" not in log
    status = proc.status()
    assert status is not None and status.state is ProgramState.FAILED
    assert "does not exist" in (status.last_error or "")
    with EmbeddedTopics(Settings.from_env().log_path) as topics:
        assert not topics.topic_exists("not-there")


def test_existing_topic_without_create_topic_is_used(connector: Make) -> None:
    with EmbeddedTopics(Settings.from_env().log_path) as topics:
        topics.create_topic("existing")
        with topics.producer("existing") as producer:
            producer.send(None, b"already here")
    proc = connector(TEST, config(to="existing", create_topic=False, count=2, timeout=1)).start()
    assert proc.wait() == 0
    assert greetings("existing") == ["already here", "Hello, Fluvio! - 1", "Hello, Fluvio! - 2"]


def test_legacy_topic_parameter_must_equal_the_topic(connector: Make) -> None:
    proc = connector(TEST, config(to="greetings", count=1, topic="elsewhere")).start()
    assert proc.wait() == 2
    log = proc.log()
    assert "parameters.topic" in log and "must equal the topic" in log
    assert "Traceback" not in log
    assert topic_size("greetings") == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the config is empty"),
        ("name: [unclosed", "not valid YAML"),
        ("name: x\ntype: test-connector\ntopic: t\nparameters: {count: -1}\n", "parameters.count"),
        ("name: x\ntype: test-connector\ntopic: t\nparameters: {cuont: 3}\n", "did you mean count"),
    ],
    ids=["empty", "not-yaml", "bad-count", "misspelt"],
)
def test_bad_config_exits_2_with_one_line(connector: Make, text: str, message: str) -> None:
    proc = connector(TEST, text).start()
    assert proc.wait() == 2
    lines = proc.log().strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert proc.status().state is ProgramState.FAILED  # type: ignore[union-attr]


def test_missing_config_file_and_bad_usage(tmp_path: Path) -> None:
    run = [sys.executable, "-m", TEST]
    missing = subprocess.run([*run, "--config", str(tmp_path / "nope.yaml")], capture_output=True, text=True,
                             timeout=30)
    assert missing.returncode == 2 and "file not found" in missing.stderr
    usage = subprocess.run(run, capture_output=True, text=True, timeout=30)
    assert usage.returncode == 2 and "--config" in usage.stderr


def test_an_mqtt_config_is_refused(connector: Make) -> None:
    parameters = {"mqtt-url": "127.0.0.1", "mqtt-topic": "a"}
    mqtt = {"name": "x", "type": "mqtt", "topic": "t", "parameters": parameters}
    proc = connector(TEST, mqtt).start()
    assert proc.wait() == 2
    assert "this program runs test-connector connectors" in proc.log()


def test_secrets_file_resolves_references(connector: Make) -> None:
    cdk = {"apiVersion": "0.1.0",
           "meta": {"name": "cdk-test", "type": "test-connector", "version": "0.1.0", "topic": "cdk",
                    "create-topic": True, "secrets": [{"name": "COUNT"}]},
           "test": {"count": "${{ secrets.COUNT }}", "timeout": 1}}
    proc = connector(TEST, cdk, secrets={"COUNT": "3"}).start()
    assert proc.wait() == 0
    assert greetings("cdk") == [f"Hello, Fluvio! - {i}" for i in (1, 2, 3)]


def test_proof_of_life_lines_and_heartbeat(connector: Make) -> None:
    proc = connector(TEST, config(timeout=50), env={"FLUVIO_CONNECTOR_LIFE_INTERVAL": "0.5"}).start()
    first = proc.wait_state(ProgramState.READY)
    wait_for(lambda: proc.log().count("alive: ready") >= 2, 10, "two proof-of-life lines")
    later = wait_for(lambda: (s := proc.status()) and s.updated_at > first.updated_at + 0.3 and s, 10,
                     "a heartbeat rewrite")
    assert later.records > 0
    assert proc.stop() == 0


def test_stay_after_finish_keeps_reporting_finished_until_stopped(connector: Make) -> None:
    stay = {"FLUVIO_CONNECTOR_STAY_AFTER_FINISH": "1"}
    proc = connector(TEST, config(count=3, timeout=1), env=stay).start()
    proc.wait_state(ProgramState.FINISHED)
    command = [sys.executable, "-m", "fluvio_connectors.probe", "--status-file", str(proc.status_path)]
    probe = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert probe.returncode == 0 and "finished, 3 records" in probe.stdout
    assert proc.process is not None and proc.process.poll() is None
    assert proc.stop() == 0
    assert greetings("greetings") == [f"Hello, Fluvio! - {i}" for i in (1, 2, 3)]


def pid_1_supported() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run([unshare, "--pid", "--fork", "--kill-child", "/bin/sh", "-c", "test $$ = 1"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not pid_1_supported(), reason="needs unshare --pid (root or user namespaces)")
def test_as_pid_1_like_in_a_container_sigterm_flushes_and_exits_0(connector: Make) -> None:
    # PID 1 gets no default signal actions: without its own handlers SIGTERM would be ignored.
    proc = connector(TEST, config(timeout=20))
    unshare = shutil.which("unshare")
    assert unshare is not None
    command = [unshare, "--pid", "--fork", "--kill-child", sys.executable, "-m", TEST,
               "--config", str(proc.config_path)]
    with open(proc.log_path, "ab") as log:
        outer = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=proc.env)
    try:
        status = proc.wait_state(ProgramState.READY)
        assert status.pid == 1  # as the program sees itself
        children = Path(f"/proc/{outer.pid}/task/{outer.pid}/children").read_text().split()
        assert len(children) == 1
        os.kill(int(children[0]), signal.SIGTERM)  # its pid as seen from here
        assert outer.wait(timeout=15) == 0
    finally:
        if outer.poll() is None:
            outer.kill()
            outer.wait()
    final = proc.status()
    assert final is not None and final.state is ProgramState.STOPPED and final.pid == 1
    assert final.records == topic_size("greetings") > 0
