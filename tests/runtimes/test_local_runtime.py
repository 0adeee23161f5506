"""The local runtime with real processes: real test-connector programs, real kills, real restarts."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from runtime_testing import live_group_members, state_of, wait_for_status, wait_until

from airflow_provider_fluvio.runtimes import get_runtime
from airflow_provider_fluvio.runtimes import supervisor as sv
from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from airflow_provider_fluvio.runtimes.local import LocalRuntime
from fluvio_connectors.config import ConnectorConfig, load_config
from fluvio_connectors.errors import ConfigError, ConnectorExistsError, ConnectorNotFoundError, TopicMissingError
from fluvio_connectors.settings import Settings
from fluvio_connectors.status import STATUS_FILE_ENV
from fluvio_connectors.topics import open_topics

NOT_FAILED = {ConnectorStatus.FAILED}


def connector(
    name: str, topic: str = "greetings", create_topic: bool = True, **parameters: Any
) -> ConnectorConfig:
    return load_config(
        {
            "name": name,
            "type": "test-connector",
            "topic": topic,
            "create_topic": create_topic,
            "parameters": parameters or {"timeout": "20ms"},
        },
        secrets={},
    )


def values(topic: str) -> list[str]:
    topics = open_topics()
    try:
        return [r.value_text() for r in topics.read(topic)]
    finally:
        topics.close()


@pytest.fixture
def runtime() -> Iterator[LocalRuntime]:
    rt = LocalRuntime(
        backoff_initial=0.05,
        backoff_max=0.5,
        max_crashes=3,
        crash_window=30.0,
        stable_after=1.0,
        stop_timeout=5.0,
    )
    yield rt
    for info in rt.list():  # never leave a process behind, whatever the test did
        rt.delete(info.name)


def test_status_file_variable_matches_the_programs() -> None:
    assert sv.STATUS_FILE_ENV == STATUS_FILE_ENV


def test_create_goes_pending_then_running_and_produces(
    topics_backend: str, topic_name: Callable[[str], str], runtime: LocalRuntime
) -> None:
    greetings = topic_name("greetings")
    info = runtime.create(connector("my-test-connector", topic=greetings))
    assert (info.name, info.type, info.topic, info.runtime) == (
        "my-test-connector",
        "test-connector",
        greetings,
        "local",
    )
    assert info.status in (ConnectorStatus.PENDING, ConnectorStatus.RUNNING)
    running = wait_for_status(runtime, "my-test-connector", ConnectorStatus.RUNNING, forbidden=NOT_FAILED)
    assert running.restarts == 0 and running.reason is None and running.started_at is not None
    wait_until(lambda: len(values(greetings)) >= 3, 20, "records")
    assert values(greetings)[:3] == ["Hello, Fluvio! - 1", "Hello, Fluvio! - 2", "Hello, Fluvio! - 3"]
    assert [i.name for i in runtime.list()] == ["my-test-connector"]
    state_dir = runtime.root / "my-test-connector"
    assert {"config.yaml", "connector.log", "supervisor.json", "status.json"} <= {
        p.name for p in state_dir.iterdir()
    }
    assert any(
        "test-connector[my-test-connector]: starting" in line for line in runtime.logs("my-test-connector")
    )


def test_secrets_reach_the_program_only_through_its_environment(
    runtime: LocalRuntime, fluvio_home: Path
) -> None:
    secret = "tok-9f8e7d6c5b4a"
    config = load_config(
        {
            "name": "with-secret",
            "type": "test-connector",
            "topic": "greetings",
            "create_topic": True,
            "parameters": {"timeout": "50ms"},
            "secrets": {"API_TOKEN": secret},
        },
        secrets={},
    )
    runtime.create(config)
    # The program resolves the declared secret API_TOKEN from its environment or refuses to start.
    wait_for_status(runtime, "with-secret", ConnectorStatus.RUNNING, forbidden=NOT_FAILED)
    program_pid = state_of(runtime, "with-secret").program_pid
    assert program_pid is not None
    assert psutil.Process(program_pid).environ()["API_TOKEN"] == secret
    stored = yaml_load(runtime.root / "with-secret" / "config.yaml")
    assert stored["secrets"] == ["API_TOKEN"]
    for path in fluvio_home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in json.dumps(runtime.status("with-secret").to_dict())


def yaml_load(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text())


def test_the_program_environment_is_the_settings_not_the_creators(
    fluvio_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgres://user:pw@db/warehouse")
    monkeypatch.setenv("FLUVIO_ENDPOINT", "127.0.0.1:1")  # not where these settings keep topics
    monkeypatch.setenv("FLUVIO_CONNECTOR_LOG_LEVEL", "DEBUG")
    runtime = LocalRuntime(Settings(home=fluvio_home))
    try:
        runtime.create(connector("clean-env"))
        wait_for_status(runtime, "clean-env", ConnectorStatus.RUNNING, forbidden=NOT_FAILED)
        program_pid = state_of(runtime, "clean-env").program_pid
        assert program_pid is not None
        env = psutil.Process(program_pid).environ()
        assert "AIRFLOW_CONN_WAREHOUSE" not in env and "FLUVIO_ENDPOINT" not in env
        assert env["FLUVIO_CONNECTORS_HOME"] == str(fluvio_home)
        assert env["FLUVIO_CONNECTOR_LOG_LEVEL"] == "DEBUG"
    finally:
        runtime.delete("clean-env")


def test_missing_topic_fails_and_leaves_nothing_behind(runtime: LocalRuntime) -> None:
    with pytest.raises(TopicMissingError, match="topic nowhere does not exist"):
        runtime.create(connector("orphan", topic="nowhere", create_topic=False))
    assert runtime.list() == []
    assert not (runtime.root / "orphan").exists()
    with pytest.raises(ConnectorNotFoundError):
        runtime.status("orphan")


def test_existing_topic_without_create_topic_is_used(runtime: LocalRuntime) -> None:
    topics = open_topics()
    try:
        topics.create_topic("existing")
    finally:
        topics.close()
    runtime.create(connector("uses-existing", topic="existing", create_topic=False, count=2, timeout=1))
    wait_for_status(runtime, "uses-existing", ConnectorStatus.STOPPED, forbidden=NOT_FAILED)
    assert values("existing") == ["Hello, Fluvio! - 1", "Hello, Fluvio! - 2"]


def test_duplicate_create_fails_and_keeps_the_first(runtime: LocalRuntime) -> None:
    runtime.create(connector("dup"))
    first = state_of(runtime, "dup").pid
    with pytest.raises(ConnectorExistsError, match="connector dup already exists"):
        runtime.create(connector("dup"))
    assert state_of(runtime, "dup").pid == first
    assert len(runtime.list()) == 1
    wait_for_status(runtime, "dup", ConnectorStatus.RUNNING, forbidden=NOT_FAILED)


def test_missing_names(runtime: LocalRuntime) -> None:
    for call in (runtime.delete, runtime.status, runtime.logs):
        with pytest.raises(ConnectorNotFoundError, match="connector ghost not found"):
            call("ghost")
    with pytest.raises(ConfigError, match="is not a valid connector name"):
        runtime.delete("../connectors")


def test_finite_count_stops_and_recreate_appends_to_the_same_topic(
    topics_backend: str, topic_name: Callable[[str], str], runtime: LocalRuntime
) -> None:
    finite = topic_name("finite")
    runtime.create(connector("finite", topic=finite, count=5, timeout=1))
    info = wait_for_status(runtime, "finite", ConnectorStatus.STOPPED, forbidden=NOT_FAILED)
    assert info.records == 5 and info.reason == "finished"
    assert [(i.name, i.status) for i in runtime.list()] == [("finite", ConnectorStatus.STOPPED)]
    expected = [f"Hello, Fluvio! - {i}" for i in range(1, 6)]
    assert values(finite) == expected
    runtime.delete("finite")
    assert runtime.list() == []
    with pytest.raises(ConnectorNotFoundError):
        runtime.status("finite")
    assert values(finite) == expected  # delete keeps the topic and its records
    runtime.create(connector("finite", topic=finite, count=5, timeout=1))
    wait_for_status(runtime, "finite", ConnectorStatus.STOPPED, forbidden=NOT_FAILED)
    assert values(finite) == expected + expected


def test_a_killed_program_comes_back_and_the_restart_is_counted(runtime: LocalRuntime) -> None:
    runtime.create(connector("phoenix"))
    wait_for_status(runtime, "phoenix", ConnectorStatus.RUNNING, forbidden=NOT_FAILED)
    victim = state_of(runtime, "phoenix").program_pid
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: state_of(runtime, "phoenix").restarts == 1, 10, "the restart")
    info = wait_for_status(runtime, "phoenix", ConnectorStatus.RUNNING, forbidden=NOT_FAILED)
    assert info.restarts == 1
    assert state_of(runtime, "phoenix").program_pid != victim
    before = len(values("greetings"))
    wait_until(lambda: len(values("greetings")) > before, 10, "records after the restart")
    assert any("killed by SIGKILL" in line for line in runtime.logs("phoenix"))


def test_a_connector_that_always_crashes_becomes_failed_with_its_error(runtime: LocalRuntime) -> None:
    topics = open_topics()
    try:
        topics.create_topic("doomed")
    finally:
        topics.close()
    runtime.create(connector("doomed", topic="doomed", create_topic=False))
    wait_for_status(runtime, "doomed", ConnectorStatus.RUNNING, forbidden=NOT_FAILED)
    # Its topic goes away: every start now exits non-zero with "topic doomed does not exist".
    topics = open_topics()
    try:
        topics.delete_topic("doomed")
    finally:
        topics.close()
    info = wait_for_status(runtime, "doomed", ConnectorStatus.FAILED, timeout=30)
    assert info.reason is not None and "crash loop" in info.reason
    assert "topic doomed does not exist" in info.reason
    assert info.restarts >= 3
    # Failed, not flapping back to Pending while it keeps retrying with backoff: Failed at every look
    # until its supervisor has restarted it once more (the fence).

    def restarted_while_failed() -> bool:
        again = runtime.status("doomed")
        assert again.status == ConnectorStatus.FAILED, f"{again.status}: {again.reason}"
        return again.restarts > info.restarts

    wait_until(restarted_while_failed, 30, "one more restart of doomed")
    # Like a Deployment it keeps trying: once the topic is back and it has run for a while, it is
    # Running again.
    topics = open_topics()
    try:
        topics.create_topic("doomed")
    finally:
        topics.close()
    wait_for_status(runtime, "doomed", ConnectorStatus.RUNNING, timeout=30)


def test_restart_policy() -> None:
    policy = sv.RestartPolicy(backoff_initial=0.5, backoff_max=4.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    _, module, parsed, _ = sv.parse_args(["/tmp/x", "--module", "m", *policy.to_args()])
    assert (module, parsed) == ("m", policy)


def test_delete_leaves_no_process_and_keeps_the_topic(runtime: LocalRuntime) -> None:
    runtime.create(connector("tidy"))
    wait_for_status(runtime, "tidy", ConnectorStatus.RUNNING, forbidden=NOT_FAILED)
    state = state_of(runtime, "tidy")
    group = os.getpgid(state.pid)
    assert group == state.pid and os.getpgid(state.program_pid or 0) == group
    assert group != os.getpgid(0)  # detached: not in the creator's process group
    runtime.delete("tidy")
    assert live_group_members(group) == []
    assert not (runtime.root / "tidy").exists()
    assert runtime.list() == []
    assert values("greetings")[0] == "Hello, Fluvio! - 1"


def test_a_lost_supervisor_is_failed_and_delete_still_cleans_up(runtime: LocalRuntime) -> None:
    runtime.create(connector("headless"))
    wait_for_status(runtime, "headless", ConnectorStatus.RUNNING, forbidden=NOT_FAILED)
    state = state_of(runtime, "headless")
    os.kill(state.pid, signal.SIGKILL)  # the program follows its supervisor (parent-death signal)
    info = wait_for_status(runtime, "headless", ConnectorStatus.FAILED)
    assert info.reason is not None and "supervisor" in info.reason and "is gone" in info.reason
    wait_until(lambda: state.program_pid not in live_group_members(state.pid), 30, "the orphaned program to stop")
    runtime.delete("headless")
    assert live_group_members(state.pid) == []


def test_a_half_created_connector_is_failed_after_a_grace(runtime: LocalRuntime) -> None:
    state_dir = runtime.root / "half"
    state_dir.mkdir(parents=True)
    (state_dir / "config.yaml").write_text(connector("half").to_yaml())
    assert runtime.status("half").status == ConnectorStatus.PENDING
    old = time.time() - 3600
    os.utime(state_dir / "config.yaml", (old, old))
    info = runtime.status("half")
    assert info.status == ConnectorStatus.FAILED and "never started" in (info.reason or "")
    runtime.delete("half")
    assert runtime.list() == []


def test_logs_tail_and_follow(runtime: LocalRuntime) -> None:
    runtime.create(connector("chatty", topic="chatty", count=3, timeout=1))
    wait_for_status(runtime, "chatty", ConnectorStatus.STOPPED, forbidden=NOT_FAILED)
    wait_until(lambda: state_of(runtime, "chatty").phase == sv.FINISHED, 10, "the supervisor to finish")
    lines = runtime.logs("chatty", tail=None)
    assert any("finished: 3 records" in line for line in lines)
    assert runtime.logs("chatty", tail=1) == lines[-1:]
    assert runtime.logs("chatty", tail=0) == []
    # The connector has finished: following prints the tail and ends.
    assert list(runtime.follow_logs("chatty", tail=2)) == lines[-2:]


def test_follow_logs_sees_new_lines_until_the_connector_stops(runtime: LocalRuntime) -> None:
    runtime.create(connector("streamer", topic="streamer", count=3, timeout=600))
    followed = list(runtime.follow_logs("streamer", tail=0))  # returns once the connector finished
    assert any("finished: 3 records" in line for line in followed)
    assert runtime.status("streamer").status == ConnectorStatus.STOPPED


def test_connectors_outlive_their_creator(runtime: LocalRuntime, fluvio_home: Path) -> None:
    script = textwrap.dedent("""
        from fluvio_connectors.config import load_config
        from airflow_provider_fluvio.runtimes import get_runtime
        get_runtime("local").create(load_config(
            {"name": "survivor", "type": "test-connector", "topic": "greetings", "create_topic": True,
             "parameters": {"timeout": "50ms"}}, secrets={}))
    """)
    subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        timeout=60,
        env={**os.environ, "FLUVIO_CONNECTORS_HOME": str(fluvio_home)},
    )
    # The creating process has exited; this one sees and manages its connector.
    info = wait_for_status(runtime, "survivor", ConnectorStatus.RUNNING, forbidden=NOT_FAILED)
    assert info.runtime == "local"
    assert [i.name for i in get_runtime("local").list()] == ["survivor"]
    runtime.delete("survivor")
    assert runtime.list() == []


# One process per slot, reused for both rounds (create, then delete): each round starts on a line
# on stdin, so the ten processes act at the same moment, and the imports are paid once.
WORKER = textwrap.dedent("""
    import json, sys
    from fluvio_connectors.config import load_config
    from fluvio_connectors.errors import FluvioConnectorError
    from airflow_provider_fluvio.runtimes.local import LocalRuntime
    own = sys.argv[1]
    runtime = LocalRuntime()
    print("ready", flush=True)
    for action in sys.stdin:
        outcome = {}
        for name in (own, "shared"):
            try:
                if action.strip() == "create":
                    runtime.create(load_config(
                        {"name": name, "type": "test-connector", "topic": "crowd", "create_topic": True,
                         "parameters": {"timeout": 5000}}, secrets={}))
                else:
                    runtime.delete(name)
                outcome[name] = "ok"
            except FluvioConnectorError as exc:
                outcome[name] = type(exc).__name__
        print(json.dumps(outcome), flush=True)
""")


class Workers:
    def __init__(self, names: list[str], home: Path) -> None:
        env = {**os.environ, "FLUVIO_CONNECTORS_HOME": str(home), "PYDANTIC_DISABLE_PLUGINS": "__all__"}
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, name],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for name in names
        ]
        for proc in self.procs:
            assert self._line(proc) == "ready"

    @staticmethod
    def _line(proc: subprocess.Popen[str]) -> str:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        assert ready, "a worker did not answer within 120 s"
        return proc.stdout.readline().strip()

    def run(self, action: str) -> list[dict[str, str]]:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(action + "\n")
            proc.stdin.flush()
        return [json.loads(self._line(proc)) for proc in self.procs]

    def close(self) -> None:
        for proc in self.procs:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=60)


def test_ten_concurrent_creates_and_deletes_leave_a_consistent_state(
    runtime: LocalRuntime, fluvio_home: Path
) -> None:
    names = [f"crowd-{i}" for i in range(10)]
    workers = Workers(names, fluvio_home)
    try:
        created = workers.run("create")
        assert all(r[n] == "ok" for r, n in zip(created, names, strict=True))
        assert sorted(r["shared"] for r in created) == ["ConnectorExistsError"] * 9 + ["ok"]
        infos = runtime.list()
        assert [i.name for i in infos] == sorted([*names, "shared"])
        groups = [state_of(runtime, i.name).pid for i in infos]
        assert len(set(groups)) == 11  # one supervisor each, no duplicate
        for name in [*names, "shared"]:
            wait_for_status(runtime, name, ConnectorStatus.RUNNING, timeout=60, forbidden=NOT_FAILED)

        deleted = workers.run("delete")
    finally:
        workers.close()
    assert all(r[n] == "ok" for r, n in zip(deleted, names, strict=True))
    assert sorted(r["shared"] for r in deleted) == ["ConnectorNotFoundError"] * 9 + ["ok"]
    assert runtime.list() == []
    assert [p.name for p in runtime.root.iterdir() if not p.name.startswith(".")] == []
    assert all(live_group_members(group) == [] for group in groups)


def test_get_runtime_local_passes_options() -> None:
    runtime = get_runtime("local", backoff_initial=0.2)
    assert isinstance(runtime, LocalRuntime) and runtime.policy.backoff_initial == 0.2


def test_compression_on_the_embedded_log_is_refused_at_create_and_nothing_is_made(runtime: LocalRuntime) -> None:
    config = load_config({"name": "squeezed", "type": "test-connector", "topic": "squeezed", "create_topic": True,
                          "producer": {"compression": "gzip", "batch-size": "16kib"}}, secrets={})
    with pytest.raises(ConfigError, match=r"^producer\.compression gzip: the embedded log stores records uncompressed"):
        runtime.create(config)
    assert runtime.list() == []
    topics = open_topics()
    try:
        assert not topics.topic_exists("squeezed")
    finally:
        topics.close()


def test_what_a_connector_leaves_in_the_state_directory_is_private(runtime: LocalRuntime) -> None:
    """The README's promise: files 0600, directories 0700 (config.yaml and connector.log were
    0644), for every replica; the umask of whoever creates the connector does not matter."""
    import os
    import stat

    previous = os.umask(0o022)
    try:
        runtime.create(connector("private-files", topic="private-files", count=3, timeout="10ms"))
    finally:
        os.umask(previous)
    finished = wait_for_status(runtime, "private-files", ConnectorStatus.STOPPED, forbidden=NOT_FAILED)
    assert finished.records == 3 and finished.records_target == 3
    state_dir = runtime.root / "private-files"
    modes = {str(p.relative_to(runtime.root)): stat.S_IMODE(p.stat().st_mode) for p in [state_dir, *state_dir.rglob("*")]}
    assert {"private-files/config.yaml", "private-files/connector.log", "private-files/status.json"} <= set(modes)
    assert {path: mode for path, mode in modes.items() if mode not in (0o600, 0o700)} == {}
