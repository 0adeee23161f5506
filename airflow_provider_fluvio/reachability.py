"""The connection's Test: really reach the topics backend and the runtime, bounded in time.

It runs in the API server (the UI's Test button), where nothing may hang: the look runs in a daemon
thread and the answer is "no answer within N s" when it takes longer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def probe(look: Callable[[], str], timeout: float, where: Callable[[], str]) -> tuple[bool, str]:
    """``(True, look())``; ``(False, its error)`` when it raised; ``(False, "no answer within ...
    (where())")`` when it has not returned within ``timeout`` seconds."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["ok"] = (True, look())
        except Exception as exc:
            result["ok"] = (False, f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc))

    worker = threading.Thread(target=run, name="fluvio-test-connection", daemon=True)
    worker.start()
    worker.join(timeout)
    if "ok" not in result:
        return False, f"no answer within {timeout:g} s ({_safe(where)})"
    ok, message = result["ok"]
    return ok, message


def _safe(where: Callable[[], str]) -> str:
    try:
        return where()
    except Exception as exc:
        return str(exc)


__all__ = ["probe"]
