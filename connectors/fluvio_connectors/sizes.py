"""Sizes users write: ``1048576``, ``512kb``, ``4mb``, ``1mib``. ``kb``/``mb``/``gb`` are powers of
1000, ``kib``/``mib``/``gib`` powers of 1024 (as Kubernetes and most tools read them). Standard
library only."""

from __future__ import annotations

import re

_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?\s*")


def parse_size(value: object, minimum: int, maximum: int) -> int:
    """``value`` (a whole number of bytes, or text such as ``4mb``) in bytes; ``ValueError`` saying
    what is expected when it is not a size from ``minimum`` to ``maximum``."""
    expected = f"expected a size from {minimum} to {maximum} bytes, such as 1048576, 512kb or 4mib"
    size: float | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and len(value) <= 32:
        match = _SIZE.fullmatch(value.lower())
        if match:
            size = float(match.group(1)) * _UNITS[match.group(2) or "b"]
    if size is None or not minimum <= size <= maximum:
        raise ValueError(expected)
    return int(size)


__all__ = ["parse_size"]
