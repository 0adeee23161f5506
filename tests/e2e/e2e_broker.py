"""A mosquitto broker on a free 127.0.0.1 port that only lets one user in, for the e2e MQTT runs."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from airflow_cluster import free_port, wait_for

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None
)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")


@dataclass(frozen=True)
class Broker:
    """Where the broker listens and the one user it accepts."""

    host: str
    port: int
    username: str
    password: str


@contextlib.contextmanager
def mosquitto_with_password(directory: Path, username: str, password: str) -> Iterator[Broker]:
    """Run mosquitto with ``allow_anonymous false`` and a password file holding ``username``."""
    assert MOSQUITTO and MOSQUITTO_PASSWD, "mosquitto is not installed (.ci/run installs it)"
    directory.mkdir(parents=True, exist_ok=True)
    passwords = directory / "passwords"
    subprocess.run(
        [MOSQUITTO_PASSWD, "-b", "-c", str(passwords), username, password],
        check=True,
        capture_output=True,
        timeout=30,
    )
    port = free_port()
    config = directory / "mosquitto.conf"
    # Running as root, mosquitto would switch to its own user, which cannot read this
    # directory; it stays root here, on a loopback listener only.
    config.write_text(
        f"user root\nlistener {port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {passwords}\npersistence false\nlog_dest stdout\n"
    )
    log = (directory / "mosquitto.log").open("wb")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    try:

        def accepting() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {(directory / 'mosquitto.log').read_text()[-2000:]}")
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True

        wait_for(f"mosquitto on 127.0.0.1:{port}", accepting, timeout=15, interval=0.1)
        yield Broker("127.0.0.1", port, username, password)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
