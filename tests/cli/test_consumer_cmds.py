"""``consume --consumer NAME`` and ``consumer list|delete``: named consumers from a terminal.

The resume and crash cases run the installed ``fluvio-connector`` in real processes, killed with
SIGKILL where the test says so; the listing and error cases call ``cli.main`` in this process.
The tests taking ``topics_backend`` run on the embedded log and on a real Fluvio cluster, where
topic and consumer names are made unique (the cluster and its consumers are the session's).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_fluvio.cli import main
from fluvio_connectors.topics import open_topics

PROGRAM = Path(sys.executable).with_name("fluvio-connector")
CliResult = tuple[int, str, str]
Name = Callable[[str], str]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PROGRAM), *args], capture_output=True, text=True, timeout=60, env=dict(os.environ))


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    def invoke(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def produce(topic: str, values: list[str]) -> None:
    topics = open_topics()
    try:
        topics.create_topic(topic)
        with topics.producer(topic) as producer:
            producer.send_many([(None, v.encode()) for v in values])
    finally:
        topics.close()


def test_successive_reads_get_the_next_records_exactly_once(topics_backend: str, topic_name: Name) -> None:
    t1, batch, other = topic_name("t1"), topic_name("batch"), topic_name("other")
    produce(t1, [f"r{i}" for i in range(10)])
    outputs = [run("consume", t1, "--consumer", batch, "-B", "-d", "-n", "4").stdout for _ in range(3)]
    assert outputs == ["r0\nr1\nr2\nr3\n", "r4\nr5\nr6\nr7\n", "r8\nr9\n"]
    assert run("consume", t1, "--consumer", batch, "-d").stdout == ""  # nothing new
    produce(t1, ["r10"])
    assert run("consume", t1, "-c", batch, "-d").stdout == "r10\n"
    # Another consumer has its own position; a plain consume commits nothing.
    assert run("consume", t1, "-B", "-d", "-n", "1").stdout == "r0\n"
    assert run("consume", t1, "-c", other, "-B", "-d", "-n", "2").stdout == "r0\nr1\n"


def test_a_new_consumer_starts_at_the_end_unless_told_otherwise(topics_backend: str, topic_name: Name) -> None:
    t1, fresh, tail, from_1 = topic_name("t1"), topic_name("fresh"), topic_name("tail"), topic_name("from-1")
    produce(t1, ["old-1", "old-2", "old-3"])
    assert run("consume", t1, "-c", fresh, "-d").stdout == ""
    produce(t1, ["new"])
    assert run("consume", t1, "-c", fresh, "-d").stdout == "new\n"
    assert run("consume", t1, "-c", tail, "-o", "-2", "-d").stdout == "old-3\nnew\n"
    assert run("consume", t1, "-c", from_1, "-o", "1", "-d", "-n", "1").stdout == "old-2\n"
    # -B only chooses where a *new* consumer starts: an existing one resumes.
    assert run("consume", t1, "-c", fresh, "-B", "-d").stdout == ""


def test_a_new_consumer_on_an_empty_topic_resumes_with_what_came_meanwhile(topics_backend: str, topic_name: Name) -> None:
    t1, early = topic_name("t1"), topic_name("early")
    produce(t1, [])
    assert run("consume", t1, "-c", early, "-d").stdout == ""  # starts at the end: nothing yet
    produce(t1, ["first", "second"])
    assert run("consume", t1, "-c", early, "-d").stdout == "first\nsecond\n"


def test_sigkill_mid_stream_loses_nothing_and_repeats_at_most_one_batch(topics_backend: str, topic_name: Name) -> None:
    t1, crashy = topic_name("t1"), topic_name("crashy")
    count = 3000
    produce(t1, [f"r{i}" for i in range(count)])
    reader = subprocess.Popen(
        [str(PROGRAM), "consume", t1, "-c", crashy, "-B"],  # follows the log: never exits by itself
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    first: list[str] = []
    assert reader.stdout is not None
    try:
        while len(first) < 1200:  # well into the third batch of 500
            line = reader.stdout.readline()
            assert line, f"the reader stopped early: {reader.stderr.read() if reader.stderr else ''}"
            first.append(line.strip())
    finally:
        reader.send_signal(signal.SIGKILL)
        # What it printed before the kill is still in the pipe (and in our reader's buffer, which
        # communicate() would skip): delivered all the same.
        first += reader.stdout.read().split()
        reader.communicate(timeout=30)
    second = run("consume", t1, "-c", crashy, "-d").stdout.split()
    seen = first + second
    assert set(seen) == {f"r{i}" for i in range(count)}, "a record was lost"
    repeated = len(seen) - count
    assert 0 <= repeated <= 500, repeated  # only the batch that was printed but not yet committed
    assert second[0] == f"r{int(first[-1][1:]) - repeated + 1}"


def test_consumer_list_shows_position_and_lag(cli: Callable[..., CliResult]) -> None:
    assert cli("consumer", "list") == (0, "No consumers found\n", "")
    produce("t1", ["a", "b", "c"])
    produce("t2", ["x"])
    assert cli("consume", "t1", "-c", "reader", "-B", "-d", "-n", "1")[0] == 0
    assert cli("consume", "t2", "-c", "reader", "-B", "-d")[0] == 0
    code, out, err = cli("consumer", "list")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "CONSUMER  TOPIC  PARTITION  OFFSET  LAG",
        "reader    t1     0          1       2",
        "reader    t2     0          1       0",
    ]
    code, out, _ = cli("consumer", "list", "-t", "t1", "-O", "json")
    listed = json.loads(out)
    assert [(r["consumer"], r["topic"], r["offset"], r["lag"]) for r in listed] == [("reader", "t1", 1, 2)]
    assert listed[0]["updated_at"] <= time.time()


def test_consumer_list_of_one_topic_on_either_backend(cli: Callable[..., CliResult], topics_backend: str,
                                                     topic_name: Name) -> None:
    t1, reader = topic_name("t1"), topic_name("reader")
    produce(t1, ["a", "b", "c"])
    assert cli("consumer", "list", "-t", t1) == (0, "No consumers found\n", "")
    assert cli("consume", t1, "-c", reader, "-B", "-d", "-n", "1") == (0, "a\n", "")
    code, out, err = cli("consumer", "list", "-t", t1)
    assert (code, err) == (0, "")
    assert [line.split() for line in out.splitlines()] == [
        ["CONSUMER", "TOPIC", "PARTITION", "OFFSET", "LAG"], [reader, t1, "0", "1", "2"],
    ]
    listed = json.loads(cli("consumer", "list", "-t", t1, "-O", "json")[1])
    assert [(r["consumer"], r["topic"], r["offset"], r["lag"]) for r in listed] == [(reader, t1, 1, 2)]
    assert 0 < listed[0]["updated_at"] <= time.time()


def test_consumer_delete_starts_the_consumer_afresh(cli: Callable[..., CliResult], topics_backend: str,
                                                    topic_name: Name) -> None:
    t1, reader = topic_name("t1"), topic_name("reader")
    produce(t1, ["a", "b"])
    cli("consume", t1, "-c", reader, "-B", "-d")
    assert cli("consumer", "delete", reader) == (0, f"consumer {reader} deleted (1 position)\n", "")
    assert cli("consumer", "delete", reader) == (1, "", f"error: consumer {reader} has no committed position\n")
    assert cli("consume", t1, "-c", reader, "-B", "-d") == (0, "a\nb\n", "")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["consume", "{t}", "-c", "no good", "-d"], 2, "error: 'no good' is not a valid consumer name"),
        (["consume", "{t}-nope", "-c", "{c}", "-d"], 1, "error: topic {t}-nope not found"),
        (["consume", "{t}", "-c", "{c}", "-o", "9", "-d"], 2,
         "error: cannot commit position 9 for consumer {c}: topic {t} partition 0 ends at offset 1"),
        (["consumer", "delete", "{c}", "-t", "{t}"], 1, "error: consumer {c} has no committed position on topic {t}"),
        (["consumer", "list", "-t", "Bad_Topic"], 2, "error: 'Bad_Topic' is not a valid topic name"),
    ],
)
def test_errors_are_one_line(cli: Callable[..., CliResult], topics_backend: str, topic_name: Name, args: list[str],
                             code: int, message: str) -> None:
    names = {"t": topic_name("t1"), "c": topic_name("reader")}
    produce(names["t"], ["only"])
    got, out, err = cli(*(arg.format(**names) for arg in args))
    assert (got, out) == (code, "")
    assert err.startswith(message.format(**names)) and err.count("\n") == 1, err
    assert cli("consumer", "list", "-t", names["t"], "-O", "json")[1] == "[]\n"  # nothing half-created


def test_into_a_pipe_only_what_the_reader_took_is_committed(topics_backend: str, topic_name: Name) -> None:
    """``consume -c NAME | head -3``, twice: 1-3, then 4-6 (issue 22: it committed 13, what fit in
    head's buffer, so the second run skipped 4 to 13)."""
    topic, consumer = topic_name("piped"), topic_name("header")
    produce(topic, [f"record {i:02} " + "x" * 600 for i in range(40)])
    command = f"{PROGRAM} consume {topic} -c {consumer} -B -d | head -3 | cut -c1-9"
    runs = [subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60, env=dict(os.environ))
            for _ in range(2)]
    assert [r.stdout for r in runs] == [
        "record 00\nrecord 01\nrecord 02\n", "record 03\nrecord 04\nrecord 05\n"], [r.stderr for r in runs]
    assert [r.stderr for r in runs] == ["", ""]
