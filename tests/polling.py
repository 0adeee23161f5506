"""Waiting in tests: poll with a deadline and fail naming what was awaited, never a bare sleep.

``wait_until(condition, timeout, what)`` returns ``condition()``'s first truthy value; at the
deadline the test fails with ``what``, the last value seen and the last error of the kinds in
``retry_on`` (which count as "not yet"). ``async_wait_until`` is the same on an event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str, *, interval: float = 0.02,
               retry_on: tuple[type[BaseException], ...] = ()) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    error: BaseException | None = None
    while True:
        try:
            last = condition()
            if last:
                return last
        except retry_on as exc:
            error = exc
        if time.monotonic() >= deadline:
            pytest.fail(_timed_out(timeout, what, last, error))
        time.sleep(interval)


async def async_wait_until(condition: Callable[[], T], timeout: float, what: str, *, interval: float = 0.01) -> T:
    deadline = time.monotonic() + timeout
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            pytest.fail(_timed_out(timeout, what, last, None))
        await asyncio.sleep(interval)


def _timed_out(timeout: float, what: str, last: Any, error: BaseException | None) -> str:
    seen = f"; last seen: {last!r}" if last not in (None, False) else ""
    failed = f"; last error: {error!r}" if error is not None else ""
    return f"timed out after {timeout:g} s waiting for {what}{seen}{failed}"


__all__ = ["async_wait_until", "wait_until"]
