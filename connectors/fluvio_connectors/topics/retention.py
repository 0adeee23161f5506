"""Topic retention as Fluvio's topics have it, set when a topic is created.

``Retention(time, max_partition_size, segment_size)``, written as Fluvio's CLI writes them
(``fluvio topic create --retention-time 1h --segment-size '10 MiB' --max-partition-size '1 GB'``):
a duration (``1h``, ``2d 10s``, ``7 days``; a bare number is seconds) and sizes in bytes or with a
unit (``2048``, ``2 Ki``, ``10 MiB``, ``1 GB``: K, M, G, T are powers of 1000, Ki, Mi, Gi, Ti of 1024).

On a Fluvio cluster the values go into the topic's spec and its SPU applies them, a whole segment
at a time (unset: Fluvio's defaults, 7 days and 1 GB segments). The embedded log keeps them with
the topic and applies them in the background of the processes that write to it (``purge``):
records older than ``time``, then the oldest records of a partition beyond ``max_partition_size``
bytes of keys and values. It deletes at most ``PURGE_CHUNK`` records a transaction, so writers go on
between them, and it has no segments: ``segment_size`` is kept and shown only. Unset, the embedded
log keeps every record.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fluvio_connectors.errors import ConfigError

PURGE_CHUNK = 1_000  # records deleted per write transaction at most
MAX_RETENTION_SECONDS = 100 * 365 * 86_400
MAX_SIZE = 2**62
_TIME_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86_400),
    **dict.fromkeys(("w", "week", "weeks"), 7 * 86_400),
}
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "ki": 1024, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mi": 1024**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gi": 1024**3, "gib": 1024**3,
    "t": 1000**4, "tb": 1000**4, "ti": 1024**4, "tib": 1024**4,
}
_TIME_PART = re.compile(r"(\d+)\s*([a-z]+)")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


@dataclass(frozen=True)
class Retention:
    """What a topic keeps: ``time`` (seconds), ``max_partition_size`` and ``segment_size`` (bytes);
    None is no limit (on Fluvio: the cluster's default)."""

    time: int | None = None
    max_partition_size: int | None = None
    segment_size: int | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.time, self.max_partition_size, self.segment_size))

    @classmethod
    def parse(cls, time: str | int | None = None, max_partition_size: str | int | None = None,
              segment_size: str | int | None = None) -> Retention:
        """From Fluvio's CLI forms; ``ConfigError`` naming the option and what is expected."""
        return cls(
            time=None if time is None else parse_retention_time(time),
            max_partition_size=None if max_partition_size is None else parse_size(max_partition_size, "max-partition-size"),
            segment_size=None if segment_size is None else parse_size(segment_size, "segment-size"),
        )

    def describe(self) -> str:
        """``1h, max 10 MiB a partition, segments of 1 MiB``; ``-`` for none."""
        parts = []
        if self.time is not None:
            parts.append(format_seconds(self.time))
        if self.max_partition_size is not None:
            parts.append(f"max {format_size(self.max_partition_size)} a partition")
        if self.segment_size is not None:
            parts.append(f"segments of {format_size(self.segment_size)}")
        return ", ".join(parts) or "-"

    def to_dict(self) -> dict[str, int | None]:
        return {"retention_time": self.time, "max_partition_size": self.max_partition_size,
                "segment_size": self.segment_size}


def parse_retention_time(value: str | int) -> int:
    """Seconds from ``1h``, ``2d 10s``, ``7 days`` or a number of seconds (at least 1)."""
    expected = "expected a duration such as 1h, 2d 10s or 7 days (or a number of seconds)"
    seconds = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and len(value) <= 64:
        text = value.strip().lower()
        if text.isdigit():
            seconds = int(text)
        else:
            parts = _TIME_PART.findall(text)
            if parts and "".join(n + u for n, u in parts) == re.sub(r"\s+", "", text):
                if any(u not in _TIME_UNITS for _n, u in parts):
                    unknown = next(u for _n, u in parts if u not in _TIME_UNITS)
                    raise ConfigError(f"retention-time: unknown unit {unknown[:10]!r}; {expected}")
                seconds = sum(int(n) * _TIME_UNITS[u] for n, u in parts)
    if seconds is None:
        raise ConfigError(f"retention-time: {expected}")
    if not 1 <= seconds <= MAX_RETENTION_SECONDS:
        raise ConfigError(f"retention-time: expected from 1 second to 100 years, got {seconds} s")
    return seconds


def parse_size(value: str | int, option: str) -> int:
    """Bytes from ``2048``, ``2 Ki``, ``10 MiB`` or ``1 GB`` (at least 1)."""
    expected = "expected bytes, e.g. 2048, 2 Ki, 10 MiB or 1 GB"
    size = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and len(value) <= 64:
        match = _SIZE.fullmatch(value.strip().lower())
        if match and match.group(2) in _SIZE_UNITS:
            size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])
    if size is None:
        raise ConfigError(f"{option}: {expected}")
    if not 1 <= size <= MAX_SIZE:
        raise ConfigError(f"{option}: expected at least 1 byte, got {size}")
    return size


def format_seconds(seconds: int) -> str:
    """``7 days``, ``1h 30m``, ``45s``."""
    if seconds % 86_400 == 0:
        days = seconds // 86_400
        return f"{days} day{'s' if days != 1 else ''}"
    parts = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts)


def format_size(size: int) -> str:
    """``512 B``, ``1.5 KiB``, ``10 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" or value == int(value) else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB" if value != int(value) else f"{value:.0f} TiB"


# --------------------------------------------------------------------------- the embedded log

RETENTION_INTERVAL_ENV = "FLUVIO_EMBEDDED_RETENTION_INTERVAL"
DEFAULT_RETENTION_INTERVAL = 30.0


def retention_interval(env: Mapping[str, str] | None = None) -> float:
    """Seconds between two retention passes of a writing process (``FLUVIO_EMBEDDED_RETENTION_INTERVAL``,
    default 30; a value that is not a positive number is the default)."""
    text = (os.environ if env is None else env).get(RETENTION_INTERVAL_ENV, "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_RETENTION_INTERVAL
    return value if 0 < value < float("inf") else DEFAULT_RETENTION_INTERVAL


class Log(Protocol):
    """What ``purge`` needs of the embedded log: a read and a short write transaction."""

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[Any]: ...

    def _write(self, work: Callable[[Any], Any]) -> Any: ...


@dataclass
class Purged:
    """What a purge pass removed."""

    records: int = 0
    bytes: int = 0
    orphans: int = 0  # records of deleted topics that a delete left (it was cut short)


def purge(log: Log, now: float | None = None, chunk: int = PURGE_CHUNK) -> Purged:
    """Apply every topic's retention to the embedded log, and remove what deletes of topics left
    behind; each write transaction deletes at most ``chunk`` records."""
    now = time.time() if now is None else now
    done = Purged()
    rows = log._query(
        "SELECT t.id, p.partition, t.retention_seconds, t.max_partition_bytes FROM topics t "
        "JOIN partitions p ON p.topic_id = t.id "
        "WHERE t.retention_seconds IS NOT NULL OR t.max_partition_bytes IS NOT NULL"
    )
    for topic_id, partition, retention_seconds, max_bytes in rows:
        cutoff = None if retention_seconds is None else now - retention_seconds

        def expire(conn: Any, t: int = topic_id, p: int = partition, c: float | None = cutoff,
                   m: int | None = max_bytes) -> tuple[int, int]:
            return _purge_chunk(conn, t, p, c, m, chunk)

        while True:
            removed, size = log._write(expire)
            done.records += removed
            done.bytes += size
            if removed < chunk:
                break
    for (topic_id,) in log._query("SELECT topic_id FROM deleted_topics"):

        def remove(conn: Any, t: int = topic_id) -> int:
            return delete_records_of_deleted_topic(conn, t, chunk)

        while True:
            removed = log._write(remove)
            done.orphans += removed
            if removed < chunk:
                break
    return done


# A record's size in SQL: its key and value, the value in ``blobs`` when it is large (embedded.py).
RECORD_SIZE = ("ifnull(length(key), 0) + CASE WHEN blob_id IS NULL THEN length(value) "
               "ELSE (SELECT length(data) FROM blobs WHERE id = blob_id) END")


def _purge_chunk(conn: Any, topic_id: int, partition: int, cutoff: float | None, max_bytes: int | None,
                 chunk: int) -> tuple[int, int]:
    """Delete the oldest records that are expired or beyond the size limit, at most ``chunk``."""
    row = conn.execute("SELECT size_bytes FROM partitions WHERE topic_id = ? AND partition = ?",
                       (topic_id, partition)).fetchone()
    if row is None:  # deleted meanwhile
        return 0, 0
    excess = int(row[0]) - max_bytes if max_bytes is not None else 0
    oldest = conn.execute(
        f'SELECT "offset", timestamp, {RECORD_SIZE} FROM records '
        'WHERE topic_id = ? AND partition = ? ORDER BY "offset" LIMIT ?', (topic_id, partition, chunk),
    ).fetchall()
    last, freed = None, 0
    for offset, timestamp, size in oldest:
        if not ((cutoff is not None and timestamp < cutoff) or excess - freed > 0):
            break
        last, freed = offset, freed + size
    if last is None:
        return 0, 0
    conn.execute('DELETE FROM blobs WHERE id IN (SELECT blob_id FROM records WHERE topic_id = ? AND partition = ? '
                 'AND "offset" <= ? AND blob_id IS NOT NULL)', (topic_id, partition, last))
    cursor = conn.execute('DELETE FROM records WHERE topic_id = ? AND partition = ? AND "offset" <= ?',
                          (topic_id, partition, last))
    conn.execute("UPDATE partitions SET size_bytes = max(0, size_bytes - ?) WHERE topic_id = ? AND partition = ?",
                 (freed, topic_id, partition))
    return int(cursor.rowcount), freed


def delete_records_of_deleted_topic(conn: Any, topic_id: int, chunk: int = PURGE_CHUNK) -> int:
    """One chunk of the records of a deleted topic (``deleted_topics``); the topic's entry goes
    with its last record. Returns how many were deleted."""
    rows = conn.execute('SELECT partition, "offset", blob_id FROM records WHERE topic_id = ? LIMIT ?',
                        (topic_id, chunk)).fetchall()
    conn.executemany("DELETE FROM blobs WHERE id = ?", [(blob,) for _, _, blob in rows if blob is not None])
    conn.executemany('DELETE FROM records WHERE topic_id = ? AND partition = ? AND "offset" = ?',
                     [(topic_id, partition, offset) for partition, offset, _ in rows])
    removed = len(rows)
    if removed < chunk:
        conn.execute("DELETE FROM deleted_topics WHERE topic_id = ?", (topic_id,))
    return removed




__all__ = [
    "PURGE_CHUNK",
    "Purged",
    "Retention",
    "delete_records_of_deleted_topic",
    "format_size",
    "parse_retention_time",
    "parse_size",
    "purge",
    "retention_interval",
]
