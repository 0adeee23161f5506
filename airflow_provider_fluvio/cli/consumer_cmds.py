"""Named consumers on the command line: ``consume --consumer NAME`` and ``consumer list|delete``.

``consume --consumer NAME`` resumes where NAME's committed position says, and commits what it has
printed: after each batch is written and flushed to stdout, and, on Ctrl-C or a closed pipe, what
reached stdout before. So a reader that stops and starts again sees every record at least once, and
exactly once unless it is killed between printing a batch and committing it.

Into a pipe, "printed" means taken by the reader: each record is written once the reader has read
the one before, so ``consume -c NAME | head -3`` commits the 3 records ``head`` read, not what the
pipe's buffer (or ``head``'s) could have held.
"""

from __future__ import annotations

import fcntl
import os
import select
import stat
import struct
import sys
import termios
import time
from collections.abc import Callable

import click

from airflow_provider_fluvio.cli._common import OUTPUT_FORMATS, echo_json
from fluvio_connectors.names import validate_consumer_name
from fluvio_connectors.topics import READ_BYTES, Record, Topics, open_topics
from fluvio_connectors.topics.consumers import resume_position

# Records printed between two commits while catching up with a long log.
BATCH = 500
# Seconds between two looks at the end of the log while following it.
POLL_INTERVAL = 0.2


def consume_named(
    topics: Topics,
    topic: str,
    consumer: str,
    *,
    partition: int,
    first_position: int | None,
    follow: bool,
    num_records: int | None,
    show: Callable[[Record], None],
    deadline: float | None = None,
) -> int:
    """Print ``topic`` from ``consumer``'s position, committing what was printed; returns how many.

    ``first_position`` is where a consumer without a committed position starts (None: the end);
    ``deadline`` (``time.monotonic()``) ends a followed read that is still waiting then."""
    validate_consumer_name(consumer)
    position = topics.consumer_position(consumer, topic, partition)
    if position is None and first_position is None:
        position = resume_position(topics, consumer, topic, partition=partition, start="latest")
    elif position is None:
        assert first_position is not None
        topics.commit(consumer, topic, first_position, partition)
        position = first_position
    committed, printed = position, 0
    pipe = _PipeReader.of(sys.stdout)
    try:
        while num_records is None or printed < num_records:
            want = BATCH if num_records is None else min(BATCH, num_records - printed)
            records = topics.read(topic, position, partition=partition, max_records=want, max_bytes=READ_BYTES)
            if not records:
                if not follow or (deadline is not None and time.monotonic() >= deadline):
                    break
                time.sleep(POLL_INTERVAL)  # the poll interval of a followed log
                continue
            for record in records:
                show(record)
                if pipe is not None:
                    sys.stdout.flush()
                    if not pipe.taken():
                        raise BrokenPipeError("the reader closed the pipe")
                printed += 1
                position = record.offset + 1
            sys.stdout.flush()
            topics.commit(consumer, topic, position, partition)
            committed = position
    finally:
        # Ctrl-C or a closed pipe mid-batch: commit what really reached the reader, nothing more
        # (into a pipe, ``position`` only ever passed records the reader took).
        if position != committed and (pipe is not None or _flushed()):
            topics.commit(consumer, topic, position, partition)
    return printed


class _PipeReader:
    """The reader at the other end of a pipe: has it taken everything written into it?"""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def of(cls, stream: object) -> _PipeReader | None:
        """The reader of ``stream`` when it is a pipe, else None."""
        try:
            fd = stream.fileno()  # type: ignore[attr-defined]
            return cls(fd) if stat.S_ISFIFO(os.fstat(fd).st_mode) else None
        except (AttributeError, OSError, ValueError):
            return None

    def unread(self) -> int:
        """Bytes in the pipe the reader has not read yet (Linux answers this on the write end)."""
        return int(struct.unpack("i", fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0"))[0])

    def taken(self) -> bool:
        """Wait until the reader has read everything (True) or closed its end (False)."""
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        delay = 0.0001
        while True:
            try:
                if self.unread() == 0:
                    return True
            except OSError:
                return True  # no way to tell: count on the write having failed if it was not read
            if any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0)):
                return False
            time.sleep(delay)  # the reader is busy with what it has: look again shortly
            delay = min(delay * 2, 0.01)


def _flushed() -> bool:
    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError, ValueError):
        return False
    return True




@click.group()
def consumer() -> None:
    """List and delete named consumers (the positions `consume --consumer` resumes from)."""


@consumer.command("list")
@click.option("-t", "--topic", "topic_name", default=None, metavar="TOPIC", help="Only this topic's consumers.")
@click.option("-O", "--output", type=OUTPUT_FORMATS, default="table", help="Output format.")
def list_consumers(topic_name: str | None, output: str) -> None:
    """List committed positions: consumer, topic, partition, position and records left (LAG)."""
    topics = open_topics()
    try:
        rows = []
        for position in topics.list_consumers(topic_name):
            end = topics.end_offset(position.topic, position.partition)
            rows.append({
                "consumer": position.consumer,
                "topic": position.topic,
                "partition": position.partition,
                "offset": position.offset,
                "lag": max(0, end - position.offset),
                "updated_at": position.updated_at,
            })
    finally:
        topics.close()
    if output == "json":
        echo_json(rows)
        return
    if not rows:
        click.echo("No consumers found")
        return
    header = ("CONSUMER", "TOPIC", "PARTITION", "OFFSET", "LAG")
    table = [header] + [tuple(str(r[k]) for k in ("consumer", "topic", "partition", "offset", "lag")) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@consumer.command("delete")
@click.argument("name")
@click.option("-t", "--topic", "topic_name", default=None, metavar="TOPIC", help="Only its position on this topic.")
def delete_consumer(name: str, topic_name: str | None) -> None:
    """Delete consumer NAME's committed positions (its next `consume --consumer` starts afresh)."""
    topics = open_topics()
    try:
        deleted = topics.delete_consumer(name, topic_name)
    finally:
        topics.close()
    where = f" on topic {topic_name}" if topic_name else ""
    click.echo(f"consumer {name} deleted ({deleted} position{'s' if deleted != 1 else ''}{where})")


def register(cli: click.Group) -> None:
    """Add the ``consumer`` group to ``fluvio-connector``."""
    cli.add_command(consumer)
