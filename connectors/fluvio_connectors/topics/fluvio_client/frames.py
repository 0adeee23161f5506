"""Records on their way to the client process, on the caller's side: checked, turned into columns
(a list of keys, or None when no record has one, and a list of values) and cut into frames (one
``produce`` request each) made of the client calls that ``producing.py`` needs (records that fit
together in one of the client's batches). The common case (bytes values, bytes or no keys) is
checked and turned into columns without a Python step per record.
"""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate, repeat

from fluvio_connectors.errors import ConfigError
from fluvio_connectors.topics.fluvio_client.producing import CALL_BYTES, RECORD_OVERHEAD

# Records and bytes a frame carries at most (a record larger than that goes alone). Small enough
# that the next frame waits whole in the socket while the client process works on one (a socket
# buffer holds about 200 KB where the system keeps its default).
FRAME_RECORDS = 2_000
FRAME_BYTES = 128 * 1024

Columns = tuple[list[bytes] | None, list[bytes]]  # keys (None when no record has one), values
Frame = tuple[list[bytes] | None, list[bytes], list[int]]  # keys, values, where the client calls end
_NONE = type(None)


def columns(records: Iterable[tuple[bytes | None, bytes]]) -> Columns:
    """``(key, value)`` pairs as a list of keys (empty for none; None when no record has a key)
    and a list of values: str as UTF-8, other bytes-like objects copied, ``ConfigError`` for
    anything else (all or nothing: nothing is returned when any record is refused)."""
    pairs = records if isinstance(records, list) else list(records)
    try:
        values = [value for _, value in pairs]
        keys: list[bytes | None] = [key for key, _ in pairs]
        plain = set(map(type, values)) <= {bytes} and set(map(type, keys)) <= {bytes, _NONE}
    except (TypeError, ValueError):
        plain = False  # not all pairs: the lines below raise the reason
    if not plain:
        keys = [None if key is None else _as_bytes(key, "key") for key, _ in pairs]
        values = [_as_bytes(value, "value") for _, value in pairs]
    missing = keys.count(None)
    if missing == len(keys):
        return None, values
    if missing:
        keys = [b"" if key is None else key for key in keys]
    return keys, values  # type: ignore[return-value]


def frames(keys: list[bytes] | None, values: list[bytes], call_bytes: int = CALL_BYTES) -> list[Frame]:
    """The columns cut into client calls (each of at most ``call_bytes`` encoded, or a single
    record), and the calls grouped into frames of at most ``FRAME_RECORDS`` and ``FRAME_BYTES``
    (or a single call). A frame's call ends count from its first record."""
    sizes = map(len, values) if keys is None else map(operator.add, map(len, keys), map(len, values))
    totals = list(accumulate(map(operator.add, sizes, repeat(RECORD_OVERHEAD))))
    out: list[Frame] = []
    start = 0  # the frame's first record
    calls: list[int] = []  # the ends of its calls so far
    call_start = 0
    while call_start < len(totals):
        before = totals[call_start - 1] if call_start else 0
        end = max(bisect_right(totals, before + call_bytes, call_start), call_start + 1)
        frame_before = totals[start - 1] if start else 0
        if calls and (end - start > FRAME_RECORDS or totals[end - 1] - frame_before > FRAME_BYTES):
            out.append(_frame(keys, values, start, calls))
            start, calls = call_start, []
        calls.append(end)
        call_start = end
    if calls:
        out.append(_frame(keys, values, start, calls))
    return out


def _frame(keys: list[bytes] | None, values: list[bytes], start: int, calls: list[int]) -> Frame:
    end = calls[-1]
    if start == 0 and end == len(values):
        return keys, values, calls
    return (None if keys is None else keys[start:end]), values[start:end], [e - start for e in calls]


def _as_bytes(value: object, what: str) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise ConfigError(f"a record {what} must be bytes or str, got {type(value).__name__}")
