"""A loopback TLS-terminating front with its own private CA (trustme), relaying plain bytes to a backend.

Puts HTTPS in front of a plain-HTTP test server (moto): clients trust ``ca_pem_path`` and reach it as
``url`` or ``url_for("s3.mputui.test")``. Counts completed handshakes and failed ones (a client that does not
trust the CA fails its handshake). Only ever listens on and connects to loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import trustme
from forwardproxy import host_port_url, is_loopback, pipe, serve_until_stopped

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1", "s3.mputui.test", "*.s3.mputui.test")


@dataclass
class TlsFront:
    """Run with ``start()`` (or ``with``); clients trust ``ca_pem_path``; ``stop()`` when done.

    The counters are written by the front's thread only, under a lock, and may be read from any thread.
    """

    backend: tuple[str, int]
    names: list[str] = field(default_factory=lambda: list(DEFAULT_NAMES))
    ipv6: bool = False
    connections: int = field(default=0, init=False)
    handshake_failures: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not is_loopback(self.backend[0]):
            raise ValueError(f"backend {self.backend[0]!r}: this front only connects to loopback")
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert(*self.names)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._tmp: Path | None = None
        self._transports: weakref.WeakSet[asyncio.WriteTransport] = weakref.WeakSet()
        self.port = 0

    @property
    def host(self) -> str:
        return "::1" if self.ipv6 else "127.0.0.1"

    @property
    def url(self) -> str:
        return host_port_url("https", self.host, self.port)

    def url_for(self, hostname: str) -> str:
        """The URL with another name for this front (one the certificate holds, mapped to it by the client's
        proxy or resolver)."""
        return host_port_url("https", hostname, self.port)

    @property
    def ca_pem_path(self) -> str:
        if self._tmp is None:
            raise RuntimeError("TlsFront is not started")
        return str(self._tmp / "ca.pem")

    def start(self) -> TlsFront:
        """Write the CA file and start serving on a free loopback port in a background thread."""
        self._tmp = Path(tempfile.mkdtemp(prefix="tlsfront-"))
        self.ca.cert_pem.write_to_path(self.ca_pem_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        self._thread = threading.Thread(target=self._run, args=(context,), name="tlsfront", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            self.stop()
            raise RuntimeError("TLS front did not start") from self._error
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and remove the CA file."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> TlsFront:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self, context: ssl.SSLContext) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def client(creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
            # On stop() the handler is cancelled; a cancelled handler task is logged as an error by
            # asyncio.streams.
            with contextlib.suppress(asyncio.CancelledError):
                await self._client(creader, cwriter, context)

        try:
            # TLS is started per connection (not ssl= here) so that a failed handshake reaches our code: the
            # server's own handshake errors go to the loop's debug log only.
            server = loop.run_until_complete(asyncio.start_server(client, self.host, 0))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        serve_until_stopped(loop, server, self._transports)

    async def _client(
        self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter, context: ssl.SSLContext
    ) -> None:
        self._transports.add(cwriter.transport)  # the TCP one: aborting it ends the TLS one on top
        try:
            try:
                await cwriter.start_tls(context, ssl_handshake_timeout=10)
            except (OSError, TimeoutError, ssl.SSLError):
                with self._lock:
                    self.handshake_failures += 1
                return
            with self._lock:
                self.connections += 1
            try:
                breader, bwriter = await asyncio.open_connection(*self.backend)
            except OSError:
                return
            self._transports.add(bwriter.transport)
            try:
                await asyncio.gather(pipe(creader, bwriter), pipe(breader, cwriter))
            finally:
                bwriter.close()
        finally:
            cwriter.close()
