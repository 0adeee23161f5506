"""paho-mqtt, adapted so that nothing is acknowledged before its record is stored.

Imported only by the MQTT program (paho is not needed anywhere else).

qos 1: paho's ``manual_ack`` already holds the PUBACK until ``ack(mid, 1)``.

qos 2: paho answers PUBLISH with PUBREC at once and hands the message over only at PUBREL. Once
the broker has PUBREC it lets go of the message, so a connector killed before storing it would
lose it, and a restarted one would never answer the PUBREL paho no longer knows (manual_ack),
wedging one of the broker's in-flight slots for good. ``StoreFirstClient`` hands a qos 2 message
over at PUBLISH, sends PUBREC from ``ack(mid, 2)`` (after the record is stored) and answers every
PUBREL with PUBCOMP. Into the topic qos 2 is then at-least-once like qos 1: a crash can cause a
duplicate, never a loss.

Throughput. paho reads each packet with three ``recv`` calls and one ``select``, builds an MQTT 5
Properties object per message, and writes each acknowledgement with its own ``send``: at tens of
thousands of messages a second that is most of the cost. ``StoreFirstClient`` reads the socket in
64 KiB chunks (``_FrameReader``), handles every complete packet in the buffer per wake-up (up to
``READ_BURST``), decodes runs of PUBLISH packets itself in one tight loop (``_decode_publishes``)
and hands each run over as one list (``on_delivery``), and queues a batch's acknowledgements as one
write (``ack_many``).

Reconnecting. paho waits twice before its second connection attempt when the first one fails
(once in each of ``loop_forever``'s two loops: 1 s, then 2 s). ``StoreFirstClient`` skips a wait
that no attempt preceded, so the waits are exactly the backoff ``reconnect_delay_set`` describes,
and ``next_reconnect_delay`` says what the next one will be (for a log line that tells the truth).

This leans on paho internals (``PAHO_METHODS``, ``PAHO_ATTRIBUTES``, ``PAHO_NAMES``) of paho 2.2:
the project pins ``paho-mqtt>=2.2,<2.3`` (the image pins 2.2.0), the tests with a real broker
guard an upgrade, and a paho without one of them stops the program at its start with one line
(``DependencyError``) rather than failing later inside the network thread.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fluvio_connectors.errors import ConfigError, DependencyError


@contextlib.contextmanager
def _hidden(*names: str) -> Iterator[None]:
    """Make ``import NAME`` fail inside the block for modules not imported yet."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


# paho imports dnspython, when the environment has it (an Airflow environment does), for MQTT
# broker discovery through DNS SRV records: 4-5 MB of memory for something no connector uses.
with _hidden("dns"):
    import paho.mqtt.client as paho

# The paho internals this module uses; checked when it is imported (names) and when a client is made
# (attributes paho's constructor sets).
PAHO_WANTED = ">=2.2,<2.3"
PAHO_NAMES = ("MalformedPacket", "MQTTErrorCode", "MQTT_LOG_ERR", "MQTT_LOG_DEBUG", "PUBLISH")
PAHO_METHODS = ("_packet_read", "_packet_handle", "_handle_publish", "_handle_pubrel", "_send_pubrec",
                "_send_pubcomp", "_create_socket", "_reconnect_wait", "_call_socket_register_write", "_easy_log")
PAHO_ATTRIBUTES = ("_sock", "_in_packet", "_packet_queue", "_msgtime_mutex", "_last_bytes_received", "_protocol",
                   "_reconnect_delay", "_reconnect_delay_mutex", "_reconnect_min_delay", "_reconnect_max_delay")


def _require(owner: object, names: tuple[str, ...], prefix: str) -> None:
    lacking = [f"{prefix}{name}" for name in names if not hasattr(owner, name)]
    if lacking:
        raise DependencyError.missing("paho-mqtt", lacking, "the MQTT source", PAHO_WANTED)


_require(paho, PAHO_NAMES, "paho.mqtt.client.")
_require(paho.Client, PAHO_METHODS, "Client.")

READ_CHUNK = 65536
READ_BURST = 256  # packets taken from the read buffer per network-loop turn
TOPIC_NAMES_KEPT = 4096
_PUBACK = 0x40
_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux
_PUBREC = 0x50

# One received message: (delivery tag, packet id, qos, topic, payload, dup flag). A plain tuple: one
# is made per message on the hot path. The tag is the client's ``delivery_tag`` when it arrived. A
# message larger than ``max_payload`` is delivered without its payload: its size in its place.
Message = tuple[int, int, int, str, bytes | int, bool]
# Room in a PUBLISH beside its payload: topic (up to 65535 bytes and its length), packet id, properties.
PUBLISH_HEADROOM = 65_536 + 256
Delivery = Callable[[list[Message]], None]


class StoreFirstClient(paho.Client):
    """A paho client for the store-then-acknowledge flow (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "manual_ack": True})
        _require(self, PAHO_ATTRIBUTES, "Client.")
        # Why the last connection attempt failed (paho swallows the exception).
        self.last_connect_error: OSError | None = None
        # When the current connection's socket opened (monotonic), until the owner clears it.
        self.socket_opened_at: float | None = None
        # Called in the network thread with the messages of each run of PUBLISH packets, in order.
        self.on_delivery: Delivery | None = None
        # Stamped on every message (the owner changes it per connection, see ``Message``).
        self.delivery_tag = 0
        # The largest payload delivered: a larger one arrives as its size and is never held whole
        # (one that does not fit ``max_payload + PUBLISH_HEADROOM`` is not even read into memory).
        self.max_payload = 1 << 62
        self._topic_names: dict[bytes, str] = {}  # one str per topic, not one per message
        self._attempted_since_wait = True
        self._disconnect_reported = False  # for the current connection (see _do_on_disconnect)

    def next_reconnect_delay(self) -> float:
        """Seconds paho waits before its next connection attempt (asked right after one failed)."""
        with self._reconnect_delay_mutex:
            current = self._reconnect_delay
        if current is None:
            return float(self._reconnect_min_delay)
        return float(min(current * 2, self._reconnect_max_delay))

    def _reconnect_wait(self) -> None:
        if not self._attempted_since_wait:
            return  # paho's second wait in a row (see the module docstring)
        self._attempted_since_wait = False
        super()._reconnect_wait()

    def _create_socket(self) -> Any:
        self._attempted_since_wait = True
        try:
            sock = super()._create_socket()
        except OSError as exc:
            self.last_connect_error = exc
            raise
        if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Acknowledgements are tiny and latency-bound; Nagle would hold them back.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socket_opened_at = time.monotonic()
        self._disconnect_reported = False
        return _FrameReader(sock)

    def _do_on_disconnect(self, packet_from_broker: bool, v1_rc: paho.MQTTErrorCode, *args: Any, **kwargs: Any) -> None:
        # paho's loop_misc reports a keep-alive timeout twice for one connection (once from its
        # keep-alive check, once from the missing ping response right after it): once is the truth.
        if self._disconnect_reported:
            return
        self._disconnect_reported = True
        super()._do_on_disconnect(packet_from_broker, v1_rc, *args, **kwargs)

    def _packet_read(self) -> paho.MQTTErrorCode:
        # paho reads a packet with three recv calls; here one recv fills a buffer and every
        # complete packet in it is handled at once (up to READ_BURST). Runs of PUBLISH are decoded
        # here; anything else goes through paho's own handlers.
        current = self._sock
        if not isinstance(current, _FrameReader) or self._in_packet["command"]:
            return super()._packet_read()
        reader: _FrameReader = current
        # Read only when no complete packet is buffered: while the writer is behind (the inbox
        # is full) nothing more leaves the socket, and the broker holds the rest.
        if not reader.complete_frame():
            try:
                reader.fill()
            except (BlockingIOError, ssl.SSLWantReadError):
                pass
            except ssl.SSLWantWriteError:
                self._call_socket_register_write()
            except OSError as err:
                self._easy_log(paho.MQTT_LOG_ERR, "failed to receive on socket: %s", err)
                return paho.MQTTErrorCode.MQTT_ERR_CONN_LOST
        rc = paho.MQTTErrorCode.MQTT_ERR_AGAIN
        handled = 0
        while handled < READ_BURST:
            try:
                messages = self._decode_publishes(reader, READ_BURST - handled)
            except paho.MalformedPacket as exc:
                self._easy_log(paho.MQTT_LOG_ERR, "malformed packet: %s", exc)
                return paho.MQTTErrorCode.MQTT_ERR_PROTOCOL
            if messages:
                handled += len(messages)
                rc = paho.MQTTErrorCode.MQTT_ERR_SUCCESS
                reader.release()  # a large message's bytes are copied out: not held twice while it is stored
                deliver = self.on_delivery
                if deliver is not None:
                    deliver(messages)
                continue
            try:
                frame = reader.next_frame()  # not a PUBLISH (or not complete yet)
            except paho.MalformedPacket as exc:
                self._easy_log(paho.MQTT_LOG_ERR, "malformed packet: %s", exc)
                return paho.MQTTErrorCode.MQTT_ERR_PROTOCOL
            if frame is None:
                break
            handled += 1
            header, body = frame
            self._in_packet = _in_packet(header, body)
            try:
                rc = self._packet_handle()
            except paho.MalformedPacket as exc:
                self._easy_log(paho.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
                rc = paho.MQTTErrorCode.MQTT_ERR_PROTOCOL
            self._in_packet = _in_packet(0, b"")
            if rc != paho.MQTTErrorCode.MQTT_ERR_SUCCESS or self._sock is not reader:
                break
        else:
            rc = paho.MQTTErrorCode.MQTT_ERR_SUCCESS  # more may be buffered: paho's loop comes back
        with self._msgtime_mutex:
            self._last_bytes_received = time.monotonic()
        if rc == paho.MQTTErrorCode.MQTT_ERR_AGAIN and reader.eof and not reader.complete_frame():
            return paho.MQTTErrorCode.MQTT_ERR_CONN_LOST
        return rc

    def _decode_publishes(self, reader: _FrameReader, limit: int) -> list[Message]:
        """The complete PUBLISH packets at the reader's position, up to ``limit``, decoded and
        consumed; stops before any other packet. paho would build an MQTT 5 Properties object for
        every message (most of its cost) and answer qos 2 too early; one loop over the buffer
        with no call per packet is what keeps a flood affordable."""
        buf, pos = reader._buf, reader._pos
        end_of_data = len(buf)
        names = self._topic_names
        tag = self.delivery_tag
        v5 = self._protocol == paho.MQTTv5
        largest = self.max_payload
        out: list[Message] = []
        with memoryview(buf) as view:  # released before the buffer can change size
            while len(out) < limit and pos + 1 < end_of_data:
                header = buf[pos]
                if header & 0xF0 != paho.PUBLISH:
                    break
                index, length, shift = pos + 1, 0, 0
                while True:  # the remaining length (a variable byte integer)
                    if index >= end_of_data:
                        length = -1
                        break
                    byte = buf[index]
                    index += 1
                    length |= (byte & 0x7F) << shift
                    if not byte & 0x80:
                        break
                    shift += 7
                    if shift > 21:
                        raise paho.MalformedPacket("remaining length longer than 4 bytes")
                end = index + length
                if length > largest + PUBLISH_HEADROOM:
                    # Too large to take whatever its topic: once its topic and packet id are here,
                    # deliver it without its payload and let the rest of it pass unread.
                    skipped = _oversized(buf, header, index, end, end_of_data, names, v5)
                    if skipped is None:
                        break  # its topic is not all here yet
                    skipped_topic, mid, head = skipped
                    out.append((tag, mid, (header >> 1) & 0x03, skipped_topic, end - head, bool(header & 0x08)))
                    if end > end_of_data:
                        reader.discard(end - end_of_data)
                    pos = min(end, end_of_data)
                    continue
                if length < 0 or end > end_of_data:
                    break  # not complete yet
                qos = (header >> 1) & 0x03
                if qos == 3 or length < 2:
                    raise paho.MalformedPacket("invalid PUBLISH")
                topic_end = index + 2 + ((buf[index] << 8) | buf[index + 1])
                if topic_end > end:
                    raise paho.MalformedPacket("PUBLISH topic longer than the packet")
                raw_topic = view[index + 2 : topic_end].tobytes()
                topic = names.get(raw_topic)
                if topic is None:
                    topic = raw_topic.decode("utf-8", errors="replace")
                    if not topic:
                        raise paho.MalformedPacket("PUBLISH without a topic")
                    if len(names) >= TOPIC_NAMES_KEPT:
                        names.clear()
                    names[raw_topic] = topic
                start = topic_end
                mid = 0
                if qos:
                    mid = (buf[start] << 8) | buf[start + 1] if start + 1 < end else -1
                    start += 2
                if v5 and start < end:  # skip the properties; nothing here needs them
                    try:
                        skip, start = _read_varint(buf, start)
                    except IndexError:
                        raise paho.MalformedPacket("PUBLISH properties cut short") from None
                    start += skip
                if start > end or mid < 0:
                    raise paho.MalformedPacket("PUBLISH shorter than its headers")
                payload = view[start:end].tobytes() if end - start <= largest else end - start
                out.append((tag, mid, qos, topic, payload, bool(header & 0x08)))
                pos = end
        reader._pos = pos
        return out

    def ack_many(self, acks: list[tuple[int, int]]) -> None:
        """Acknowledge ``(mid, qos)`` pairs in order, written to the socket in one go."""
        if not acks:
            return
        packet = b"".join(
            struct.pack("!BBH", _PUBACK if qos == 1 else _PUBREC, 2, mid)
            for mid, qos in acks
            if qos in (1, 2)
        )
        if packet:
            self._packet_queue(_PUBACK, packet, 0, 0)

    def _handle_publish(self) -> paho.MQTTErrorCode:
        """A PUBLISH read by paho's own reader (a socket that is not a ``_FrameReader``)."""
        reader = _FrameReader(None)
        packet = bytes(self._in_packet["packet"])
        reader._buf = bytearray(bytes([self._in_packet["command"]]) + _varint(len(packet)) + packet)
        try:
            messages = self._decode_publishes(reader, 1)
        except paho.MalformedPacket:
            return paho.MQTTErrorCode.MQTT_ERR_PROTOCOL
        if not messages:
            return paho.MQTTErrorCode.MQTT_ERR_PROTOCOL
        deliver = self.on_delivery
        if deliver is not None:
            deliver(messages)
        return paho.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_pubrel(self) -> paho.MQTTErrorCode:
        packet = self._in_packet["packet"]
        if len(packet) < 2:
            return paho.MQTTErrorCode.MQTT_ERR_PROTOCOL
        (mid,) = struct.unpack_from("!H", packet)
        return self._send_pubcomp(mid)

    def ack(self, mid: int, qos: int) -> paho.MQTTErrorCode:
        if qos == 2:
            return self._send_pubrec(mid)
        return super().ack(mid, qos)


class _FrameReader:
    """A socket (plain or TLS) read in large chunks and cut into MQTT packets.

    ``pending()`` tells paho's loop when a complete packet is already buffered, so it does not
    wait in ``select`` for data that has arrived; everything else goes to the socket.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = bytearray()
        self._pos = 0
        self._discard = 0  # bytes still to arrive that belong to a message left out: dropped unread
        self.eof = False
        family = getattr(sock, "family", None)
        self._quick_ack = _TCP_QUICKACK is not None and family in (socket.AF_INET, socket.AF_INET6)

    def fill(self) -> None:
        """One ``recv`` into the buffer (``BlockingIOError`` when there is nothing to read)."""
        data = self._sock.recv(READ_CHUNK)
        if not data:
            self.eof = True
            return
        if self._discard:
            dropped = min(self._discard, len(data))
            self._discard -= dropped
            data = data[dropped:]
        if self._quick_ack:
            # At qos 0 we send the broker nothing back, so the kernel would hold our TCP ACKs for
            # up to 40 ms; a broker with Nagle on (mosquitto's default) then holds its next small
            # write until that ACK: tens of ms added to a steady stream. Linux turns quick ACKs off
            # again by itself, so they are asked for after every read.
            try:
                self._sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
            except OSError:
                self._quick_ack = False
        if self._pos:
            del self._buf[: self._pos]  # a large message's bytes are given back here
            self._pos = 0
        self._buf += data

    def discard(self, count: int) -> None:
        """Drop the next ``count`` bytes that arrive (the rest of a message left out)."""
        self._discard += count

    def release(self) -> None:
        """Give back what was read already (a large message's bytes) before it is handled."""
        if self._pos > READ_CHUNK:
            del self._buf[: self._pos]
            self._pos = 0

    def _frame_bounds(self) -> tuple[int, int] | None:
        """``(body start, body end)`` of the next packet if it is complete."""
        buf, pos = self._buf, self._pos
        available = len(buf)
        length = shift = 0
        index = pos + 1
        for _ in range(4):
            if index >= available:
                return None
            byte = buf[index]
            index += 1
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                end = index + length
                return (index, end) if end <= available else None
            shift += 7
        raise paho.MalformedPacket("remaining length longer than 4 bytes")

    def complete_frame(self) -> bool:
        return self._frame_bounds() is not None

    def next_frame(self) -> tuple[int, bytes] | None:
        """``(fixed header byte, packet body)`` of the next complete packet, or None."""
        bounds = self._frame_bounds()
        if bounds is None:
            return None
        start, end = bounds
        header = self._buf[self._pos]
        body = bytes(self._buf[start:end])
        self._pos = end
        return header, body

    def recv(self, size: int) -> bytes:  # paho's own reader, should it ever be used
        if self._pos < len(self._buf):
            out = bytes(self._buf[self._pos : self._pos + size])
            self._pos += len(out)
            return out
        return bytes(self._sock.recv(size))

    def pending(self) -> int:
        if self.complete_frame():
            return 1
        return int(self._sock.pending()) if hasattr(self._sock, "pending") else 0

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def __getattr__(self, name: str) -> Any:  # send, close, setblocking, ... go to the socket
        return getattr(self._sock, name)


def _oversized(buf: bytearray, header: int, index: int, end: int, end_of_data: int,
               names: dict[bytes, str], v5: bool) -> tuple[str, int, int] | None:
    """``(topic, packet id, where its payload begins)`` of the PUBLISH whose body starts at
    ``index`` in ``buf``, or None while its topic and packet id have not all arrived. The payload's
    start is past the MQTT 5 properties when they are here too (else the size counts them)."""
    if index + 2 > end_of_data:
        return None
    topic_end = index + 2 + ((buf[index] << 8) | buf[index + 1])
    head = topic_end + (2 if (header >> 1) & 0x03 else 0)
    if head > min(end, end_of_data):
        if head > end:
            raise paho.MalformedPacket("PUBLISH topic longer than the packet")
        return None
    raw_topic = bytes(buf[index + 2 : topic_end])
    topic = names.get(raw_topic) or raw_topic.decode("utf-8", errors="replace")
    mid = (buf[topic_end] << 8) | buf[topic_end + 1] if head > topic_end else 0
    if v5:
        try:
            props, after = _read_varint(buf, head)
        except IndexError:
            return topic, mid, head
        if after + props <= end_of_data:
            head = after + props
    return topic, mid, head


def _in_packet(header: int, body: bytes) -> Any:
    """paho's record of the packet being handled."""
    return {
        "command": header,
        "have_remaining": 1 if header else 0,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": len(body),
        "packet": bytearray(body),
        "to_process": 0,
        "pos": 0,
    }


def _varint(value: int) -> bytes:
    """``value`` as an MQTT variable byte integer."""
    out = bytearray()
    while True:
        value, byte = divmod(value, 128)
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes | bytearray, pos: int) -> tuple[int, int]:
    """An MQTT variable byte integer at ``pos``: ``(value, position after it)``."""
    value = shift = 0
    for _ in range(4):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise IndexError("variable byte integer longer than 4 bytes")


# --------------------------------------------------------------------------- TLS


def tls_context(
    ca_cert: str | None = None, client_cert: str | None = None, client_key: str | None = None
) -> ssl.SSLContext:
    """A client TLS context verifying the broker's certificate and host name.

    ``ca_cert`` (PEM text) replaces the system's trusted CAs, as ``mosquitto_sub --cafile`` does;
    without it the system's CAs are used. ``client_cert``/``client_key`` (PEM text; the key may
    also be inside ``client_cert``) authenticate the connector. A PEM text on one line with
    literal ``\\n`` escapes (the only way to put it in a ``NAME=VALUE`` secrets file) is accepted.
    The PEM texts are secrets: they are loaded from memory (``memfd``) and never written to disk
    where that is possible.
    """
    ca_cert, client_cert, client_key = (_unescape_pem(t) for t in (ca_cert, client_cert, client_key))
    if ca_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED
        try:
            context.load_verify_locations(cadata=ca_cert)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError(f"secret MQTT_CA_CERT: not a PEM certificate ({_reason(exc)})") from None
    else:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if client_key and not client_cert:
        raise ConfigError("secret MQTT_CLIENT_KEY is set without MQTT_CLIENT_CERT; expected both")
    if client_cert:
        def load(cert_path: str, key_path: str | None) -> None:
            context.load_cert_chain(cert_path, key_path)

        try:
            _with_private_files(load, client_cert, client_key)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError(
                "secrets MQTT_CLIENT_CERT/MQTT_CLIENT_KEY: not a PEM certificate and matching private key "
                f"({_reason(exc)})"
            ) from None
    return context


def _unescape_pem(text: str | None) -> str | None:
    if text and "\n" not in text and "\\n" in text:
        return text.replace("\\n", "\n")
    return text


def _reason(exc: BaseException) -> str:
    return getattr(exc, "reason", None) or str(exc) or type(exc).__name__


def _with_private_files(use: Callable[[str, str | None], None], cert: str, key: str | None) -> None:
    """Call ``use(cert_path, key_path)`` with paths to the PEM texts, removed right after."""
    opened: list[int] = []
    tmpdir: str | None = None
    try:
        paths: list[str | None] = []
        for text in (cert, key):
            if text is None:
                paths.append(None)
                continue
            if hasattr(os, "memfd_create"):
                fd = os.memfd_create("mqtt-tls", os.MFD_CLOEXEC)
                opened.append(fd)
                os.write(fd, text.encode("utf-8"))
                paths.append(f"/proc/self/fd/{fd}")
            else:  # no memfd (not Linux): a private file that lives for the duration of the load
                tmpdir = tmpdir or tempfile.mkdtemp(prefix="fluvio-mqtt-tls-")
                path = Path(tmpdir) / f"pem-{len(paths)}"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
                paths.append(str(path))
        cert_path = paths[0]
        assert cert_path is not None
        use(cert_path, paths[1])
    finally:
        for fd in opened:
            os.close(fd)
        if tmpdir is not None:
            for child in Path(tmpdir).iterdir():
                child.unlink()
            os.rmdir(tmpdir)


__all__ = ["Message", "StoreFirstClient", "tls_context"]
