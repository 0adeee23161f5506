"""A real Airflow 3 on 127.0.0.1 for the end-to-end tests: api-server, scheduler, dag-processor and triggerer.

Each component runs as its own process (in its own process group), the way a deployment runs them,
so a deferred task really leaves the worker and its trigger really crosses into the triggerer
process. Airflow's ``standalone`` command would do the same but hides the components behind one
process and forces its own settings; starting them here keeps each component's log in its own file
and the settings in one place.

The metadata database is SQLite; with SQLite Airflow 3.3 still runs the LocalExecutor (``airflow
standalone`` forces exactly that pair). The auth manager is the SimpleAuthManager (``e2e_auth.py``:
its viewers may read connections) with an admin and a viewer whose passwords are written to its
passwords file before the api-server starts, so tests and the browser can sign in with known
credentials.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from cryptography.fernet import Fernet
from e2e_auth import AUTH_MANAGER

AIRFLOW_BIN = Path(sys.executable).with_name("airflow")
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN_USER = "admin"
VIEWER_USER = "viewer"
ROLES = {ADMIN_USER: "admin", VIEWER_USER: "viewer"}  # SimpleAuthManager roles
T = TypeVar("T")


class AirflowStartError(RuntimeError):
    """Airflow did not become healthy; the message carries the tail of each component's log."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    for _ in range(int(timeout / interval) + 2):
        try:
            result = check()
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            last_error, result = exc, None
        if result:
            return result
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    suffix = f" (last error: {last_error!r})" if last_error else ""
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{suffix}")


@dataclass
class AirflowCluster:
    """One Airflow deployment in ``root``: its home, its DAGs folder, its processes and their logs."""

    root: Path
    dags_folder: Path
    fluvio_home: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    passwords: dict[str, str] = field(default_factory=lambda: {user: secrets.token_urlsafe(12) for user in ROLES})
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)
    _secrets: dict[str, str] = field(default_factory=dict)
    _ports: dict[str, int] = field(
        default_factory=lambda: {name: free_port() for name in ("worker_log", "trigger_log", "health")}
    )

    @property
    def password(self) -> str:
        """The admin's password."""
        return self.passwords[ADMIN_USER]

    @property
    def home(self) -> Path:
        """AIRFLOW_HOME of this deployment."""
        return self.root / "airflow-home"

    @property
    def logs_dir(self) -> Path:
        """Where each component's stdout and stderr go (one file per component)."""
        return self.root / "component-logs"

    @property
    def base_url(self) -> str:
        """The api-server's URL (UI, REST API, execution API, auth)."""
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment every Airflow component (and every task and connector it starts) runs with."""
        # The test process carries the unit tests' Airflow settings (tests/conftest.py): none of them
        # may leak into this deployment.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FLUVIO_"))}
        settings = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__FERNET_KEY": self._secrets.setdefault("fernet", Fernet.generate_key().decode()),
            "AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{user}:{role}" for user, role in ROLES.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": self._secret("api"),
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._ports["worker_log"]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self._ports["trigger_log"]),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self._ports["health"]),
            # New DAG files and DAG-level changes show up within seconds, not the default minutes.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            # A killed triggerer's triggers go to a live one once its heartbeat (every 5 s) is this
            # old: three beats, not the default 30 s (the triggerer-kill test waits for it).
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
            "FLUVIO_CONNECTORS_HOME": str(self.fluvio_home),
            "PATH": f"{AIRFLOW_BIN.parent}{os.pathsep}{env.get('PATH', '')}",
            # Where e2e_auth (the auth manager) is found.
            "PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).resolve().parent), env.get("PYTHONPATH")) if p),
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
        }
        env.update(settings)
        env.update(self.extra_env)
        return env

    def _secret(self, name: str) -> str:
        # Every component must sign and check JWTs (and encrypt connections) with the same keys, so
        # they are made once per deployment.
        return self._secrets.setdefault(name, base64.b64encode(os.urandom(24)).decode())

    def start(self, timeout: float = 150.0, components: tuple[str, ...] = COMPONENTS) -> None:
        """Create the database, start ``components`` (all by default) and wait until the health
        endpoint says each of them is healthy."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.fluvio_home.mkdir(parents=True, exist_ok=True)
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps(self.passwords) + "\n")
        passwords.chmod(0o600)
        env = self.env()
        migrate = subprocess.run(
            [str(AIRFLOW_BIN), "db", "migrate"],
            env=env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if migrate.returncode != 0:
            raise AirflowStartError(f"airflow db migrate failed ({migrate.returncode}):\n{migrate.stderr[-3000:]}")
        for name in components:
            self.start_component(name, env)
        try:
            wait_for("all Airflow components to report healthy", self._healthy, timeout, interval=1.0)
        except AirflowStartError:
            self.stop()
            raise
        except TimeoutError as exc:
            self.stop()
            raise AirflowStartError(f"{exc}\n{self.describe_logs()}") from exc

    def start_component(self, name: str, env: Mapping[str, str] | None = None) -> None:
        """Start one component (its log file is appended to, so a restart keeps the earlier part)."""
        commands = {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            "scheduler": ["scheduler"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer"],
        }
        log = (self.logs_dir / f"{name}.log").open("ab")
        # A new session per component: stop() signals the whole group, which includes the
        # executor's workers and the task processes they fork.
        self.procs[name] = subprocess.Popen(
            [str(AIRFLOW_BIN), *commands[name]],
            env=dict(env or self.env()),
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def kill_component(self, name: str) -> None:
        """SIGKILL one component and every process of its group (no clean shutdown), and reap it."""
        proc = self.procs[name]
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def _healthy(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AirflowStartError(f"{name} exited with {proc.returncode} while starting\n{self.log_tail(name, 60)}")
        response = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
        if response.status_code != 200:
            return False
        health = response.json()
        parts = ["metadatabase", *(name.replace("-", "_") for name in self.procs if name != "api-server")]
        return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

    def stop(self, grace: float = 20.0) -> list[int]:
        """Stop every component and everything they started; returns the pids that had to be killed."""
        tree: dict[int, float] = {}
        for proc in self.procs.values():
            tree.update(_descendants(proc.pid))
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        killed = []
        for proc in self.procs.values():
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGKILL)
                killed.append(proc.pid)
                proc.wait(timeout=10)
        # Children that left their component's process group (a task that set its own group, for
        # example) are still in the tree recorded above.
        for pid, started in sorted(tree.items()):
            if _alive(pid, started):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        self.procs.clear()
        return killed

    def log_tail(self, name: str, lines: int = 40) -> str:
        """The last ``lines`` lines of one component's log."""
        path = self.logs_dir / f"{name}.log"
        if not path.exists():
            return f"({name}: no log)"
        text = path.read_text(errors="replace").splitlines()
        return "\n".join(f"{name} | {line}" for line in text[-lines:])

    def describe_logs(self, lines: int = 30) -> str:
        """The tail of every component's log, for a failure message."""
        return "\n".join(self.log_tail(name, lines) for name in COMPONENTS)

    def token(self, user: str = ADMIN_USER) -> str:
        """A JWT for ``user``, from the SimpleAuthManager's token endpoint (cached per deployment)."""
        if user not in self._tokens:
            response = httpx.post(
                f"{self.base_url}/auth/token",
                json={"username": user, "password": self.passwords[user]},
                timeout=10,
            )
            response.raise_for_status()
            self._tokens[user] = str(response.json()["access_token"])
        return self._tokens[user]

    def client(self) -> httpx.Client:
        """An HTTP client for the public REST API (``/api/v2``) carrying the admin's token."""
        return httpx.Client(
            base_url=f"{self.base_url}/api/v2",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=30,
        )


def _descendants(pid: int) -> dict[int, float]:
    """The process tree under ``pid``: pid -> start time (so a reused pid is never taken for ours)."""
    import psutil

    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    tree = {}
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            tree[child.pid] = child.create_time()
    return tree


def _alive(pid: int, started: float) -> bool:
    """Whether the process ``pid`` that started at ``started`` still runs."""
    import psutil

    try:
        process = psutil.Process(pid)
        return process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


@contextlib.contextmanager
def running_airflow(**kwargs: Any) -> Iterator[AirflowCluster]:
    """Start an :class:`AirflowCluster`, yield it, and stop it whatever happens."""
    cluster = AirflowCluster(**kwargs)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
