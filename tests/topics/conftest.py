"""Fixtures for the topics port: a fresh embedded log, either backend (``backend``), and producer
processes writing to it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from polling import wait_until

from fluvio_connectors.topics import Topics
from fluvio_connectors.topics.embedded import EmbeddedTopics
from fluvio_connectors.topics.fluvio import FluvioTopics

# A producer process: opens the log, says it is ready, waits for the start file (so several
# processes write at the same time), then sends COUNT records "TAG-i" in batches of BATCH.
PRODUCER_PROGRAM = """
import sys, time
from pathlib import Path
from fluvio_connectors.topics.embedded import EmbeddedTopics
from fluvio_connectors.topics.fluvio import FluvioTopics

where, topic, tag, count, batch, start_file = sys.argv[1:7]
if where.startswith("fluvio:"):
    topics = FluvioTopics(where.removeprefix("fluvio:"))
else:
    topics = EmbeddedTopics(Path(where))
topics.topic_exists(topic)
Path(start_file + "." + tag).touch()
deadline = time.monotonic() + 30
while not Path(start_file).exists():
    if time.monotonic() > deadline:
        sys.exit("start file never appeared")
    time.sleep(0.001)
with topics.producer(topic, batch_size=int(batch)) as producer:
    for i in range(int(count)):
        producer.send(None, f"{tag}-{i}".encode())
        if int(batch) > 1 and i % int(batch) == int(batch) - 1:
            producer.flush()
topics.close()
print("done", flush=True)
"""


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "topics.db"


@pytest.fixture
def topics(log_path: Path) -> Iterator[EmbeddedTopics]:
    backend = EmbeddedTopics(log_path)
    yield backend
    backend.close()


@pytest.fixture
def backend(topics_backend: str, log_path: Path) -> Iterator[Topics]:
    """The topics backend under test: a fresh embedded log, or the session's Fluvio cluster."""
    opened: Topics = FluvioTopics(os.environ["FLUVIO_ENDPOINT"]) if topics_backend == "fluvio" else EmbeddedTopics(log_path)
    yield opened
    opened.close()


@pytest.fixture
def backend_address(topics_backend: str, log_path: Path) -> str:
    """Where ``start_producers``' processes write: the log file, or ``fluvio:host:port``."""
    return f"fluvio:{os.environ['FLUVIO_ENDPOINT']}" if topics_backend == "fluvio" else str(log_path)


@pytest.fixture
def start_producers(log_path: Path, tmp_path: Path) -> Iterator[Callable[..., list[subprocess.Popen[str]]]]:
    """Start producer processes that begin writing together once all have opened the log
    (``where``: the embedded log file by default, or ``fluvio:host:port``)."""
    started: list[subprocess.Popen[str]] = []

    def start(topic: str, tags: list[str], count: int, batch: int, where: str | None = None) -> list[subprocess.Popen[str]]:
        start_file = tmp_path / f"go-{len(started)}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", PRODUCER_PROGRAM, where or str(log_path), topic, tag, str(count), str(batch),
                 str(start_file)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for tag in tags
        ]
        started.extend(procs)
        ready = [Path(f"{start_file}.{tag}") for tag in tags]
        wait_until(lambda: all(path.exists() for path in ready), 30, f"producers {', '.join(tags)} ready")
        start_file.touch()
        return procs

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
