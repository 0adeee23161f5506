"""What a task can wait for, by name (imports nothing: sensors use it at parse time).

The four statuses every connector has, and ``Drained``: not a status of its own but a sink that is
Running with a lag of 0, i.e. its target holds every record its topic held at that look
(``waiting.py`` judges it).
"""

from __future__ import annotations

STATUSES = ("Pending", "Running", "Failed", "Stopped")
DRAINED = "Drained"
TARGETS = (*STATUSES, DRAINED)


def normalize_status(status: str) -> str:
    """``running`` -> ``Running``, ``drained`` -> ``Drained``; ConfigError naming the targets otherwise."""
    text = str(status).strip().capitalize()
    if text not in TARGETS:
        from fluvio_connectors.errors import ConfigError

        raise ConfigError(f"unknown connector status {status!r}; expected one of: {', '.join(STATUSES)}, "
                          f"or {DRAINED} (a sink with lag 0)")
    return text


__all__ = ["DRAINED", "STATUSES", "TARGETS", "normalize_status"]
