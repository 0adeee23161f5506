"""A corpus of hostile configs fed to ``validate``, ``create`` and ``FluvioHook.create_connector``
(issue 11, "Done when"), and the attacks of the second hostile pass beyond configs (issue 22, at the
end: one scenario per class).

Bombs, deep nesting, huge and special numbers, NUL and control characters, overlong strings,
path-like names and secret canaries in every field. For each, every entry point must give up with
exit 2 (the hook: a ``ConfigError``) and one line of fewer than 400 characters, no traceback, no
piece of the canary, within a generous deadline and under an address-space limit (a process that
expands a bomb dies of ``MemoryError`` instead of taking the machine), and create nothing outside
the state directory (nor any connector inside it).

The CLI runs in real processes; the hook runs in a forked child of this process (Airflow is
imported once) with the same limit. Neither deadline is a timing assertion: it only turns a hang
into a failure instead of a stuck suite.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tiny_disk import tiny_disk

CANARY = "q7VcanaryX3mW"
PIECES = (CANARY, CANARY[:6], CANARY[-6:])
MAX_LINE = 400
DEADLINE_SECONDS = 120.0  # generous: the machine is shared; a hang is what it catches
ADDRESS_SPACE = 1024**3  # the CLI needs under 300 MiB; a bomb needs far more
FIFO = "<a fifo nobody writes to>"  # Case.path: made in the case's directory (prepare)


@dataclass(frozen=True)
class Case:
    config: bytes | str | None  # file content; None: the path given in ``path``
    path: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)  # the store (a secrets file for the CLI)
    env: dict[str, str] = field(default_factory=dict)

    def file_text(self) -> str:
        return "".join(f'{name}="{value}"\n' for name, value in self.secrets.items())


def seed(name: str = "hostile", typ: str = "mqtt", topic: str = "t", params: str = "") -> str:
    base = "  mqtt-url: broker.example\n  mqtt-topic: a/b\n" if typ == "mqtt" else ""
    return f"name: {name}\ntype: {typ}\ntopic: {topic}\nparameters:\n{base}{params}"


def with_param(typ: str, key: str, value: str) -> str:
    """A config of type ``typ`` where parameter ``key`` is ``value`` (a YAML flow scalar)."""
    base = {"mqtt": {"mqtt-url": "broker.example", "mqtt-topic": "a/b"}, "test": {}}[typ]
    params = {**base, key: None}
    lines = "".join(f"  {k}: {value if k == key else json.dumps(v)}\n" for k, v in params.items())
    return f"name: hostile\ntype: {typ}\ntopic: t\nparameters:\n{lines}"


# Nine levels of nine aliases: 9**9 strings once expanded, all inside the one parameter.
BILLION_LAUGHS = seed(params="  mqtt-topic:\n" + "".join(
    f"    - &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['lol'] * 9)}]\n" for i in range(9)
)).replace("  mqtt-topic: a/b\n", "", 1)

# Secret values that break each parameter's rules, all carrying the canary (tests/config has the
# full matrix in process; here each entry point sees a few, end to end).
HOSTILE_SECRETS = {
    "URL": f"mqtt://reader:{CANARY}@ho st:99/p?q#f",
    "LONG": CANARY * 20_000,
    "SCHEME": f"{CANARY}:{CANARY}",
}

PARAMETERS = {
    "mqtt": ["mqtt-url", "mqtt-topic", "qos", "timeout", "client-id", "payload-output-type", "fluvio-topic"],
    "test": ["timeout", "count", "topic", "fluvio-topic"],
}


def corpus() -> dict[str, Case]:
    cases: dict[str, Case] = {
        # bombs and sizes
        "billion-laughs": Case(BILLION_LAUGHS),
        "dev-zero": Case(None, path="/dev/zero"),
        "50-mb-config": Case(seed() + "# " + "x" * (50 * 1024 * 1024) + "\n"),
        "5-mb-topic-list": Case(seed(params="  mqtt-topic: [" + ", ".join(["a/b"] * 1_000_000) + "]\n")
                                .replace("  mqtt-topic: a/b\n", "", 1)),
        "200k-keys": Case("".join(f"k{i}: v\n" for i in range(200_000))),
        "binary": Case(bytes(range(256)) * 100),
        "not-utf8": Case(b"name: caf\xe9\n"),
        # nesting
        "deep-flow-list": Case(seed(typ="test", params="  count: " + "[" * 200_000 + "]" * 200_000 + "\n")),
        "deep-block-map": Case(seed(typ="test") + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(3000))),
        # special and huge numbers, for every duration, count, size and keep-alive
        **{f"number-{typ}-{key}-{text}": Case(with_param(typ, key, text))
           for typ, key in (("test", "timeout"), ("test", "count"), ("mqtt", "timeout"), ("mqtt", "qos"))
           for text in (".inf", ".nan", "1e400", "9" * 5000)},
        **{f"producer-{key}-{text}": Case(seed(typ="test") + f"producer:\n  {key}: {text}\n")
           for key in ("linger", "batch-size") for text in (".inf", "1e400", "99999999999gb")},
        # NUL, control characters, overlong strings
        "nul-in-filter": Case(with_param("mqtt", "mqtt-topic", '"a\\0b"')),
        "nul-in-client-id": Case(with_param("mqtt", "client-id", '"id\\0"')),
        "escape-in-client-id": Case(with_param("mqtt", "client-id", '"\\e[31mred"')),
        "control-in-name": Case(seed(name='"a\\x1b[2Jb"')),
        "newline-in-topic": Case(seed(topic='"t\\n"')),
        "long-name": Case(seed(name="n" * 500_000)),
        "long-type": Case(seed(typ="t" * 500_000)),
        "long-version": Case(seed() + "version: " + "v" * 500_000 + "\n"),
        "long-key": Case(seed() + "k" * 500_000 + ": 1\n"),
        "long-filter": Case(with_param("mqtt", "mqtt-topic", "a" * 70_000)),
        "long-host-label": Case(with_param("mqtt", "mqtt-url", "h" * 64 + ".example")),
        "space-in-host": Case(with_param("mqtt", "mqtt-url", '"mqtt://ho st"')),
        "keep-alive-65536": Case(with_param("mqtt", "timeout", "65536")),
        "batch-size-0": Case(seed(typ="test") + "producer:\n  batch-size: 0\n"),
        "unlimited-at-0ms": Case(with_param("test", "timeout", "0")),
        "bad-image-tag": Case(seed() + "version: '../../latest'\n"),
        "duplicate-key": Case(seed() + "name: again\n"),
        # path-like names
        **{f"name-{i}": Case(seed(name=json.dumps(name)))
           for i, name in enumerate(["../../victim", "/tmp/victim/dir", "a/b", "..", ".", "~", "a\\b", "VICTIM"])},
        # canaries: a literal password in a bad URL, secrets the program reads, inline secrets
        "password-in-url-path": Case(with_param("mqtt", "mqtt-url", f"mqtt://u:{CANARY}@host/path")),
        "password-in-url-query": Case(with_param("mqtt", "mqtt-url", f'"mqtt://u:{CANARY}@host?x=1#f"')),
        "password-in-url-port": Case(with_param("mqtt", "mqtt-url", f"mqtt://u:{CANARY}@host:abc")),
        "password-scheme-like": Case(with_param("mqtt", "mqtt-url", f"{CANARY}:{CANARY}")),
        "secret-mqtt-url-invalid": Case(seed(), secrets={"MQTT_URL": HOSTILE_SECRETS["URL"]}),
        "inline-secret-and-bad-qos": Case(with_param("mqtt", "qos", "7") + f"secrets:\n  MQTT_PASSWORD: {CANARY}\n"),
        # issue 22, second hostile pass: a FIFO nobody writes to (6), a file that is no config (13),
        # secret names that reach into the runtime (9), a message size MQTT cannot carry (3), user
        # info that is not percent-encoded UTF-8 (15)
        "fifo-config": Case(None, path=FIFO),
        "shadow-file": Case(f"root:$6${CANARY}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"),
        "secret-named-home": Case(seed(typ="test") + f"secrets:\n  FLUVIO_CONNECTORS_HOME: /tmp/victim-{CANARY}\n"),
        "secret-named-ld-preload": Case(with_param("mqtt", "client-id", '"${{ secrets.LD_PRELOAD }}"'),
                                        secrets={"LD_PRELOAD": f"/tmp/{CANARY}.so"}),
        "max-message-size-over-mqtt": Case(with_param("mqtt", "max-message-size", "300mib")),
        "userinfo-not-utf8": Case(with_param("mqtt", "mqtt-url", f"mqtt://u:%ff{CANARY}@host")),
    }
    # a canary secret resolved into every parameter of both types (with one more parameter wrong,
    # for the values this one accepts: a client id may contain spaces)
    for typ, names in PARAMETERS.items():
        for key in names:
            other = {"mqtt": ("qos", "7"), "test": ("count", "-1")}[typ]
            if other[0] == key:
                other = {"mqtt": ("payload-output-type", "nope"), "test": ("timeout", "soon")}[typ]
            for kind, value in HOSTILE_SECRETS.items():
                text = with_param(typ, key, '"${{ secrets.CANARY }}"') + f"  {other[0]}: {other[1]}\n"
                cases[f"canary-{typ}-{key}-{kind}"] = Case(text, secrets={"CANARY": value})
    return cases


CORPUS = corpus()


# --------------------------------------------------------------------------- the checks


@pytest.fixture
def sandbox(tmp_path: Path) -> dict[str, Path]:
    """Where a run may look: its own HOME, TMPDIR, working directory and state directory."""
    places = {name: tmp_path / name for name in ("home", "tmp", "cwd", "state", "case")}
    for place in places.values():
        place.mkdir()
    return places


def snapshot(root: Path, skip: Path) -> set[str]:
    return {str(p) for p in root.rglob("*") if skip not in p.parents and p != skip}


def assert_one_clean_line(text: str, where: str) -> None:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"{where}: {text[:1000]!r}"
    assert len(lines[0]) < MAX_LINE, f"{where}: {len(lines[0])} characters: {lines[0][:500]!r}"
    assert "Traceback" not in text, f"{where}: {text[:1000]!r}"
    for piece in PIECES:
        assert piece not in text, f"{where}: {text[:1000]!r}"


def limit_address_space(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def prepare(case: Case, places: dict[str, Path]) -> tuple[str, Path | None]:
    if case.path == FIFO:
        config = str(places["case"] / "config.yaml")
        os.mkfifo(config)
    elif case.config is None:
        assert case.path
        config = case.path
    else:
        path = places["case"] / "config.yaml"
        path.write_bytes(case.config if isinstance(case.config, bytes) else case.config.encode("utf-8", "surrogatepass"))
        config = str(path)
    secrets = None
    if case.secrets:
        secrets = places["case"] / "secrets.env"
        secrets.write_text(case.file_text())
    return config, secrets


def run_cli(command: str, config: str, secrets: Path | None, case: Case, places: dict[str, Path]) -> None:
    argv = [sys.executable, "-m", "airflow_provider_fluvio.cli", command, "--config", config]
    if secrets is not None:
        argv += ["--secrets", str(secrets)]
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": str(places["home"]),
           "TMPDIR": str(places["tmp"]), "FLUVIO_CONNECTORS_HOME": str(places["state"]), **case.env}
    if "PYTHONPATH" in os.environ:  # the code under test, when it is not the installed one
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    result = subprocess.run(argv, capture_output=True, text=True, errors="backslashreplace", env=env,
                            cwd=places["cwd"], timeout=DEADLINE_SECONDS,
                            preexec_fn=lambda: limit_address_space(ADDRESS_SPACE))
    where = f"{command}: exit {result.returncode}"
    assert result.returncode == 2, f"{where}: {result.stderr[:1000]!r}"
    assert result.stdout == "", f"{where}: {result.stdout[:500]!r}"
    assert result.stderr.startswith("error: "), f"{where}: {result.stderr[:500]!r}"
    assert_one_clean_line(result.stderr, where)


def run_hook(config: str, case: Case, places: dict[str, Path]) -> dict[str, Any]:
    """``FluvioHook.create_connector`` in a forked child under the address-space limit."""
    from airflow_provider_fluvio.hooks.fluvio import FluvioHook

    status = Path("/proc/self/status").read_text()
    current = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmSize:"))) * 1024
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_end)
            os.chdir(places["cwd"])
            os.environ.update({"HOME": str(places["home"]), "TMPDIR": str(places["tmp"]), **case.env})
            limit_address_space(current + 768 * 1024**2)
            try:
                FluvioHook(None, state_dir=str(places["state"])).create_connector(config, secrets=case.secrets)
                result = {"raised": None}
            except BaseException as exc:  # everything is reported to the parent
                result = {"raised": type(exc).__name__, "message": str(exc)[:20_000]}
            os.write(write_end, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    data = b""
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([read_end], [], [], remaining)
            chunk = os.read(read_end, 65536) if ready else b""
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_end)
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert data, "the hook's child died or hung without a result"
    return dict(json.loads(data))


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_config(name: str, sandbox: dict[str, Path]) -> None:
    case = CORPUS[name]
    config, secrets = prepare(case, sandbox)
    root = sandbox["home"].parent
    before = snapshot(root, sandbox["state"])

    with ThreadPoolExecutor(2) as pool:  # two processes at once; the hook's fork comes after
        runs = [pool.submit(run_cli, command, config, secrets, case, sandbox) for command in ("validate", "create")]
        for run in runs:
            run.result()
    result = run_hook(config, case, sandbox)
    assert result["raised"] == "ConfigError", result
    assert_one_clean_line(result["message"], "hook")

    assert snapshot(root, sandbox["state"]) == before  # nothing new anywhere but the state directory
    assert not list((sandbox["state"] / "connectors").glob("[!.]*"))  # and no connector in it
    assert not Path("/tmp/victim").exists()


# --------------------------------------------------------------------------- beyond configs (issue 22)
#
# The second hostile pass, class by class, through the entry points a user has: each attack gives
# the documented outcome, errors are one clean line, nothing is signalled or lost that is not the
# connector's. The full tests of each class are beside their code (tests/runtimes/test_local_hostile.py,
# tests/airflow/test_record_trigger.py, tests/connectors/test_mqtt_source.py, ...).


def cli(places: dict[str, Path], *args: str, env: dict[str, str] | None = None, stdin: Any = subprocess.DEVNULL,
        home: Path | None = None) -> tuple[int, str, str]:
    full = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": str(places["home"]), "TMPDIR": str(places["tmp"]),
            "FLUVIO_CONNECTORS_HOME": str(home or places["state"]), **(env or {})}
    if "PYTHONPATH" in os.environ:
        full["PYTHONPATH"] = os.environ["PYTHONPATH"]
    result = subprocess.run([sys.executable, "-m", "airflow_provider_fluvio.cli", *args], capture_output=True,
                            env=full, stdin=stdin, cwd=places["cwd"], timeout=DEADLINE_SECONDS)
    out, err = result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")
    if result.returncode:
        assert_one_clean_line(err, f"{args}: exit {result.returncode}")
    return result.returncode, out, err


def connector_dir(places: dict[str, Path], name: str, **state: Any) -> Path:
    where = places["state"] / "connectors" / name
    where.mkdir(parents=True)
    (where / "config.yaml").write_text(f"version: latest\nname: {name}\ntype: test-connector\ntopic: {name}\n"
                                       "create_topic: true\nparameters:\n  count: 1\n  timeout: 1\n")
    if state:
        (where / "supervisor.json").write_text(json.dumps(state))
    return where


def attack_foreign_pid(places: dict[str, Path]) -> None:
    """1: supervisor.json names a live process group that is not the connector's, or pid 1."""
    victim = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        record = {"phase": "running", "module": "fluvio_connectors.test_connector", "started_at": time.time() - 60,
                  "updated_at": time.time() - 60, "restarts": 0, "crash_loop": False}
        connector_dir(places, "reused", pid=victim.pid, program_pid=victim.pid, **record)
        connector_dir(places, "init", pid=1, **record)
        code, out, _ = cli(places, "list")
        assert code == 0 and "reused  Failed" in out and "supervisor.json: pid: expected a whole number from 2, got 1" in out
        assert cli(places, "delete", "reused", "init")[0] == 0
        assert victim.poll() is None  # never signalled
    finally:
        victim.kill()
        victim.wait()


def attack_damaged_state(places: dict[str, Path]) -> None:
    """14: odd values in state files; each connector is listed on its own."""
    connector_dir(places, "text-pid", phase="running", pid="abc", module="m")
    (connector_dir(places, "an-array") / "supervisor.json").write_text("[1, 2]")
    (connector_dir(places, "no-config") / "config.yaml").write_text("name: [unclosed\n")
    code, out, _ = cli(places, "list", "-O", "json")
    listed = {c["name"]: (c["status"], c["reason"]) for c in json.loads(out)}
    assert code == 0 and set(listed) == {"text-pid", "an-array", "no-config"}
    assert all(status == "Failed" for status, _ in listed.values())
    assert listed["text-pid"][1].startswith('supervisor.json: pid: expected a whole number from 2, got "abc"')


def attack_removed_state_and_interrupted_create(places: dict[str, Path]) -> None:
    """11 and 12: the remains of a removed state, a create whose creator died before its supervisor."""
    config = places["case"] / "greeter.yaml"
    config.write_text("name: greeter\ntype: test-connector\ntopic: greeter\ncreate_topic: true\n"
                      "parameters:\n  count: 1\n  timeout: 1\n")
    debris = places["state"] / "connectors" / "greeter"
    debris.mkdir(parents=True)
    (debris / "status.json").write_text("{}")  # what a program's last write left after `rm -rf`
    assert cli(places, "create", "--config", str(config))[0] == 0  # the name is free again
    # its creator killed before it saw the supervisor start (create.json: not done, creator gone)
    (debris / "create.json").write_text(json.dumps({"creator_pid": 999_999_999, "creator_started": 0.0,
                                                    "start_offset": 0, "replicas": 1, "done": False}))
    other = places["case"] / "other.yaml"
    other.write_text(config.read_text().replace("count: 1", "count: 2"))
    code, _, err = cli(places, "create", "--config", str(other))
    assert code == 1 and "a create of it was interrupted: create it again with the same config" in err
    assert cli(places, "create", "--config", str(config))[0] == 0  # the same config finishes it
    assert cli(places, "delete", "greeter")[0] == 0


def attack_full_disk(places: dict[str, Path]) -> None:
    """4: reads work on a full disk; a write says why it cannot be made."""
    with tiny_disk(places["tmp"] / "disk", "2m") as disk:
        home = disk.path / "home"
        assert cli(places, "topic", "create", "kept", home=home)[0] == 0
        disk.fill()
        code, listed = cli(places, "topic", "list", home=home)[:2]
        assert (code, [line.split()[0] for line in listed.splitlines()]) == (0, ["NAME", "kept"])
        code, _, err = cli(places, "topic", "create", "more", home=home)
        assert code == 1 and "(the disk is full)" in err


def attack_addresses_and_input(places: dict[str, Path]) -> None:
    """16: an endpoint with a scheme or a port out of range is exit 2; so is produce with stdin closed."""
    for endpoint in ("http://fluvio:9003", "fluvio:99999", "flu\nvio:9003"):
        assert cli(places, "topic", "list", env={"FLUVIO_ENDPOINT": endpoint})[0] == 2
    full = {"PATH": os.environ["PATH"], "FLUVIO_CONNECTORS_HOME": str(places["state"])}
    closed = subprocess.run(["sh", "-c", f"{sys.executable} -m airflow_provider_fluvio.cli produce t <&-"],
                            capture_output=True, text=True, env=full, timeout=DEADLINE_SECONDS)
    assert closed.returncode == 2
    assert_one_clean_line(closed.stderr, "produce with stdin closed")


def attack_large_records(places: dict[str, Path]) -> None:
    """5: `consume -n 1` over large records holds one of them, and prints it whole."""
    from fluvio_connectors.topics.embedded import EmbeddedTopics

    big = [bytes([65 + i]) * (3 * 1024 * 1024) for i in range(3)]
    with EmbeddedTopics(places["state"] / "topics.db") as topics:
        topics.create_topic("large")
        with topics.producer("large") as producer:
            producer.send_many([(None, value) for value in big])
    code, out, _ = cli(places, "consume", "large", "-B", "-d", "-n", "1", "-O", "raw")
    assert code == 0 and out.encode() == big[0]


def attack_in_process(places: dict[str, Path]) -> None:
    """2, 7, 8, 10 (their end-to-end tests run Airflow or connector programs): the pieces that decide."""
    import asyncio

    from airflow_provider_fluvio.record_xcom import records_for_xcom
    from airflow_provider_fluvio.secret_values import secret_values
    from airflow_provider_fluvio.triggers.record_source import RecordSource
    from fluvio_connectors.errors import ConfigError
    from fluvio_connectors.test_connector import count_greetings
    from fluvio_connectors.topics import Record, open_topics
    from fluvio_connectors.topics.embedded import EmbeddedTopics

    with EmbeddedTopics(places["state"] / "topics.db") as topics:
        topics.create_topic("orders")
        with topics.producer("orders") as producer:
            producer.send_many([(None, f"old-{i}".encode()) for i in range(3)])

    async def replaced() -> list[str]:
        source = RecordSource(topic="orders", partition=0, consumer="c", start="beginning", fluvio_conn_id=None,
                              hook_params={"state_dir": str(places["state"])}, poll_interval=0.01)
        position = await source.open()
        position, first = await source.next_batch(position, 100)
        await source.commit(first[-1].offset + 1)
        topics = open_topics()
        topics.delete_topic("orders")
        topics.create_topic("orders")
        with topics.producer("orders") as producer:  # more records than were read: no empty read
            producer.send_many([(None, f"new-{i}".encode()) for i in range(5)])
        topics.close()
        position, second = await source.next_batch(first[-1].offset + 1, 100)
        await source.aclose()
        return [r.value_text() for r in second]

    assert asyncio.run(replaced()) == [f"new-{i}" for i in range(5)]  # 2
    binary = [Record(0, None, b"\xff\x00", 0.0)]
    assert records_for_xcom(binary, "records", "strict", 1000, "t")[0]["value_encoding"] == "base64"  # 7
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        records_for_xcom(binary, "values", "strict", 1000, "t")
    with pytest.raises(ConfigError, match="over max_xcom_bytes"):
        records_for_xcom([Record(0, None, b"x" * 2000, 0.0)], "values", "strict", 1000, "t")
    config = f"parameters:\n  mqtt-url: mqtt://u:{CANARY}@host\nsecrets:\n  OTHER: {CANARY}x\n"
    assert {CANARY, f"{CANARY}x"} <= set(secret_values(config, None))  # 8
    mine = [(b"a", b"Hello, Fluvio! - 1"), (b"b", b"Hello, Fluvio! - 2"), (b"a", b"Hello, Fluvio! - 2")]
    assert count_greetings("a", mine) == 2  # 10: b's greeting is not a's


ATTACKS: dict[str, Any] = {
    "1-foreign-pid": attack_foreign_pid,
    "14-damaged-state": attack_damaged_state,
    "11-12-removed-state-interrupted-create": attack_removed_state_and_interrupted_create,
    "4-full-disk": attack_full_disk,
    "16-addresses-and-input": attack_addresses_and_input,
    "5-large-records": attack_large_records,
    "2-7-8-10-in-process": attack_in_process,
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_hostile_beyond_configs(name: str, sandbox: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUVIO_CONNECTORS_HOME", str(sandbox["state"]))
    ATTACKS[name](sandbox)
