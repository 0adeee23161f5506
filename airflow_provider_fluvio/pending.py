"""How long a waiter lets a connector stay Pending: the sensor, its trigger and ``create --wait``.

A connector keeps retrying what it waits for (a source that is briefly down comes back), so it may
stay ``Pending`` forever, e.g. when it can never reach its broker. A waiter gives up once the
connector has been Pending without a break for ``pending_timeout`` seconds (as its runtime reports:
``ConnectorInfo.pending_since``), with the pending reason. The connector is left as it is.

Imports nothing heavy: the sensor imports this at DAG-parse time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_fluvio.runtimes.base import ConnectorInfo

# Long enough for an image pull, a few restarts in backoff or a broker restart; short enough that
# a source that cannot be reached fails the wait instead of holding it for the sensor's timeout
# (seven days by default).
DEFAULT_PENDING_TIMEOUT = 600.0


def pending_seconds(value: float | timedelta | None) -> float | None:
    """A ``pending_timeout`` argument in seconds (None: no limit); ValueError for a negative or NaN one."""
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not seconds >= 0:  # also NaN
        raise ValueError(f"pending_timeout must be a number of seconds >= 0 or None, got {value!r}")
    return seconds


def pending_for(info: ConnectorInfo, now: datetime | None = None) -> float | None:
    """Seconds ``info`` has been Pending without a break; None when it is not Pending or the
    runtime does not know since when."""
    if info.status != "Pending" or info.pending_since is None:
        return None
    now = now or datetime.now(UTC)
    return max(0.0, (now - info.pending_since).total_seconds())


def pending_too_long(info: ConnectorInfo, timeout: float | None, now: datetime | None = None) -> str | None:
    """The one-line reason to stop waiting for ``info`` when it has been Pending for ``timeout``
    seconds or more (None: keep waiting)."""
    pending = pending_for(info, now)
    if timeout is None or pending is None or pending < timeout:
        return None
    return (f"connector {info.name} has been Pending for {format_seconds(pending)} (pending_timeout "
            f"{format_seconds(timeout)}): {info.reason or 'no reason reported'}")


def format_seconds(seconds: float) -> str:
    """``45s``, ``10m``, ``1h 2m 5s``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h"] if hours else []
    if minutes:
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    return " ".join(parts)


__all__ = ["DEFAULT_PENDING_TIMEOUT", "format_seconds", "pending_for", "pending_seconds", "pending_too_long"]
