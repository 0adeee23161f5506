"""The connector statuses a task can wait for, by name (imports nothing: sensors use it at parse time)."""

from __future__ import annotations

STATUSES = ("Pending", "Running", "Failed", "Stopped")


def normalize_status(status: str) -> str:
    """``running`` -> ``Running``; ConfigError naming the statuses otherwise."""
    text = str(status).strip().capitalize()
    if text not in STATUSES:
        from fluvio_connectors.errors import ConfigError

        raise ConfigError(f"unknown connector status {status!r}; expected one of: {', '.join(STATUSES)}")
    return text


__all__ = ["STATUSES", "normalize_status"]
