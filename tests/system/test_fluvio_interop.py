"""The project and Fluvio's own CLI read each other's records, byte for byte, keys included.

``fluvio consume -O binary`` prints every value as a hex dump (the exact bytes); keys only come
as text (``-F '{{key}}'``), so the keys here are UTF-8. The Python client cannot write a record
without a key: the project writes an empty key for none, which ``fluvio consume`` shows as an
empty key, and reads both an empty key and none as ``None``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from fluvio_cluster import FluvioCluster

from fluvio_connectors.topics.fluvio import FluvioTopics

pytestmark = pytest.mark.fluvio

BINARY = bytes(range(256))


@pytest.fixture
def cluster(fluvio_cluster: FluvioCluster) -> FluvioCluster:
    if fluvio_cluster.bin_dir is None:
        pytest.skip("the fluvio CLI is needed: set FLUVIO_BIN_DIR (or FLUVIO_ARCHIVE) too")
    return fluvio_cluster


@pytest.fixture
def topic(cluster: FluvioCluster) -> str:
    name = f"interop-{uuid.uuid4().hex[:8]}"
    with FluvioTopics(cluster.endpoint) as topics:
        topics.create_topic(name)
    return name


def fluvio(cluster: FluvioCluster, *args: str, stdin: bytes = b"") -> bytes:
    result = subprocess.run([cluster.fluvio, *args], input=stdin, capture_output=True, env=cluster.env(),
                            timeout=60)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def hex_dumps(output: bytes) -> list[bytes]:
    """The values ``fluvio consume -O binary`` printed: one hex dump each, ended by a dashed line."""
    values = []
    for dump in re.split(rb"\n-{20,}\n", output):
        rows = [line for line in dump.decode().splitlines() if re.match(r"^[0-9a-f]{8}  ", line)]
        if rows:
            values.append(bytes.fromhex("".join(row[10:58] for row in rows)))
    return values


def test_records_written_by_the_project_are_read_by_fluvio_consume(cluster: FluvioCluster, topic: str) -> None:
    written = [(b"k1", "välue\tand a tab".encode()), (None, b"no key"), ("clé".encode(), BINARY),
               (b"k2", b"line\nbreak\r\n")]
    with FluvioTopics(cluster.endpoint) as topics, topics.producer(topic) as producer:
        producer.send_many(written)
    assert hex_dumps(fluvio(cluster, "consume", topic, "-B", "-d", "-O", "binary")) == [v for _, v in written]
    keys = fluvio(cluster, "consume", topic, "-B", "-d", "-F", "{{offset}} [{{key}}]").decode().splitlines()
    assert keys == ["0 [k1]", "1 []", "2 [clé]", "3 [k2]"]  # no key: written as an empty one


def test_records_written_by_fluvio_produce_are_read_by_the_project(
    cluster: FluvioCluster, topic: str, tmp_path: Path
) -> None:
    fluvio(cluster, "produce", topic, stdin=b"no key\n")
    fluvio(cluster, "produce", topic, "--key-separator", "=", stdin="k1=välue=1\n=empty key\n".encode())
    binary = tmp_path / "binary"
    binary.write_bytes(BINARY)
    fluvio(cluster, "produce", topic, "--key", "clé", "--raw", "-f", str(binary))
    with FluvioTopics(cluster.endpoint) as topics:
        records = topics.read(topic)
    assert [(r.key, r.value) for r in records] == [
        (None, b"no key"), (b"k1", "välue=1".encode()), (None, b"empty key"), ("clé".encode(), BINARY),
    ]
    assert [r.offset for r in records] == [0, 1, 2, 3]


def test_the_project_cli_and_fluvio_consume_print_the_same_records(cluster: FluvioCluster, topic: str) -> None:
    fluvio(cluster, "produce", topic, "--key-separator", ":", stdin=b"a:1\nb:2\nc:3\n")
    ours = subprocess.run([str(Path(sys.executable).with_name("fluvio-connector")), "consume", topic, "-B", "-d", "-k"], capture_output=True,
                          text=True, timeout=60, env={**cluster.env(), "FLUVIO_ENDPOINT": cluster.endpoint})
    assert ours.returncode == 0, ours.stderr
    theirs = fluvio(cluster, "consume", topic, "-B", "-d", "-k").decode()
    assert ours.stdout == theirs == "[a] 1\n[b] 2\n[c] 3\n"
