"""The helper program: ``python -m fluvio_connectors.topics.fluvio_client FD PARENT ENDPOINT``.

It answers the requests on the socket ``FD`` one at a time until the caller closes it, and dies
with the thread of ``PARENT`` that started it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys

from fluvio_connectors.topics.fluvio_client.session import Session, serve


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when the thread that started it ends."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent was already gone
        os._exit(0)


def main(argv: list[str]) -> None:
    fd, parent, endpoint = int(argv[0]), int(argv[1]), argv[2] or None
    _die_with_parent(parent)
    import fluvio

    with socket.socket(fileno=fd) as sock:
        serve(sock, Session(fluvio, endpoint))


if __name__ == "__main__":
    main(sys.argv[1:])
