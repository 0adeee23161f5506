"""A real PostgreSQL server for the sink tests and the sink bench: Debian's PostgreSQL (15 on
Debian 12), started with ``initdb`` and ``pg_ctl`` in a temporary directory on a free 127.0.0.1
port, as the ``postgres`` user when this runs as root (PostgreSQL refuses to run as root), and
stopped (and removed) after. No service of the machine is touched.

The server has a superuser ``postgres`` (trust over the Unix socket only) and a login ``fluvio``
with a password (scram over TCP), the one the sinks use: a wrong password is refused as it would
be in production. ``fsync`` is off: the tests crash processes, never the machine, so the page cache
keeps what a commit wrote, and a commit costs no disk flush on a busy test machine.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

USER = "fluvio"
PASSWORD = "s3cret-pg-Pa55"  # a test password: the tests check it never shows up in messages
DATABASE = "sinks"


def postgres_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are (the newest Debian PostgreSQL), or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    bindir: Path
    workdir: Path
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.workdir / "sock"

    @property
    def log(self) -> Path:
        return self.workdir / "postgres.log"

    def url(self, *, user: str = USER, password: str = PASSWORD, database: str = DATABASE) -> str:
        """``postgresql://USER:PASSWORD@127.0.0.1:PORT/DATABASE``: what a sink config names."""
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    # ---- running the server's programs

    def _as_owner(self) -> dict[str, Any]:
        """Run as ``postgres`` when we are root (the server refuses root)."""
        if os.geteuid() != 0:
            return {}
        entry = pwd.getpwnam("postgres")
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _run(self, *argv: str, timeout: float = 60.0) -> str:
        result = subprocess.run(
            [str(self.bindir / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=timeout,
            cwd=self.workdir, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}, check=False, **self._as_owner(),
        )
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
                               f"\n{self._log_tail()}")
        return result.stdout

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""

    # ---- lifecycle

    def init(self) -> PostgresServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        owner = self._as_owner()
        if owner:
            for path in (self.workdir, self.socket_dir):
                os.chown(path, owner["user"], owner["group"])
        pwfile = self.workdir / "pw"
        pwfile.write_text("unused-superuser-password\n")
        if owner:
            os.chown(pwfile, owner["user"], owner["group"])
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        pwfile.unlink()
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.socket_dir}'\n"
                "fsync = off\nfull_page_writes = off\nmax_connections = 50\nshared_buffers = 32MB\n"
                "log_min_messages = warning\n"
            )
        self.start()
        self.psql(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'", f"CREATE DATABASE {DATABASE} OWNER {USER}")
        return self

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m MODE``: ``immediate`` is a crash (no checkpoint; recovery at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        pid_file = self.data / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, 0)
            return True
        except (OSError, ValueError, IndexError):
            return False

    def destroy(self) -> None:
        if self.running():
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- administration (as the superuser, over the Unix socket)

    def psql(self, *statements: str, database: str = "postgres") -> str:
        """Run each statement with psql as the superuser; returns the unaligned output."""
        argv = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir),
                "-p", str(self.port), "-U", "postgres", "-d", database]
        for statement in statements:
            argv += ["-c", statement]
        return self._run(*argv)

    def connect(self, **options: Any) -> Any:
        """A psycopg connection as the ``fluvio`` user (autocommit)."""
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD,
                               dbname=DATABASE, autocommit=True, connect_timeout=10, **options)

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run ``statement`` as ``fluvio``; its rows (none for a statement without a result)."""
        with self.connect() as conn:
            cursor = conn.execute(statement, params)
            return list(cursor.fetchall()) if cursor.description else []


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer | None]:
    """A started server, destroyed after; None when PostgreSQL is not installed."""
    bindir = postgres_bindir()
    if bindir is None:
        yield None
        return
    workdir = Path(tempfile.mkdtemp(prefix="fluvio-pg-"))
    os.chmod(workdir, 0o755)
    server = PostgresServer(bindir, workdir / "pg")
    try:
        server.init()
        yield server
    finally:
        server.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


def wait_accepting(server: PostgresServer, timeout: float = 30.0) -> None:
    """Until the server takes connections (after a restart)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            server.execute("SELECT 1")
            return
        except Exception:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
