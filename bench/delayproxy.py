"""A lean loopback TCP proxy that only adds latency, for the benchmarks.

    python bench/delayproxy.py --upstream HOST:PORT --rtt SECONDS

Prints the port it listens on (127.0.0.1), then serves until SIGTERM/SIGINT or until stdin closes.

Real network latency costs no CPU, but on a 2-core box this proxy's CPU is taken from the client and server
under test. So it parses nothing (tests/faultproxy.py parses HTTP: ~0.4 ms CPU a request) and runs one thread
on epoll, not asyncio: ~0.09 ms CPU per kept-alive request/response exchange, half of it in the kernel, and
~0.35 ms per exchange on a new connection (asyncio Protocols: ~0.14 and ~0.8 ms).
It forwards bytes both ways, each chunk ``rtt / 2`` after it was read (a one-way delay, as netem adds), so
every exchange takes ``rtt`` longer, however many share a connection. Order is kept per direction; EOF
(half-close) and close follow the data before them; reading pauses while the destination is backed up or
``INFLIGHT_LIMIT`` bytes are in flight (a TCP window). Connection set-up is not delayed. Listens on, and
connects to, loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import os
import selectors
import signal
import socket
import time
from collections import deque
from typing import Any

# Bytes read but not yet due, per direction, beyond which reading pauses (caps throughput at
# INFLIGHT_LIMIT / (rtt / 2) per connection and direction, as a TCP window would).
INFLIGHT_LIMIT = 4 * 2**20
# Bytes due but not yet accepted by the destination socket, beyond which reading its source pauses.
UNSENT_LIMIT = 256 * 2**10
READ_SIZE = 256 * 2**10

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)
_EOF = b""  # queued marker: half-close the destination
_CLOSE = None  # queued marker: close the destination
_R, _W = selectors.EVENT_READ, selectors.EVENT_WRITE
_LISTENER, _STOP, _STDIN = "listener", "stop", "stdin"  # selector keys' data that are not an _End

Item = bytes | memoryview | None


class _End:
    """One socket of a pair, and what is on its way to it (read from ``peer``, the pair's other socket)."""

    peer: _End

    def __init__(self, proxy: Proxy, sock: socket.socket, upstream: bool) -> None:
        self.proxy = proxy
        self.sock = sock
        self.upstream = upstream  # set TCP_QUICKACK after every read
        self.connecting = upstream
        self.closed = False
        self.read_eof = False  # ``peer`` has all we will ever read from this socket
        self.eof_sent = False  # this socket is shut down for writing
        self.events = 0  # as registered with the selector
        self.queued = 0  # bytes read from ``peer``, not due yet
        self.out: deque[Item] = deque()  # due, not sent yet (markers too)
        self.unsent = 0  # bytes in ``out``
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def update(self) -> None:
        """(Re)register for what we wait for: writability while sending, readability unless backed up."""
        if self.closed:
            return
        peer = self.peer
        events = _W if self.connecting or self.out else 0
        if not (
            self.read_eof or peer.connecting or peer.queued > INFLIGHT_LIMIT or peer.unsent > UNSENT_LIMIT
        ):
            events |= _R
        if events != self.events:
            sel = self.proxy.sel
            if not self.events:
                sel.register(self.sock, events, self)
            elif not events:
                sel.unregister(self.sock)
            else:
                sel.modify(self.sock, events, self)
            self.events = events

    def on_read(self) -> None:
        try:
            data = self.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            self.kill()
            return
        if self.upstream and _QUICKACK is not None:
            # Linux clears TCP_QUICKACK again by itself, so set it after every read: a server writing head
            # and body separately with Nagle on (Ceph RGW) would otherwise wait ~40 ms for our delayed ACK,
            # on every request of a kept-alive connection.
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        if not data:
            self.read_eof = True
            self.update()
        peer = self.peer
        if not peer.closed:  # else discard: ``peer`` is gone, and a close is on its way to this socket
            self.proxy.queue(peer, data)
            if data and peer.queued > INFLIGHT_LIMIT:
                self.update()

    def on_write(self) -> None:
        if not self.connecting:
            self.flush()
            return
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.close()
            self.peer.close()
            return
        self.connecting = False
        if _QUICKACK is not None:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        self.update()
        self.peer.update()  # start reading the client

    def deliver(self, item: Item) -> None:
        """``item`` is due: send it after what is still unsent."""
        self.out.append(item)
        if item:
            self.queued -= len(item)
            self.unsent += len(item)
        if len(self.out) == 1:
            self.flush()
        else:  # waiting for writability already; reading ``peer`` may have to pause, or may resume
            self.peer.update()

    def flush(self) -> None:
        out = self.out
        while out:
            item = out[0]
            if item is _CLOSE:
                self.kill()
                return
            if not item:  # _EOF
                out.popleft()
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    self.kill()
                    return
                self.eof_sent = True
                if self.peer.eof_sent:  # both directions are done
                    self.close()
                    self.peer.close()
                    return
                continue
            try:
                sent = self.sock.send(item)
            except BlockingIOError:
                sent = 0
            except OSError:  # ECONNRESET, EPIPE
                self.kill()
                return
            self.unsent -= sent
            if sent < len(item):
                out[0] = memoryview(item)[sent:]
                break
            out.popleft()
        self.update()
        self.peer.update()

    def close(self) -> None:
        """Close this socket now, dropping what is on its way to it."""
        if self.closed:
            return
        self.closed = True
        if self.events:
            self.proxy.sel.unregister(self.sock)
            self.events = 0
        self.sock.close()
        self.out.clear()
        self.queued = self.unsent = 0
        self.proxy.ends.discard(self)
        self.peer.update()

    def kill(self) -> None:
        """This socket is gone: close it, and close its peer after what is on its way there."""
        self.close()
        if not self.peer.closed:
            self.proxy.queue(self.peer, _CLOSE)


class Proxy:
    """Forwards connections to 127.0.0.1:``port`` (0: any free one) to ``host:upstream_port``."""

    def __init__(self, host: str, upstream_port: int, rtt: float, port: int = 0) -> None:
        self.family, self.upstream = _loopback_address(host, upstream_port)
        self.delay = rtt / 2
        self.sel = selectors.DefaultSelector()
        self.due: deque[tuple[float, _End, Item]] = deque()  # one delay for all, so in due order
        self.ends: set[_End] = set()
        self.listener = socket.create_server(("127.0.0.1", port), backlog=512)
        self.listener.setblocking(False)
        self.sel.register(self.listener, _R, _LISTENER)
        self.port: int = self.listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()  # a byte on it stops run()
        for sock in (self._wake_r, self._wake_w):
            sock.setblocking(False)
        self.sel.register(self._wake_r, _R, _STOP)

    def stop(self) -> None:
        """Make run() return (from any thread)."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def serve(self) -> None:
        """run() until SIGTERM/SIGINT or stdin EOF."""
        signal.set_wakeup_fd(self._wake_w.fileno())
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)  # the wake-up fd is what stops us
        try:
            self.sel.register(0, _R, _STDIN)
        except (OSError, ValueError):  # closed, or a file: EOF right away
            self.stop()
        try:
            self.run()
        finally:
            signal.set_wakeup_fd(-1)

    def run(self) -> None:
        """Forward until stop(), then close every socket."""
        try:
            self._loop()
        finally:
            for end in list(self.ends):
                end.close()
            for sock in (self.listener, self._wake_r, self._wake_w):
                sock.close()
            self.sel.close()

    def queue(self, end: _End, item: Item) -> None:
        self.due.append((time.monotonic() + self.delay, end, item))
        if item:
            end.queued += len(item)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, ConnectionAbortedError):
                return
            client = _End(self, sock, upstream=False)
            up = _End(self, socket.socket(self.family, socket.SOCK_STREAM), upstream=True)
            client.peer, up.peer = up, client
            if up.sock.connect_ex(self.upstream) not in (0, errno.EINPROGRESS):
                sock.close()
                up.sock.close()
                continue
            self.ends.update((client, up))
            up.update()  # wait for the connection; the client is read once it is there

    def _loop(self) -> None:
        due, select = self.due, self.sel.select
        while True:
            timeout = max(0.0, due[0][0] - time.monotonic()) if due else None
            for key, events in select(timeout):
                what: Any = key.data
                if isinstance(what, _End):
                    if events & _W and not what.closed:
                        what.on_write()
                    if events & _R and what.events & _R:  # not closed, not paused meanwhile
                        what.on_read()
                elif what is _LISTENER:
                    self._accept()
                elif what is _STOP or not _read_stdin():
                    return
            now = time.monotonic()
            while due and due[0][0] <= now:
                _, end, item = due.popleft()
                if not end.closed:
                    end.deliver(item)


def _read_stdin() -> bool:
    """Read what stdin has; False at EOF."""
    try:
        return bool(os.read(0, 65536))
    except BlockingIOError:
        return True
    except OSError:
        return False


def _loopback_address(host: str, port: int) -> tuple[socket.AddressFamily, Any]:
    for family, _, _, _, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if ipaddress.ip_address(addr[0]).is_loopback:
            return family, addr
    raise SystemExit(f"delayproxy: upstream {host}:{port} is not a loopback address")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the server (loopback)")
    parser.add_argument("--rtt", type=float, required=True, help="round-trip time to add, in seconds")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free one)")
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    if args.rtt < 0:
        parser.error("--rtt must be >= 0")
    proxy = Proxy(host.strip("[]") or "127.0.0.1", int(port), args.rtt, args.port)
    print(proxy.port, flush=True)
    proxy.serve()


if __name__ == "__main__":
    main()
