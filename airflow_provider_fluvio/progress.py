"""What a waiter logs while it waits for a connector (the sensor, its trigger, the create
operator's ``wait_for_running``): a line when the connector's status or reason changes (for a sink
also its position or lag: a ``Drained`` wait shows how far it is at each look), otherwise at most
one every ``QUIET_SECONDS``; each with the progress: records stored, of how many where the
connector's config says (a test-connector's ``count``), their rate since the previous line, and how
long it has been Pending.

No Airflow, nothing heavy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_fluvio.pending import format_seconds, pending_for

if TYPE_CHECKING:
    from airflow_provider_fluvio.runtimes.base import ConnectorInfo
    from airflow_provider_fluvio.waiting import StatusCheck

QUIET_SECONDS = 30.0


class ProgressLog:
    """Decides, look by look, what a waiter logs (``line``) and remembers the last look (``last``)."""

    def __init__(self, quiet_seconds: float = QUIET_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet_seconds = quiet_seconds
        self._clock = clock
        self._state: tuple[Any, ...] | None = None
        self._logged_at: float | None = None
        self._records: tuple[float, int] | None = None  # (when, records) at the previous line
        self.last: StatusCheck | None = None

    def line(self, check: StatusCheck) -> str | None:
        """The line to log for this look, or None to stay quiet."""
        self.last = check
        info = check.info
        now = self._clock()
        state: tuple[Any, ...] = (check.outcome, info.status if info else None, info.reason if info else check.message)
        if info is not None and info.direction == "sink":  # a sink's progress is its message: how far it is
            state += (info.position, info.lag)
        quiet = self._logged_at is not None and now - self._logged_at < self.quiet_seconds
        if state == self._state and quiet:
            return None
        self._state, self._logged_at = state, now
        text = check.message + describe_progress(info, self._rate(info, now))
        if info is not None and info.records is not None:
            self._records = (now, info.records)
        return text

    def _rate(self, info: ConnectorInfo | None, now: float) -> float | None:
        if info is None or info.records is None or self._records is None:
            return None
        then, records = self._records
        return (info.records - records) / (now - then) if now - then >= 1.0 else None


def describe_progress(info: ConnectorInfo | None, rate: float | None = None) -> str:
    """``; 23 of 60 records stored (4.6/s)``, ``; Pending for 1m 30s``, or an empty string."""
    if info is None:
        return ""
    parts = []
    if info.records is not None and info.direction != "sink":  # a sink's message says what it delivered
        target = getattr(info, "records_target", None)
        stored = f"{info.records} of {target} records stored" if target else f"{info.records} records stored"
        parts.append(stored + (f" ({rate:.1f}/s)" if rate is not None else ""))
    pending = pending_for(info)
    if pending is not None:
        parts.append(f"Pending for {format_seconds(pending)}")
    return "".join(f"; {part}" for part in parts)


__all__ = ["QUIET_SECONDS", "ProgressLog", "describe_progress"]
