"""A local stand-in for Slack's Socket Mode endpoint: a minimal WebSocket server on loopback.

The Web API stand-in hands its ws:// URL out from apps.connections.open; the bot connects,
this server pushes envelopes (events, slash commands) and records what the bot sends back
(the acks). Only what the slack_sdk client uses is implemented: the handshake, unfragmented
text frames, ping/pong and close.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class SocketModeStandIn:
    def __init__(self) -> None:
        self.received: list[dict] = []
        self._lock = threading.Lock()
        self._conn: socket.socket | None = None
        self._connected = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.getsockname()[1]}/link"

    def start(self) -> SocketModeStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.close()
        if self._conn is not None:
            self._conn.close()

    def wait_connected(self, timeout: float = 60) -> None:
        assert self._connected.wait(timeout), "the bot never opened the Socket Mode connection"

    def send(self, envelope: dict) -> None:
        payload = json.dumps(envelope).encode()
        if len(payload) < 126:
            head = struct.pack("!BB", 0x81, len(payload))
        elif len(payload) < 65536:
            head = struct.pack("!BBH", 0x81, 126, len(payload))
        else:
            head = struct.pack("!BBQ", 0x81, 127, len(payload))
        with self._lock:
            self._conn.sendall(head + payload)

    def wait_for_ack(self, envelope_id: str, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for message in self.received:
                    if message.get("envelope_id") == envelope_id:
                        return message
            time.sleep(0.02)
        raise AssertionError(f"no ack for envelope {envelope_id}; got {self.received}")

    # the server ------------------------------------------------------------------------------
    def _accept(self) -> None:
        try:
            conn, _ = self._server.accept()
        except OSError:
            return
        self._conn = conn
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(1024)
        key = next(line.split(":", 1)[1].strip() for line in request.decode().split("\r\n")
                   if line.lower().startswith("sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        self.send({"type": "hello", "num_connections": 1,
                   "connection_info": {"app_id": "A0APP"}})
        self._connected.set()
        self._read(conn)

    def _read(self, conn: socket.socket) -> None:
        buffer = b""

        def take(n: int) -> bytes:
            nonlocal buffer
            while len(buffer) < n:
                chunk = conn.recv(4096)
                if not chunk:
                    raise ConnectionError
                buffer += chunk
            data, buffer = buffer[:n], buffer[n:]
            return data

        try:
            while True:
                first, second = take(2)
                opcode, length = first & 0x0F, second & 0x7F
                if length == 126:
                    length = struct.unpack("!H", take(2))[0]
                elif length == 127:
                    length = struct.unpack("!Q", take(8))[0]
                mask = take(4) if second & 0x80 else b"\0\0\0\0"
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(take(length)))
                if opcode == 0x1:
                    with self._lock:
                        self.received.append(json.loads(payload))
                elif opcode == 0x9:  # ping -> pong
                    with self._lock:
                        conn.sendall(struct.pack("!BB", 0x8A, len(payload)) + payload)
                elif opcode == 0x8:
                    return
        except (ConnectionError, OSError):
            return
