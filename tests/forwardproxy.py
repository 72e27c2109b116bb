"""A loopback forward HTTP proxy that behaves as squid or tinyproxy do, for tests of proxied S3 clients.

Plain requests arrive in absolute form (``GET http://host:port/path HTTP/1.1``) over kept-alive client
connections and are forwarded in origin form with the Host header untouched (SigV4 signs it); ``CONNECT
host:port`` opens a tunnel. Hostnames are never resolved: each is looked up in ``hosts`` (exact names, or
``*.suffix`` for any subdomain), and one that is not there gets ``502 Bad Gateway``. Optional Basic proxy
authentication (407) and a refusing ACL (403). Only ever listens on and connects to loopback.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import ipaddress
import threading
import weakref
from dataclasses import dataclass, field
from types import TracebackType

_CHUNK = 64 * 1024
_LIMIT = 2**20  # longest head line; S3 presigned URLs are long but nowhere near this


class _Closed(Exception):
    """The peer closed, reset or sent something that cannot be framed."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_port_url(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


@dataclass
class _Head:
    """A request or response head: its start line and its header lines, raw."""

    start: bytes
    headers: list[tuple[bytes, bytes]]

    @classmethod
    def parse(cls, raw: bytes) -> _Head:
        lines = raw[:-4].split(b"\r\n")
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                raise _Closed(f"malformed header line {line!r}")
            headers.append((name, value.strip()))
        return cls(lines[0], headers)

    def get(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def tokens(self, name: bytes) -> set[bytes]:
        """The comma-separated, lower-cased values of every ``name`` header (Connection, Transfer-Encoding)."""
        return {
            t.strip().lower()
            for k, v in self.headers
            if k.lower() == name
            for t in v.split(b",")
            if t.strip()
        }

    def without(self, *names: bytes) -> list[tuple[bytes, bytes]]:
        return [(k, v) for k, v in self.headers if k.lower() not in names]

    def encode(self) -> bytes:
        return b"".join([self.start, b"\r\n", *(k + b": " + v + b"\r\n" for k, v in self.headers), b"\r\n"])

    @property
    def status(self) -> int:
        try:
            return int(self.start.split(b" ", 2)[1])
        except (IndexError, ValueError) as exc:
            raise _Closed(f"malformed status line {self.start!r}") from exc


async def read_head(reader: asyncio.StreamReader) -> _Head:
    try:
        return _Head.parse(await reader.readuntil(b"\r\n\r\n"))
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as exc:
        raise _Closed from exc


async def _copy_exactly(reader: asyncio.StreamReader, sink: asyncio.StreamWriter | None, n: int) -> None:
    while n:
        data = await reader.read(min(n, _CHUNK))
        if not data:
            raise _Closed("body cut short")
        n -= len(data)
        if sink is not None:
            sink.write(data)
            await sink.drain()


async def relay_body(
    reader: asyncio.StreamReader, sink: asyncio.StreamWriter | None, head: _Head, *, until_close: bool
) -> None:
    """Stream a message body framed as HTTP/1.1 says, re-sent as received (``sink`` None discards it).

    The caller has decided the message has a body at all (not a HEAD answer, 1xx, 204 or 304). With neither
    chunked encoding nor a Content-Length, a request has none and a response (``until_close``) runs to EOF.
    """
    try:
        if b"chunked" in head.tokens(b"transfer-encoding"):
            while True:
                size_line = await reader.readuntil(b"\r\n")
                if sink is not None:
                    sink.write(size_line)
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError as exc:
                    raise _Closed(f"bad chunk size {size_line!r}") from exc
                if size == 0:
                    while True:  # trailers, up to an empty line
                        line = await reader.readuntil(b"\r\n")
                        if sink is not None:
                            sink.write(line)
                            await sink.drain()
                        if line == b"\r\n":
                            return
                await _copy_exactly(reader, sink, size + 2)
        length = head.get(b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError as exc:
                raise _Closed(f"bad Content-Length {length!r}") from exc
            await _copy_exactly(reader, sink, n)
        elif until_close:
            while data := await reader.read(_CHUNK):
                if sink is not None:
                    sink.write(data)
                    await sink.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as exc:
        raise _Closed from exc


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes until EOF, then pass the EOF on (a half-close where the transport can, else a close)."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        if writer.can_write_eof() and not writer.is_closing():
            with contextlib.suppress(OSError):
                writer.write_eof()
        else:
            writer.close()


async def close_gracefully(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Flush, send FIN, and wait (briefly) for the peer's: closing with its unread bytes still in our receive
    buffer would make the kernel answer with an RST that can destroy the tail of what we sent."""
    with contextlib.suppress(ConnectionError, OSError, TimeoutError):
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
            async with asyncio.timeout(5):
                while await reader.read(_CHUNK):
                    pass
    writer.close()


def serve_until_stopped(
    loop: asyncio.AbstractEventLoop,
    server: asyncio.Server,
    transports: weakref.WeakSet[asyncio.WriteTransport],
) -> None:
    """Run ``loop`` until stopped, then abort every connection still open and close the loop.

    A graceful close at this point would outlive the loop (a TLS shutdown waits for the peer's close_notify,
    a close with unsent bytes waits for the peer to read them) and leak the socket.
    """
    try:
        loop.run_forever()
    finally:
        server.close()
        for transport in list(transports):
            transport.abort()
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        for _ in range(3):  # let the aborted transports run their connection_lost and release their sockets
            loop.run_until_complete(asyncio.sleep(0))
        loop.close()


def _split_authority(authority: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` → (host without brackets, lower-cased; port)."""
    authority = authority.rpartition("@")[2]
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = authority.partition(":")
    if not port:
        return host.lower(), None
    if not port.isdigit():
        raise ValueError(f"bad port in {authority!r}")
    return host.lower(), int(port)


@dataclass
class _Request:
    head: _Head
    method: str
    target: str  # as the client sent it: an absolute URL, or host:port for CONNECT
    version: bytes

    @classmethod
    def parse(cls, head: _Head) -> _Request | None:
        parts = head.start.split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return None
        return cls(head, parts[0].decode("latin-1"), parts[1].decode("latin-1"), parts[2])

    @property
    def proxied(self) -> bool:
        return self.method == "CONNECT" or self.target[:7].lower() == "http://"

    @property
    def authority(self) -> str:
        if self.method == "CONNECT":
            return self.target
        rest = self.target[7:]
        return rest[: self._path_start(rest)]

    @staticmethod
    def _path_start(rest: str) -> int:
        return min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))

    def origin_form(self) -> bytes:
        """The path and query exactly as sent (never re-encoded: SigV4 signs them)."""
        rest = self.target[7:]
        origin = rest[self._path_start(rest) :].partition("#")[0]
        return ("/" + origin if not origin.startswith("/") else origin).encode("latin-1")

    @property
    def expects_continue(self) -> bool:
        return b"100-continue" in self.head.tokens(b"expect")

    @property
    def wants_close(self) -> bool:
        connection = self.head.tokens(b"connection") | self.head.tokens(b"proxy-connection")
        return b"close" in connection or (self.version == b"HTTP/1.0" and b"keep-alive" not in connection)


@dataclass
class _Refusal:
    status: int
    text: str
    header: tuple[bytes, bytes] | None = None

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [self.header] if self.header else []


@dataclass
class _Backend:
    route: tuple[str, int]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


_REASONS = {
    400: b"Bad Request",
    403: b"Forbidden",
    407: b"Proxy Authentication Required",
    502: b"Bad Gateway",
}


@dataclass
class ForwardProxy:
    """Run with ``start()`` (or ``with``); give clients ``url`` as their proxy; ``stop()`` when done.

    ``hosts`` maps a requested hostname (``"s3.mputui.test"``, ``"*.s3.mputui.test"``, an address such as
    ``"::1"``, or any of these with a port, ``"s3.mputui.test:9000"``, ``"[::1]:443"``, which wins over the bare
    name) to the loopback (host, port) to connect to. The
    counters are written by the proxy's thread only, under a lock, and may be read from any thread.
    """

    hosts: dict[str, tuple[str, int]]
    ipv6: bool = False
    auth: tuple[str, str] | None = None
    refuse: bool = False
    # (method, absolute URL as the client sent it) of every plain request forwarded.
    requests: list[tuple[str, str]] = field(default_factory=list, init=False)
    # "host:port" of every CONNECT tunnel opened.
    connects: list[str] = field(default_factory=list, init=False)
    # Answers 403, 407 and 502 given (refused by ACL or auth, unmapped host, backend unreachable or gone).
    refused: int = field(default=0, init=False)
    # Client connections accepted: a client that keeps its connection alive makes one for many requests.
    client_connections: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._routes: dict[tuple[str, int | None], tuple[str, int]] = {}
        for name, (host, port) in self.hosts.items():
            if not is_loopback(host):
                raise ValueError(f"{name!r} maps to {host!r}: this proxy only connects to loopback")
            bare_ipv6 = name.count(":") > 1 and not name.startswith("[")
            key = (name.lower(), None) if bare_ipv6 else _split_authority(name)
            self._routes[key] = (host.strip("[]"), port)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._transports: weakref.WeakSet[asyncio.WriteTransport] = weakref.WeakSet()
        self.port = 0

    @property
    def host(self) -> str:
        return "::1" if self.ipv6 else "127.0.0.1"

    @property
    def url(self) -> str:
        return host_port_url("http", self.host, self.port)

    def route(self, host: str, port: int | None) -> tuple[str, int] | None:
        """Where a request for ``host[:port]`` goes, or None (the proxy answers 502)."""
        host = host.lower().strip("[]").rstrip(".")
        for key in ((host, port), (host, None)):
            if key in self._routes:
                return self._routes[key]
        wildcards = [
            (name, p)
            for name, p in self._routes
            if name.startswith("*.") and host.endswith(name[1:]) and p in (port, None)
        ]
        # The longest suffix wins, then one with the port over one without.
        return (
            self._routes[max(wildcards, key=lambda k: (len(k[0]), k[1] is not None))] if wildcards else None
        )

    def start(self) -> ForwardProxy:
        """Start serving on a free loopback port in a background thread."""
        self._thread = threading.Thread(target=self._run, name="forwardproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("forward proxy did not start")
        if self._error is not None:
            raise RuntimeError("forward proxy did not start") from self._error
        return self

    def stop(self) -> None:
        """Stop serving and close every connection."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> ForwardProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(asyncio.start_server(self._client, self.host, 0, limit=_LIMIT))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        serve_until_stopped(loop, server, self._transports)

    def _refusal(self, head: _Head) -> _Refusal | None:
        if self.refuse:
            return _Refusal(403, "access denied by the proxy's ACL")
        if self.auth is not None:
            expected = f"{self.auth[0]}:{self.auth[1]}".encode()
            scheme, _, credentials = (head.get(b"proxy-authorization") or b"").partition(b" ")
            try:
                given = base64.b64decode(credentials.strip(), validate=True)
            except (binascii.Error, ValueError):
                given = None
            if scheme.lower() != b"basic" or given != expected:
                return _Refusal(
                    407, "proxy authentication required", (b"Proxy-Authenticate", b'Basic realm="test"')
                )
        return None

    async def _client(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        # On stop() the handler is cancelled; a cancelled handler task is logged as an error by asyncio.streams.
        with contextlib.suppress(asyncio.CancelledError):
            await self._serve(creader, cwriter)

    async def _serve(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        """One client connection: requests one after another until either side closes or a CONNECT."""
        self._transports.add(cwriter.transport)
        with self._lock:
            self.client_connections += 1
        backend: _Backend | None = None
        graceful = True
        try:
            while True:
                try:
                    head = await read_head(creader)
                except _Closed:
                    return
                request = _Request.parse(head)
                if request is None:
                    await self._answer(cwriter, _Refusal(400, "malformed request line"), close=True)
                    return
                refusal = self._refusal(head)
                if refusal is None and not request.proxied:
                    refusal = _Refusal(400, "not a proxy request (absolute http:// URL or CONNECT expected)")
                route = None if refusal is not None else self._route_of(request.authority)
                if refusal is None and route is None:
                    refusal = _Refusal(502, f"the proxy has no route to {request.authority!r}")
                if refusal is not None:
                    # With 100-continue the client may or may not send its body now: only a close is clean.
                    await self._answer(cwriter, refusal, close=request.expects_continue)
                    if request.expects_continue:
                        return
                    if request.method != "CONNECT":
                        await relay_body(creader, None, head, until_close=False)
                    continue
                assert route is not None
                if backend is not None and (backend.route != route or backend.reader.at_eof()):
                    backend.writer.close()
                    backend = None
                if request.method == "CONNECT":
                    await self._tunnel(creader, cwriter, request.target, route)
                    return
                if backend is None:
                    backend = await self._open(route)
                    if backend is None:
                        await self._answer(cwriter, _Refusal(502, f"cannot reach {route}"), close=True)
                        return
                backend_done, client_done = await self._forward(creader, cwriter, request, backend)
                if backend_done:
                    backend.writer.close()
                    backend = None
                if client_done:
                    return
        except (_Closed, ConnectionError):
            graceful = False  # e.g. a truncated answer: the client must see the connection die, not end
        except asyncio.CancelledError:
            graceful = False  # stop(): no waiting for clients
            raise
        finally:
            if backend is not None:
                backend.writer.close()
            if graceful and not cwriter.is_closing():
                await close_gracefully(creader, cwriter)
            else:
                cwriter.close()

    def _route_of(self, authority: str) -> tuple[str, int] | None:
        try:
            host, port = _split_authority(authority)
        except ValueError:
            return None
        return self.route(host, port) if host else None

    async def _open(self, route: tuple[str, int]) -> _Backend | None:
        try:
            reader, writer = await asyncio.open_connection(*route, limit=_LIMIT)
        except OSError:
            return None
        self._transports.add(writer.transport)
        return _Backend(route, reader, writer)

    async def _forward(
        self,
        creader: asyncio.StreamReader,
        cwriter: asyncio.StreamWriter,
        request: _Request,
        backend: _Backend,
    ) -> tuple[bool, bool]:
        """Forward one plain request and relay its answer; whether the backend, the client connection is done.

        Raises _Closed when the answer was cut short after its head went out to the client.
        """
        head = request.head
        headers = head.without(b"proxy-authorization", b"proxy-connection")
        if head.get(b"host") is None:
            headers.insert(0, (b"Host", request.authority.encode("latin-1")))
        out = _Head(b"%s %s %s" % (request.method.encode(), request.origin_form(), request.version), headers)
        with self._lock:
            self.requests.append((request.method, request.target))
        if request.expects_continue:
            # The proxy answers the expectation itself (the backend gets the header, and its own 100 is skipped).
            cwriter.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await cwriter.drain()
        try:
            backend.writer.write(out.encode())
            await relay_body(creader, backend.writer, head, until_close=False)
            rhead = await read_head(backend.reader)
            while 100 <= rhead.status < 200 and rhead.status != 101:
                rhead = await read_head(backend.reader)
        except _Closed:
            await self._answer(cwriter, _Refusal(502, "the backend closed without answering"), close=True)
            return True, True
        has_body = request.method != "HEAD" and rhead.status not in (204, 304)
        cwriter.write(rhead.encode())
        if has_body:
            await relay_body(backend.reader, cwriter, rhead, until_close=True)
        await cwriter.drain()
        framed = b"chunked" in rhead.tokens(b"transfer-encoding") or rhead.get(b"content-length") is not None
        backend_done = b"close" in rhead.tokens(b"connection") or (has_body and not framed)
        return backend_done, backend_done or request.wants_close

    async def _answer(self, cwriter: asyncio.StreamWriter, refusal: _Refusal, *, close: bool) -> None:
        if refusal.status in (403, 407, 502):
            with self._lock:
                self.refused += 1
        body = (refusal.text + "\n").encode()
        head = _Head(
            b"HTTP/1.1 %d %s" % (refusal.status, _REASONS[refusal.status]),
            [
                (b"Content-Type", b"text/plain; charset=utf-8"),
                (b"Content-Length", str(len(body)).encode()),
                *refusal.headers,
                *([(b"Connection", b"close")] if close else []),
            ],
        )
        cwriter.write(head.encode() + body)
        await cwriter.drain()

    async def _tunnel(
        self,
        creader: asyncio.StreamReader,
        cwriter: asyncio.StreamWriter,
        target: str,
        route: tuple[str, int],
    ) -> None:
        backend = await self._open(route)
        if backend is None:
            await self._answer(cwriter, _Refusal(502, f"cannot reach {route}"), close=True)
            return
        with self._lock:
            self.connects.append(target)
        try:
            cwriter.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await cwriter.drain()
            await asyncio.gather(pipe(creader, backend.writer), pipe(backend.reader, cwriter))
        finally:
            backend.writer.close()
            cwriter.close()
