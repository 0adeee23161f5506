"""``topic create|list|delete``, ``produce`` and ``consume``: the topic commands, as ``fluvio`` has them.

Every command goes through ``open_topics()``, so the same commands work on the embedded log and on
a Fluvio cluster (``FLUVIO_ENDPOINT``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain

import click

from airflow_provider_fluvio.cli._common import OUTPUT_FORMATS, echo_json
from fluvio_connectors.errors import ConfigError, FluvioConnectorError
from fluvio_connectors.topics import Record, Topics, open_topics

# Records wait at most this long in the producer before they are stored, so `tail -f | produce`
# streams while a piped file is still written in large batches.
PRODUCE_LINGER_MS = 100.0


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
@click.option("-p", "--partitions", type=click.IntRange(min=1), default=1, show_default=True,
              help="Number of partitions.")
def create_topic(name: str, partitions: int) -> None:
    """Create topic NAME (an error if it already exists)."""
    with _topics() as topics:
        if not topics.create_topic(name, partitions):
            raise FluvioConnectorError(f"topic {name} already exists")
    click.echo(f"topic {name} created")


@topic.command("list")
@click.option("-O", "--output", type=OUTPUT_FORMATS, default="table", help="Output format.")
def list_topics(output: str) -> None:
    """List the topics."""
    with _topics() as topics:
        names = topics.list_topics()
    if output == "json":
        echo_json(names)
        return
    if not names:
        click.echo("No topics found")
        return
    click.echo("NAME")
    for name in names:
        click.echo(name)


@topic.command("delete")
@click.argument("name")
def delete_topic(name: str) -> None:
    """Delete topic NAME and its records."""
    with _topics() as topics:
        topics.delete_topic(name)
    click.echo(f"topic {name} deleted")


@click.command()
@click.argument("topic_name", metavar="TOPIC")
@click.option("--key-separator", default=None, metavar="SEP",
              help="Split each line at the first SEP into key and value.")
@click.option("--key", "fixed_key", default=None, help="Use this key for every record.")
def produce(topic_name: str, key_separator: str | None, fixed_key: str | None) -> None:
    """Write lines from stdin to TOPIC, one record a line."""
    if key_separator is not None and fixed_key is not None:
        raise click.UsageError("use either --key or --key-separator, not both")
    if key_separator == "":
        raise click.UsageError("--key-separator must not be empty")
    separator = key_separator.encode() if key_separator is not None else None
    key = fixed_key.encode() if fixed_key is not None else None
    stdin = sys.stdin.buffer
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
@click.option("-o", "--offset", type=int, default=None,
              help="Start at this offset; negative: the last records (-o -5: the last 5).")
@click.option("-p", "--partition", type=click.IntRange(min=0), default=0, show_default=True,
              help="Partition to read.")
@click.option("-d", "--disable-continuous", is_flag=True, help="Exit at the end of the log.")
@click.option("-n", "--num-records", type=click.IntRange(min=1), default=None,
              help="Exit after this many records.")
@click.option("-k", "--key-value", is_flag=True, help="Print each record's key too ([key] value).")
@click.option("-O", "--output", type=click.Choice(["text", "json"]), default="text",
              help="text: the value, one a line; json: one object a line.")
def consume(
    topic_name: str,
    from_beginning: bool,
    offset: int | None,
    partition: int,
    disable_continuous: bool,
    num_records: int | None,
    key_value: bool,
    output: str,
) -> None:
    """Print records of TOPIC; by default new ones only, following the log."""
    if from_beginning and offset is not None:
        raise click.UsageError("use either -B or -o, not both")
    with _topics() as topics:
        last: list[Record] = []
        if from_beginning:
            start = 0
        elif offset is not None and offset >= 0:
            start = offset
        else:
            start = topics.end_offset(topic_name, partition)
            if offset is not None:
                last = _last_records(topics, topic_name, partition, -offset, start)
        records = chain(last, topics.stream(topic_name, start, partition=partition, follow=not disable_continuous))
        for count, record in enumerate(records, start=1):
            _print_record(record, output, key_value)
            if num_records is not None and count >= num_records:
                break


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
    if output == "json":
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
    cli.add_command(topic)
    cli.add_command(produce)
    cli.add_command(consume)
