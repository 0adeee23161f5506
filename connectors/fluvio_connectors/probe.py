"""Readiness and liveness: ``python -m fluvio_connectors.probe [--liveness] [--status-file FILE]``.

Readiness (the default) exits 0 when the connector's status file (``FLUVIO_CONNECTOR_STATUS_FILE``
unless given) says ``ready`` or ``finished`` and was written within ``status.STALE_AFTER_SECONDS``
(a program that stops heartbeating is stopped or hung); else exits 1 with one line saying why. Used
by the images' Docker HEALTHCHECK and the Kubernetes readinessProbe.

``--liveness`` asks only whether the program is alive: its status file was written within
``status.STALE_AFTER_SECONDS``, whatever the state (a connector reconnecting to its broker is alive
and must not be restarted for it). The Kubernetes livenessProbe; the local supervisor judges its
program by the same heartbeat.

It imports nothing beyond the standard library and the status module, so it runs in a few tens of
milliseconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from fluvio_connectors.status import STALE_AFTER_SECONDS, ProgramState, read_status, status_path

HEALTHY = (ProgramState.READY, ProgramState.FINISHED)


def _unreadable(path: Path) -> tuple[bool, str]:
    """The answer of both checks when ``path`` holds no status to judge."""
    if path.exists():
        return False, f"{path}: not a readable connector status"
    return False, f"{path}: no status yet (the connector has not started)"


def check(path: Path, now: float | None = None) -> tuple[bool, str]:
    """``(healthy, one-line reason)`` for the status file at ``path``."""
    status = read_status(path)
    if status is None:
        return _unreadable(path)
    now = time.time() if now is None else now
    age = now - status.updated_at
    name = status.connector or "connector"
    if not status.is_fresh(now):
        limit = f"{STALE_AFTER_SECONDS:g}s"
        return False, f"{name}: status {status.state.value} is {age:.0f}s old (> {limit}): hung"
    if status.state not in HEALTHY:
        reason = f" ({status.last_error})" if status.last_error else ""
        return False, f"{name}: {status.state.value}{reason}"
    return True, f"{name}: {status.state.value}, {status.records} records"


def check_alive(path: Path, now: float | None = None) -> tuple[bool, str]:
    """``(alive, one-line reason)``: the status file at ``path`` has a fresh heartbeat."""
    status = read_status(path)
    if status is None:
        return _unreadable(path)
    now = time.time() if now is None else now
    name = status.connector or "connector"
    if not status.is_fresh(now):
        age = now - status.updated_at
        why = f": {status.last_error}" if status.last_error else ""
        return False, f"{name}: no heartbeat for {age:.0f}s (> {STALE_AFTER_SECONDS:g}s): stopped or hung{why}"
    return True, f"{name}: alive ({status.state.value})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fluvio_connectors.probe",
        description="Exit 0 if the connector's status file says ready or finished and is fresh "
                    "(with --liveness: if it is fresh, whatever the state).",
    )
    parser.add_argument("--status-file", type=Path, metavar="FILE", help="default: $FLUVIO_CONNECTOR_STATUS_FILE")
    parser.add_argument("--liveness", action="store_true",
                        help="only check that the program is alive (its heartbeat is fresh)")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing when healthy")
    args = parser.parse_args(argv)
    judge = check_alive if args.liveness else check
    healthy, reason = judge(args.status_file or status_path())
    if not healthy:
        print(reason, file=sys.stderr)
    elif not args.quiet:
        print(reason)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
