"""Checkpoints of the embedded log run in the background, and the log still starts over."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from polling import wait_until

from fluvio_connectors.topics import checkpoint
from fluvio_connectors.topics.embedded import EmbeddedTopics


def checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "log-checkpoint" and t.is_alive()]


@pytest.fixture
def small_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """A log that starts over every 64 frames; a writer never checkpoints by itself."""
    monkeypatch.setattr(checkpoint, "RESET_FRAMES", 64)
    monkeypatch.setattr(checkpoint, "INTERVAL", 0.01)
    monkeypatch.setattr("fluvio_connectors.topics.embedded.WRITER_AUTOCHECKPOINT", 1_000_000)


def test_single_record_writes_keep_the_log_starting_over(small_log: None, topics: EmbeddedTopics, log_path: Path) -> None:
    # 3,000 commits of one record write about 6,000 frames: a log that never started over would
    # be that long. Started over every 64 frames it stays a fraction of it (how small depends on
    # how often the checkpoint thread gets a core: about 2,000 frames with both cores busy).
    topics.create_topic("steady")
    with topics.producer("steady") as producer:
        for i in range(3_000):
            producer.send(None, f"r{i}".encode())
            producer.flush()
    frame = 24 + 4096
    assert topics._checkpointer.resets >= 1
    assert Path(f"{log_path}-wal").stat().st_size < 3_000 * frame
    records = topics.read("steady")
    assert [r.value for r in records] == [f"r{i}".encode() for i in range(3_000)]
    assert [r.offset for r in records] == list(range(3_000))


def test_records_written_while_checkpoints_run_are_all_there_for_another_reader(
    small_log: None, topics: EmbeddedTopics, log_path: Path
) -> None:
    topics.create_topic("busy")
    with topics.producer("busy", batch_size=37) as producer:
        for i in range(5_000):
            producer.send(None, f"v{i}".encode())
    other = EmbeddedTopics(log_path)
    try:
        assert [r.value for r in other.read("busy")] == [f"v{i}".encode() for i in range(5_000)]
    finally:
        other.close()


def test_closing_the_log_ends_its_checkpoint_thread(topics: EmbeddedTopics) -> None:
    topics.create_topic("t")
    with topics.producer("t") as producer:
        producer.send(None, b"x")
    wait_until(lambda: topics._checkpointer.passes >= 1, 10, "a checkpoint pass")
    topics.close()
    wait_until(lambda: not checkpoint_threads(), 10, "the checkpoint thread to end")


def test_an_idle_log_keeps_no_thread(monkeypatch: pytest.MonkeyPatch, topics: EmbeddedTopics) -> None:
    monkeypatch.setattr(checkpoint, "IDLE_EXIT", 0.05)
    topics.create_topic("t")
    with topics.producer("t") as producer:
        producer.send(None, b"x")
        producer.flush()
        wait_until(lambda: not checkpoint_threads(), 10, "the checkpoint thread to end")
        producer.send(None, b"y")  # a write after the thread ended starts it again
        producer.flush()
        wait_until(lambda: topics._checkpointer.passes >= 2, 10, "a second checkpoint pass")
    assert [r.value for r in topics.read("t")] == [b"x", b"y"]
