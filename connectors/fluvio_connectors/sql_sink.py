"""The SQL sink: every JSON record of the topic becomes a row of a PostgreSQL or SQLite table, exactly once.

``python -m fluvio_connectors.sql_sink --config FILE [--secrets FILE]``

A record becomes a row with the json-sql mapping (``json_sql``; without a mapping the record must be
an operation of Fluvio's SQL model); rows and the sink's position go to the database in one
transaction per batch (``sql_writer``): a batch holds up to ``batch-size`` records, and is written
once that many have arrived or ``linger`` after the first.

What happens when something goes wrong:

* the database cannot be reached (or goes away): Pending (``reconnecting``) with the reason,
  reconnecting with backoff (``backoff-min`` doubling to ``backoff-max``); the sink then continues
  from the position the database holds, whatever happened to the transaction in flight;
* the database refuses what the sink needs (a missing table or column, a refused login, no
  permission): Failed with the reason, checked again every ``backoff-max`` (fixing it is enough);
* a record that cannot be a row (not JSON, a required key missing, a value of the wrong type, a row
  the database refuses): with ``on-error: fail`` (default) the rows before it are committed with
  the position on it, and the sink is Failed with its offset and the reason, alive and writing
  nothing (restarting it would only fail again); with ``on-error: skip`` it is logged with its
  offset, counted (``skipped``, kept in the offsets table too) and passed over, in the same
  transaction as the rows around it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import cast

from fluvio_connectors.catalog import SQL_SINK
from fluvio_connectors.errors import BackendError
from fluvio_connectors.json_sql import ModelMapper, PoisonRecord, Row, RowMapper
from fluvio_connectors.runner import ConnectorContext, Program, main
from fluvio_connectors.sink import (
    Backoff,
    PositionMirror,
    TopicReader,
    backend_trouble,
    consumer_settings,
    initial_position,
    stopped_at,
)
from fluvio_connectors.sink_catalog import SqlSinkParameters, SqlTarget
from fluvio_connectors.sql_postgres import PostgresWriter
from fluvio_connectors.sql_writer import (
    PositionKey,
    PositionMoved,
    RowRejected,
    SqliteWriter,
    SqlWriter,
    TargetRefused,
    TargetUnreachable,
)
from fluvio_connectors.topics import Record

log = logging.getLogger("fluvio_connectors.sql_sink")


class _Halt(Exception):
    """A record stopped the sink (``on-error: fail``)."""


class SqlSink:
    def __init__(self, ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.params = cast(SqlSinkParameters, ctx.config.parameters)
        self.target = self.params.target
        self.mapper = RowMapper(self.params.mapping) if self.params.mapping else ModelMapper()
        self.key = PositionKey(ctx.config.consumer_id, ctx.config.topic, consumer_settings(ctx.config).partition)
        self.writer: SqlWriter = open_writer(self.target, self.params.offsets_table, f"fluvio-{ctx.config.name}")
        self.reader = TopicReader(ctx)
        self.mirror = PositionMirror(ctx.topics, ctx.config)
        self.counted = False

    def run(self) -> None:
        backoff = Backoff(self.params.backoff_min.total_seconds(), self.params.backoff_max.total_seconds())
        self.mirror.start()
        try:
            while not self.ctx.stopping.is_set():
                try:
                    self._deliver(backoff)
                except TargetUnreachable as exc:
                    self._retry(backoff, str(exc))
                except BackendError as exc:
                    self._retry(backoff, backend_trouble(exc))
                except TargetRefused as exc:
                    wait = self.params.backoff_max.total_seconds()
                    reason = f"{exc}; the sink checks again every {wait:g}s"
                    log.error("%s", reason)
                    self.ctx.halted(reason)
                    self.ctx.wait(wait)
                except _Halt as exc:
                    log.error("%s", exc)
                    self.ctx.halted(str(exc))
                    self.writer.close()
                    while not self.ctx.wait(60.0):
                        pass
        finally:
            self.writer.close()
            self.mirror.close()

    def _retry(self, backoff: Backoff, reason: str) -> None:
        wait = backoff.next()
        log.warning("%s; retrying in %gs", reason, wait)
        self.ctx.reconnecting(reason)
        self.ctx.wait(wait)

    def _deliver(self, backoff: Backoff) -> None:
        """Connect, read the position back, and deliver batches until stopped."""
        self.writer.connect()
        start = initial_position(self.config, self.ctx.topics, os.environ)
        stored = self.writer.start_at(self.key, start)
        if not self.counted:
            self.ctx.delivered_before(stored.delivered)
            self.counted = True
        position = stored.next_offset
        end = self.ctx.topics.end_offset(self.config.topic, self.key.partition)
        if position > end and (stored.delivered or stored.skipped):
            raise _Halt(
                f"the position stored in {self.params.offsets_table} ({position}) is past the end of topic "
                f"{self.config.topic} ({end}): the topic was deleted and created again since this sink delivered "
                f"from it, and its new records would be skipped. To deliver them, delete the row of consumer "
                f"{self.key.connector} from {self.params.offsets_table} (or set another consumer.id), then delete "
                "and create the connector again")
        log.info("connected to %s; delivering topic %s from offset %d", self.target.redacted, self.config.topic, position)
        self.mirror.set(position)
        self.ctx.delivered(0, position)
        self.ctx.ready()
        backoff.reset()
        batch_size, linger = self.params.batch_size, self.params.linger.total_seconds()
        while not self.ctx.stopping.is_set():
            records = self.reader.next_batch(position, batch_size, linger)
            if not records:
                continue
            try:
                position = self._write(records, position)
            except PositionMoved as exc:
                position = self.writer.start_at(self.key, position).next_offset
                log.warning("%s (another instance of this sink?); continuing from offset %d", exc, position)
                self.ctx.delivered(0, position)
            self.mirror.set(position)
            self.reader.note_lag(position)

    def _write(self, records: Sequence[Record], position: int) -> int:
        """Map and write ``records`` (read from ``position``); returns the new position."""
        rows: list[Row] = []
        offsets: list[int] = []
        skipped = 0
        for record in records:
            try:
                rows.append(self.mapper.row(record.value))
                offsets.append(record.offset)
            except PoisonRecord as exc:
                if self.params.on_error == "fail":
                    self._commit(rows, position, record.offset, skipped)
                    raise _Halt(stopped_at(record, self.config, str(exc), "fix the record's producer")) from None
                skipped += 1
                log.warning("skipped the record at offset %d: %s", record.offset, exc)
        end = records[-1].offset + 1
        while True:
            try:
                self._commit(rows, position, end, skipped)
                return end
            except RowRejected as exc:
                offset = offsets[exc.index]
                if self.params.on_error == "fail":
                    self._commit(rows[:exc.index], position, offset, skipped)
                    refused = Record(offset, None, b"", 0.0)
                    raise _Halt(stopped_at(refused, self.config, f"the database refused its row: {exc.reason}",
                                           "fix the record or the table")) from None
                log.warning("skipped the record at offset %d: the database refused its row: %s", offset, exc.reason)
                del rows[exc.index], offsets[exc.index]
                skipped += 1

    def _commit(self, rows: list[Row], position: int, new: int, skipped: int) -> None:
        if new == position:
            return
        self.writer.write(self.key, rows, position, new, skipped)
        self.ctx.delivered(len(rows), new, {"skipped": skipped} if skipped else None)


def open_writer(target: SqlTarget, offsets_table: str, application: str) -> SqlWriter:
    """The writer for ``target`` (``application``: how the connection introduces itself)."""
    if target.kind == "sqlite":
        return SqliteWriter(target, offsets_table)
    return PostgresWriter(target, offsets_table, application)


def deliver(ctx: ConnectorContext) -> None:
    """The body of the SQL sink (see the module docstring)."""
    SqlSink(ctx).run()


PROGRAM = Program(connector_type=SQL_SINK, body=deliver)

if __name__ == "__main__":
    main(PROGRAM)
