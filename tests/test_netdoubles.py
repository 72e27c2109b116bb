"""The network test doubles themselves (forward proxy, TLS front), against a tiny echo server on loopback."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import urllib3
from forwardproxy import ForwardProxy
from tlsfront import TlsFront

BIG = random.Random(7).randbytes(3 * 1024 * 1024 + 17)
CHUNKS = (b"alpha-", b"beta-", b"gamma")


@dataclass(frozen=True)
class Seen:
    """One request as the backend received it."""

    method: str
    path: str
    host: str
    body_len: int
    client_port: int
    header_names: frozenset[str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class Backend:
    """An HTTP/1.1 keep-alive server on loopback that echoes what it was sent."""

    def __init__(self, ipv6: bool = False) -> None:
        self.seen: list[Seen] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    out = b""
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        out += self.rfile.read(size)
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return out
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _handle(self) -> None:
                body = self._body()
                backend.seen.append(
                    Seen(
                        self.command,
                        self.path,
                        self.headers.get("Host", ""),
                        len(body),
                        self.client_address[1],
                        frozenset(name.lower() for name in self.headers),
                    )
                )
                head_only = self.command == "HEAD"
                if self.path == "/chunked":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    if not head_only:
                        for chunk in CHUNKS:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.write(b"0\r\n\r\n")
                    return
                if self.path == "/no-content":
                    self.send_response(204)
                    self.end_headers()
                    return
                payload = (
                    BIG
                    if self.path in ("/big", "/big-close")
                    else f"{self.command} {self.path} host={self.headers.get('Host')} body={len(body)}".encode()
                )
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                if self.path == "/big-close":
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if not head_only:
                    self.wfile.write(payload)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _handle

        self.server = (_Server6 if ipv6 else _Server)(("::1" if ipv6 else "127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def addr(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def __enter__(self) -> Backend:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)


@pytest.fixture
def backend() -> Iterator[Backend]:
    with Backend() as server:
        yield server


def _wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def _raw_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """One response with a Content-Length body, read off a raw socket (head, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-head after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    assert len(body) == length, "more bytes than the Content-Length"
    return head, body


def test_plain_requests_share_one_kept_alive_connection_and_arrive_in_origin_form(backend: Backend) -> None:
    hosts = {"s3.mputui.test": backend.addr, "*.s3.mputui.test": backend.addr}
    with ForwardProxy(hosts) as proxy:
        http = urllib3.ProxyManager(proxy.url, retries=False)
        base = "http://s3.mputui.test:9000"
        vhost = "http://bucket.s3.mputui.test:9000"
        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", base + "/bucket/a%2Fb?list-type=2&prefix=x%20y", {}),
            ("POST", vhost + "/key?uploads", {"body": b"p" * 1000}),
            ("PUT", vhost + "/key?partNumber=1", {"body": iter([b"ab", b"cde"]), "chunked": True}),
            ("HEAD", base + "/big", {}),
            ("GET", base + "/chunked", {}),
            ("DELETE", base + "/no-content", {}),
            ("GET", base + "/big", {}),
            ("GET", base + "?location", {}),
        ]
        answers = [http.request(method, url, **kw) for method, url, kw in calls]

        assert (
            answers[0].data == b"GET /bucket/a%2Fb?list-type=2&prefix=x%20y host=s3.mputui.test:9000 body=0"
        )
        assert answers[1].data == b"POST /key?uploads host=bucket.s3.mputui.test:9000 body=1000"
        assert answers[2].data == b"PUT /key?partNumber=1 host=bucket.s3.mputui.test:9000 body=5"
        assert answers[3].status == 200 and answers[3].data == b""
        assert answers[3].headers["Content-Length"] == str(len(BIG))
        assert answers[4].headers["Transfer-Encoding"] == "chunked"
        assert answers[4].data == b"".join(CHUNKS)
        assert answers[5].status == 204 and answers[5].data == b""
        assert answers[6].data == BIG
        assert answers[7].data == b"GET /?location host=s3.mputui.test:9000 body=0"

        assert proxy.requests == [(method, url) for method, url, _ in calls]
        assert proxy.client_connections == 1
        assert proxy.connects == [] and proxy.refused == 0
    assert len({seen.client_port for seen in backend.seen}) == 1, "the backend connection was not reused"
    assert [seen.method for seen in backend.seen] == [method for method, _, _ in calls]
    assert not any(name.startswith("proxy-") for seen in backend.seen for name in seen.header_names)


def test_an_unmapped_host_gets_502_and_is_never_connected(backend: Backend) -> None:
    with ForwardProxy({"*.s3.mputui.test": backend.addr}) as proxy:
        http = urllib3.ProxyManager(proxy.url, retries=False)
        for url in (
            "http://elsewhere.test/x",
            f"http://127.0.0.1:{backend.addr[1]}/x",  # an address is a name like any other: not in the map
            "http://s3.mputui.test/x",  # the wildcard is for subdomains only
            "http://evils3.mputui.test/x",
        ):
            answer = http.request("GET", url)
            assert answer.status == 502, url
        assert http.request("GET", "http://a.b.s3.mputui.test/x").status == 200
        assert proxy.refused == 4
        assert proxy.requests == [("GET", "http://a.b.s3.mputui.test/x")]
        assert proxy.client_connections == 1, "a 502 should leave the client connection usable"
    assert [seen.host for seen in backend.seen] == ["a.b.s3.mputui.test"]


def test_a_mapped_backend_that_is_down_gets_502(backend: Backend) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        dead_port = placeholder.getsockname()[1]
    hosts = {"down.mputui.test": ("127.0.0.1", dead_port), "s3.mputui.test": backend.addr}
    with ForwardProxy(hosts) as proxy:
        http = urllib3.ProxyManager(proxy.url, retries=False)
        assert http.request("GET", "http://down.mputui.test/x").status == 502
        with pytest.raises(urllib3.exceptions.ProxyError, match="502"):
            http.request("GET", "https://down.mputui.test/x")
        assert http.request("GET", "http://s3.mputui.test/x").status == 200
        assert proxy.refused == 2 and proxy.connects == []
        assert proxy.requests == [("GET", "http://s3.mputui.test/x")]


def test_route_lookup() -> None:
    proxy = ForwardProxy(
        {
            "s3.mputui.test": ("127.0.0.1", 1),
            "s3.mputui.test:9000": ("127.0.0.1", 2),
            "*.mputui.test": ("127.0.0.1", 3),
            "*.s3.mputui.test": ("::1", 4),
            "[::1]:443": ("localhost", 5),
            "127.0.0.1": ("127.0.0.1", 6),
        }
    )
    assert proxy.route("s3.mputui.test", None) == ("127.0.0.1", 1)
    assert proxy.route("S3.MPUTUI.TEST.", 80) == ("127.0.0.1", 1)
    assert proxy.route("s3.mputui.test", 9000) == ("127.0.0.1", 2)
    assert proxy.route("b.s3.mputui.test", 9000) == ("::1", 4), "the longest wildcard wins"
    assert proxy.route("other.mputui.test", None) == ("127.0.0.1", 3)
    assert proxy.route("mputui.test", None) is None
    assert proxy.route("s3.mputui.test.example", None) is None
    assert proxy.route("::1", 443) == proxy.route("[::1]", 443) == ("localhost", 5)
    assert proxy.route("::1", 80) is None
    assert proxy.route("127.0.0.1", 8080) == ("127.0.0.1", 6)


def test_proxy_rejects_a_target_outside_loopback() -> None:
    with pytest.raises(ValueError, match="only connects to loopback"):
        ForwardProxy({"s3.mputui.test": ("192.0.2.1", 80)})


def test_connect_tunnels_https_to_the_tls_front(backend: Backend) -> None:
    with TlsFront(backend.addr) as front:
        target = ("127.0.0.1", front.port)
        with ForwardProxy({"s3.mputui.test": target, "*.s3.mputui.test": target}) as proxy:
            https = urllib3.ProxyManager(proxy.url, ca_certs=front.ca_pem_path, retries=False)
            first = https.request("GET", front.url_for("s3.mputui.test") + "/bucket?uploads")
            second = https.request("PUT", front.url_for("bucket.s3.mputui.test") + "/k", body=b"y" * 5000)
            big = https.request("GET", front.url_for("s3.mputui.test") + "/big")

            assert first.data == f"GET /bucket?uploads host=s3.mputui.test:{front.port} body=0".encode()
            assert second.data == f"PUT /k host=bucket.s3.mputui.test:{front.port} body=5000".encode()
            assert big.data == BIG
            assert proxy.connects == [f"s3.mputui.test:{front.port}", f"bucket.s3.mputui.test:{front.port}"]
            assert proxy.requests == [], "nothing should have gone through in the clear"
            assert front.connections == 2 and front.handshake_failures == 0
    assert len(backend.seen) == 3


def test_proxy_authentication(backend: Backend) -> None:
    with TlsFront(backend.addr) as front:
        hosts = {"plain.mputui.test": backend.addr, "s3.mputui.test": ("127.0.0.1", front.port)}
        with ForwardProxy(hosts, auth=("u", "p")) as proxy:
            anonymous = urllib3.ProxyManager(proxy.url, retries=False)
            denied = anonymous.request("GET", "http://plain.mputui.test/x")
            assert denied.status == 407
            assert denied.headers["Proxy-Authenticate"] == 'Basic realm="test"'
            wrong = urllib3.ProxyManager(
                proxy.url, proxy_headers=urllib3.make_headers(proxy_basic_auth="u:wrong"), retries=False
            )
            assert wrong.request("GET", "http://plain.mputui.test/x").status == 407
            with pytest.raises(urllib3.exceptions.ProxyError, match="407"):
                urllib3.ProxyManager(proxy.url, ca_certs=front.ca_pem_path, retries=False).request(
                    "GET", front.url_for("s3.mputui.test") + "/x"
                )
            assert proxy.refused == 3 and proxy.requests == [] and proxy.connects == []
            assert backend.seen == []

            good = urllib3.ProxyManager(
                proxy.url,
                proxy_headers=urllib3.make_headers(proxy_basic_auth="u:p"),
                ca_certs=front.ca_pem_path,
                retries=False,
            )
            assert (
                good.request("GET", "http://plain.mputui.test/x").data
                == b"GET /x host=plain.mputui.test body=0"
            )
            assert good.request("GET", front.url_for("s3.mputui.test") + "/y").status == 200
            assert proxy.requests == [("GET", "http://plain.mputui.test/x")]
            assert proxy.connects == [f"s3.mputui.test:{front.port}"]
    assert "proxy-authorization" not in backend.seen[0].header_names


def test_a_refusing_proxy_answers_403_to_everything(backend: Backend) -> None:
    with ForwardProxy({"s3.mputui.test": backend.addr}, auth=("u", "p"), refuse=True) as proxy:
        http = urllib3.ProxyManager(
            proxy.url, proxy_headers=urllib3.make_headers(proxy_basic_auth="u:p"), retries=False
        )
        assert http.request("GET", "http://s3.mputui.test/x").status == 403
        assert http.request("PUT", "http://s3.mputui.test/x", body=b"z" * 100).status == 403
        with pytest.raises(urllib3.exceptions.ProxyError, match="403"):
            http.request("GET", "https://s3.mputui.test/x")
        assert proxy.refused == 3 and proxy.requests == [] and proxy.connects == []
    assert backend.seen == []


def test_100_continue_and_a_connection_close_answer_over_a_raw_socket(backend: Backend) -> None:
    with ForwardProxy({"s3.mputui.test": backend.addr}) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as sock:
            sock.sendall(
                b"PUT http://s3.mputui.test/k HTTP/1.1\r\nHost: s3.mputui.test\r\n"
                b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n"
            )
            interim = b""
            while not interim.endswith(b"\r\n\r\n"):
                chunk = sock.recv(1)
                assert chunk, "closed before the interim answer"
                interim += chunk
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(b"12345")
            head, body = _raw_response(sock)
            assert head.startswith(b"HTTP/1.1 200")
            assert body == b"PUT /k host=s3.mputui.test body=5"

            # The same connection, then an answer the backend ends with Connection: close.
            sock.sendall(b"GET http://s3.mputui.test/big-close HTTP/1.1\r\nHost: s3.mputui.test\r\n\r\n")
            head, body = _raw_response(sock)
            assert b"connection: close" in head.lower()
            assert body == BIG
            assert sock.recv(1) == b"", "the proxy should close after a Connection: close answer"
        assert proxy.client_connections == 1


def test_tls_front_direct(backend: Backend) -> None:
    with TlsFront(backend.addr) as front:
        ca_file = Path(front.ca_pem_path)
        assert ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
        trusted = urllib3.PoolManager(ca_certs=front.ca_pem_path, retries=False)
        by_name = trusted.request("GET", f"https://localhost:{front.port}/x")
        assert by_name.data == f"GET /x host=localhost:{front.port} body=0".encode()
        assert trusted.request("GET", front.url + "/big").data == BIG
        assert front.connections == 2

        with pytest.raises(urllib3.exceptions.SSLError, match="certificate verify failed"):
            urllib3.PoolManager(retries=False).request("GET", f"https://localhost:{front.port}/x")
        _wait_for(lambda: front.handshake_failures == 1)
        assert front.connections == 2
    assert len(backend.seen) == 2
    assert not ca_file.exists(), "stop() should remove the CA file"


def test_tls_front_rejects_a_backend_outside_loopback() -> None:
    with pytest.raises(ValueError, match="only connects to loopback"):
        TlsFront(("192.0.2.1", 80))


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (cannot bind ::1)")
def test_both_doubles_on_ipv6_loopback() -> None:
    with Backend(ipv6=True) as backend, TlsFront(backend.addr, ipv6=True) as front:
        hosts = {"plain.mputui.test": backend.addr, "s3.mputui.test": ("::1", front.port)}
        with ForwardProxy(hosts, ipv6=True) as proxy:
            assert proxy.url == f"http://[::1]:{proxy.port}"
            assert front.url == f"https://[::1]:{front.port}"
            http = urllib3.ProxyManager(proxy.url, ca_certs=front.ca_pem_path, retries=False)
            assert (
                http.request("GET", "http://plain.mputui.test/a").data
                == b"GET /a host=plain.mputui.test body=0"
            )
            tunnelled = http.request("GET", front.url_for("s3.mputui.test") + "/b")
            assert tunnelled.data == f"GET /b host=s3.mputui.test:{front.port} body=0".encode()
            direct = urllib3.PoolManager(ca_certs=front.ca_pem_path, retries=False).request(
                "GET", front.url + "/c"
            )
            assert direct.data == f"GET /c host=[::1]:{front.port} body=0".encode()
            assert proxy.requests == [("GET", "http://plain.mputui.test/a")]
            assert proxy.connects == [f"s3.mputui.test:{front.port}"]
            assert front.connections == 2
    assert {seen.client_port for seen in backend.seen} and len(backend.seen) == 3
