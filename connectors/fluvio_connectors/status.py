"""The state a connector program publishes about itself.

A connector writes its status file (path from ``FLUVIO_CONNECTOR_STATUS_FILE``) atomically every
few seconds; runtimes read it (the local runtime directly, Kubernetes through the readiness probe,
``python -m fluvio_connectors.probe``). The control plane maps these program states onto its own
vocabulary (Pending, Running, Failed, Stopped).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

STATUS_FILE_ENV = "FLUVIO_CONNECTOR_STATUS_FILE"
DEFAULT_STATUS_FILE = "/tmp/fluvio-connector/status.json"
# A status older than this (while the program says it is ready) means the program is hung.
HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 30.0
# How the last error of a program that stopped making progress (and heartbeating) begins.
HUNG_PREFIX = "hung: "


class ProgramState(StrEnum):
    STARTING = "starting"  # loading config, connecting to source and topic
    READY = "ready"  # source and topic connected, producing (a sink: delivering)
    RECONNECTING = "reconnecting"  # lost the source (broker) or the target (database) and retrying; still alive
    FINISHED = "finished"  # finished on its own (finite count); exits 0
    STOPPED = "stopped"  # stopped by a signal; exits 0
    FAILED = "failed"  # a fatal error; exits non-zero
    # A sink that cannot go on without a change (a poison record, a missing table): it stays
    # alive, delivering nothing, so that it is not restarted into the same failure again and again.
    HALTED = "halted"


@dataclass
class ProgramStatus:
    state: ProgramState
    connector: str = ""
    pid: int = field(default_factory=os.getpid)
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    records: int = 0  # the connector's records in its topic (earlier runs' included, once counted)
    records_known: bool = True  # False while the records of earlier runs are still being counted
    last_error: str | None = None
    counters: dict[str, int] = field(default_factory=dict)
    direction: str = "source"
    # A sink: the offset it reads next (every record below it is delivered) and how many records
    # the topic held after it when it last looked (None until known).
    position: int | None = None
    lag: int | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["state"] = self.state.value
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProgramStatus:
        return cls(
            state=ProgramState(data["state"]),
            connector=data.get("connector", ""),
            pid=int(data.get("pid", 0)),
            started_at=float(data.get("started_at", 0.0)),
            updated_at=float(data.get("updated_at", 0.0)),
            records=int(data.get("records", 0)),
            records_known=bool(data.get("records_known", True)),
            last_error=data.get("last_error"),
            counters={k: int(v) for k, v in (data.get("counters") or {}).items()},
            direction=str(data.get("direction") or "source"),
            position=_optional_int(data.get("position")),
            lag=_optional_int(data.get("lag")),
        )

    def is_fresh(self, now: float | None = None) -> bool:
        return ((now or time.time()) - self.updated_at) < STALE_AFTER_SECONDS


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def status_path(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    return Path(env.get(STATUS_FILE_ENV) or DEFAULT_STATUS_FILE)


def write_status(path: Path, status: ProgramStatus, *, touch: bool = True, make_dir: bool = True) -> None:
    """Write atomically (rename), so a reader never sees half a file. ``touch`` stamps it with the
    current time (the heartbeat); without it ``updated_at`` keeps its value. ``make_dir`` creates a
    missing directory (the first write): later, a directory that is gone was removed on purpose
    (the connector's state), and writing fails instead of bringing it back."""
    if make_dir:
        path.parent.mkdir(parents=True, exist_ok=True)
    if touch:
        status.updated_at = time.time()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".status-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(status.to_json())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_status(path: Path) -> ProgramStatus | None:
    try:
        return ProgramStatus.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
