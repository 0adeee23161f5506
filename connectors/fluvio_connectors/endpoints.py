"""``host[:port]`` read one way everywhere: the Fluvio SC of a connection or an asset URI, an MQTT
broker from a connection. An IPv6 address is written in brackets when a port follows
(``[::1]:9003``); a bare one (``::1``) has no port. Standard library only.

A Fluvio endpoint and an image registry end up in a pod's environment and image (Kubernetes
runtime) and in the client's connect call, so they are checked as strictly as the config's own
fields (``check_endpoint``, ``check_registry``): one line saying what is expected, never a newline
or a scheme carried into a manifest.
"""

from __future__ import annotations

import ipaddress
import re

from fluvio_connectors.errors import ConfigError
from fluvio_connectors.messages import excerpt

_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*\.?\Z")
# A registry (with an optional path of repositories) as image references write it: a host name
# (letters, digits, '-', '.') with an optional port, then '/'-separated lowercase path components.
_REGISTRY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-]+[a-z0-9]+)*){0,16}\Z")


def split_host_port(text: str) -> tuple[str, int | None]:
    """``(host, port)`` of ``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address
    (the host without brackets, the port None when there is none). ``ValueError`` saying what is
    wrong, e.g. a port that is not a number from 1 to 65535."""
    text = text.strip()
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise ValueError(f"{text!r} opens a '[' it does not close; expected [IPv6]:port")
        _check_ipv6(inside)
        if not rest:
            return inside, None
        if not rest.startswith(":"):
            raise ValueError(f"{text!r} has {rest!r} after the address; expected [IPv6]:port")
        return inside, _port(rest[1:], text)
    if text.count(":") > 1:  # a bare IPv6 address: no room for a port
        _check_ipv6(text)
        return text, None
    host, colon, port = text.partition(":")
    if not host:
        raise ValueError(f"{text!r} names no host; expected host[:port]")
    return host, (_port(port, text) if colon else None)


def join_host_port(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_endpoint(endpoint: object, what: str = "the Fluvio endpoint") -> str:
    """``endpoint`` when it is ``host:port`` (a host name, an IPv4 address or ``[IPv6]``; port 1 to
    65535; nothing around it), else ``ConfigError``."""
    expected = "expected host:port such as fluvio-sc:9003 or [::1]:9003 (no scheme, no path)"
    if not isinstance(endpoint, str):
        raise ConfigError(f"{what} must be host:port, got {excerpt(endpoint)}")
    if "://" in endpoint:
        raise ConfigError(f"{what} {excerpt(endpoint)} has a scheme; {expected}")
    if endpoint != endpoint.strip():
        raise ConfigError(f"{what} {excerpt(endpoint)} has spaces around it; {expected}")
    try:
        host, port = split_host_port(endpoint)
    except ValueError:
        raise ConfigError(f"{what} {excerpt(endpoint)} is not host:port; {expected}") from None
    if port is None:
        raise ConfigError(f"{what} {excerpt(endpoint)} has no port from 1 to 65535; {expected}")
    if ":" not in host and not _HOST_NAME.match(host):
        raise ConfigError(f"{what} {excerpt(endpoint)} has no valid host; {expected}")
    return endpoint


def check_registry(registry: object) -> str:
    """``registry`` when it can prefix an image name (``ghcr.io/acme``, ``localhost:5000``), else
    ``ConfigError``."""
    if not isinstance(registry, str) or not _REGISTRY.match(registry.rstrip("/")):
        raise ConfigError(f"the image registry {excerpt(registry)} is not a registry; expected a host with an "
                          "optional port and path, such as ghcr.io/acme or localhost:5000")
    return registry


def _check_ipv6(text: str) -> None:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv6 address") from None


def _port(text: str, whole: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise ValueError(f"the port of {whole!r} must be a number from 1 to 65535")
    return int(text)


__all__ = ["check_endpoint", "check_registry", "join_host_port", "split_host_port"]
