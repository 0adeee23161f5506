"""A broker that does what a broker must not: a few hundred lines of MQTT 5 on a socket, enough to
accept one client, grant its subscription and send it PUBLISH packets the test writes by hand,
whatever the client announced (a Maximum Packet Size, for one). It records what the client sends
back (acknowledgements), so a test sees what a user's broker would see.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

CONNACK_V5 = bytes([0x20, 0x03, 0x00, 0x00, 0x00])  # session not present, success, no properties
PINGRESP = bytes([0xD0, 0x00])


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        value, byte = divmod(value, 128)
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def publish(topic: str, payload_size: int, packet_id: int, fill: bytes = b"p") -> bytes:
    """A qos 1 MQTT 5 PUBLISH of ``payload_size`` bytes of ``fill``."""
    name = topic.encode()
    body = len(name).to_bytes(2, "big") + name + packet_id.to_bytes(2, "big") + b"\x00"
    return bytes([0x32]) + varint(len(body) + payload_size) + body + fill * payload_size


@dataclass
class HostileBroker:
    """Listens on 127.0.0.1; ``send`` queues raw bytes for the connected client."""

    packets: list[bytes] = field(default_factory=list)  # each a whole packet to send after the SUBACK
    acked: list[int] = field(default_factory=list)  # PUBACK packet ids received
    connects: int = 0

    def __post_init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hostile-broker", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        self._thread.join(10)

    def _serve(self) -> None:
        self._server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                continue
            with conn:
                self.connects += 1
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        reader = _Reader(conn, self._stop)
        while not self._stop.is_set():
            packet = reader.packet()
            if packet is None:
                return
            kind, body = packet
            if kind == 0x10:  # CONNECT
                conn.sendall(CONNACK_V5)
            elif kind == 0x82:  # SUBSCRIBE: grant qos 1, then send what the test wrote
                filters = 1
                conn.sendall(bytes([0x90]) + varint(3 + filters) + body[:2] + b"\x00" + b"\x01" * filters)
                for raw in self.packets:
                    conn.sendall(raw)
            elif kind == 0x40:  # PUBACK
                self.acked.append(int.from_bytes(body[:2], "big"))
            elif kind == 0xC0:  # PINGREQ
                conn.sendall(PINGRESP)
            elif kind == 0xE0:  # DISCONNECT
                return


class _Reader:
    def __init__(self, conn: socket.socket, stop: threading.Event) -> None:
        self.conn = conn
        self.stop = stop
        self.buf = b""

    def _need(self, count: int) -> bool:
        while len(self.buf) < count:
            if self.stop.is_set():
                return False
            try:
                chunk = self.conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return False
            if not chunk:
                return False
            self.buf += chunk
        return True

    def packet(self) -> tuple[int, bytes] | None:
        if not self._need(2):
            return None
        length, shift, index = 0, 0, 1
        while True:
            if not self._need(index + 1):
                return None
            byte = self.buf[index]
            index += 1
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
        if not self._need(index + length):
            return None
        kind, body = self.buf[0], self.buf[index:index + length]  # the whole first byte: 0x82 is SUBSCRIBE
        self.buf = self.buf[index + length:]
        return kind, body
