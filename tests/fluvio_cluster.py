"""A real Fluvio cluster (one SC, one SPU) for the tests, from Fluvio's own binaries.

``tests/conftest.py`` makes the session fixture ``fluvio_cluster`` of ``cluster_fixture``; it
yields a ``FluvioCluster`` (``endpoint``, ``env`` for the ``fluvio`` CLI, the server PIDs).

Where the cluster comes from, in this order:

* ``FLUVIO_ENDPOINT=host:port`` given to the test run (tests/conftest.py keeps it as
  ``FLUVIO_SYSTEM_ENDPOINT``): that running cluster; nothing is started or stopped.
* ``FLUVIO_BIN_DIR``: a folder with ``fluvio`` and ``fluvio-run`` (``.ci/run`` sets it), or
  ``FLUVIO_ARCHIVE``: the release archive, unpacked once into
  ``~/.cache/airflow-provider-fluvio/fluvio/<sha256 of the archive>/``. A local cluster is started
  with its own ``HOME`` and data directory, on Fluvio's fixed ports 127.0.0.1:9003 (SC), 9004,
  9010 (SPU) and 9011, which must be free; it is stopped at the end of the session by killing
  exactly its own processes (``fluvio cluster shutdown|delete`` find processes by name).
* Neither: the Fluvio tests skip with the reason. ``FLUVIO_REQUIRED=1`` (``.ci/run`` sets it when
  it provides the binaries) makes every way of not having a cluster fail the run instead.

A watchdog process started before the cluster stops it when the test process is gone without
doing so (pytest killed by a timeout), so no cluster outlives its test run.

By hand: ``python tests/fluvio_cluster.py unpack ARCHIVE`` prints the binaries' folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
SC_PORT = 9003
PORTS = {9003: "SC public", 9004: "SC private", 9010: "SPU public", 9011: "SPU private"}
SPU_SOCKET = Path("/tmp/fluvio-spu.sock")  # the SPU's local socket; fixed by Fluvio
CACHE = Path(os.environ.get("FLUVIO_CACHE") or Path.home() / ".cache/airflow-provider-fluvio/fluvio")
START_TIMEOUT = float(os.environ.get("FLUVIO_START_TIMEOUT", "180"))
STOP_GRACE = 10.0
CLI_TIMEOUT = 60.0  # one run of the fluvio CLI in a test
REQUIRED_ENV = "FLUVIO_REQUIRED"


class ClusterUnavailable(RuntimeError):
    """No cluster can be had here (no binaries, ports taken); a skip unless it is required."""


class ClusterStartError(RuntimeError):
    """The binaries are there but the cluster did not start; always a failure."""


@dataclass
class FluvioCluster:
    endpoint: str
    bin_dir: Path | None = None
    state_dir: Path | None = None  # None: a cluster we did not start
    home: Path | None = None
    server_pids: dict[str, int] = field(default_factory=dict)  # "sc"/"spu" -> the fluvio-run server

    @property
    def owned(self) -> bool:
        return self.state_dir is not None

    @property
    def fluvio(self) -> str:
        """The ``fluvio`` CLI (needs ``bin_dir``)."""
        if self.bin_dir is None:
            raise ClusterUnavailable("the fluvio CLI is not available (set FLUVIO_BIN_DIR)")
        return str(self.bin_dir / "fluvio")

    def env(self) -> dict[str, str]:
        """The environment for the ``fluvio`` CLI: the cluster's own HOME (its profile)."""
        env = dict(os.environ)
        if self.home is not None:
            env["HOME"] = str(self.home)
        return env

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``fluvio ARGS`` against this cluster (a test without the CLI skips with the reason)."""
        if self.bin_dir is None:
            import pytest

            pytest.skip("the fluvio CLI is not available (set FLUVIO_BIN_DIR)")
        return subprocess.run([self.fluvio, *args], capture_output=True, text=True, timeout=CLI_TIMEOUT,
                              env=self.env(), stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.state_dir is not None:
            stop_cluster(self.state_dir)


# ------------------------------------------------------------------------------- binaries


def unpack(archive: Path, cache: Path = CACHE) -> Path:
    """The folder of ``fluvio`` and ``fluvio-run`` from ``archive``, unpacked once per content."""
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    target = cache / digest
    if (target / "fluvio").is_file() and (target / "fluvio-run").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one unpacker at a time; the others find it done
        if not (target / "fluvio-run").is_file():
            partial = Path(tempfile.mkdtemp(dir=cache, prefix=".unpack-"))
            partial.chmod(0o755)
            try:
                with tarfile.open(archive) as tar:
                    if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
                        tar.extractall(partial, filter="data")
                    else:
                        tar.extractall(partial)  # our own archive (its sha256 names the folder)
                found = {p.name: p for p in partial.rglob("*") if p.name in ("fluvio", "fluvio-run") and p.is_file()}
                if set(found) != {"fluvio", "fluvio-run"}:
                    raise ClusterUnavailable(f"{archive} holds no fluvio and fluvio-run binaries")
                for name, path in found.items():
                    path.chmod(0o755)
                    os.replace(path, partial / name)
                shutil.rmtree(target, ignore_errors=True)
                os.replace(partial, target)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
    return target


def find_binaries() -> Path:
    """``FLUVIO_BIN_DIR``, else ``FLUVIO_ARCHIVE`` unpacked; ``ClusterUnavailable`` naming what is missing."""
    bin_dir = os.environ.get("FLUVIO_BIN_DIR")
    if bin_dir:
        path = Path(bin_dir)
        missing = [name for name in ("fluvio", "fluvio-run") if not os.access(path / name, os.X_OK)]
        if missing:
            raise ClusterUnavailable(f"FLUVIO_BIN_DIR={bin_dir} has no executable {' and '.join(missing)}")
        return path
    archive = os.environ.get("FLUVIO_ARCHIVE")
    if archive:
        if not Path(archive).is_file():
            raise ClusterUnavailable(f"FLUVIO_ARCHIVE={archive} does not exist")
        return unpack(Path(archive))
    raise ClusterUnavailable(
        "no Fluvio binaries: set FLUVIO_BIN_DIR (a folder with fluvio and fluvio-run) or FLUVIO_ARCHIVE "
        "(the release .tar.xz), or FLUVIO_ENDPOINT=host:port for a running cluster"
    )


# ------------------------------------------------------------------------------- processes


def _stat(pid: int) -> tuple[int, int] | None:
    """``(session id, start time)`` of ``pid``, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[3]), int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _members(session: int, marker: str) -> list[int]:
    """Processes of ``session`` whose command line names ``marker`` (our state directory)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] == session and marker in _cmdline(int(entry.name)):
                pids.append(int(entry.name))
    return pids


def busy_ports() -> list[int]:
    busy = []
    for port in PORTS:
        with socket.socket() as probe:
            probe.settimeout(1.0)
            if probe.connect_ex((HOST, port)) == 0:
                busy.append(port)
    return busy


def start_cluster(bin_dir: Path, *, owner_pid: int | None = None) -> FluvioCluster:
    """Start a local cluster; returns once it answers. ``owner_pid``: a watchdog stops the
    cluster when that process ends first."""
    busy = busy_ports()
    if busy:
        names = ", ".join(f"{port} ({PORTS[port]})" for port in busy)
        raise ClusterUnavailable(
            f"Fluvio's fixed ports are in use: {names}; another Fluvio cluster runs on this machine? "
            f"Stop it, or use it with FLUVIO_ENDPOINT={HOST}:{SC_PORT}"
        )
    state = Path(tempfile.mkdtemp(prefix="fluvio-cluster-"))
    home, logs = state / "home", state / "logs"
    home.mkdir()
    logs.mkdir()
    if owner_pid is not None:
        _start_watchdog(state, owner_pid)
    env = {**os.environ, "HOME": str(home), "FLUVIO_SPU_BIND_HOST": HOST}
    command = [str(bin_dir / "fluvio"), "cluster", "start", "--local",
               "--sc-pub-addr", f"{HOST}:{SC_PORT}", "--sc-priv-addr", f"{HOST}:9004",
               "--data-dir", str(state / "data"), "--log-dir", str(logs)]
    started = time.monotonic()
    with open(logs / "start.log", "wb") as out:
        # Its own session: the servers it leaves behind are that session's members (see _members).
        starter = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True)
    (state / "session").write_text(str(starter.pid))
    try:
        code = starter.wait(timeout=START_TIMEOUT)
        if code != 0:
            raise ClusterStartError(f"fluvio cluster start exited with {code}:\n{_tail(logs / 'start.log')}")
        cluster = FluvioCluster(f"{HOST}:{SC_PORT}", bin_dir, state, home, _servers(state, starter.pid))
        _wait_until_it_answers(cluster, started + START_TIMEOUT)
        return cluster
    except subprocess.TimeoutExpired:
        stop_cluster(state)
        raise ClusterStartError(f"fluvio cluster start did not finish in {START_TIMEOUT:g}s:\n"
                                f"{_tail(logs / 'start.log')}") from None
    except BaseException:
        stop_cluster(state)
        raise


def _servers(state: Path, session: int) -> dict[str, int]:
    servers = {}
    for pid in _members(session, str(state)):
        words = _cmdline(pid).split()
        if words and words[0].endswith("fluvio-run") and len(words) > 1 and words[1] in ("sc", "spu"):
            servers[words[1]] = pid
    if set(servers) != {"sc", "spu"}:
        raise ClusterStartError(f"fluvio cluster start left no SC and SPU servers running (found {servers})")
    return servers


def _wait_until_it_answers(cluster: FluvioCluster, deadline: float) -> None:
    """A real round trip through the project's own client: list the topics."""
    from fluvio_connectors.errors import FluvioConnectorError
    from fluvio_connectors.topics.fluvio import FluvioTopics

    last = ""
    while time.monotonic() < deadline:
        with FluvioTopics(cluster.endpoint, connect_timeout=15, timeout=15) as topics:
            try:
                topics.list_topics()
                return
            except FluvioConnectorError as exc:
                last = str(exc)
        time.sleep(0.5)  # between attempts to reach a starting server
    raise ClusterStartError(f"the cluster at {cluster.endpoint} did not answer: {last}")


def stop_cluster(state: Path) -> None:
    """Stop every process of the cluster in ``state`` (SIGTERM, then SIGKILL) and remove ``state``."""
    try:
        session = int((state / "session").read_text())
    except (OSError, ValueError):
        session = None
    if session is not None:
        pids = _members(session, str(state))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if (_stat(pid) or (None,))[0] == session]
            time.sleep(0.1)  # polling for the servers to exit
        for pid in _members(session, str(state)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if (state / "session").exists() and not busy_ports():
            SPU_SOCKET.unlink(missing_ok=True)  # what our SPU leaves behind
    shutil.rmtree(state, ignore_errors=True)


def _profile_home(home: Path, endpoint: str) -> Path:
    """A HOME whose Fluvio profile names ``endpoint``, for the ``fluvio`` CLI."""
    (home / ".fluvio").mkdir(parents=True)
    (home / ".fluvio" / "config").write_text(
        'version = "2.0"\ncurrent_profile = "test"\n\n[profile.test]\ncluster = "test"\n\n'
        f'[cluster.test]\nendpoint = "{endpoint}"\nuse_spu_local_address = false\n\n'
        '[cluster.test.tls]\ntls_policy = "disabled"\n'
    )
    return home


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


# ------------------------------------------------------------------------------- watchdog


def _start_watchdog(state: Path, owner_pid: int) -> None:
    owner = _stat(owner_pid)
    if owner is None:
        raise ClusterStartError(f"owner process {owner_pid} is not running")
    with open(state / "logs" / "watchdog.log", "wb") as log:
        subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "watch", str(state), str(owner_pid), str(owner[1])],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
        )


def _watch(state: Path, owner_pid: int, owner_start: int) -> None:
    """Stop the cluster when the owner is gone; end when the cluster was stopped normally."""
    while state.exists():
        stat = _stat(owner_pid)
        if stat is None or stat[1] != owner_start:
            stop_cluster(state)
            return
        time.sleep(1.0)  # polling the owner process


# ------------------------------------------------------------------------------- pytest


def cluster_fixture() -> Iterator[FluvioCluster]:
    """The body of the session fixture: the cluster, or skip/fail with the reason."""
    import pytest

    endpoint = os.environ.get("FLUVIO_SYSTEM_ENDPOINT")
    required = os.environ.get(REQUIRED_ENV) == "1"
    if endpoint:
        bin_dir = None
        with contextlib.suppress(ClusterUnavailable):
            bin_dir = find_binaries()
        with tempfile.TemporaryDirectory(prefix="fluvio-profile-") as home:
            yield FluvioCluster(endpoint, bin_dir, home=_profile_home(Path(home), endpoint))
        return
    try:
        cluster = start_cluster(find_binaries(), owner_pid=os.getpid())
    except ClusterUnavailable as exc:
        if required:
            pytest.fail(f"a Fluvio cluster is required ({REQUIRED_ENV}=1) but: {exc}", pytrace=False)
        pytest.skip(f"no Fluvio cluster: {exc}")
    except ClusterStartError as exc:
        pytest.fail(f"the Fluvio cluster did not start: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["unpack"] and len(sys.argv) == 3:
        print(unpack(Path(sys.argv[2])))
    elif sys.argv[1:2] == ["watch"] and len(sys.argv) == 5:
        _watch(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit("usage: fluvio_cluster.py unpack ARCHIVE | watch STATE OWNER_PID OWNER_START")
