"""A real local Kubernetes control plane for system tests.

etcd + kube-apiserver + kube-controller-manager + kube-scheduler (built from the Go module proxy by
``k8s/build.sh``) and kwok fake nodes/pods (``k8s/stages.yaml``), started by ``k8s/up.sh`` on
127.0.0.1 only and stopped by ``k8s/down.sh``.

Use from Python::

    handle = start_cluster(state_dir)        # builds (cached) and starts; returns when nodes are Ready
    handle.kubeconfig_path                   # admin kubeconfig (token in system:masters)
    handle.stop()                            # stops exactly the started processes, removes state_dir

Use from pytest (the lead wires it in a conftest.py)::

    from kube_cluster import kube_cluster    # a session fixture yielding the kubeconfig path (str)

Environment:

* ``FLUVIO_K8S_KUBECONFIG``: use this already-running cluster (e.g. from ``make k8s-up``) instead of
  starting one; it is then not stopped at teardown.
* ``FLUVIO_K8S_REQUIRED=1``: fail instead of skip when the cluster cannot be had (Go missing). Set it in CI.
* ``FLUVIO_K8S_REAL_NODE``: ``auto`` (default), ``1`` or ``0``: whether up.sh adds the real node
  (k8s/node.sh); with ``1`` a machine that cannot run it fails instead of skipping its tests.
* ``FLUVIO_K8S_CACHE``: cache root used by build.sh (default ``~/.cache/airflow-provider-fluvio/k8s``).
* ``FLUVIO_K8S_BUILD_TIMEOUT`` (default 3600 s); ``FLUVIO_K8S_UP_TIMEOUT`` (each wait inside up.sh,
  default 120 s).

Nothing here imports ``kubernetes`` or ``pytest`` at module import time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = REPO_ROOT / "k8s"
BUILD_SH = K8S_DIR / "build.sh"
UP_SH = K8S_DIR / "up.sh"
DOWN_SH = K8S_DIR / "down.sh"

BUILD_TIMEOUT = float(os.environ.get("FLUVIO_K8S_BUILD_TIMEOUT", "3600"))
UP_TIMEOUT = 600.0  # whole up.sh; each wait inside it is bounded by FLUVIO_K8S_UP_TIMEOUT
DOWN_TIMEOUT = 120.0


class ClusterUnavailable(RuntimeError):
    """The local cluster cannot be started on this machine (e.g. no Go toolchain)."""


class ClusterStartError(RuntimeError):
    """build.sh or up.sh failed; the message carries the tail of its output, ``output`` all of it."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


@dataclasses.dataclass
class ClusterHandle:
    kubeconfig_path: Path
    state_dir: Path
    api_url: str = ""
    owned: bool = True  # False when reusing FLUVIO_K8S_KUBECONFIG: stop() is then a no-op
    _stopped: bool = dataclasses.field(default=False, repr=False)

    def stop(self) -> None:
        """Stop the processes started for this cluster and remove its state dir (idempotent)."""
        if self._stopped or not self.owned:
            self._stopped = True
            return
        self._stopped = True
        _run([str(DOWN_SH), str(self.state_dir)], timeout=DOWN_TIMEOUT, what="k8s/down.sh")

    def __enter__(self) -> ClusterHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def go_missing_reason() -> str | None:
    """None if a Go toolchain usable by build.sh is on PATH, else a human-readable reason."""
    go = shutil.which("go")
    if not go:
        return (
            "Go toolchain (go >= 1.26) not found in PATH; "
            "needed to build the local Kubernetes control plane (k8s/build.sh)"
        )
    try:
        out = subprocess.run(
            [go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:  # pragma: no cover - broken toolchain
        return f"`go env GOVERSION` failed: {exc}"
    try:
        minor = int(out.removeprefix("go1.").split(".")[0].split("rc")[0].split("beta")[0])
    except ValueError:
        return None  # unknown format (devel build): let build.sh decide
    if minor < 26:
        return f"{out} is too old; k8s/build.sh needs go >= 1.26"
    return None


def _run(cmd: list[str], *, timeout: float, what: str, env: dict | None = None) -> str:
    """Run cmd, return its output; on failure raise ClusterStartError with the tail of the output.

    On timeout the script gets SIGTERM first (up.sh then stops what it started), SIGKILL 60 s later.
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    # output goes to a temp file, not a pipe: up.sh's daemons must not hold a pipe we read to EOF
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=full_env,
            cwd=str(REPO_ROOT),
        )
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        except BaseException:  # e.g. KeyboardInterrupt: let the script clean up, then re-raise
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
        log.seek(0)
        output = log.read()
    if timed_out:
        raise ClusterStartError(f"{what} timed out after {timeout:.0f}s:\n{_tail(output)}", output)
    if proc.returncode != 0:
        raise ClusterStartError(f"{what} failed with exit code {proc.returncode}:\n{_tail(output)}", output)
    return output


def _tail(text: str, lines: int = 80) -> str:
    return "\n".join(text.splitlines()[-lines:])


def build(timeout: float = BUILD_TIMEOUT) -> None:
    """Build (or find cached) binaries. Cold: tens of minutes on 2 cores; warm: seconds."""
    reason = go_missing_reason()
    if reason:
        raise ClusterUnavailable(reason)
    _run([str(BUILD_SH)], timeout=timeout, what="k8s/build.sh")


def read_env(state_dir: Path) -> dict:
    """The variables up.sh wrote to STATE/env (``export NAME=VALUE``, values shell-quoted)."""
    import shlex

    env = {}
    env_file = state_dir / "env"
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            if line.startswith("export ") and "=" in line:
                k, v = line[len("export ") :].split("=", 1)
                words = shlex.split(v)
                env[k] = words[0] if words else ""
    return env


_read_env = read_env


def _stop_quietly(state: Path) -> None:
    """Best effort: stop whatever a failed up.sh may have left running in state."""
    if (state / ".fluvio-k8s-state").exists():
        with contextlib.suppress(ClusterStartError):
            _run([str(DOWN_SH), str(state)], timeout=DOWN_TIMEOUT, what="k8s/down.sh")


def start_cluster(
    state_dir: os.PathLike | str,
    *,
    do_build: bool = True,
    nodes: int = 2,
    build_timeout: float = BUILD_TIMEOUT,
    up_timeout: float = UP_TIMEOUT,
    tie_to_process: bool = True,
) -> ClusterHandle:
    """Build (cached) and start the control plane with its state in ``state_dir``.

    Returns when ``nodes`` fake nodes are Ready. The caller must call ``handle.stop()``; with
    ``tie_to_process`` (default) a watchdog started by up.sh also stops the cluster when this Python
    process exits without doing so (e.g. pytest killed by a timeout).
    Raises ClusterUnavailable if Go is missing, ClusterStartError if a script fails.
    """
    state = Path(state_dir).resolve()
    if do_build:
        build(build_timeout)
    env = {"FLUVIO_K8S_NODES": str(nodes)}
    if tie_to_process:
        env["FLUVIO_K8S_OWNER_PID"] = str(os.getpid())
    for attempt in (1, 2):
        try:
            _run([str(UP_SH), str(state)], timeout=up_timeout, what="k8s/up.sh", env=env)
            break
        except ClusterStartError as exc:
            # up.sh picks free ports just before starting; another process may grab one in between
            if attempt == 2 or "address already in use" not in exc.output:
                _stop_quietly(state)
                raise
    kubeconfig = state / "kubeconfig"
    if not kubeconfig.exists():  # pragma: no cover - up.sh guarantees it
        raise ClusterStartError(f"k8s/up.sh succeeded but {kubeconfig} is missing")
    return ClusterHandle(
        kubeconfig_path=kubeconfig, state_dir=state, api_url=_read_env(state).get("FLUVIO_K8S_API_URL", "")
    )


# --- one cluster per test process, shared by every fixture that asks for it ------------------------
_lock = threading.Lock()
_shared: ClusterHandle | None = None
_shared_refs = 0
_shared_tmp: str | None = None


def acquire_shared_cluster() -> ClusterHandle:
    """Start (once per process) or reuse the shared cluster. Pair each call with release_shared_cluster()."""
    global _shared, _shared_refs, _shared_tmp
    with _lock:
        if _shared is None:
            existing = os.environ.get("FLUVIO_K8S_KUBECONFIG")
            if existing:
                kc = Path(existing)
                if not kc.is_file():
                    raise ClusterStartError(f"FLUVIO_K8S_KUBECONFIG={existing} does not exist")
                _shared = ClusterHandle(
                    kubeconfig_path=kc,
                    state_dir=kc.parent,
                    api_url=_read_env(kc.parent).get("FLUVIO_K8S_API_URL", ""),
                    owned=False,
                )
            else:
                _shared_tmp = tempfile.mkdtemp(prefix="fluvio-k8s-")
                try:
                    # the (empty) temp dir itself is the state dir: down.sh removes it
                    _shared = start_cluster(_shared_tmp)
                except BaseException:
                    shutil.rmtree(_shared_tmp, ignore_errors=True)
                    _shared_tmp = None
                    raise
        _shared_refs += 1
        return _shared


def release_shared_cluster() -> None:
    global _shared, _shared_refs, _shared_tmp
    with _lock:
        _shared_refs -= 1
        if _shared_refs > 0 or _shared is None:
            return
        handle, tmp = _shared, _shared_tmp
        _shared, _shared_tmp = None, None
    try:
        handle.stop()
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def make_kube_cluster_fixture(scope: str = "session") -> Callable:
    """Return a pytest fixture yielding the admin kubeconfig path (str) of a running local cluster.

    Skips (or fails, with FLUVIO_K8S_REQUIRED=1) with a clear reason when Go is missing.
    """
    import pytest  # imported lazily so this module imports without pytest

    @pytest.fixture(scope=scope)
    def kube_cluster() -> Iterator[str]:
        if not os.environ.get("FLUVIO_K8S_KUBECONFIG"):
            reason = go_missing_reason()
            if reason:
                if os.environ.get("FLUVIO_K8S_REQUIRED") == "1":
                    pytest.fail(f"local Kubernetes cluster required (FLUVIO_K8S_REQUIRED=1) but: {reason}")
                pytest.skip(f"local Kubernetes cluster unavailable: {reason}")
        try:
            handle = acquire_shared_cluster()
        except ClusterUnavailable as exc:
            if os.environ.get("FLUVIO_K8S_REQUIRED") == "1":
                pytest.fail(str(exc))
            pytest.skip(f"local Kubernetes cluster unavailable: {exc}")
        try:
            yield str(handle.kubeconfig_path)
        finally:
            release_shared_cluster()

    return kube_cluster


def _make_default_fixture():
    try:
        return make_kube_cluster_fixture()
    except ImportError:  # pytest not installed: the plain API above still works
        return None


#: ready-made session fixture: ``from kube_cluster import kube_cluster`` in a conftest.py
kube_cluster = _make_default_fixture()


if __name__ == "__main__":  # manual use: python tests/system/kube_cluster.py STATE_DIR
    target = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="fluvio-k8s-"))
    h = start_cluster(target)
    print(h.kubeconfig_path)
