"""One connector's status and log from those of its replicas (``fluvio_connectors.replicas``).

Status, in the one vocabulary of every runtime:

- **Running** when every replica is Running: each holds its share of the stream (with MQTT shared
  subscriptions the broker keeps handing a replica that is down its share, to be delivered when
  it is back, so a connector with a replica down is not fully serving);
- **Failed** when any replica is Failed (it will not come back by itself), or Stopped while the
  others are not (nothing restarts it: its share waits at the broker);
- **Stopped** when every replica is Stopped;
- **Pending** otherwise ("1 of 2 replicas running; replica 1: reconnecting: ..."), since the
  earliest moment from which a replica that is not running now has been Pending.

Logs: every replica's lines, each prefixed with ``[replica N]``, merged in the order of their time
stamps (a line without one, e.g. a traceback, stays after the line before it).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from airflow_provider_fluvio.runtimes.base import ConnectorStatus, ReplicaStatus

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)")


def combine(replicas: Sequence[ReplicaStatus]) -> tuple[ConnectorStatus, str | None, datetime | None]:
    """The connector's status, reason and pending-since from its replicas' (see the module docstring)."""
    if len(replicas) == 1:
        only = replicas[0]
        return only.status, only.reason, only.pending_since
    total = len(replicas)
    running = sum(r.status == ConnectorStatus.RUNNING for r in replicas)
    stopped = sum(r.status == ConnectorStatus.STOPPED for r in replicas)
    for replica in replicas:
        if replica.status == ConnectorStatus.FAILED:
            return ConnectorStatus.FAILED, f"replica {replica.name}: {replica.reason or 'Failed'}", None
    if stopped == total:
        return ConnectorStatus.STOPPED, replicas[0].reason, None
    if stopped:
        down = next(r for r in replicas if r.status == ConnectorStatus.STOPPED)
        return ConnectorStatus.FAILED, (
            f"replica {down.name} is Stopped ({down.reason or 'stopped'}) while the others are not: nothing "
            "restarts it and its share of the stream waits at the broker; delete the connector and create it again"
        ), None
    if running == total:
        return ConnectorStatus.RUNNING, None, None
    waiting = [r for r in replicas if r.status != ConnectorStatus.RUNNING]
    first = waiting[0]
    since = [r.pending_since for r in waiting if r.pending_since is not None]
    reason = f"{running} of {total} replicas running; replica {first.name}: {first.reason or first.status.value}"
    return ConnectorStatus.PENDING, reason, min(since) if since else None


def merge_logs(logs: Iterable[tuple[str, Sequence[str]]], tail: int | None = None) -> list[str]:
    """Lines of several replicas' logs ``(name, lines)``, prefixed and merged by time stamp; the
    last ``tail`` of them (all with None)."""
    streams = [_stamped(name, lines) for name, lines in logs]
    merged = [line for _, _, _, line in heapq.merge(*streams)]
    if tail is None:
        return merged
    return merged[-tail:] if tail > 0 else []


def _stamped(name: str, lines: Sequence[str]) -> list[tuple[str, str, int, str]]:
    """``(time stamp, replica, position, prefixed line)``: a line without a stamp sorts with the
    line before it (and lines before the first stamp first)."""
    out = []
    stamp = ""
    for position, line in enumerate(lines):
        match = _STAMP.match(line)
        if match:
            stamp = match.group(1)
        out.append((stamp, name, position, f"[replica {name}] {line}"))
    return out


__all__ = ["combine", "merge_logs"]
