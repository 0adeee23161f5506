"""``host[:port]`` read one way everywhere: the Fluvio SC of a connection or an asset URI, an MQTT
broker from a connection. An IPv6 address is written in brackets when a port follows
(``[::1]:9003``); a bare one (``::1``) has no port. Standard library only."""

from __future__ import annotations

import ipaddress


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


def _check_ipv6(text: str) -> None:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv6 address") from None


def _port(text: str, whole: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise ValueError(f"the port of {whole!r} must be a number from 1 to 65535")
    return int(text)


__all__ = ["join_host_port", "split_host_port"]
