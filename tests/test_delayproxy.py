"""bench/delayproxy.py: the benchmarks' latency-only proxy, in front of moto and of tiny local servers."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import http.server
import importlib.util
import os
import queue
import random
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import termios
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar
from urllib.parse import urlsplit

import boto3
import botocore.config
import pytest

from conftest import S3Server

PROXY = Path(__file__).resolve().parent.parent / "bench" / "delayproxy.py"
RTT = 0.1
# Scheduling on a busy 2-core machine, and moto's own time per request, on top of the RTT.
SLACK = 0.4
MiB = 2**20


@dataclass
class Proxy:
    proc: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_proxy(upstream: str, rtt: float, *extra: str) -> Proxy:
    """bench/delayproxy.py in front of ``upstream`` (HOST:PORT), as the benchmarks run it."""
    proc = subprocess.Popen(
        [sys.executable, str(PROXY), "--upstream", upstream, "--rtt", str(rtt), *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return Proxy(proc, int(proc.stdout.readline()))


def hostport(server: S3Server) -> str:
    parts = urlsplit(server.url)
    return f"{parts.hostname}:{parts.port}"


def stop_proxy(proxy: Proxy) -> None:
    with proxy.proc:  # closes the pipes, reaps the process
        if proxy.proc.poll() is None:
            proxy.proc.kill()


@pytest.fixture(scope="module")
def proxy(moto_server: S3Server) -> Iterator[Proxy]:
    p = start_proxy(hostport(moto_server), RTT)
    yield p
    stop_proxy(p)


@pytest.fixture
def proxies() -> Iterator[Callable[..., Proxy]]:
    """Start proxies (``start_proxy``'s arguments) that are stopped after the test."""
    started: list[Proxy] = []

    def start(upstream: str, rtt: float = RTT, *extra: str) -> Proxy:
        started.append(start_proxy(upstream, rtt, *extra))
        return started[-1]

    yield start
    for p in started:
        stop_proxy(p)


class Upstream:
    """A loopback TCP server running ``handle(conn)`` in a thread per connection; see ``result()``."""

    def __init__(self, handle: Callable[[socket.socket], Any]) -> None:
        self.handle = handle
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.results: queue.Queue[Any] = queue.Queue()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.results.put(self.handle(conn))
            except Exception as exc:
                self.results.put(exc)

    def result(self, timeout: float = 30) -> Any:
        """What ``handle`` returned for the next connection to finish (what it raised, re-raised)."""
        got = self.results.get(timeout=timeout)
        if isinstance(got, Exception):
            raise got
        return got


@pytest.fixture
def upstream() -> Iterator[Callable[[Callable[[socket.socket], Any]], Upstream]]:
    servers: list[Upstream] = []

    def start(handle: Callable[[socket.socket], Any]) -> Upstream:
        servers.append(Upstream(handle))
        return servers[-1]

    yield start
    for server in servers:
        with contextlib.suppress(OSError):
            server.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() thread
        server.sock.close()


def connect(p: Proxy, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", p.port))
    return sock


def recv_all(sock: socket.socket) -> bytes:
    chunks = []
    while data := sock.recv(MiB):
        chunks.append(data)
    return b"".join(chunks)


def echo(conn: socket.socket) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


def unacknowledged(sock: socket.socket) -> int:
    """Bytes in ``sock``'s send queue that its peer has not acknowledged yet (SIOCOUTQ)."""
    return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0])


def reset_on_close(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def client_via(server: S3Server, proxy: Proxy, pool: int = 10) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=proxy.url,
        region_name=server.region,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": 1},
            max_pool_connections=pool,
        ),
    )


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - t0, result


def test_requests_pass_through_byte_exact(moto_server: S3Server, proxy: Proxy) -> None:
    client = client_via(moto_server, proxy)
    bucket = f"delay-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    data = os.urandom(3 * MiB)
    client.put_object(Bucket=bucket, Key="blob", Body=data)
    got = client.get_object(Bucket=bucket, Key="blob")["Body"].read()
    assert len(got) == len(data)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    listed = client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("blob", len(data))]
    assert bucket in {b["Name"] for b in client.list_buckets()["Buckets"]}


def test_large_transfer_byte_exact(moto_server: S3Server, proxy: Proxy) -> None:
    client = client_via(moto_server, proxy, pool=1)
    bucket = f"delay-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    data = os.urandom(20 * MiB)  # several times INFLIGHT_LIMIT, so reading pauses and resumes both ways
    client.put_object(Bucket=bucket, Key="big", Body=data)
    got = client.get_object(Bucket=bucket, Key="big")["Body"].read()
    assert len(got) == len(data)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def test_one_small_request_takes_one_rtt(moto_server: S3Server, proxy: Proxy) -> None:
    client = client_via(moto_server, proxy, pool=1)
    client.list_buckets()  # connection set-up and botocore's first-call work out of the way
    took, _ = timed(client.list_buckets)
    assert RTT <= took < RTT + SLACK


class _KeepAliveHandler(http.server.BaseHTTPRequestHandler):
    """A tiny HTTP/1.1 server that keeps connections alive (moto's werkzeug closes each after one answer)."""

    protocol_version = "HTTP/1.1"
    connections: ClassVar[list[int]] = []

    def setup(self) -> None:
        super().setup()
        self.connections.append(self.client_address[1])

    def do_GET(self) -> None:
        body = b"pong " + self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def keepalive_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    _KeepAliveHandler.connections.clear()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_every_exchange_on_a_kept_alive_connection_takes_an_rtt(keepalive_server: str) -> None:
    p = start_proxy(keepalive_server, RTT)
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    try:
        times = []
        for i in range(4):
            t0 = time.perf_counter()
            conn.request("GET", f"/{i}")
            response = conn.getresponse()
            assert response.read() == f"pong /{i}".encode()
            times.append(time.perf_counter() - t0)
            assert not response.will_close
        assert len(_KeepAliveHandler.connections) == 1, "the connection was not kept alive"
        assert all(RTT <= t < RTT + SLACK for t in times), times
    finally:
        conn.close()
        stop_proxy(p)


def test_sequential_boto3_requests_each_take_an_rtt(moto_server: S3Server, proxy: Proxy) -> None:
    client = client_via(moto_server, proxy, pool=1)
    bucket = f"delay-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    times = [timed(client.head_bucket, Bucket=bucket)[0] for _ in range(3)]
    assert all(RTT <= t < RTT + SLACK for t in times), times


def test_each_chunk_is_delayed_half_the_rtt_each_way(upstream: Any, proxies: Any) -> None:
    rtt = 0.2
    arrived: dict[bytes, float] = {}

    def echo_bytewise(conn: socket.socket) -> None:
        while data := conn.recv(1):
            arrived[data] = time.monotonic()
            conn.sendall(data)

    p = proxies(upstream(echo_bytewise).addr, rtt)
    sent: dict[bytes, float] = {}
    back: dict[bytes, float] = {}
    with connect(p) as sock:
        for byte in (b"1", b"2"):  # two chunks, 0.3 rtt apart: each is delayed from when it was read
            sent[byte] = time.monotonic()
            sock.sendall(byte)
            time.sleep(0.3 * rtt)
        for _ in sent:
            byte = sock.recv(1)
            back[byte] = time.monotonic()
    for byte in sent:
        assert sent[byte] + rtt / 2 <= arrived[byte] < sent[byte] + rtt / 2 + SLACK
        assert arrived[byte] + rtt / 2 <= back[byte] < arrived[byte] + rtt / 2 + SLACK


def test_interleaved_connections_keep_their_own_byte_order(upstream: Any, proxies: Any) -> None:
    p = proxies(upstream(echo).addr, 0.02)
    rng = random.Random(7)
    sent: dict[str, list[bytes]] = {"A": [], "B": []}
    got: dict[str, bytes] = {}
    socks = {name: connect(p) for name in sent}

    def read(name: str) -> None:
        got[name] = recv_all(socks[name])

    readers = [threading.Thread(target=read, args=(name,)) for name in sent]
    for reader in readers:
        reader.start()
    try:
        for i in range(300):
            for name, sock in socks.items():
                chunk = f"{name}{i:05d}:".encode() + rng.randbytes(rng.randrange(1, 30000))
                sock.sendall(chunk)
                sent[name].append(chunk)
            if i % 30 == 0:
                time.sleep(0.005)  # let some chunks be read, and delivered, on their own
        for sock in socks.values():
            sock.shutdown(socket.SHUT_WR)
        for reader in readers:
            reader.join(30)
    finally:
        for sock in socks.values():
            sock.close()
    for name, chunks in sent.items():
        assert got[name] == b"".join(chunks), name


def test_half_close_follows_the_data_both_ways(upstream: Any, proxies: Any) -> None:
    def banner_then_read(conn: socket.socket) -> tuple[bytes, float]:
        conn.sendall(b"banner")
        conn.shutdown(socket.SHUT_WR)
        return recv_all(conn), time.monotonic()

    server = upstream(banner_then_read)
    p = proxies(server.addr)
    with connect(p) as sock:
        assert recv_all(sock) == b"banner"  # then EOF, with the other direction still open:
        sock.sendall(b"request")
        shut = time.monotonic()
        sock.shutdown(socket.SHUT_WR)
        request, eof_at = server.result()
        assert request == b"request"
        assert shut + RTT / 2 <= eof_at
        assert sock.recv(1) == b""  # both directions done: closed


def test_close_follows_the_data(upstream: Any, proxies: Any) -> None:
    payload = os.urandom(2 * MiB)
    p = proxies(upstream(lambda conn: conn.sendall(payload)).addr)  # then closes
    with connect(p) as sock:
        took, got = timed(recv_all, sock)
    assert got == payload
    assert took >= RTT / 2


@pytest.mark.parametrize("how", ["close", "reset"])
def test_upstream_close_reaches_a_slow_client_after_the_data(upstream: Any, proxies: Any, how: str) -> None:
    # More than the kernel buffers to the client hold (~4 MiB), less than the proxy takes in before the server
    # sees it all acknowledged and resets the connection.
    payload = os.urandom(6 * MiB)

    def send_then_close(conn: socket.socket) -> None:
        conn.sendall(payload)
        deadline = time.monotonic() + 10
        while unacknowledged(conn) and time.monotonic() < deadline:
            time.sleep(0.001)
        if how == "reset":
            reset_on_close(conn)  # the proxy's reads fail with ECONNRESET

    p = proxies(upstream(send_then_close).addr)
    for _ in range(2):  # and the proxy serves on
        with connect(p, rcvbuf=2**16) as sock:
            # EOF or close comes due while part of the payload still waits for this client.
            time.sleep(2 * RTT)
            assert recv_all(sock) == payload


@pytest.mark.parametrize("how", ["close", "reset"])
def test_client_gone_closes_the_upstream(upstream: Any, proxies: Any, how: str) -> None:
    def stream_until_closed(conn: socket.socket) -> bool:
        conn.recv(100)
        conn.settimeout(15)
        try:
            while True:
                conn.sendall(b"x" * 65536)
        except TimeoutError:
            return False
        except OSError:  # EPIPE, ECONNRESET: the proxy closed this connection
            return True

    server = upstream(stream_until_closed)
    p = proxies(server.addr)
    sock = connect(p)
    sock.sendall(b"request")
    if how == "reset":
        reset_on_close(sock)  # the proxy's reads fail with ECONNRESET
    sock.close()  # "close": the proxy's writes fail with EPIPE or ECONNRESET
    assert server.result() is True
    with connect(p) as sock:  # and the proxy serves on
        sock.sendall(b"again")
        assert sock.recv(1) == b"x"


PATTERN = random.Random(1).randbytes(1_000_003)  # a period no read or write size is likely to divide


def flood(conn: socket.socket, stall: float, limit: int = 256 * MiB) -> tuple[int, float]:
    """Send PATTERN over and over until the peer takes nothing for ``stall`` s; bytes sent, seconds taken."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2**16)
    conn.settimeout(stall)
    period = len(PATTERN)
    twice = memoryview(PATTERN * 2)
    sent, t0 = 0, time.monotonic()
    with contextlib.suppress(TimeoutError):
        while sent < limit:
            sent += conn.send(twice[sent % period : sent % period + period])
    return sent, time.monotonic() - t0 - stall


def test_reading_pauses_while_the_client_does_not_read(upstream: Any, proxies: Any) -> None:
    server = upstream(lambda conn: flood(conn, stall=1.5))
    p = proxies(server.addr)
    with connect(p, rcvbuf=2**16) as sock:
        sent, _ = server.result()
        # Bounded by the sockets' buffers and the proxy's limits, not by what the server has to send.
        assert sent < 64 * MiB
        got = recv_all(sock)
    assert len(got) == sent
    assert got == (PATTERN * (sent // len(PATTERN) + 1))[:sent]


def test_reading_pauses_at_the_in_flight_limit(upstream: Any, proxies: Any) -> None:
    rtt = 10.0  # nothing comes due while the server sends
    server = upstream(lambda conn: flood(conn, stall=1.0))
    p = proxies(server.addr, rtt)
    with connect(p):
        sent, took = server.result()
    assert took < rtt / 2
    assert 4 * MiB <= sent < 64 * MiB


def test_failed_upstream_connect_closes_the_client(proxies: Any) -> None:
    with socket.socket() as nobody:  # bound, not listening: connections to it are refused
        nobody.bind(("127.0.0.1", 0))
        p = proxies(f"127.0.0.1:{nobody.getsockname()[1]}")
        for _ in range(2):
            with connect(p) as sock:
                assert sock.recv(1) == b""
    assert p.proc.poll() is None


def test_slow_upstream_connect_holds_up_no_other_connection(proxies: Any) -> None:
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.create_server(("127.0.0.1", 0), backlog=1))
        p = proxies(f"127.0.0.1:{listener.getsockname()[1]}")
        first = stack.enter_context(connect(p))
        listener.settimeout(10)
        first_up = stack.enter_context(listener.accept()[0])
        # Fill the accept queue: the kernel now drops SYNs, so connecting to the server hangs.
        while True:
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            if not select.select([], [filler], [], 0.3)[1]:
                break
        second = stack.enter_context(connect(p))
        second.sendall(b"two")  # read once the proxy's connection to the server is there
        time.sleep(0.2)
        t0 = time.perf_counter()
        first.sendall(b"one")
        assert first_up.recv(10) == b"one"
        first_up.sendall(b"ONE")
        assert first.recv(10) == b"ONE"
        assert RTT <= time.perf_counter() - t0 < RTT + SLACK
        # Accept everything queued until the proxy's second connection turns up (the kernel retries SYNs).
        listener.settimeout(0.2)
        accepted: list[socket.socket] = []
        deadline = time.monotonic() + 15
        while not (readable := select.select(accepted, [], [], 0)[0]) and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                accepted.append(stack.enter_context(listener.accept()[0]))
        assert len(readable) == 1
        assert readable[0].recv(10) == b"two"
        readable[0].sendall(b"TWO")
        assert second.recv(10) == b"TWO"


def _in_process_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("delayproxy", PROXY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_both_sockets_of_a_connection_have_nodelay(upstream: Any) -> None:
    host, _, port = upstream(echo).addr.rpartition(":")
    proxy = _in_process_module().Proxy(host, int(port), 0.0)
    thread = threading.Thread(target=proxy.run, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            sock.sendall(b"x")
            assert sock.recv(1) == b"x"
            ends = list(proxy.ends)
            assert len(ends) == 2
            assert all(end.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for end in ends)
    finally:
        proxy.stop()
        thread.join(10)
    assert not thread.is_alive()


def test_quick_acks_keep_a_nagle_server_from_stalling(upstream: Any, proxies: Any) -> None:
    """A server that writes head and body separately with Nagle on (Ceph RGW) waits for the proxy's ACK."""

    def head_then_body(conn: socket.socket) -> None:
        buf = b""
        while data := conn.recv(65536):
            buf += data
            while b"\r\n\r\n" in buf:
                _, buf = buf.split(b"\r\n\r\n", 1)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
                conn.sendall(b"hello")

    p = proxies(upstream(head_then_body).addr, 0.0)
    times = []
    with connect(p) as sock:
        for _ in range(12):
            t0 = time.perf_counter()
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while not got.endswith(b"hello"):
                got += sock.recv(65536)
            times.append(time.perf_counter() - t0)
    assert statistics.median(times) < 0.02, times  # ~0.04 s each without quick ACKs (delayed ACK)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_exits_cleanly_on_signal(moto_server: S3Server, sig: signal.Signals) -> None:
    p = start_proxy(hostport(moto_server), RTT)
    try:
        # With a connection open and a request half-sent, some of it still in flight.
        with socket.create_connection(("127.0.0.1", p.port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            time.sleep(RTT / 4)
            p.proc.send_signal(sig)
            _, stderr = p.proc.communicate(timeout=10)
            assert p.proc.returncode == 0
            assert stderr == ""
            assert sock.recv(100) == b""  # the proxy closed the connection on its way out
    finally:
        stop_proxy(p)


def test_exits_cleanly_when_stdin_closes(moto_server: S3Server) -> None:
    p = start_proxy(hostport(moto_server), RTT)
    try:
        assert p.proc.stdin is not None
        p.proc.stdin.close()
        p.proc.wait(10)
        assert p.proc.returncode == 0
    finally:
        stop_proxy(p)


def test_listens_on_the_port_asked_for(upstream: Any, proxies: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    p = proxies(upstream(echo).addr, RTT, "--port", str(port))
    assert p.port == port
    with connect(p) as sock:
        sock.sendall(b"x")
        assert sock.recv(1) == b"x"


@pytest.mark.parametrize(
    ("upstream_arg", "rtt", "message"),
    [("127.0.0.1:9", "-1", "--rtt must be >= 0"), ("192.0.2.1:80", "0.1", "not a loopback address")],
)
def test_rejects_bad_arguments(upstream_arg: str, rtt: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, str(PROXY), "--upstream", upstream_arg, "--rtt", rtt],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert message in result.stderr
