"""Durations as users write them: an integer in a default unit, or ``10ms``/``2s``/``1m``/``1h``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

_UNITS = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")


def parse_duration(value: Any, default_unit: str) -> timedelta:
    """Parse ``value`` into a timedelta.

    ``int``/``float`` (or a numeric string) is taken in ``default_unit`` (``ms`` or ``s``);
    a string may combine parts (``1m30s``); a ``{secs, nanos}`` mapping is the CDK's form.
    Raises ``ValueError`` with what is expected.
    """
    expected = f"a number of {_unit_word(default_unit)} or a duration such as 10ms, 2s, 1m"
    if isinstance(value, bool):
        raise ValueError(f"expected {expected}, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value) * _UNITS[default_unit]
    elif isinstance(value, dict) and set(value) <= {"secs", "nanos"}:
        try:
            seconds = float(value.get("secs", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            raise ValueError(f"expected {{secs, nanos}} numbers, got {value!r}") from None
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text) * _UNITS[default_unit]
        else:
            parts = _PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
                raise ValueError(f"expected {expected}, got {value!r}")
            seconds = 0.0
            for number, unit in parts:
                if unit not in _UNITS:
                    raise ValueError(f"unknown unit {unit!r} in {value!r}; expected {expected}")
                seconds += float(number) * _UNITS[unit]
    else:
        raise ValueError(f"expected {expected}, got {value!r}")
    if seconds < 0:
        raise ValueError(f"expected a positive duration, got {value!r}")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    ms = round(delta.total_seconds() * 1000)
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


def _unit_word(unit: str) -> str:
    return {"ms": "milliseconds", "s": "seconds"}.get(unit, unit)
