"""What one large MQTT message costs the connector: its peak RSS (``VmHWM``) storing one message.

    .venv/bin/python bench/mqtt_large_bench.py [--sizes 8 16] [--output binary|json]

For each size (MiB), a fresh connector (embedded log, qos 1, ``max-message-size`` raised to take
the message; ``--without-limit`` for code from before the parameter) and one message of that size published to a local
mosquitto; the connector's RSS when ready and its peak once the record is stored, and the record's
size. The peak is the kernel's high-water mark of the process, so nothing between samples is
missed. Run it on two checkouts (the connector imports ``PYTHONPATH=OTHER/connectors`` first) to
compare code versions.

Prints figures with the machine's load average; never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mqtt_bench import Mosquitto, load, wait_until

from fluvio_connectors.status import ProgramState, read_status
from fluvio_connectors.topics.embedded import EmbeddedTopics

MIB = 1024 * 1024


def memory_kib(pid: int) -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def one_message(broker: Mosquitto, workdir: Path, size: int, output: str, limit: bool) -> str:
    import paho.mqtt.client as paho

    home = Path(tempfile.mkdtemp(prefix="large-", dir=workdir))
    parameters: dict[str, object] = {"mqtt-url": f"127.0.0.1:{broker.port}", "mqtt-topic": "large/#", "qos": 1,
                                     "client-id": f"large-{time.monotonic_ns()}", "payload-output-type": output}
    if limit:
        parameters["max-message-size"] = size + MIB
    config = {"name": "large", "type": "mqtt", "topic": "large", "create_topic": True, "parameters": parameters}
    (home / "config.yaml").write_text(json.dumps(config))
    status_file = home / "status.json"
    env = {**os.environ, "FLUVIO_CONNECTORS_HOME": str(home), "FLUVIO_CONNECTOR_STATUS_FILE": str(status_file)}
    env.pop("FLUVIO_ENDPOINT", None)
    with open(home / "connector.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "fluvio_connectors.mqtt", "--config", str(home / "config.yaml")],
                                   env=env, stdout=subprocess.DEVNULL, stderr=log)
    topics = EmbeddedTopics(home / "topics.db")
    try:
        try:
            wait_until(lambda: (s := read_status(status_file)) is not None and s.state is ProgramState.READY, 60,
                       "the connector to be ready", interval=0.05)
        except TimeoutError:
            raise RuntimeError((home / "connector.log").read_text()[-2000:]) from None
        ready, _ = memory_kib(process.pid)
        payload = (b"{\"reading\": [" + b"7," * (size // 2))[:size - 2] + b"]}" if output == "json" else os.urandom(size)
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        started = time.monotonic()
        client.publish("large/one", payload, qos=1).wait_for_publish(60)
        stored = wait_until(lambda: topics.read("large", max_value_bytes=0) if process.poll() is None else
                            (_ for _ in ()).throw(RuntimeError((home / "connector.log").read_text()[-2000:])),
                            600, "the record", interval=0.05)
        seconds = time.monotonic() - started
        client.loop_stop()
        client.disconnect()
        current, peak = memory_kib(process.pid)
        return (f"{size / MIB:5.1f} MiB {output}: record {stored[0].size / MIB:6.1f} MiB in {seconds:5.2f} s; RSS ready "
                f"{ready / 1024:6.1f} MiB, peak {peak / 1024:6.1f} MiB ({peak / 1024 / (size / MIB):4.1f} x the "
                f"message), after {current / 1024:6.1f} MiB")
    finally:
        process.terminate()
        process.wait(timeout=60)
        topics.close()
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[8, 16], help="message sizes in MiB")
    parser.add_argument("--output", choices=["binary", "json"], default="binary")
    parser.add_argument("--without-limit", action="store_true",
                        help="leave max-message-size out of the config (code from before the parameter)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mqtt-large-bench-"))
    broker = Mosquitto(workdir)
    try:
        print(f"load average {load()}")
        for size in args.sizes:
            print(one_message(broker, workdir, int(size * MIB), args.output, not args.without_limit), flush=True)
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
