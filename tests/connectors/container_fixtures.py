"""The connector images as real containers (podman), run the way the Kubernetes runtime's pod runs.

``docker/build-images.sh`` builds (or finds cached) the images. ``PodContainer`` turns the objects
the Kubernetes runtime makes for a connector (Deployment, ConfigMap, Secret) into one
``podman run``: the pod's user and groups, read-only root file system with only the declared
writable mounts, dropped capabilities and no privilege escalation, the ConfigMap's files mounted
read-only where the Deployment mounts them, each ``emptyDir`` a fresh directory (as the kubelet
makes it), the plain environment, the Secret's keys as environment variables, the resource limits,
the node's network when the pod asks for it (else none) and the container's arguments. No Airflow
is involved: only the image runs.

podman runs here with runc and cgroupfs (crun refuses this host's hybrid cgroup layout) and limits
within the current hard limits (raising one needs CAP_SYS_RESOURCE).

Environment: ``FLUVIO_IMAGES_REQUIRED=1`` fails instead of skipping where the images cannot be
built (CI sets it); ``FLUVIO_IMAGES_BUILD_TIMEOUT`` (default 1800 s).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BUILD_IMAGES = ROOT / "docker" / "build-images.sh"
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
BUILD_TIMEOUT = float(os.environ.get("FLUVIO_IMAGES_BUILD_TIMEOUT", "1800"))
COMMAND_TIMEOUT = 120.0  # one podman command; slow only on a loaded machine


@dataclass(frozen=True)
class BuiltImage:
    type: str
    name: str  # localhost/fluvio-connector-TYPE:VERSION
    id: str  # what the tests run: immune to another build retagging the name meanwhile
    archive: Path


def images_missing() -> str | None:
    """Why the images cannot be built and run here, or None."""
    if os.geteuid() != 0:
        return "not root (mmdebstrap and podman use root's container storage here)"
    missing = [tool for tool in ("podman", "buildah", "mmdebstrap", "runc") if not shutil.which(tool)]
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install podman buildah runc mmdebstrap)"
    return None


def build_images() -> dict[str, BuiltImage]:
    """Build (or find cached) every connector image; raises RuntimeError with the script's output."""
    proc = subprocess.run([str(BUILD_IMAGES), "--print"], capture_output=True, text=True, timeout=BUILD_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"docker/build-images.sh failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    images = {}
    for line in proc.stdout.splitlines():
        type_name, name, image_id, archive = line.split()
        images[type_name] = BuiltImage(type_name, name, image_id, Path(archive))
    return images


def podman(*args: str, timeout: float = COMMAND_TIMEOUT, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


@dataclass
class PodContainer:
    """One connector pod's container, run by podman from the runtime's objects."""

    deployment: Any  # V1Deployment
    config_map: Any  # V1ConfigMap
    secret: Any | None  # V1Secret
    image: str
    workdir: Path
    name: str = field(default_factory=lambda: f"fluvio-test-{uuid.uuid4().hex[:10]}")
    volumes: dict[str, Path] = field(default_factory=dict)  # volume name -> host directory

    @property
    def pod(self) -> Any:
        return self.deployment.spec.template.spec

    @property
    def container(self) -> Any:
        (container,) = self.pod.containers
        return container

    def run_args(self) -> list[str]:
        pod, container = self.pod, self.container
        user = container.security_context.run_as_user or pod.security_context.run_as_user
        group = container.security_context.run_as_group or pod.security_context.run_as_group
        args = ["run", "--detach", "--name", self.name, "--pull", "never", *ULIMITS,
                "--user", f"{user}:{group}", "--health-interval", "disable",
                "--network", "host" if pod.host_network else "none"]
        if pod.security_context.fs_group is not None:
            args += ["--group-add", str(pod.security_context.fs_group)]
        if container.security_context.read_only_root_filesystem:
            # only the declared volumes are writable: no tmpfs on /tmp, /run, /var/tmp as podman adds
            args += ["--read-only", "--read-only-tmpfs=false"]
        for cap in container.security_context.capabilities.drop or []:
            args += ["--cap-drop", cap]
        if container.security_context.allow_privilege_escalation is False:
            args += ["--security-opt", "no-new-privileges"]
        limits = (container.resources.limits or {}) if container.resources else {}
        if "memory" in limits:
            args += ["--memory", _bytes(limits["memory"])]
        if "cpu" in limits:
            args += ["--cpus", _cpus(limits["cpu"])]
        by_name = {volume.name: volume for volume in pod.volumes}
        for mount in container.volume_mounts:
            host = self._volume_dir(by_name[mount.name])
            args += ["--volume", f"{host}:{mount.mount_path}:{'ro' if mount.read_only else 'rw'}"]
        for env in container.env or []:
            args += ["--env", f"{env.name}={env.value}"]
        for source in container.env_from or []:
            assert self.secret is not None and source.secret_ref.name == self.secret.metadata.name
            for key, value in (self.secret.string_data or {}).items():
                args += ["--env", f"{key}={value}"]
        return [*args, self.image, *(container.args or [])]

    def _volume_dir(self, volume: Any) -> Path:
        if volume.name in self.volumes:
            return self.volumes[volume.name]
        host = self.workdir / f"volume-{volume.name}"
        host.mkdir(parents=True)
        if volume.config_map is not None:
            assert volume.config_map.name == self.config_map.metadata.name
            for item in volume.config_map.items:
                path = host / item.path
                path.write_text(self.config_map.data[item.key])
                path.chmod(0o644)  # the ConfigMap volume's default mode
        elif volume.empty_dir is not None:
            host.chmod(0o777)  # as the kubelet makes an emptyDir
        else:  # pragma: no cover - the runtime declares no other kind
            raise AssertionError(f"volume {volume.name}: unsupported kind")
        self.volumes[volume.name] = host
        return host

    def start(self) -> PodContainer:
        podman(*self.run_args())
        return self

    def exec(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *command, timeout=timeout, check=False)

    def readiness_probe(self) -> subprocess.CompletedProcess[str]:
        """The Deployment's readiness probe command, run inside the container as the kubelet does."""
        return self.exec(*self.container.readiness_probe._exec.command)

    def logs(self) -> str:
        proc = podman("logs", self.name, check=False)
        return proc.stdout + proc.stderr

    def state(self) -> dict[str, Any]:
        out = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.name).stdout.split()
        return {"status": out[0], "exit_code": int(out[1])}

    def wait_exit(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while (state := self.state())["status"] not in ("exited", "stopped"):
            assert time.monotonic() < deadline, f"{self.name} still {state['status']} after {timeout:g}s"
            time.sleep(0.1)
        return int(state["exit_code"])

    def stop(self, grace: int) -> int:
        """``podman stop``: the image's STOPSIGNAL, then SIGKILL after ``grace`` seconds (as a pod's
        termination grace period); returns the exit code (137 when it had to be killed)."""
        podman("stop", "--time", str(grace), self.name, timeout=grace + COMMAND_TIMEOUT)
        return self.wait_exit()

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)


def _bytes(quantity: str) -> str:
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return str(int(quantity[: -len(suffix)]) * factor)
    return quantity


def _cpus(quantity: str) -> str:
    return str(int(quantity[:-1]) / 1000) if quantity.endswith("m") else quantity
