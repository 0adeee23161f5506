"""Settings read from the environment, in one place.

``FLUVIO_CONNECTORS_HOME``  state directory (embedded topic log, local connectors); default
                            ``~/.fluvio-connectors``.
``FLUVIO_ENDPOINT``         ``host:port`` of a Fluvio SC: topics live in that cluster instead of
                            the embedded log. ``FLUVIO_PROFILE=1`` uses the user's Fluvio profile.
``FLUVIO_CONNECTORS_RUNTIME``  where connectors run: ``local`` (default) or ``kubernetes``.
``FLUVIO_EMBEDDED_SYNC``    durability of the embedded log: ``normal`` (default; a flushed record
                            survives any process crash) or ``full`` (it also survives a power loss,
                            at several times the cost of each flush).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from fluvio_connectors.flags import is_true

HOME_ENV = "FLUVIO_CONNECTORS_HOME"
ENDPOINT_ENV = "FLUVIO_ENDPOINT"
PROFILE_ENV = "FLUVIO_PROFILE"
RUNTIME_ENV = "FLUVIO_CONNECTORS_RUNTIME"
SYNC_ENV = "FLUVIO_EMBEDDED_SYNC"
SYNC_MODES = ("normal", "full")
# Where connectors run, and the other names users give them (the CLI's --runtime, the connection's
# runtime field, FLUVIO_CONNECTORS_RUNTIME).
RUNTIMES = ("local", "kubernetes")
RUNTIME_ALIASES = {"k8s": "kubernetes"}


def runtime_kind(value: object, where: str = "") -> str:
    """``local`` or ``kubernetes`` for ``value`` (any case, an alias); ``ConfigError`` naming the
    kinds otherwise, after ``where`` (e.g. ``connection fluvio_default: ``)."""
    text = str(value).strip().lower()
    kind = RUNTIME_ALIASES.get(text, text)
    if kind not in RUNTIMES:
        from fluvio_connectors.errors import ConfigError

        raise ConfigError(f"{where}unknown runtime {value!r}; expected one of: {', '.join(RUNTIMES)}")
    return kind


@dataclass(frozen=True)
class Settings:
    home: Path
    fluvio_endpoint: str | None = None
    use_fluvio_profile: bool = False
    runtime: str = "local"
    embedded_sync: str = "normal"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = env.get(HOME_ENV) or str(Path.home() / ".fluvio-connectors")
        return cls(
            home=Path(home).expanduser(),
            fluvio_endpoint=env.get(ENDPOINT_ENV) or None,
            use_fluvio_profile=is_true(env.get(PROFILE_ENV, "")),
            runtime=env.get(RUNTIME_ENV) or "local",
            embedded_sync=(env.get(SYNC_ENV) or "normal").lower(),
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def topics_backend(self) -> str:
        """``fluvio`` when a cluster is named (endpoint or profile), else ``embedded``."""
        return "fluvio" if (self.fluvio_endpoint or self.use_fluvio_profile) else "embedded"

    @property
    def log_path(self) -> Path:
        return self.home / "topics.db"

    @property
    def connectors_dir(self) -> Path:
        return self.home / "connectors"

    def to_env(self) -> dict[str, str]:
        """The environment a child connector process needs to see the same topics."""
        env = {HOME_ENV: str(self.home)}
        if self.fluvio_endpoint:
            env[ENDPOINT_ENV] = self.fluvio_endpoint
        if self.use_fluvio_profile:
            env[PROFILE_ENV] = "1"
        if self.embedded_sync != "normal":
            env[SYNC_ENV] = self.embedded_sync
        return env
