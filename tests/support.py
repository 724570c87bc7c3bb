"""Test helpers for clients no HTTP library imitates: raw sockets to a local server and the
HTTP/1.1 answers read from them. (Starting servers is the ``harness`` package's job.)"""

from __future__ import annotations

import socket
import time


def open_socket(port: int) -> socket.socket:
    """A raw TCP connection to a local server, for clients no HTTP library imitates."""
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def read_until_closed(sock: socket.socket, timeout: float = 30.0) -> bytes:
    """Everything the server sends on ``sock`` until it closes it (raises if it has not
    closed it within ``timeout`` seconds)."""
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data
    raise AssertionError(f"the server kept the connection open; it sent {received[:300]!r}")


def http_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of a raw HTTP/1.1 answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    pairs = [line.split(": ", 1) for line in lines[1:] if ": " in line]
    headers = {name.lower(): value for name, value in pairs}
    return int(lines[0].split()[1]), headers, body


def read_answer(sock: socket.socket, timeout: float = 30.0) -> bytes:
    """One whole HTTP answer with a ``Content-Length`` from ``sock`` (the connection may stay
    open)."""
    received = b""
    sock.settimeout(timeout)
    while b"\r\n\r\n" not in received or len(received) < _answer_length(received):
        data = sock.recv(65536)
        if not data:
            break
        received += data
    return received


def _answer_length(received: bytes) -> int:
    head, _, _ = received.partition(b"\r\n\r\n")
    _, headers, _ = http_answer(received)
    return len(head) + 4 + int(headers.get("content-length", "0"))
