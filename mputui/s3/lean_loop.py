"""Many lean requests at once from one thread: an asyncio loop over kept-alive HTTP/1.1 connections.

With one worker thread per request in flight, a scan's client CPU goes to the threads, not the requests:
GIL hand-offs, a poll per read, a future per call — ~1.4 ms per ListParts at 32 threads. One event loop
sending the same hand-signed requests over the same number of connections costs ~0.4 ms per request.

The loop only ever answers with what the server said (``LeanResponse``, any status) or with the exception that
stopped the exchange (connection refused or dropped, timeout, cancelled). It does not retry beyond re-sending
once on a fresh connection when a kept-alive one turns out to be closed before any answer byte: callers redo
any other failure on the threaded path, which has botocore's full retry, redirect and error semantics.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mputui.s3.cancel import CancelToken
from mputui.s3.lean import LeanS3
from mputui.s3.routes import Proxy, Route, StepAside

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


@dataclass(frozen=True, slots=True)
class LeanCall:
    """One request without a body to send: ``method`` on ``key_path?query`` of ``bucket``."""

    method: str
    bucket: str
    region: str
    key_path: str
    query: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class LeanResponse:
    """A complete HTTP response: status, lower-cased header names, body."""

    status: int
    headers: dict[str, str]
    body: bytes


def never_sent(answer: BaseException) -> bool:
    """True when the request certainly did not reach the server: the lean path stepped aside, or the
    connection (or the proxy's tunnel) was refused, the host not found, its certificate not trusted."""
    return isinstance(
        answer,
        StepAside
        | LoopCancelled
        | ProxyRefused
        | ConnectionRefusedError
        | socket.gaierror
        | ssl.SSLCertVerificationError,
    )


class LoopCancelled(Exception):
    """The call was not sent: the loop was cancelled or closed first."""


class StaleConnection(ConnectionError):
    """A kept-alive connection was closed by the server before any byte of the answer arrived."""


Callback = Callable[[LeanCall, "LeanResponse | BaseException"], None]


class _Exchange:
    """Incremental parser of one HTTP/1.1 response."""

    __slots__ = (
        "buf",
        "chunked",
        "chunks",
        "close",
        "head",
        "head_end",
        "headers",
        "length",
        "pos",
        "status",
    )

    def __init__(self, head_request: bool) -> None:
        self.buf = bytearray()
        self.head_end = -1
        self.status = 0
        self.headers: dict[str, str] = {}
        self.length: int | None = None
        self.chunked = False
        self.pos = 0
        self.chunks: list[bytes] = []
        self.close = False
        self.head = head_request

    def feed(self, data: bytes) -> LeanResponse | None:
        """Add received bytes; the response once complete. Raises ``ValueError`` for a malformed one."""
        self.buf += data
        if self.head_end < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > 65536:
                    raise ValueError("response head too long")
                return None
            self._parse_head(bytes(self.buf[:end]).decode("latin-1"))
            self.head_end = self.pos = end + 4
        if self.head or self.status in (204, 304) or 100 <= self.status < 200:
            return self._done(b"")
        if self.chunked:
            return self._chunks()
        if self.length is None:
            return None  # body until the server closes: see eof()
        if len(self.buf) - self.pos < self.length:
            return None
        return self._done(bytes(self.buf[self.pos : self.pos + self.length]))

    def eof(self) -> LeanResponse | None:
        """The server closed the connection: the response, if closing is what ends it."""
        if self.head_end >= 0 and not self.chunked and self.length is None:
            self.close = True
            return self._done(bytes(self.buf[self.pos :]))
        return None

    def _parse_head(self, head: str) -> None:
        lines = head.split("\r\n")
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1.") or len(rest) < 3 or not rest[:3].isdigit():
            raise ValueError(f"not an HTTP/1.x response: {lines[0][:80]!r}")
        self.status = int(rest[:3])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self.chunked = True
        elif "content-length" in self.headers:
            self.length = int(self.headers["content-length"])
        connection = self.headers.get("connection", "").lower()
        self.close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")

    def _chunks(self) -> LeanResponse | None:
        buf = self.buf
        while True:
            line_end = buf.find(b"\r\n", self.pos)
            if line_end < 0:
                return None
            size = int(bytes(buf[self.pos : line_end]).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Trailers (normally none) end with an empty line.
                end = buf.find(b"\r\n\r\n", line_end)
                if end < 0:
                    return None
                return self._done(b"".join(self.chunks))
            start = line_end + 2
            if len(buf) < start + size + 2:
                return None
            self.chunks.append(bytes(buf[start : start + size]))
            self.pos = start + size + 2

    def _done(self, body: bytes) -> LeanResponse:
        return LeanResponse(self.status, self.headers, body)


class _Connection(asyncio.Protocol):
    def __init__(self, owner: _Pool) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.exchange: _Exchange | None = None
        self.waiter: asyncio.Future[LeanResponse] | None = None
        self.closed = False
        self.received = False
        self.deadline = 0.0
        self.connecting = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data: bytes, head_request: bool) -> asyncio.Future[LeanResponse]:
        assert self.transport is not None
        self.exchange = _Exchange(head_request)
        self.received = False
        self.waiter = self.owner.loop.create_future()
        self.transport.write(data)
        return self.waiter

    async def tunnel(self, route: Route, proxy: Proxy, context: ssl.SSLContext) -> None:
        """CONNECT through the proxy to the route's host, then TLS inside the tunnel."""
        host = f"[{route.host}]" if ":" in route.host else route.host
        target = f"{host}:{route.port}"
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if proxy.authorization:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        self.connecting = (
            True  # the proxy's answer ends at its head and never closes the tunnel (HTTP/1.0 200)
        )
        answer = await self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), head_request=True)
        self.connecting = False
        if answer.status != 200:
            self._abort()
            raise ProxyRefused(f"proxy {proxy.url} answered CONNECT with HTTP {answer.status}")
        assert self.transport is not None
        transport = await self.owner.loop.start_tls(self.transport, self, context, server_hostname=route.host)
        assert transport is not None
        self.transport = transport

    def _quickack(self) -> None:
        # Linux: ACK at once, or a server that writes head and body separately with Nagle on (RGW) stalls
        # ~40 ms per kept-alive request (see mputui.s3.lean).
        if _QUICKACK is not None and self.transport is not None:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)

    def data_received(self, data: bytes) -> None:
        self._quickack()
        self.received = True
        if self.exchange is None or self.waiter is None or self.waiter.done():
            self._abort()  # bytes nobody asked for: this connection is out of step
            return
        try:
            response = self.exchange.feed(data)
        except ValueError as exc:
            self.waiter.set_exception(ConnectionError(f"malformed response: {exc}"))
            self._abort()
            return
        if response is not None:
            if self.exchange.close and not self.connecting:
                self._abort()
            self.exchange = None
            self.waiter.set_result(response)

    def eof_received(self) -> bool | None:
        self._finish_on_close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._finish_on_close(exc)

    def _finish_on_close(self, exc: Exception | None = None) -> None:
        self.closed = True
        if self.waiter is None or self.waiter.done():
            return
        response = self.exchange.eof() if self.exchange is not None else None
        if response is not None:
            self.waiter.set_result(response)
        elif not self.received:
            self.waiter.set_exception(StaleConnection("connection closed before an answer"))
        else:
            self.waiter.set_exception(ConnectionError(f"connection closed mid-answer: {exc or 'EOF'}"))

    def _abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class ProxyRefused(ConnectionError):
    """The proxy answered CONNECT with something other than 200."""


class _Pool:
    """Kept-alive connections to one origin, directly or through one proxy."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, route: Route, lean: LeanS3, connect_timeout: float
    ) -> None:
        self.loop = loop
        self.route = route
        self.lean = lean  # its one TLS context, made at the first HTTPS connection
        self.connect_timeout = connect_timeout
        self.idle: list[_Connection] = []
        self.all: set[_Connection] = set()

    async def get(self, *, fresh: bool = False) -> tuple[_Connection, bool]:
        """A connection (a new one if ``fresh``), and whether it was kept alive from an earlier request."""
        while self.idle and not fresh:
            conn = self.idle.pop()
            if not conn.closed:
                return conn, True
            self.all.discard(conn)
        conn = await asyncio.wait_for(self._connect(), self.connect_timeout)
        self.all.add(conn)
        return conn, False

    async def _connect(self) -> _Connection:
        route, proxy = self.route, self.route.proxy
        tls = route.scheme == "https"
        if proxy is None:
            _, conn = await self.loop.create_connection(
                lambda: _Connection(self),
                route.host,
                route.port,
                ssl=self.lean.ssl_context if tls else None,
                server_hostname=route.host if tls else None,
            )
            return conn
        _, conn = await self.loop.create_connection(lambda: _Connection(self), proxy.host, proxy.port)
        if tls:
            await conn.tunnel(route, proxy, self.lean.ssl_context)
        return conn

    def put(self, conn: _Connection) -> None:
        if conn.closed:
            self.all.discard(conn)
        else:
            self.idle.append(conn)

    def close(self) -> None:
        for conn in list(self.all):
            conn._abort()
        self.all.clear()
        self.idle.clear()


class LeanLoop:
    """Send ``LeanCall``s concurrently (at most ``concurrency`` in flight) from one background thread.

    ``submit`` may be called from any thread; each callback runs in the loop's thread, once per call, and must
    be quick (hand heavy work to another thread). ``cancel`` is checked before each send.
    """

    def __init__(
        self,
        lean: LeanS3,
        *,
        concurrency: int,
        connect_timeout: float,
        read_timeout: float,
        cancel: CancelToken | None = None,
    ) -> None:
        self.lean = lean
        self.concurrency = max(1, concurrency)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.cancel = cancel or CancelToken()
        self.loop = asyncio.new_event_loop()
        self._pending: deque[tuple[LeanCall, Callback]] = deque()
        self._active = 0
        self._pools: dict[Route, _Pool] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False
        self._thread = threading.Thread(target=self.loop.run_forever, name="mputui-lean-loop", daemon=True)
        self._thread.start()

    def submit(self, calls: Iterable[tuple[LeanCall, Callback]]) -> None:
        """Queue calls with their callbacks (thread-safe)."""
        batch = list(calls)
        if batch:
            self.loop.call_soon_threadsafe(self._enqueue, batch)

    def close(self) -> None:
        """Stop: calls not yet answered get ``LoopCancelled``; connections are closed. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()

    def __enter__(self) -> LeanLoop:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- in the loop's thread ----------------------------------------------------------------------------

    def _enqueue(self, batch: list[tuple[LeanCall, Callback]]) -> None:
        self._pending.extend(batch)
        self._pump()

    def _pump(self) -> None:
        while self._pending and self._active < self.concurrency:
            call, callback = self._pending.popleft()
            if self._closed or self.cancel.cancelled:
                self._answer(call, callback, LoopCancelled())
                continue
            self._active += 1
            task = self.loop.create_task(self._send(call, callback))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _answer(self, call: LeanCall, callback: Callback, result: LeanResponse | BaseException) -> None:
        try:
            callback(call, result)
        except Exception:  # a callback's bug must not stop the loop or the other calls
            import logging

            logging.getLogger(__name__).exception("lean loop callback failed")

    async def _send(self, call: LeanCall, callback: Callback) -> None:
        result: LeanResponse | BaseException
        try:
            result = await self._exchange(call)
        except asyncio.CancelledError:
            result = LoopCancelled()
        except Exception as exc:
            result = exc
        finally:
            self._active -= 1
        self._answer(call, callback, result)
        self._pump()

    async def _exchange(self, call: LeanCall) -> LeanResponse:
        route, url, data = self.lean.prepare(call.method, call.bucket, call.region, call.key_path, call.query)
        pool = self._pools.get(route)
        if pool is None:
            pool = self._pools[route] = _Pool(self.loop, route, self.lean, self.connect_timeout)
        for attempt in (1, 2):
            try:
                conn, reused = await pool.get(fresh=attempt == 2)
            except BaseException as exc:
                self.lean.log("lean", call.method, url, exc, attempt)
                raise
            if attempt == 2:
                # Same request again on a fresh connection: sign anew (the clock moved) and count it.
                route, url, data = self.lean.prepare(
                    call.method, call.bucket, call.region, call.key_path, call.query
                )
            waiter = conn.send(data, call.method == "HEAD")
            conn.deadline = self.loop.time() + self.read_timeout
            self._watch_timeouts()
            try:
                response = await waiter
            except StaleConnection as exc:
                pool.all.discard(conn)
                self.lean.log("lean", call.method, url, exc, attempt)
                if reused and attempt == 1:
                    continue
                raise
            except BaseException as exc:
                conn._abort()
                pool.all.discard(conn)
                self.lean.log("lean", call.method, url, exc, attempt)
                raise
            self.lean.log("lean", call.method, url, response.status, attempt)
            pool.put(conn)
            return response
        raise AssertionError("unreachable")

    def _watch_timeouts(self) -> None:
        # One sweep timer for all exchanges in flight, not a timer per request (cheaper at thousands/s).
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(min(1.0, self.read_timeout / 4), self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        now = self.loop.time()
        for pool in self._pools.values():
            for conn in pool.all:
                if conn.waiter is not None and not conn.waiter.done() and conn.deadline <= now:
                    conn.waiter.set_exception(TimeoutError("read timeout"))
        if self._active:
            self._watch_timeouts()

    async def _shutdown(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        while self._pending:
            call, callback = self._pending.popleft()
            self._answer(call, callback, LoopCancelled())
        for pool in self._pools.values():
            pool.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
