"""``fluvio-connector topic create|list|delete``, ``produce`` and ``consume``.

The seed-level flow runs the installed ``fluvio-connector`` program in real processes (with a real
shell pipe); the finer cases call the same entry point, ``cli.main``, in this process.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_fluvio.cli import main
from fluvio_connectors.topics import open_topics

PROGRAM = Path(sys.executable).with_name("fluvio-connector")


def run(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed program (the environment carries the test's FLUVIO_CONNECTORS_HOME)."""
    return subprocess.run(
        [str(PROGRAM), *args], input=stdin, capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})},
    )


CliResult = tuple[int, str, str]
Name = Callable[[str], str]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """``cli(*args, stdin=b"")``: ``cli.main(args)`` in this process -> (exit code, stdout, stderr)."""

    def invoke(*args: str, stdin: bytes = b"") -> CliResult:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def stored(topic: str) -> list[tuple[bytes | None, bytes]]:
    topics = open_topics()
    try:
        return [(r.key, r.value) for r in topics.read(topic)]
    finally:
        topics.close()


# -- the seed-level flow, as a user types it -------------------------------------------------------


def test_create_produce_consume_through_a_shell_pipe(topics_backend: str, topic_name: Name) -> None:
    assert PROGRAM.exists(), f"{PROGRAM} is installed by `make install`"
    t1 = topic_name("t1")
    result = subprocess.run(
        f"'{PROGRAM}' topic create {t1} && printf 'a\\nb\\nc\\n' | '{PROGRAM}' produce {t1} "
        f"&& '{PROGRAM}' consume {t1} -B -d",
        shell=True, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"topic {t1} created\na\nb\nc\n"
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["consume", "nope", "-B", "-d"], 1, "error: topic nope not found"),
        (["topic", "create", "Bad_Name"], 2, "error: 'Bad_Name' is not a valid topic name; expected"),
        (["consume", "t1", "--bogus"], 2, "error: No such option '--bogus'"),
    ],
)
def test_errors_are_one_line_with_an_exit_code_and_no_traceback(
    args: list[str], code: int, message: str
) -> None:
    result = run(*args)
    assert result.returncode == code
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_an_unreachable_fluvio_cluster_is_one_line_and_exit_1() -> None:
    with socket.socket() as probe:  # a loopback port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run("topic", "list", env={"FLUVIO_ENDPOINT": f"127.0.0.1:{port}"})
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot connect to Fluvio at 127.0.0.1:{port}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_consume_without_b_prints_only_new_records_and_follows(topics_backend: str, topic_name: Name) -> None:
    t1 = topic_name("t1")
    topics = open_topics()
    topics.create_topic(t1)
    producer = topics.producer(t1)
    producer.send(None, b"old")
    producer.flush()
    consumer = subprocess.Popen(
        [str(PROGRAM), "consume", t1, "-n", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # The consumer starts at the end of the log whenever it gets there: keep adding new
        # records until it has printed one (it then exits, -n 1). It must never print "old".
        deadline = time.monotonic() + 30
        sent = 0
        while consumer.poll() is None and time.monotonic() < deadline:
            producer.send(None, f"new-{sent}".encode())
            producer.flush()
            sent += 1
            with contextlib.suppress(subprocess.TimeoutExpired):
                consumer.wait(timeout=0.2)
        out, err = consumer.communicate(timeout=10)
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.communicate()
        producer.close()
        topics.close()
    assert consumer.returncode == 0, err
    assert out.startswith("new-") and out.count("\n") == 1


# -- the finer cases, in process -----------------------------------------------------------------


def test_consume_json_gives_one_object_a_line(
    cli: Callable[..., CliResult]
) -> None:
    cli("topic", "create", "t1")
    before = time.time()
    cli("produce", "t1", stdin=b"a\nb\nc\n")
    code, out, err = cli("consume", "t1", "-B", "-d", "-O", "json")
    assert (code, err) == (0, "")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(o["offset"], o["key"], o["value"]) for o in lines] == [
        (0, None, "a"), (1, None, "b"), (2, None, "c"),
    ]
    assert all(set(o) == {"offset", "key", "value", "timestamp"} for o in lines)
    assert all(before <= o["timestamp"] <= time.time() for o in lines)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["produce", "nope"], 1, "error: topic nope not found"),
        (["topic", "delete", "nope"], 1, "error: topic nope not found"),
        (["topic", "create", "t1", "--partitions", "0"], 2, "error: Invalid value for '-p' / '--partitions'"),
        (["consume", "t1", "-B", "-o", "1"], 2, "error: use either -B or -o, not both"),
        (["consume", "t1", "-n", "0"], 2, "error: Invalid value for '-n' / '--num-records'"),
        (["produce", "t1", "--key-separator", ""], 2, "error: --key-separator must not be empty"),
        (["consume"], 2, "error: Missing argument 'TOPIC'"),
    ],
)
def test_more_errors(
    cli: Callable[..., CliResult], args: list[str], code: int, message: str
) -> None:
    got_code, out, err = cli(*args)
    assert (got_code, out) == (code, "")
    assert err.startswith(message) and err.count("\n") == 1, err


def test_create_an_existing_topic(cli: Callable[..., CliResult]) -> None:
    assert cli("topic", "create", "t1") == (0, "topic t1 created\n", "")
    assert cli("topic", "create", "t1") == (1, "", "error: topic t1 already exists\n")


def test_list_as_table_and_json(cli: Callable[..., CliResult]) -> None:
    """Partitions, records, bytes of keys and values and retention, as ``fluvio topic list`` shows."""
    assert cli("topic", "list") == (0, "No topics found\n", "")
    assert cli("topic", "list", "-O", "json") == (0, "[]\n", "")
    cli("topic", "create", "beta")
    assert cli("topic", "create", "alpha", "-p", "2", "--retention-time", "1h", "--max-partition-size", "10 MiB") == (
        0, "topic alpha created (retention: 1h, max 10 MiB a partition)\n", "")
    cli("produce", "beta", stdin=b"one\ntwo\n")
    assert cli("topic", "list") == (0, (
        "NAME   PARTITIONS  RECORDS  SIZE  RETENTION\n"
        "alpha  2           0        0 B   1h, max 10 MiB a partition\n"
        "beta   1           2        6 B   -\n"), "")
    code, out, _ = cli("topic", "list", "-O", "json")
    assert code == 0 and json.loads(out) == [
        {"name": "alpha", "partitions": 2, "records": 0, "size_bytes": 0, "retention_time": 3600,
         "max_partition_size": 10 * 1024**2, "segment_size": None},
        {"name": "beta", "partitions": 1, "records": 2, "size_bytes": 6, "retention_time": None,
         "max_partition_size": None, "segment_size": None},
    ]


def test_a_bad_retention_is_one_line_and_creates_nothing(cli: Callable[..., CliResult]) -> None:
    assert cli("topic", "create", "t1", "--retention-time", "1 fortnight") == (
        2, "", "error: retention-time: unknown unit 'fortnight'; expected a duration such as 1h, 2d 10s or 7 days "
               "(or a number of seconds)\n")
    assert cli("topic", "create", "t1", "--segment-size", "lots")[0] == 2
    assert cli("topic", "list") == (0, "No topics found\n", "")


def test_delete_keeps_other_topics_and_vacuum_shrinks_the_log(cli: Callable[..., CliResult], fluvio_home: Path) -> None:
    cli("topic", "create", "t1")
    cli("topic", "create", "t2")
    cli("produce", "t1", stdin=b"".join(b"%d-" % i + b"x" * 1000 + b"\n" for i in range(3000)))
    assert cli("topic", "delete", "t1") == (0, (
        "topic t1 deleted with its 3000 record(s); `fluvio-connector topic vacuum` returns their space to the "
        "file system\n"), "")
    assert [t["name"] for t in json.loads(cli("topic", "list", "-O", "json")[1])] == ["t2"]
    code, out, err = cli("topic", "vacuum")
    assert code == 0, err
    log = fluvio_home / "topics.db"
    before, after = out.removeprefix(f"{log}: ").split(" (")[0].split(" -> ")
    assert before.endswith("MiB") and after.endswith("KiB"), out
    assert out.endswith("(0 record(s) past retention removed)\n")


def test_produce_keeps_empty_lines_and_crlf(cli: Callable[..., CliResult]) -> None:
    cli("topic", "create", "t1")
    assert cli("produce", "t1", stdin=b"one\r\n\nthree") == (0, "", "")
    assert stored("t1") == [(None, b"one"), (None, b""), (None, b"three")]


def test_produce_with_a_key_separator(cli: Callable[..., CliResult]) -> None:
    cli("topic", "create", "t1")
    code, _, _ = cli("produce", "t1", "--key-separator", "=", stdin=b"k1=v=1\nk2=v2\n")
    assert code == 0
    assert stored("t1") == [(b"k1", b"v=1"), (b"k2", b"v2")]
    assert cli("consume", "t1", "-B", "-d", "-k") == (0, "[k1] v=1\n[k2] v2\n", "")


def test_a_line_without_the_separator_stops_but_keeps_the_lines_before(
    cli: Callable[..., CliResult]
) -> None:
    cli("topic", "create", "t1")
    code, _, err = cli("produce", "t1", "--key-separator", ":", stdin=b"a:1\nno-sep\nc:3\n")
    assert (code, err) == (2, "error: line 2 has no key separator ':'\n")
    assert stored("t1") == [(b"a", b"1")]


def test_produce_with_a_fixed_key(cli: Callable[..., CliResult]) -> None:
    cli("topic", "create", "t1")
    cli("produce", "t1", "--key", "sensor-1", stdin=b"20.5\n21.0\n")
    assert stored("t1") == [(b"sensor-1", b"20.5"), (b"sensor-1", b"21.0")]
    code, _, err = cli("produce", "t1", "--key", "k", "--key-separator", "=")
    assert code == 2 and "use either --key or --key-separator" in err


@pytest.fixture
def five(cli: Callable[..., CliResult], topics_backend: str, topic_name: Name) -> str:
    """A topic holding r0 .. r4."""
    t1 = topic_name("t1")
    cli("topic", "create", t1)
    cli("produce", t1, stdin=b"r0\nr1\nr2\nr3\nr4\n")
    return t1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-B", "-d"], "r0\nr1\nr2\nr3\nr4\n"),
        (["-B", "-n", "2"], "r0\nr1\n"),  # -n ends a following consume
        (["-o", "3", "-d"], "r3\nr4\n"),
        (["-o", "-2", "-d"], "r3\nr4\n"),  # negative: the last records
        (["-o", "-99", "-d"], "r0\nr1\nr2\nr3\nr4\n"),
        (["-o", "99", "-d"], ""),
        (["-d"], ""),  # from the end, not following: nothing new
    ],
)
def test_consume_offsets_and_limits(
    five: str, cli: Callable[..., CliResult], args: list[str], expected: str
) -> None:
    assert cli("consume", five, *args) == (0, expected, "")


def test_consume_prints_non_utf8_values_readably(
    cli: Callable[..., CliResult]
) -> None:
    cli("topic", "create", "t1")
    cli("produce", "t1", stdin=b"caf\xe9\n")
    assert cli("consume", "t1", "-B", "-d") == (0, "caf\ufffd\n", "")
    assert stored("t1") == [(None, b"caf\xe9")]  # the record itself is unchanged


def test_consume_the_last_records_counts_records_not_offsets(
    cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Fluvio partition can have offsets with no record: ``-o -3`` still gives three records."""
    from fluvio_fakes import FakePartition, fake_cluster, in_thread_helper

    cluster = fake_cluster()
    cluster.topics["gappy"] = part = FakePartition()
    part.fill(20, holes={16, 17, 18})
    in_thread_helper(monkeypatch, cluster)
    monkeypatch.setenv("FLUVIO_ENDPOINT", "127.0.0.1:9003")
    assert cli("consume", "gappy", "-o", "-3", "-d") == (0, "v14\nv15\nv19\n", "")


def test_a_zero_timeout_reads_what_is_there(cli: Callable[..., CliResult]) -> None:
    assert cli("topic", "create", "there")[0] == 0
    topics = open_topics()
    try:
        with topics.producer("there") as producer:
            producer.send_many([(None, f"v{i}".encode()) for i in range(50)])
    finally:
        topics.close()
    code, out, err = cli("consume", "there", "-B", "--timeout", "0", "-n", "100")
    assert (code, out.splitlines()[-1], err) == (
        1, "v49", "error: topic there: 50 of 100 records from offset 0 arrived within 0 s\n")
    assert cli("consume", "there", "-B", "--timeout", "0", "-n", "50")[:2] == (0, "".join(f"v{i}\n" for i in range(50)))


def test_produce_with_standard_input_closed_is_a_usage_error() -> None:
    result = subprocess.run(["sh", "-c", f"{PROGRAM} produce somewhere <&-"], capture_output=True, text=True,
                            timeout=60, env=dict(os.environ))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("error: standard input is closed; expected records on it, one a line")
