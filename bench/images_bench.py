"""Connector images: their size, and container start to ready.

    .venv/bin/python bench/images_bench.py [--runs 5]

Builds (or finds cached) the images with docker/build-images.sh, prints each image's size as podman
reports it (the uncompressed layers, what a node stores) and gzip-compressed (what a registry
stores and a node pulls), then starts each image ``--runs`` times as its Kubernetes pod runs it
(tests/connectors/container_fixtures.py: uid 1000, read-only root, emptyDir, ConfigMap, Secret as
environment; the MQTT connector on the host network with a broker there) and prints the median and
range of the time from ``podman run`` to the connector reporting ``ready`` in its status file (what
the readiness probe reads). Prints figures and the load average only; never passes or fails.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "connectors"))
DEADLINE = 120.0


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def compressed_size(archive: Path) -> int:
    """The layers of a docker-archive, each gzip-compressed (level 6, as registries store them)."""
    total = 0
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        for layer in manifest[0]["Layers"]:
            data = tar.extractfile(layer).read()  # type: ignore[union-attr]
            total += len(gzip.compress(data, compresslevel=6))
    return total


def start_to_ready(make_container: Callable[[Any, bool], Any], config: Any, host_network: bool) -> float:
    from fluvio_connectors.status import ProgramState, read_status

    container = make_container(config, host_network)
    env = {e.name: e.value for e in container.container.env}
    try:
        started = time.perf_counter()
        container.start()
        tmp = next(container.volumes[m.name] for m in container.container.volume_mounts if m.mount_path == "/tmp")
        status_file = tmp / Path(env["FLUVIO_CONNECTOR_STATUS_FILE"]).relative_to("/tmp")
        while True:
            status = read_status(status_file)
            if status is not None and status.state is ProgramState.READY:
                return time.perf_counter() - started
            if time.perf_counter() - started > DEADLINE:
                raise RuntimeError(f"not ready after {DEADLINE:g}s: {container.logs()[-2000:]}")
            time.sleep(0.005)
    finally:
        container.remove()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from connector_fixtures import Broker, broker_kind, mqtt_config
    from container_fixtures import PodContainer, build_images, images_missing, podman

    from airflow_provider_fluvio.runtimes.kubernetes import KubernetesRuntime
    from fluvio_connectors.config import load_config

    reason = images_missing()
    if reason:
        print(f"images bench skipped: {reason}")
        return 0
    print(f"load average at start: {load()}")
    t0 = time.perf_counter()
    images = build_images()
    print(f"docker/build-images.sh: {time.perf_counter() - t0:.1f} s (cached when nothing changed)")
    for image in images.values():
        size = int(podman("image", "inspect", "--format", "{{.Size}}", image.id).stdout)
        print(f"image {image.name:<45} {size / 1e6:6.1f} MB   gzip {compressed_size(image.archive) / 1e6:5.1f} MB")

    work = Path(tempfile.mkdtemp(prefix="fluvio-images-bench-"))
    broker = Broker(kind=broker_kind(), workdir=work / "broker").start()
    made = 0

    def make(config: Any, host_network: bool) -> PodContainer:
        nonlocal made
        made += 1
        runtime = KubernetesRuntime(namespace="bench", registry="localhost", host_network=host_network)
        deployment = runtime.build_deployment(config)
        deployment.metadata.uid = "00000000-0000-4000-8000-000000000000"
        secret = runtime.build_secret(config, deployment) if config.secrets else None
        return PodContainer(deployment, runtime.build_config_map(config, deployment), secret,
                            images[config.type].id, work / f"pod-{made}")

    try:
        configs = {
            "test-connector": (load_config({"name": "bench-tc", "type": "test-connector", "topic": "bench",
                                            "create_topic": True, "parameters": {"timeout": 1000}}, secrets={}),
                               False),
            "mqtt": (load_config(mqtt_config(broker, "bench-mqtt", name="bench-mqtt"), secrets={}), True),
        }
        for type_name, (config, host_network) in configs.items():
            times = [start_to_ready(make, config, host_network) for _ in range(args.runs)]
            print(f"{type_name:<15} container start to ready: p50 {statistics.median(times):.2f} s "
                  f"(min {min(times):.2f}, max {max(times):.2f}, {args.runs} runs)")
    finally:
        broker.stop()
    print(f"load average at end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
