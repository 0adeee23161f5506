"""What the CLI does with bad input and odd places (issue 11): names that are paths (item 2), a state
directory that cannot be used or is too open (items 5 and 11), ``consume`` with binary values, a
deadline and a closed pipe (item 13), ``--config`` that names no file (item 14), ``--help`` (item 17).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest

from airflow_provider_fluvio.cli import cli as cli_group
from airflow_provider_fluvio.cli import main
from fluvio_connectors.topics import open_topics

PROGRAM = Path(sys.executable).with_name("fluvio-connector")
CliResult = tuple[int, str, str]


@pytest.fixture
def cli(capsysbinary: pytest.CaptureFixture[bytes]) -> Callable[..., CliResult]:
    def run(*argv: str) -> CliResult:
        capsysbinary.readouterr()
        code = main(list(argv))
        out, err = capsysbinary.readouterr()
        return code, out.decode("utf-8", "backslashreplace"), err.decode("utf-8", "backslashreplace")

    return run


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) < 400, err
    return lines[0]


# --------------------------------------------------------------------------- item 2: names are not paths


def path_like_names(victim: Path) -> list[str]:
    return [str(victim / "x" / "y"), "../../victim/dir", "a/b", "..", ".", "", "Upper", "x" * 64, "a\nb", "ok\n"]


@pytest.mark.parametrize("command", ["delete", "status", "logs"])
def test_a_path_as_a_connector_name_touches_nothing(
    command: str, cli: Callable[..., CliResult], fluvio_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "cwd" / "a" / "b"
    workdir.mkdir(parents=True)
    monkeypatch.chdir(workdir)
    victim = tmp_path / "victim"
    before = sorted(tmp_path.rglob("*"))
    for name in path_like_names(victim):
        code, out, err = cli(command, name)
        assert code == 2, (name, err)
        assert "is not a valid connector name; expected a DNS-1123 label" in one_error_line(err)
        assert out == ""
    assert sorted(tmp_path.rglob("*")) == before  # no lock file, no parent directory, anywhere
    assert not list(fluvio_home.iterdir())


def test_deleting_missing_names_leaves_no_lock_files(cli: Callable[..., CliResult], fluvio_home: Path) -> None:
    code, _, err = cli("delete", "ghost-1", "ghost-2")
    assert code == 1 and "connector ghost-1 not found" in err
    code, _, err = cli("delete", "ghost-1")
    assert code == 1
    locks = fluvio_home / "connectors" / ".locks"
    assert not list(locks.iterdir())


def test_a_failed_create_and_a_delete_leave_no_lock_files(
    cli: Callable[..., CliResult], fluvio_home: Path, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("name: short-lived\ntype: test\ntopic: not-there\nparameters: {count: 1, timeout: 1}\n")
    code, _, err = cli("create", "--config", str(config))
    assert code == 1 and "topic not-there does not exist" in err
    locks = fluvio_home / "connectors" / ".locks"
    assert not list(locks.iterdir())
    config.write_text("name: short-lived\ntype: test\ntopic: t\ncreate_topic: true\nparameters: {count: 1, timeout: 1}\n")
    assert cli("create", "--config", str(config))[0] == 0
    assert [p.name for p in locks.iterdir()] == ["short-lived.lock"]  # kept while the connector exists
    assert cli("delete", "short-lived")[0] == 0
    assert not list(locks.iterdir())


# --------------------------------------------------------------------------- items 5 and 11: the state directory


@pytest.mark.parametrize("layout", ["a-file", "under-a-file"])
@pytest.mark.parametrize(
    "argv",
    [["list"], ["topic", "list"], ["status", "some-name"], ["delete", "some-name"], ["consume", "t", "-d"],
     ["topic", "create", "t"]],
    ids=" ".join,
)
def test_an_unusable_state_directory_is_exit_2_not_an_empty_list(
    argv: list[str], layout: str, cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    home = blocker if layout == "a-file" else blocker / "home"
    monkeypatch.setenv("FLUVIO_CONNECTORS_HOME", str(home))
    code, out, err = cli(*argv)
    assert code == 2, err
    assert out == ""
    line = one_error_line(err)
    assert f"state directory {blocker}" in line and "FLUVIO_CONNECTORS_HOME" in line
    assert blocker.read_text() == "x"


def test_a_state_directory_that_does_not_exist_yet_lists_nothing(
    cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUVIO_CONNECTORS_HOME", str(tmp_path / "later"))
    assert cli("list") == (0, "no connectors\n", "")
    assert not (tmp_path / "later").exists()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_state_directory_and_the_embedded_log_are_private(
    cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    old_umask = os.umask(0o022)  # the usual umask, under which mkdir gives 0755 and open 0644
    request.addfinalizer(lambda: os.umask(old_umask))
    home = tmp_path / "new" / "home"
    monkeypatch.setenv("FLUVIO_CONNECTORS_HOME", str(home))
    config = tmp_path / "c.yaml"
    config.write_text("name: private\ntype: test\ntopic: t\ncreate_topic: true\nparameters: {count: 1, timeout: 1}\n")
    assert cli("create", "--config", str(config))[0] == 0
    try:
        assert mode(tmp_path / "new") == 0o700
        assert mode(home) == 0o700
        assert mode(home / "connectors") == 0o700
        assert mode(home / "connectors" / ".locks") == 0o700
        assert mode(home / "connectors" / "private") == 0o700
        for name in ("topics.db", "topics.db.lock"):
            assert mode(home / name) == 0o600, name
        assert mode(home / "connectors" / ".locks" / "private.lock") == 0o600
    finally:
        assert cli("delete", "private")[0] == 0


def test_an_open_topic_log_left_by_an_earlier_version_is_tightened(fluvio_home: Path) -> None:
    log = fluvio_home / "topics.db"
    with open_topics() as topics:
        topics.create_topic("t")
    log.chmod(0o644)
    with open_topics() as topics:
        assert topics.list_topics() == ["t"]
    assert mode(log) == 0o600


# --------------------------------------------------------------------------- item 13: consume


BINARY = bytes(range(256)) + b"\n\r\x00\xff\xfe"


def test_consume_raw_round_trips_bytes_exactly(fluvio_home: Path) -> None:
    with open_topics() as topics:
        topics.create_topic("bin")
        producer = topics.producer("bin")
        producer.send(None, BINARY)
        producer.send(None, b"second")
        producer.close()
    one = subprocess.run([str(PROGRAM), "consume", "bin", "-B", "-d", "-n", "1", "-O", "raw"],
                         capture_output=True, timeout=60, check=False)
    assert (one.returncode, one.stdout, one.stderr) == (0, BINARY, b"")
    both = subprocess.run([str(PROGRAM), "consume", "bin", "-B", "-d", "-O", "raw"], capture_output=True, timeout=60)
    assert both.stdout == BINARY + b"second"
    text = subprocess.run([str(PROGRAM), "consume", "bin", "-B", "-d", "-n", "1"], capture_output=True, timeout=60)
    assert "\ufffd".encode() in text.stdout  # the text mode decodes (and says so in --help)


def test_consume_with_a_timeout_ends_and_says_how_many_arrived(cli: Callable[..., CliResult]) -> None:
    with open_topics() as topics:
        topics.create_topic("few")
        producer = topics.producer("few")
        producer.send_many([(None, b"1"), (None, b"2")])
        producer.close()
    code, out, err = cli("consume", "few", "-B", "-n", "5", "--timeout", "0.5")
    assert code == 1
    assert out == "1\n2\n"
    assert one_error_line(err) == "error: topic few: 2 of 5 records from offset 0 arrived within 0.5 s"
    assert cli("consume", "few", "-B", "--timeout", "0.3") == (0, "1\n2\n", "")
    assert cli("consume", "few", "-B", "-n", "2", "--timeout", "30") == (0, "1\n2\n", "")
    for bad in ("nan", "inf", "-1", "soon"):
        code, _, err = cli("consume", "few", "--timeout", bad)
        assert code == 2 and "Invalid value for '--timeout'" in one_error_line(err)


def test_consume_into_a_closed_pipe_exits_0(fluvio_home: Path) -> None:
    with open_topics() as topics:
        topics.create_topic("many")
        producer = topics.producer("many", batch_size=10_000)
        producer.send_many([(None, str(i).encode()) for i in range(50_000)])
        producer.close()
    for output in ("text", "raw", "json"):
        shell = f"'{PROGRAM}' consume many -B -d -O {output} | head -c 1 > /dev/null; echo ${{PIPESTATUS[0]}}"
        result = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=60)
        assert (result.stdout, result.stderr) == ("0\n", ""), output


# --------------------------------------------------------------------------- item 14: --config is a file


@pytest.mark.parametrize("command", ["validate", "create"])
@pytest.mark.parametrize("path", ["my:connector", "missing", "{name: a}", "- a"])
def test_config_that_names_no_file_is_file_not_found(
    command: str, path: str, cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(command, "--config", path)
    assert code == 2 and out == ""
    assert one_error_line(err) == f"error: {path}: file not found; expected a YAML config file"


# --------------------------------------------------------------------------- item 17: --help


def all_commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = [(prefix or group.name or "", group)]
    for name, command in group.commands.items():
        path = f"{prefix} {name}".strip()
        if isinstance(command, click.Group):
            found += all_commands(command, path)
        else:
            found.append((path, command))
    return found


def test_help_says_where_state_lives(cli: Callable[..., CliResult]) -> None:
    code, out, _ = cli("--help")
    assert code == 0
    assert "$FLUVIO_CONNECTORS_HOME (default ~/.fluvio-connectors)" in out
    assert "FLUVIO_ENDPOINT" in out


@pytest.mark.parametrize(("path", "command"), all_commands(cli_group), ids=lambda v: v if isinstance(v, str) else "")
def test_every_option_has_help_text_and_a_metavar(path: str, command: click.Command) -> None:
    assert command.help or command.short_help, path
    for param in command.params:
        if not isinstance(param, click.Option):
            continue
        assert param.help, f"{path} {param.opts}: no help text"
        takes_value = not param.is_flag and not param.count
        if takes_value:
            assert param.metavar or isinstance(param.type, click.Choice), f"{path} {param.opts}: no metavar"


def test_a_stray_directory_in_the_state_directory_does_not_break_list(
    cli: Callable[..., CliResult], fluvio_home: Path
) -> None:
    (fluvio_home / "connectors" / "Not A Connector").mkdir(parents=True)
    assert cli("list") == (0, "no connectors\n", "")
