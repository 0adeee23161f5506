"""``topic create|list|delete|vacuum``, ``produce`` and ``consume``: the topic commands, as ``fluvio`` has them.

Every command goes through ``open_topics()``, so the same commands work on the embedded log and on
a Fluvio cluster (``FLUVIO_ENDPOINT``).

``consume -O raw`` writes each value's bytes exactly as stored, nothing added (``-n 1 -O raw >
file`` is the record byte for byte), where ``text`` decodes values as UTF-8 (a binary value then
shows U+FFFD). ``--timeout`` bounds the wait as the consume operator's does.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain

import click

from airflow_provider_fluvio.cli._common import OUTPUT_FORMATS, SECONDS, echo_json
from fluvio_connectors.errors import ConfigError, FluvioConnectorError
from fluvio_connectors.topics import Record, Topics, open_topics
from fluvio_connectors.topics.embedded import EmbeddedTopics
from fluvio_connectors.topics.retention import Retention, format_size

# Records wait at most this long in the producer before they are stored, so `tail -f | produce`
# streams while a piped file is still written in large batches.
PRODUCE_LINGER_MS = 100.0
# Offsets and partitions fit a signed 64-bit integer (the log's and Fluvio's limit).
MAX_OFFSET = 2**63 - 1
# With --timeout, how often a quiet topic is checked against the deadline.
IDLE_CHECK_SECONDS = 0.5


@contextmanager
def _topics() -> Iterator[Topics]:
    topics = open_topics()
    try:
        yield topics
    finally:
        topics.close()


@click.group()
def topic() -> None:
    """Create, list and delete topics."""


@topic.command("create")
@click.argument("name")
@click.option("-p", "--partitions", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Number of partitions.")
@click.option("--retention-time", default=None, metavar="TIME",
              help="Keep records this long, e.g. 1h, '2d 10s', '7 days' (default: the embedded log keeps "
                   "every record; a Fluvio cluster its default, 7 days).")
@click.option("--max-partition-size", default=None, metavar="BYTES",
              help="Drop a partition's oldest records beyond this size, e.g. 2048, '2 Ki', '10 MiB', '1 GB'.")
@click.option("--segment-size", default=None, metavar="BYTES",
              help="Fluvio's segment size (the unit it drops records in); the embedded log only keeps it.")
def create_topic(name: str, partitions: int, retention_time: str | None, max_partition_size: str | None,
                 segment_size: str | None) -> None:
    """Create topic NAME (an error if it already exists), with Fluvio's retention options."""
    retention = Retention.parse(retention_time, max_partition_size, segment_size)
    with _topics() as topics:
        if not topics.create_topic(name, partitions, retention or None):
            raise FluvioConnectorError(f"topic {name} already exists")
    click.echo(f"topic {name} created" + (f" (retention: {retention.describe()})" if retention else ""))


@topic.command("list")
@click.option("-O", "--output", type=OUTPUT_FORMATS, default="table", help="Output format.")
def list_topics(output: str) -> None:
    """List the topics: partitions, records, bytes of keys and values, retention."""
    with _topics() as topics:
        infos = topics.topic_infos()
    if output == "json":
        echo_json([info.to_dict() for info in infos])
        return
    if not infos:
        click.echo("No topics found")
        return
    rows = [("NAME", "PARTITIONS", "RECORDS", "SIZE", "RETENTION")]
    rows += [(i.name, _cell(i.partitions), _cell(i.records), "-" if i.size_bytes is None else format_size(i.size_bytes),
              i.retention.describe() if i.retention is not None else "-") for i in infos]
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]).rstrip())


def _cell(value: int | None) -> str:
    return "-" if value is None else str(value)


@topic.command("delete")
@click.argument("name")
def delete_topic(name: str) -> None:
    """Delete topic NAME and its records (on the embedded log, `topic vacuum` then shrinks the file)."""
    with _topics() as topics:
        removed = topics.delete_topic(name)
    if removed is None:
        click.echo(f"topic {name} deleted")
    else:
        click.echo(f"topic {name} deleted with its {removed} record(s); `fluvio-connector topic vacuum` "
                   "returns their space to the file system")


@topic.command("vacuum")
def vacuum() -> None:
    """Embedded log: apply retention now and shrink topics.db to what it holds (writers wait meanwhile)."""
    with _topics() as topics:
        if not isinstance(topics, EmbeddedTopics):
            raise FluvioConnectorError("vacuum applies to the embedded log; a Fluvio cluster frees the space of "
                                       "deleted and expired records by itself")
        purged = topics.apply_retention()
        before, after = topics.vacuum()
    click.echo(f"{topics.path}: {format_size(before)} -> {format_size(after)} "
               f"({purged.records} record(s) past retention removed)")


@click.command()
@click.argument("topic_name", metavar="TOPIC")
@click.option("--key-separator", default=None, metavar="SEP",
              help="Split each line at the first SEP into key and value.")
@click.option("--key", "fixed_key", default=None, metavar="KEY", help="Use this key for every record.")
def produce(topic_name: str, key_separator: str | None, fixed_key: str | None) -> None:
    """Write lines from stdin to TOPIC, one record a line."""
    if key_separator is not None and fixed_key is not None:
        raise click.UsageError("use either --key or --key-separator, not both")
    if key_separator == "":
        raise click.UsageError("--key-separator must not be empty")
    separator = key_separator.encode() if key_separator is not None else None
    key = fixed_key.encode() if fixed_key is not None else None
    stdin = getattr(sys.stdin, "buffer", None)
    if stdin is None:  # started with stdin closed (`produce t <&-`)
        raise click.UsageError("standard input is closed; expected records on it, one a line")
    with _topics() as topics:
        producer = topics.producer(topic_name, linger_ms=PRODUCE_LINGER_MS)
        try:
            for number, raw in enumerate(stdin, start=1):
                line = raw.rstrip(b"\n").removesuffix(b"\r")
                if separator is None:
                    producer.send(key, line)
                    continue
                record_key, found, value = line.partition(separator)
                if not found:
                    raise ConfigError(f"line {number} has no key separator {key_separator!r}")
                producer.send(record_key, value)
        finally:
            # Whatever was read before an error is stored, as `fluvio produce` does.
            producer.close()


@click.command()
@click.argument("topic_name", metavar="TOPIC")
@click.option("-B", "--from-beginning", is_flag=True, help="Start at the first record.")
@click.option("-o", "--offset", type=click.IntRange(min=-MAX_OFFSET, max=MAX_OFFSET), default=None, metavar="OFFSET",
              help="Start at this offset; negative counts back from the end (-o -5: the last 5).")
@click.option("-p", "--partition", type=click.IntRange(min=0, max=MAX_OFFSET), default=0, show_default=True,
              metavar="N", help="Partition to read.")
@click.option("-d", "--disable-continuous", is_flag=True, help="Exit at the end of the log.")
@click.option("-n", "--num-records", type=click.IntRange(min=1), default=None, metavar="N",
              help="Exit after this many records.")
@click.option("--timeout", type=SECONDS, default=None, metavar="SECONDS",
              help="Stop after SECONDS; with -n, exit 1 if fewer than N records arrived by then.")
@click.option("-k", "--key-value", is_flag=True, help="Print each record's key too ([key] value).")
@click.option("-O", "--output", type=click.Choice(["text", "json", "raw"]), default="text",
              help="text: the value, one a line; json: one object a line; raw: the values' bytes exactly, "
                   "nothing added.")
@click.option("-c", "--consumer", "consumer_name", default=None, metavar="NAME",
              help="Resume from NAME's committed position and commit what is printed "
                   "(-B/-o only choose where a new consumer starts).")
def consume(
    topic_name: str,
    from_beginning: bool,
    offset: int | None,
    partition: int,
    disable_continuous: bool,
    num_records: int | None,
    timeout: float | None,
    key_value: bool,
    output: str,
    consumer_name: str | None,
) -> None:
    """Print records of TOPIC; by default new ones only, following the log."""
    if from_beginning and offset is not None:
        raise click.UsageError("use either -B or -o, not both")
    if key_value and output == "raw":
        raise click.UsageError("-k/--key-value does not apply to -O raw (the values' bytes only)")
    printed = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    with _topics() as topics:
        if consumer_name is not None:
            from airflow_provider_fluvio.cli.consumer_cmds import consume_named

            first = 0 if from_beginning else offset
            if first is not None and first < 0:  # the last -first records, counted
                end = topics.end_offset(topic_name, partition)
                newest = _last_records(topics, topic_name, partition, -first, end)
                first = newest[0].offset if newest else end
            start = topics.consumer_position(consumer_name, topic_name, partition) or first or 0
            printed = consume_named(
                topics, topic_name, consumer_name, partition=partition, first_position=first,
                follow=not disable_continuous, num_records=num_records,
                show=lambda record: _print_record(record, output, key_value), deadline=deadline,
            )
        else:
            last: list[Record] = []
            if from_beginning:
                start = 0
            elif offset is not None and offset >= 0:
                start = offset
            else:
                start = topics.end_offset(topic_name, partition)
                if offset is not None:
                    last = _last_records(topics, topic_name, partition, -offset, start)
            records = chain(last, _records(topics, topic_name, start, partition, not disable_continuous, deadline))
            for record in records:
                _print_record(record, output, key_value)
                printed += 1
                if num_records is not None and printed >= num_records:
                    break
    if timeout is not None and num_records is not None and printed < num_records:
        raise FluvioConnectorError(
            f"topic {topic_name}: {printed} of {num_records} records from offset {start} arrived within {timeout:g} s")


def _records(topics: Topics, topic: str, start: int, partition: int, follow: bool,
             deadline: float | None) -> Iterator[Record]:
    """The records from ``start``; with a deadline, none after it (an idle wait ends by then).
    What is there already is read even when the deadline has passed (``--timeout 0``)."""
    if deadline is None:
        yield from topics.stream(topic, start, partition=partition, follow=follow)
        return
    offset = start
    there = topics.end_offset(topic, partition)  # what is below this is read whatever the deadline
    remaining = max(0.0, deadline - time.monotonic())
    while True:
        # A short idle timeout, so a quiet topic does not keep us past the deadline.
        for record in topics.stream(topic, offset, partition=partition, follow=follow,
                                    timeout=min(remaining, IDLE_CHECK_SECONDS)):
            yield record
            offset = record.offset + 1
            if offset >= there and time.monotonic() >= deadline:
                return
        if not follow or (remaining := deadline - time.monotonic()) <= 0:
            return


def _last_records(topics: Topics, topic: str, partition: int, count: int, end: int) -> list[Record]:
    """The last ``count`` records before offset ``end``: counted, as offsets need not be
    consecutive (a Fluvio partition can have offsets with no record)."""
    window = count
    while True:
        first = max(0, end - window)
        records = [r for r in topics.read(topic, first, partition=partition) if r.offset < end]
        if len(records) >= count or first == 0:
            return records[-count:] if count else []
        window *= 4


def _print_record(record: Record, output: str, key_value: bool) -> None:
    if output == "raw":
        out = sys.stdout.buffer
        out.write(record.value)
        out.flush()
    elif output == "json":
        echo_json({
            "offset": record.offset,
            "key": record.key_text(),
            "value": record.value_text(),
            "timestamp": record.timestamp,
        })
    elif key_value:
        click.echo(f"[{record.key_text() if record.key is not None else 'null'}] {record.value_text()}")
    else:
        click.echo(record.value_text())


def register(cli: click.Group) -> None:
    """Add the topic commands to the ``fluvio-connector`` group."""
    from airflow_provider_fluvio.cli.consumer_cmds import register as register_consumers

    cli.add_command(topic)
    cli.add_command(produce)
    cli.add_command(consume)
    register_consumers(cli)
