"""Real things for the connector program tests: an MQTT broker, connector processes, the topic log.

conftest.py makes fixtures of these; tests import the helpers from here.

The broker is ``mosquitto`` when it is installed (``.ci/run`` installs it), else the pure-Python
``amqtt`` broker from the test extras; ``FLUVIO_TEST_BROKER=amqtt|mosquitto`` forces one. Either
listens on a free 127.0.0.1 port with a generated config: anonymous or with a password file, plain
or TLS, and queueing without limit for persistent sessions (mosquitto's stock
``max_queued_messages 1000`` drops the rest for a disconnected client).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from polling import wait_until

from fluvio_connectors.settings import Settings
from fluvio_connectors.status import ProgramState, ProgramStatus, read_status
from fluvio_connectors.topics import Record, Topics, open_topics
from fluvio_connectors.topics.embedded import EmbeddedTopics

BROKER_ENV = "FLUVIO_TEST_BROKER"
MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None
)


def broker_kind() -> str:
    wanted = os.environ.get(BROKER_ENV, "").strip().lower()
    if wanted in ("mosquitto", "amqtt"):
        if wanted == "mosquitto" and MOSQUITTO is None:
            pytest.fail(f"{BROKER_ENV}=mosquitto but mosquitto is not installed")
        return wanted
    return "mosquitto" if MOSQUITTO else "amqtt"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """``polling.wait_until`` at this module's pace."""
    return wait_until(condition, timeout, what, interval=interval)


# --------------------------------------------------------------------------- TLS material


@dataclass(frozen=True)
class TlsMaterial:
    """A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate."""

    ca_pem: str
    ca_path: Path
    server_cert_path: Path
    server_key_path: Path
    client_cert_pem: str
    client_key_pem: str


def make_tls(directory: Path) -> TlsMaterial:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("fluvio test CA"))
        .issuer_name(name("fluvio test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        common: str, usage: x509.ObjectIdentifier, san: list[x509.GeneralName] | None
    ) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem(key)

    server_cert, server_key = leaf(
        "localhost",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client_cert, client_key = leaf("fluvio-connector", ExtendedKeyUsageOID.CLIENT_AUTH, None)
    directory.mkdir(parents=True, exist_ok=True)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode()
    paths = {"ca.pem": ca_pem, "server.pem": server_cert, "server.key": server_key}
    for filename, text in paths.items():
        (directory / filename).write_text(text)
    os.chmod(directory / "server.key", 0o600)
    return TlsMaterial(
        ca_pem=ca_pem,
        ca_path=directory / "ca.pem",
        server_cert_path=directory / "server.pem",
        server_key_path=directory / "server.key",
        client_cert_pem=client_cert,
        client_key_pem=client_key,
    )


# --------------------------------------------------------------------------- the broker


@dataclass
class Broker:
    """A real MQTT broker process on 127.0.0.1 (see the module docstring)."""

    kind: str
    workdir: Path
    users: dict[str, str] = field(default_factory=dict)
    tls: TlsMaterial | None = None
    require_client_cert: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def login(self) -> str | None:
        """A user name every client sends when the broker has no password file.

        amqtt keeps no session (and so no queued messages) for anonymous clients; it accepts any
        user name when anonymous access is off, which makes the session persistent.
        """
        return "fluvio-test" if self.kind == "amqtt" and not self.users else None

    @property
    def url(self) -> str:
        user = f"{self.login}@" if self.login else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.kind}.log"

    def start(self) -> Broker:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = self._mosquitto() if self.kind == "mosquitto" else self._amqtt()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        what = f"{self.kind} to listen on 127.0.0.1:{self.port} (log: {self.log_path})"
        wait_for(self._listening, 15, what)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def _listening(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = self.log_path.read_text()[-2000:]
            pytest.fail(f"{self.kind} exited with {self.process.returncode}: {log}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _mosquitto(self) -> list[str]:
        lines = [
            f"listener {self.port} 127.0.0.1",
            # Unlimited queue for persistent sessions: the stock 1000 drops messages.
            "max_queued_messages 0",
            "persistence false",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
        if os.geteuid() == 0:
            # mosquitto started as root drops to the user "mosquitto", which cannot read the test's
            # private temporary directory (config, password file, certificates).
            lines.append("user root")
        if self.users:
            password_file = self.workdir / "passwords"
            password_file.write_text("")
            for user, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(password_file), user, password], check=True,
                               capture_output=True)
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            lines += [
                f"cafile {self.tls.ca_path}",
                f"certfile {self.tls.server_cert_path}",
                f"keyfile {self.tls.server_key_path}",
            ]
            if self.require_client_cert:
                lines.append("require_certificate true")
        config = self.workdir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        assert MOSQUITTO is not None
        return [MOSQUITTO, "-c", str(config)]

    def _amqtt(self) -> list[str]:
        listener: dict[str, Any] = {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}
        if self.tls:
            listener.update(ssl=True, cafile=str(self.tls.ca_path), certfile=str(self.tls.server_cert_path),
                            keyfile=str(self.tls.server_key_path))
        plugins: dict[str, Any] = {}
        if self.users:
            from pwdlib import PasswordHash

            hasher = PasswordHash.recommended()
            password_file = self.workdir / "passwords"
            password_file.write_text("".join(f"{u}:{hasher.hash(p)}\n" for u, p in self.users.items()))
            plugins["amqtt.plugins.authentication.FileAuthPlugin"] = {"password_file": str(password_file)}
        else:
            plugins["amqtt.plugins.authentication.AnonymousAuthPlugin"] = {"allow_anonymous": False}
        config = self.workdir / "amqtt.yaml"
        config.write_text(yaml.safe_dump({"listeners": {"default": listener}, "plugins": plugins}))
        start = "from amqtt.scripts.broker_script import main; main()"
        return [sys.executable, "-c", start, "-c", str(config)]

    # ---- a test client

    def client(self, client_id: str | None = None) -> Any:
        import paho.mqtt.client as paho

        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv311,
        )
        if self.users:
            user, password = next(iter(self.users.items()))
            client.username_pw_set(user, password)
        elif self.login:
            client.username_pw_set(self.login)
        if self.tls:
            import ssl

            context = ssl.create_default_context(cafile=str(self.tls.ca_path))
            if self.require_client_cert:
                cert = self.workdir / "test-client.pem"
                cert.write_text(self.tls.client_cert_pem + self.tls.client_key_pem)
                context.load_cert_chain(str(cert))
            client.tls_set_context(context)
        return client

    def publish(self, topic: str, payloads: Iterable[bytes | str], qos: int = 1, timeout: float = 60) -> int:
        """Publish ``payloads`` in order and wait until the broker has them all; returns the count."""
        client = self.client()
        # mosquitto disconnects a client with more than max_inflight_messages (20) qos 2 publishes
        # in flight; qos 1 it does not limit.
        client.max_inflight_messages_set(20 if qos == 2 else 200)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        try:
            wait_for(client.is_connected, 10, f"the test publisher to connect to {self.url}", interval=0.01)
            infos = [client.publish(topic, payload, qos=qos) for payload in payloads]
            deadline = time.monotonic() + timeout
            for info in infos:
                info.wait_for_publish(timeout=max(0.1, deadline - time.monotonic()))
            missing = sum(not info.is_published() for info in infos)
            assert missing == 0, f"{missing} of {len(infos)} messages were not accepted by the broker"
            return len(infos)
        finally:
            client.disconnect()
            client.loop_stop()





# --------------------------------------------------------------------------- connector processes


_fluvio: dict[str, Topics] = {}


def _topics() -> Topics:
    """Where this test's connectors write: its embedded log, or the Fluvio cluster named by
    ``FLUVIO_ENDPOINT`` (one client per cluster, kept: each costs a client process)."""
    settings = Settings.from_env()
    if settings.fluvio_endpoint:
        if settings.fluvio_endpoint not in _fluvio:
            _fluvio[settings.fluvio_endpoint] = open_topics(settings)
        return _fluvio[settings.fluvio_endpoint]
    return EmbeddedTopics(settings.log_path)


def read_topic(topic: str) -> list[Record]:
    """Every record of ``topic`` where this test's connectors write."""
    topics = _topics()
    try:
        return topics.read(topic) if topics.topic_exists(topic) else []
    finally:
        if isinstance(topics, EmbeddedTopics):
            topics.close()


def topic_size(topic: str) -> int:
    """How many records ``topic`` holds (counted: offsets need not be consecutive)."""
    return len(read_topic(topic))


class ConnectorProcess:
    """One connector program run as a real process (``python -m fluvio_connectors.<module>``)."""

    def __init__(self, module: str, workdir: Path, config: dict[str, Any] | str,
                 secrets: dict[str, str] | None, env: dict[str, str] | None) -> None:
        self.module = module
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "config.yaml"
        self.config_path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
        self.secrets_path: Path | None = None
        if secrets is not None:
            self.secrets_path = workdir / "secrets.env"
            self.secrets_path.write_text("".join(f"{k}={v}\n" for k, v in secrets.items()))
        self.status_path = workdir / "status.json"
        self.log_path = workdir / "connector.log"
        self.env = {
            **os.environ,
            "FLUVIO_CONNECTOR_STATUS_FILE": str(self.status_path),
            "FLUVIO_CONNECTOR_HEARTBEAT": "0.2",
            "FLUVIO_CONNECTOR_LIFE_INTERVAL": "1",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> ConnectorProcess:
        command = [sys.executable, "-m", self.module, "--config", str(self.config_path)]
        if self.secrets_path is not None:
            command += ["--secrets", str(self.secrets_path)]
        self.status_path.unlink(missing_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        self.runs += 1
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def status(self) -> ProgramStatus | None:
        return read_status(self.status_path)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_state(self, *states: ProgramState, timeout: float = 20) -> ProgramStatus:
        def reached() -> ProgramStatus | None:
            status = self.status()
            if status is not None and status.state in states:
                return status
            if self.process is not None and self.process.poll() is not None and status is not None \
                    and status.state not in states:
                pytest.fail(f"connector exited ({self.process.returncode}) in state {status.state.value}, "
                            f"waiting for {[s.value for s in states]}:\n{self.log()[-3000:]}")
            return None

        what = f"connector state {[s.value for s in states]} (log: {self.log_path})"
        return wait_for(reached, timeout, what)

    def signal(self, signum: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signum)

    def wait(self, timeout: float = 15) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"connector did not exit within {timeout}s:\n{self.log()[-3000:]}")

    def stop(self) -> int:
        """SIGTERM and wait: the exit code."""
        self.signal(signal.SIGTERM)
        return self.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)



def mqtt_config(broker: Broker | None, topic: str = "mqtt-records", **parameters: Any) -> dict[str, Any]:
    """A seed-format MQTT connector config for ``broker`` (``name`` defaults to a unique one)."""
    name = parameters.pop("name", f"mqtt-{uuid.uuid4().hex[:8]}")
    params: dict[str, Any] = {"mqtt-topic": "sensors/#", "qos": 1, "timeout": 2}
    if broker is not None:
        params["mqtt-url"] = broker.url
    params.update(parameters)
    return {"version": "latest", "name": name, "type": "mqtt", "direction": "source", "topic": topic,
            "create_topic": True, "parameters": params}
