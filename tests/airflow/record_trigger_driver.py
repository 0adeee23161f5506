"""Drive ``FluvioRecordTrigger`` the way Airflow 3.3's triggerer does, with Airflow's own shared-stream
manager: subscribe, run ``filter_shared_stream``, bind each event, and confirm it as stored when the
test says so (what the triggerer's supervisor does after writing the asset event).

Nothing here replaces Airflow code: ``SharedStreamManager`` is the class the triggerer runs; only
the database write between "event emitted" and "confirmed" is the test's decision.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow.triggers.shared_stream import SharedStreamManager
from polling import async_wait_until

from airflow_provider_fluvio.triggers.records import FluvioRecordTrigger


@dataclass
class Emitted:
    payload: Any
    seq: int | None


@dataclass
class Subscriber:
    """One trigger subscribed to a manager; ``events`` fills as the trigger emits."""

    manager: SharedStreamManager
    trigger: FluvioRecordTrigger
    trigger_id: int
    events: list[Emitted] = field(default_factory=list)
    error: BaseException | None = None
    task: asyncio.Task[None] | None = None
    # The most events out at once (emitted, not yet confirmed), counted as each one arrives.
    most_unconfirmed: int = 0

    async def _run(self) -> None:
        key = self.trigger.shared_stream_key()
        stream = self.manager.subscribe(trigger_id=self.trigger_id, trigger=self.trigger, key=key)
        try:
            async for event in self.trigger.filter_shared_stream(stream):
                seq = self.manager.bind_pending_event(trigger_id=self.trigger_id, key=key)
                self.events.append(Emitted(event.payload, seq))
                unconfirmed = sum(e.seq is not None for e in self.events)
                self.most_unconfirmed = max(self.most_unconfirmed, unconfirmed)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.error = exc
        finally:
            await self.manager.unsubscribe(self.trigger_id, key)
            await self.trigger.cleanup()

    def start(self) -> Subscriber:
        self.task = asyncio.create_task(self._run())
        return self

    def confirm(self, count: int | None = None) -> None:
        """Confirm the first ``count`` (all) unconfirmed events as stored, as the supervisor does."""
        pending = [e for e in self.events if e.seq is not None]
        for emitted in pending[:count]:
            self.manager.confirm_persisted([emitted.seq])  # type: ignore[list-item]
            emitted.seq = None

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def offsets(self) -> list[int]:
        return [e.payload["offset"] for e in self.events]


async def wait_until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """``polling.async_wait_until`` with this module's defaults."""
    return await async_wait_until(condition, timeout, what)
