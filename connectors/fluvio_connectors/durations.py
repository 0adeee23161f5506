"""Durations as users write them: an integer in a default unit, or ``10ms``/``2s``/``1m``/``1h``."""

from __future__ import annotations

import math
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
# Longer than any interval a connector needs, and far inside what timers and timedelta can hold
# (threading's TIMEOUT_MAX is about 292 years): a bigger value is a mistake, not a wish.
MAX_DURATION = timedelta(days=365)
_MAX_TEXT = 64


def parse_duration(value: Any, default_unit: str, maximum: timedelta = MAX_DURATION) -> timedelta:
    """Parse ``value`` into a timedelta from 0 to ``maximum``.

    ``int``/``float`` (or a numeric string) is taken in ``default_unit`` (``ms`` or ``s``);
    a string may combine parts (``1m30s``); a ``{secs, nanos}`` mapping is the CDK's form.
    Raises ``ValueError`` saying what is expected; the message does not repeat the value (the
    caller shows an excerpt of what was written).
    """
    expected = f"a number of {_unit_word(default_unit)} or a duration such as 10ms, 2s, 1m"
    if isinstance(value, bool):
        raise ValueError(f"expected {expected}")
    try:
        seconds = _seconds(value, default_unit, expected)
    except OverflowError:
        seconds = math.inf
    if math.isnan(seconds):
        raise ValueError(f"expected {expected}, not NaN")
    if seconds < 0:
        raise ValueError("expected a positive duration")
    if seconds > maximum.total_seconds():
        raise ValueError(f"expected at most {_human(maximum)}")
    return timedelta(seconds=seconds)


def _seconds(value: Any, default_unit: str, expected: str) -> float:
    if isinstance(value, int | float):
        return float(value) * _UNITS[default_unit]
    if isinstance(value, dict) and set(value) <= {"secs", "nanos"}:
        try:
            return float(value.get("secs", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            raise ValueError("expected {secs, nanos} numbers") from None
    if isinstance(value, str) and len(value) <= _MAX_TEXT:
        text = value.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return float(text) * _UNITS[default_unit]
        parts = _PART.findall(text)
        if parts and "".join(n + u for n, u in parts) == text.replace(" ", ""):
            seconds = 0.0
            for number, unit in parts:
                if unit not in _UNITS:
                    raise ValueError(f"unknown unit {unit[:8]!r}; expected {expected}")
                seconds += float(number) * _UNITS[unit]
            return seconds
    raise ValueError(f"expected {expected}")


def format_duration(delta: timedelta) -> str:
    ms = round(delta.total_seconds() * 1000)
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


def _human(delta: timedelta) -> str:
    if delta.days and not delta.seconds and not delta.microseconds:
        return f"{delta.days} days"
    return format_duration(delta)


def _unit_word(unit: str) -> str:
    return {"ms": "milliseconds", "s": "seconds"}.get(unit, unit)
