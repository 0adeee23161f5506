"""``host[:port]`` read one way (``fluvio_connectors/endpoints.py``): names, IPv4, IPv6 bare and in
brackets, and what is refused."""

from __future__ import annotations

import pytest

from fluvio_connectors.endpoints import join_host_port, split_host_port


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("sc", ("sc", None)),
        ("sc.example.com:9003", ("sc.example.com", 9003)),
        ("10.0.0.7:9103", ("10.0.0.7", 9103)),
        ("::1", ("::1", None)),
        ("fd00::7", ("fd00::7", None)),
        ("[::1]", ("::1", None)),
        ("[::1]:9003", ("::1", 9003)),
        ("  [fd00::7]:65535 ", ("fd00::7", 65535)),
    ],
)
def test_split(text: str, parsed: tuple[str, int | None]) -> None:
    assert split_host_port(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sc:0", "the port of 'sc:0' must be a number from 1 to 65535"),
        ("sc:65536", "the port of 'sc:65536' must be a number from 1 to 65535"),
        ("sc:\uff19\uff10\uff10\uff13", "the port of 'sc:\uff19\uff10\uff10\uff13' must be a number from 1 to 65535"),  # fullwidth digits
        (":9003", "':9003' names no host; expected host[:port]"),
        ("[::1", "'[::1' opens a '[' it does not close; expected [IPv6]:port"),
        ("[::1]9003", "'[::1]9003' has '9003' after the address; expected [IPv6]:port"),
        ("[sc]:9003", "'sc' is not an IPv6 address"),
        ("1:2:3", "'1:2:3' is not an IPv6 address"),
    ],
)
def test_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        split_host_port(text)
    assert str(error.value) == message


def test_join_brackets_ipv6_only() -> None:
    assert join_host_port("sc", 9003) == "sc:9003"
    assert join_host_port("::1", 9003) == "[::1]:9003"
