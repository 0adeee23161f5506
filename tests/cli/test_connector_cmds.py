"""``fluvio-connector create|list|delete|status|logs`` as a user runs them: output and exit codes.

The commands run in this process (``main(argv)``, the console script's entry point) so a test can
poll ``list`` every few milliseconds; the connectors they create are real supervised processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from polling import wait_until

from airflow_provider_fluvio.cli import main
from airflow_provider_fluvio.runtimes.local import LocalRuntime

SEED_TEST_CONNECTOR = """\
version: v1
name: my-test-connector
type: test-connector
topic: my-test-connector
create_topic: true
direction: source
parameters:
  topic: my-test-connector
  count: 20
  timeout: 10
"""
HELLO_20 = [f"Hello, Fluvio! - {i}" for i in range(1, 21)]


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *argv: str) -> str:
        code, out, err = self(*argv)
        assert code == 0, f"{argv}: exit {code}: {err}"
        return out

    def table_status(self, name: str) -> str | None:
        for line in self.ok("list").splitlines()[1:]:
            cells = line.split()
            if cells and cells[0] == name:
                return cells[1]
        return None

    def wait_list_status(self, name: str, wanted: str, timeout: float = 20.0) -> list[str]:
        """Poll ``list`` until ``name`` shows ``wanted``; returns every status seen on the way."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.table_status(name)
            if current and (not seen or seen[-1] != current):
                seen.append(current)
            if current == wanted:
                return seen
            time.sleep(0.005)
        pytest.fail(f"{name} never showed {wanted} in list; saw {seen}")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    yield Cli(capsys)
    runtime = LocalRuntime()
    for info in runtime.list():
        runtime.delete(info.name)


@pytest.fixture
def seed_config(tmp_path: Path) -> Path:
    path = tmp_path / "my-connector-config.yaml"
    path.write_text(SEED_TEST_CONNECTOR)
    return path


def test_the_seed_flow_end_to_end(cli: Cli, seed_config: Path) -> None:
    assert cli.ok("list") == "no connectors\n"
    # 20 records 100 ms apart: Running for two seconds, long enough for list to show it.
    seed_config.write_text(seed_config.read_text().replace("timeout: 10", "timeout: 100"))
    assert cli.ok("create", "--config", str(seed_config)) == 'connector "my-test-connector" created\n'
    seen = cli.wait_list_status("my-test-connector", "Stopped")
    assert "Running" in seen and "Failed" not in seen, seen
    header = cli.ok("list").splitlines()[0].split()
    assert header[:2] == ["NAME", "STATUS"]
    assert cli.ok("consume", "my-test-connector", "-B", "-d").splitlines() == HELLO_20

    assert cli.ok("delete", "my-test-connector") == 'connector "my-test-connector" deleted\n'
    assert cli.ok("list") == "no connectors\n"
    assert cli.ok("consume", "my-test-connector", "-B", "-d").splitlines() == HELLO_20

    cli.ok("create", "--config", str(seed_config))
    cli.wait_list_status("my-test-connector", "Stopped")
    assert cli.ok("consume", "my-test-connector", "-B", "-d").splitlines() == HELLO_20 + HELLO_20


def test_console_script_create_returns_and_the_connector_runs_on(
    seed_config: Path, fluvio_home: Path
) -> None:
    config = seed_config.read_text().replace("count: 20", "count: 3")
    seed_config.write_text(config)
    command = [sys.executable, "-m", "airflow_provider_fluvio.cli"]
    created = subprocess.run(
        [*command, "create", "--config", str(seed_config), "--wait", "30"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.splitlines()[0] == 'connector "my-test-connector" created'
    runtime = LocalRuntime()
    wait_until(lambda: runtime.status("my-test-connector").status.value == "Stopped", 20,
               "my-test-connector to finish (Stopped)")
    consumed = subprocess.run(
        [*command, "consume", "my-test-connector", "-B", "-d"], capture_output=True, text=True, timeout=60
    )
    assert consumed.stdout.splitlines() == HELLO_20[:3]
    deleted = subprocess.run(
        [*command, "delete", "my-test-connector"], capture_output=True, text=True, timeout=60
    )
    assert (deleted.returncode, deleted.stdout) == (0, 'connector "my-test-connector" deleted\n')


def test_list_json_is_machine_readable_also_when_empty(cli: Cli, seed_config: Path) -> None:
    assert json.loads(cli.ok("list", "-O", "json")) == []
    cli.ok("create", "--config", str(seed_config), "--wait", "30")
    (entry,) = json.loads(cli.ok("list", "-O", "json"))
    assert entry["name"] == "my-test-connector" and entry["status"] in ("Running", "Stopped")
    assert (entry["type"], entry["topic"], entry["runtime"]) == (
        "test-connector",
        "my-test-connector",
        "local",
    )


def test_status_text_and_json(cli: Cli, seed_config: Path) -> None:
    cli.ok("create", "--config", str(seed_config))
    cli.wait_list_status("my-test-connector", "Stopped")
    text = cli.ok("status", "my-test-connector")
    assert "status:     Stopped" in text and "records:    20 of 20" in text
    data = json.loads(cli.ok("status", "my-test-connector", "-O", "json"))
    assert (data["status"], data["records"], data["records_target"], data["restarts"]) == ("Stopped", 20, 20, 0)


def test_missing_connector_is_exit_1_with_one_line(cli: Cli) -> None:
    for argv in (("status", "ghost"), ("logs", "ghost"), ("delete", "ghost")):
        code, _out, err = cli(*argv)
        assert code == 1, argv
        assert "error: connector ghost not found" in err
        assert "Traceback" not in err


def test_delete_continues_past_a_missing_name(cli: Cli, seed_config: Path) -> None:
    cli.ok("create", "--config", str(seed_config))
    code, out, err = cli("delete", "ghost", "my-test-connector")
    assert code == 1
    assert out == 'connector "my-test-connector" deleted\n'
    assert err.splitlines() == ["error: connector ghost not found", "error: 1 of 2 connectors not deleted"]
    assert cli.ok("list") == "no connectors\n"


def test_create_twice_is_an_error(cli: Cli, seed_config: Path) -> None:
    cli.ok("create", "--config", str(seed_config))
    code, _, err = cli("create", "--config", str(seed_config))
    assert (code, err) == (1, "error: connector my-test-connector already exists\n")


def test_create_without_the_topic_fails_and_creates_nothing(cli: Cli, seed_config: Path) -> None:
    seed_config.write_text(SEED_TEST_CONNECTOR.replace("create_topic: true", "create_topic: false"))
    code, _, err = cli("create", "--config", str(seed_config))
    assert code == 1
    assert err.startswith("error: topic my-test-connector does not exist")
    assert cli.ok("list") == "no connectors\n"
    assert cli.ok("topic", "list", "-O", "json").strip() == "[]"


def test_a_bad_config_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SEED_TEST_CONNECTOR.replace("count: 20", "count: many"))
    code, _, err = cli("create", "--config", str(path))
    assert code == 2 and "parameters.count" in err and len(err.splitlines()) == 1


def test_create_with_a_secrets_file(cli: Cli, seed_config: Path, tmp_path: Path, fluvio_home: Path) -> None:
    seed_config.write_text(SEED_TEST_CONNECTOR + "secrets:\n  - API_TOKEN\n")
    secrets = tmp_path / "secrets.env"
    secrets.write_text("API_TOKEN=hunter2-xyz\n")
    code, _, err = cli("create", "--config", str(seed_config))
    assert code == 2 and "secret API_TOKEN is not set" in err
    cli.ok("create", "--config", str(seed_config), "--secrets", str(secrets), "--wait", "30")
    assert all(
        b"hunter2-xyz" not in p.read_bytes() for p in (fluvio_home / "connectors").rglob("*") if p.is_file()
    )


def test_logs_tail_and_follow(cli: Cli, seed_config: Path) -> None:
    cli.ok("create", "--config", str(seed_config))
    cli.wait_list_status("my-test-connector", "Stopped")
    wait_until(lambda: "supervisor: " in cli.ok("logs", "my-test-connector", "--tail", "1"), 10,
               "the supervisor's last line in the log")
    everything = cli.ok("logs", "my-test-connector").splitlines()
    assert any("finished: 20 records" in line for line in everything)
    assert cli.ok("logs", "my-test-connector", "--tail", "2").splitlines() == everything[-2:]
    assert cli.ok("logs", "my-test-connector", "-f", "--tail", "3").splitlines() == everything[-3:]


def test_kubernetes_options_need_the_kubernetes_runtime(cli: Cli) -> None:
    code, _, err = cli("list", "--namespace", "prod")
    assert code == 2 and "--namespace only applies to --runtime kubernetes" in err
    code, _, err = cli("list", "--host-network")
    assert code == 2 and "--host-network only applies to --runtime kubernetes" in err


def test_the_runtime_from_the_environment_takes_its_alias_and_names_a_bad_one(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUVIO_CONNECTORS_RUNTIME", "K8s")  # kubernetes: its options apply
    missing = tmp_path / "missing"
    code, _, err = cli("list", "--kubeconfig", str(missing))
    assert (code, err) == (2, f"error: kubernetes runtime: kube config file {missing} does not exist; "
                              "expected a kubeconfig file\n")
    monkeypatch.setenv("FLUVIO_CONNECTORS_RUNTIME", "docker")
    code, _, err = cli("list")
    assert (code, err) == (2, "error: FLUVIO_CONNECTORS_RUNTIME: unknown runtime 'docker'; expected one of: "
                              "local, kubernetes\n")


def test_kubernetes_runtime_with_an_unreadable_kube_config(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    code, _, err = cli("list", "--runtime", "kubernetes", "--kubeconfig", str(missing))
    assert code == 2
    assert err == f"error: kubernetes runtime: kube config file {missing} does not exist; expected a kubeconfig file\n"
