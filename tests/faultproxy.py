"""A small loopback HTTP/1.1 proxy that injects latency and faults between boto3 and an S3 server.

It understands just enough HTTP (request/response framing by Content-Length or chunked encoding) to decide per
request whether to forward it, and what goes wrong. Faults, each at its own rate, drawn from a seeded RNG:

- ``reset_before``: close the client connection before forwarding (the request never reached the server);
- ``reset_after``: forward, let the server act, then close without answering (the response is lost — the case
  that makes non-idempotent calls like Complete or Abort interesting);
- ``stall``: hold the request for ``stall_seconds`` and then close;
- ``slowdown`` / ``internal``: answer 503 SlowDown / 500 InternalError without forwarding.

Used by the reliability tests and the benchmarks (latency only). Only ever listens on and connects to loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Faults:
    """Rates (0..1) of each fault per request, and the added latency per request in seconds."""

    latency: float = 0.0
    reset_before: float = 0.0
    reset_after: float = 0.0
    stall: float = 0.0
    slowdown: float = 0.0
    internal: float = 0.0
    stall_seconds: float = 3.0
    seed: int = 1

    @classmethod
    def mixed(cls, rate: float, seed: int = 1, **kw: float) -> Faults:
        """``rate`` split evenly over every kind of fault."""
        each = rate / 5
        return cls(
            reset_before=each, reset_after=each, stall=each, slowdown=each, internal=each, seed=seed, **kw
        )


_ERROR_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>injected by faultproxy</Message>'
    "<RequestId>faultproxy</RequestId></Error>"
)


class _Closed(Exception):
    pass


def _quickack(writer: asyncio.StreamWriter) -> None:
    """ACK the upstream's answer at once (Linux): a server writing head and body separately with Nagle on
    (RGW's beast) would otherwise wait ~40 ms for our delayed ACK, a delay that is the proxy's, not the
    client's."""
    option = getattr(socket, "TCP_QUICKACK", None)
    sock = writer.get_extra_info("socket")
    if option is not None and sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, option, 1)


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as exc:
        raise _Closed from exc


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name:
            return v.strip()
    return None


async def _read_body(reader: asyncio.StreamReader, head: bytes, *, response: bool, method: bytes) -> bytes:
    """The message body, framed as HTTP/1.1 says (re-encoded as received)."""
    if response:
        status = int(head.split(b" ", 2)[1])
        if method == b"HEAD" or status in (204, 304) or 100 <= status < 200:
            return b""
    te = _header(head, b"transfer-encoding")
    try:
        if te and b"chunked" in te.lower():
            out = bytearray()
            while True:
                size_line = await reader.readuntil(b"\r\n")
                out += size_line
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers until an empty line
                    while True:
                        line = await reader.readuntil(b"\r\n")
                        out += line
                        if line == b"\r\n":
                            return bytes(out)
                out += await reader.readexactly(size + 2)
        length = _header(head, b"content-length")
        if length is not None:
            return await reader.readexactly(int(length))
        if response:
            return await reader.read()  # until close
        return b""
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as exc:
        raise _Closed from exc


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    rest = body
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            return bytes(out)
        out += rest[:size]
        rest = rest[size + 2 :]


def _rewritten(
    rewrite: Callable[[bytes, bytes, bytes], bytes | None], head: bytes, rhead: bytes, rbody: bytes
) -> tuple[bytes, bytes]:
    chunked = b"chunked" in (_header(rhead, b"transfer-encoding") or b"").lower()
    new = rewrite(head, rhead, _dechunk(rbody) if chunked else rbody)
    if new is None:
        return rhead, rbody
    lines = [
        line
        for line in rhead.rstrip(b"\r\n").split(b"\r\n")
        if line.partition(b":")[0].strip().lower() not in (b"content-length", b"transfer-encoding")
    ]
    lines.append(b"Content-Length: " + str(len(new)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n", new


@dataclass
class FaultProxy:
    """Run with ``start()``; ``url`` is the endpoint to give boto3; ``stop()`` when done."""

    upstream_host: str
    upstream_port: int
    faults: Faults = field(default_factory=Faults)
    counts: Counter[str] = field(default_factory=Counter)
    # Awaited (in the proxy's event loop) with each request's head before it is forwarded: a test can hold a
    # request back, e.g. to make it reach the server after its client was killed and after later requests.
    hold: Callable[[bytes], Awaitable[None]] | None = None
    # Called with each request's head before the random draw: a fault name forces that fault on this request
    # (e.g. ``reset_after`` on the first CreateMultipartUpload), "pass" forwards it untouched, None leaves it
    # to the seeded draw.
    rule: Callable[[bytes], str | None] | None = None
    # Called with (request head, response head, response body, de-chunked) for every forwarded answer: bytes
    # replace the body (the proxy re-frames it with a Content-Length), None passes the answer on unchanged.
    # This is how a test plays a buggy or hostile server (an empty <Key>, a truncated XML body).
    rewrite: Callable[[bytes, bytes, bytes], bytes | None] | None = None
    # Applied to each request head just before it is forwarded (moto does not check signatures, so a test can
    # map a hostile value it made the listing show back to the real one).
    rewrite_request: Callable[[bytes], bytes] | None = None
    # Called with each request head before it is forwarded: bytes are sent back as the whole answer instead
    # (a redirect, an error the real server would not give), None forwards it.
    answer: Callable[[bytes], bytes | None] | None = None
    # Every request line forwarded or faulted (b"DELETE /bucket/key?uploadId=... HTTP/1.1"), in arrival order.
    request_lines: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.faults.seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0
        self.enabled = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        """Start serving on a free loopback port in a background thread."""
        self._thread = threading.Thread(target=self._run, name="faultproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def stop(self) -> None:
        """Stop serving and close every connection."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0, limit=2**20)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def _draw(self) -> str | None:
        if not self.enabled:
            return None
        f = self.faults
        x = self._rng.random()
        for name, rate in (
            ("reset_before", f.reset_before),
            ("reset_after", f.reset_after),
            ("stall", f.stall),
            ("slowdown", f.slowdown),
            ("internal", f.internal),
        ):
            if x < rate:
                return name
            x -= rate
        return None

    async def _client(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        abortive = False
        try:
            while True:
                head = await _read_head(creader)
                method = head.split(b" ", 1)[0]
                if (_header(head, b"expect") or b"").lower() == b"100-continue":
                    # botocore sends UploadPart/PutObject bodies only after this (or after a 1 s wait).
                    cwriter.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    await cwriter.drain()
                body = await _read_body(creader, head, response=False, method=method)
                self.counts["requests"] += 1
                self.counts[method.decode("latin-1")] += 1
                self.request_lines.append(head.split(b"\r\n", 1)[0])
                forced = self.rule(head) if self.rule is not None else None
                fault = None if forced == "pass" else (forced or self._draw())
                if self.faults.latency:
                    await asyncio.sleep(self.faults.latency)
                if fault:
                    self.counts[fault] += 1
                if fault == "reset_before":
                    abortive = True
                    return
                if fault == "stall":
                    await asyncio.sleep(self.faults.stall_seconds)
                    abortive = True
                    return
                if fault in ("slowdown", "internal"):
                    status, code = (
                        (b"503 Slow Down", "SlowDown")
                        if fault == "slowdown"
                        else (
                            b"500 Internal Server Error",
                            "InternalError",
                        )
                    )
                    payload = _ERROR_BODY.format(code=code).encode()
                    cwriter.write(
                        b"HTTP/1.1 "
                        + status
                        + b"\r\nContent-Type: application/xml\r\nContent-Length: "
                        + str(len(payload)).encode()
                        + b"\r\n\r\n"
                        + payload
                    )
                    await cwriter.drain()
                    continue
                canned = self.answer(head) if self.answer is not None else None
                if canned is not None:
                    cwriter.write(canned)
                    await cwriter.drain()
                    continue
                if self.hold is not None:
                    await self.hold(head)
                if upstream is None:
                    upstream = await asyncio.open_connection(
                        self.upstream_host, self.upstream_port, limit=2**20
                    )
                ureader, uwriter = upstream
                uwriter.write((self.rewrite_request(head) if self.rewrite_request else head) + body)
                await uwriter.drain()
                _quickack(uwriter)
                rhead = await _read_head(ureader)
                while rhead[9:10] == b"1":  # an interim answer (100 Continue): the client had its own
                    rhead = await _read_head(ureader)
                rbody = await _read_body(ureader, rhead, response=True, method=method)
                if fault == "reset_after":
                    abortive = True
                    return
                if self.rewrite is not None:
                    rhead, rbody = _rewritten(self.rewrite, head, rhead, rbody)
                cwriter.write(rhead + rbody)
                await cwriter.drain()
                if (_header(rhead, b"connection") or b"").lower() == b"close":
                    return
        except (_Closed, ConnectionError, asyncio.CancelledError):
            return
        finally:
            if upstream is not None:
                upstream[1].close()
            if abortive:
                # An abortive close (RST), as a dropped connection looks to the client. Only for an injected
                # fault: after a forwarded answer (``Connection: close``) an RST could discard bytes still unsent.
                with contextlib.suppress(Exception):
                    sock = cwriter.get_extra_info("socket")
                    if sock is not None:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            cwriter.close()


def main() -> None:
    """``python tests/faultproxy.py --upstream HOST:PORT [--latency S] [--fault-rate R] [--seed N]``.

    Runs the proxy in its own process (so benchmarks measure the client's CPU alone); prints the port, then
    serves until stdin closes or the process is terminated.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    faults = Faults.mixed(args.fault_rate, seed=args.seed, latency=args.latency)
    proxy = FaultProxy(host, int(port), faults).start()
    print(proxy.port, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.read()
    proxy.stop()


if __name__ == "__main__":
    main()
