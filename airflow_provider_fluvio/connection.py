"""What a ``fluvio`` connection says: where topics live and where connectors run.

The hook reads the Airflow connection (``hooks/fluvio.py``) and hands its parts here; this module
turns them into ``Settings`` and the runtime's options, without Airflow. A hook argument beats the
connection's field of the same name, which beats the worker's environment. ``FIELDS`` are the
fields read (the connection form offers each, host and port as the standard fields).

Imports nothing heavy at module level: DAG files that use the hook import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from fluvio_connectors.endpoints import check_endpoint, join_host_port, split_host_port
from fluvio_connectors.errors import ConfigError
from fluvio_connectors.flags import parse_flag

if TYPE_CHECKING:
    from fluvio_connectors.settings import Settings

DEFAULT_SC_PORT = 9003

# Every field the hook reads, in the form's order; ``field()`` refuses any other name.
FIELDS = (
    "host",
    "port",
    "runtime",
    "state_dir",
    "use_fluvio_profile",
    "namespace",
    "kube_config_path",
    "kube_config",
    "cluster_context",
    "in_cluster",
    "image_registry",
    "image_tag",
    "host_network",
)
FLAG_FIELDS = ("use_fluvio_profile", "in_cluster", "host_network")


# NamedTuples, not dataclasses: a frozen dataclass costs about 0.6 ms to define, and this module is
# imported by DAG files that use the hook directly.
class ConnectionFields(NamedTuple):
    """The parts of an Airflow connection the hook reads (resolved once, sync or async)."""

    conn_id: str | None
    host: str | None = None
    port: int | None = None
    extra: Mapping[str, Any] = MappingProxyType({})


class ConnectionResolver:
    """The hook's arguments (``given``: primitives, none of them empty) over the connection's
    fields, which ``fields()`` reads on first need."""

    def __init__(self, given: Mapping[str, Any], fields: Callable[[], ConnectionFields]) -> None:
        self.given = given
        self._fields = fields

    def field(self, name: str) -> Any:
        """Hook argument, else the connection (extra under its bare or prefixed name), else None."""
        if name not in FIELDS:
            raise KeyError(f"{name!r} is not a field of the fluvio connection")
        if name in self.given:
            return self.given[name]
        fields = self._fields()
        if name == "host":
            return fields.host
        if name == "port":
            return fields.port
        value = fields.extra.get(name)
        if value is None:
            value = fields.extra.get(f"extra__fluvio__{name}")
        return None if value == "" else value

    def flag(self, name: str) -> bool | None:
        value = self.field(name)
        if value is None:
            return None
        flag = parse_flag(value)
        if flag is None:
            raise ConfigError(f"{self.where()}: {name} must be true or false, got {value!r}")
        return flag

    def where(self) -> str:
        conn_id = self._fields().conn_id
        return f"connection {conn_id}" if conn_id else "fluvio hook"

    def endpoint(self) -> str | None:
        """``host:port`` of the Fluvio SC (``[v6]:port`` for an IPv6 address), None for none
        (embedded log or profile). ``port`` beats a port in ``host``; 9003 by default."""
        host = self.field("host")
        if not host:
            return None
        text = str(host).strip()
        if "://" in text:
            text = text.split("://", 1)[1]
        try:
            name, port_in_host = split_host_port(text.rstrip("/"))
        except ValueError as exc:
            raise ConfigError(f"{self.where()}: host: {exc}") from None
        port = self.field("port")
        if port is None:
            number = port_in_host or DEFAULT_SC_PORT
        else:
            try:
                number = int(port)
            except (TypeError, ValueError):
                raise ConfigError(f"{self.where()}: port must be a number, got {port!r}") from None
            if not 0 < number < 65536:
                raise ConfigError(f"{self.where()}: port must be between 1 and 65535, got {number}")
        # A host the resolver would refuse (a newline in it, a space) never reaches a manifest.
        return check_endpoint(join_host_port(name, number), f"{self.where()}: the Fluvio endpoint (host and port)")

    def settings(self) -> Settings:
        """Where topics live and connector state is kept: the worker's environment, changed by
        what the connection and the hook's arguments say."""
        from fluvio_connectors.settings import Settings, runtime_kind

        base = Settings.from_env()
        changes: dict[str, Any] = {}
        uses_connection = self._fields().conn_id is not None
        if uses_connection or "host" in self.given or "use_fluvio_profile" in self.given:
            endpoint = self.endpoint()
            changes["fluvio_endpoint"] = endpoint
            changes["use_fluvio_profile"] = bool(not endpoint and self.flag("use_fluvio_profile"))
        state_dir = self.field("state_dir")
        if state_dir:
            changes["home"] = Path(str(state_dir)).expanduser()
            from fluvio_connectors.state_dir import name_source

            given = "state_dir" in self.given
            name_source(changes["home"], "the hook's state_dir" if given else f"the state_dir field of {self.where()}")
        runtime = self.field("runtime")
        if runtime:
            changes["runtime"] = runtime_kind(runtime, f"{self.where()}: ")
        return base.with_(**changes) if changes else base

    def runtime_options(self, runtime: str) -> dict[str, Any]:
        """Keyword arguments for the ``runtime`` adapter (only Kubernetes takes any)."""
        if runtime != "kubernetes":
            return {}
        from airflow_provider_fluvio.runtimes.k8s_client import check_one_source

        in_cluster = self.flag("in_cluster")
        kube_config_path = self.field("kube_config_path")
        kube_config = self.field("kube_config")
        check_one_source(in_cluster=in_cluster, kube_config_path=kube_config_path, kube_config=kube_config,
                         where=self.where())
        options = {
            "namespace": self.field("namespace"),
            "kube_config_path": kube_config_path,
            "kube_config": kube_config,
            "cluster_context": self.field("cluster_context"),
            "in_cluster": in_cluster,
            "registry": self.field("image_registry"),
            "image_tag": self.field("image_tag"),
            "host_network": self.flag("host_network") or None,
        }
        return {k: v for k, v in options.items() if v is not None}


def describe(settings: Settings) -> str:
    """Where topics live and connectors run, in words (no secrets)."""
    if settings.fluvio_endpoint:
        topics = f"Fluvio cluster at {settings.fluvio_endpoint}"
    elif settings.use_fluvio_profile:
        topics = "Fluvio cluster of the worker's profile"
    else:
        topics = f"embedded log at {settings.log_path}"
    return f"topics: {topics}; connectors: {settings.runtime} runtime"


__all__ = ["DEFAULT_SC_PORT", "FIELDS", "FLAG_FIELDS", "ConnectionFields", "ConnectionResolver",
           "describe"]
