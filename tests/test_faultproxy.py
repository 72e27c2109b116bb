"""The fault proxy itself: a test must pass or fail for the code under test's reasons, never the proxy's."""

from __future__ import annotations

import socket
import threading
import time

from faultproxy import FaultProxy, Faults

BODY = 8 * 1024 * 1024  # far more than the kernel's socket buffers hold


def _closing_server() -> tuple[socket.socket, threading.Thread]:
    """A one-shot HTTP server on loopback: answers one request with BODY bytes and ``Connection: close``."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {BODY}\r\nConnection: close\r\n\r\n".encode()
            conn.sendall(head + b"x" * BODY)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_a_forwarded_connection_close_answer_arrives_whole() -> None:
    listener, thread = _closing_server()
    proxy = FaultProxy("127.0.0.1", listener.getsockname()[1], Faults()).start()
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as client:
            client.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            # A slow reader: the proxy has closed its side long before the last byte is read. An abortive
            # close (SO_LINGER 0) would discard whatever its kernel had not sent yet.
            time.sleep(0.5)
            received = b""
            while chunk := client.recv(1 << 20):
                received += chunk
    finally:
        proxy.stop()
        listener.close()
        thread.join(10)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert len(body) == BODY
