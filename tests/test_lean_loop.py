"""The lean event loop (mputui.s3.lean_loop): its HTTP/1.1 parser, real S3 servers, and a raw TCP server that
misbehaves on purpose (stale kept-alive connections, silence, split chunks, ``Connection: close``).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
from test_inventory import make_uploads

from conftest import BucketFactory, S3Server, empty_bucket
from mputui.s3.cancel import CancelToken
from mputui.s3.connect import ConnectionSettings, S3Connection
from mputui.s3.inventory import InventoryScan
from mputui.s3.lean import key_path, parse_list_parts
from mputui.s3.lean_loop import (
    LeanCall,
    LeanLoop,
    LeanResponse,
    LoopCancelled,
    StaleConnection,
    _Exchange,
)
from mputui.s3.models import BucketDone, ScanFinished, UploadFound

Answer = tuple[LeanCall, "LeanResponse | BaseException"]


class Answers:
    """A loop callback that queues every answer (and the thread it ran in) for the test to wait on."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[Answer] = queue.SimpleQueue()
        self.threads: set[str] = set()

    def __call__(self, call: LeanCall, result: LeanResponse | BaseException) -> None:
        self.threads.add(threading.current_thread().name)
        self.queue.put((call, result))

    def wait(self, n: int, timeout: float = 10.0) -> list[Answer]:
        deadline = time.monotonic() + timeout
        got: list[Answer] = []
        while len(got) < n:
            try:
                got.append(self.queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"only {len(got)} of {n} answers within {timeout} s: {got!r}")
        return got

    def one(self, timeout: float = 10.0) -> LeanResponse | BaseException:
        return self.wait(1, timeout)[0][1]

    def extra(self, wait: float = 0.2) -> list[Answer]:
        """Answers that arrive after the expected ones (there must be none)."""
        time.sleep(wait)
        out: list[Answer] = []
        while True:
            try:
                out.append(self.queue.get_nowait())
            except queue.Empty:
                return out


def ok(result: LeanResponse | BaseException) -> LeanResponse:
    assert isinstance(result, LeanResponse), f"expected a response, got {result!r}"
    return result


# -- 1. the parser ---------------------------------------------------------------------------------------

CHUNKED = (
    b"HTTP/1.1 200 OK\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"X-Amz-Request-Id: ABC123  \r\n"
    b"\r\n"
    b"5;name=value\r\nhello\r\n"
    b"4\r\n\r\n\r\n\r\n"  # a chunk whose data is CRLF CRLF
    b"1A; x=y ;z\r\n" + b"abcdefghijklmnopqrstuvwxyz" + b"\r\n"
    b"0;last=1\r\n"
    b"X-Trailer: one\r\n"
    b"X-Other: two\r\n"
    b"\r\n"
)
CHUNKED_BODY = b"hello\r\n\r\n" + b"abcdefghijklmnopqrstuvwxyz"


def test_content_length_body_fed_one_byte_at_a_time() -> None:
    body = b"<x>\r\n\r\nnot a head end</x>"
    raw = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    exchange = _Exchange(head_request=False)
    for i in range(len(raw) - 1):
        assert exchange.feed(raw[i : i + 1]) is None, f"complete after {i + 1} of {len(raw)} bytes"
    response = exchange.feed(raw[-1:])
    assert response is not None
    assert (response.status, response.body) == (200, body)
    assert response.headers["content-type"] == "application/xml"
    assert exchange.close is False


def test_chunked_body_at_every_split_point() -> None:
    for split in range(1, len(CHUNKED)):
        exchange = _Exchange(head_request=False)
        assert exchange.feed(CHUNKED[:split]) is None, f"complete after {split} of {len(CHUNKED)} bytes"
        response = exchange.feed(CHUNKED[split:])
        assert response is not None, f"incomplete when split at {split}"
        assert response.body == CHUNKED_BODY, f"split at {split}"
        assert response.headers["x-amz-request-id"] == "ABC123"


def test_chunked_body_one_byte_at_a_time() -> None:
    exchange = _Exchange(head_request=False)
    results = [exchange.feed(CHUNKED[i : i + 1]) for i in range(len(CHUNKED))]
    assert results[:-1] == [None] * (len(CHUNKED) - 1)
    final = results[-1]
    assert final is not None and (final.status, final.body) == (200, CHUNKED_BODY)


def test_chunked_waits_for_the_end_of_the_trailers() -> None:
    exchange = _Exchange(head_request=False)
    assert exchange.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n") is None
    assert exchange.feed(b"X-Trailer: t\r\n") is None
    response = exchange.feed(b"\r\n")
    assert response is not None and response.body == b"abc"


def test_head_response_with_a_length_completes_without_a_body() -> None:
    exchange = _Exchange(head_request=True)
    response = exchange.feed(b'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nETag: "e"\r\n\r\n')
    assert response is not None
    assert (response.status, response.body) == (200, b"")
    assert response.headers["content-length"] == "1234" and response.headers["etag"] == '"e"'
    # The same head for a GET waits for the 1,234 bytes.
    get = _Exchange(head_request=False)
    assert get.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n") is None
    assert get.eof() is None  # closed before the body: no response


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status: int) -> None:
    exchange = _Exchange(head_request=False)
    response = exchange.feed(f"HTTP/1.1 {status} Whatever\r\nDate: today\r\n\r\n".encode())
    assert response is not None and (response.status, response.body) == (status, b"")


def test_close_delimited_body_ends_only_at_eof() -> None:
    exchange = _Exchange(head_request=False)
    assert exchange.eof() is None  # nothing received yet
    assert exchange.feed(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst ") is None
    assert exchange.feed(b"second") is None
    assert exchange.feed(b"") is None
    response = exchange.eof()
    assert response is not None and (response.status, response.body) == (200, b"first second")
    assert exchange.close is True


def test_eof_before_the_head_is_no_response() -> None:
    exchange = _Exchange(head_request=False)
    assert exchange.feed(b"HTTP/1.1 200 OK\r\nContent-") is None
    assert exchange.eof() is None


@pytest.mark.parametrize(
    ("head", "close"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nCONNECTION: Close\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", False),
    ],
)
def test_connection_close(head: bytes, close: bool) -> None:
    exchange = _Exchange(head_request=False)
    response = exchange.feed(head)
    assert response is not None and response.body == b""
    assert exchange.close is close


@pytest.mark.parametrize(
    "head",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 OK\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1\r\n\r\n",
        b"\r\n\r\n",
    ],
)
def test_malformed_status_line(head: bytes) -> None:
    with pytest.raises(ValueError):
        _Exchange(head_request=False).feed(head)


def test_endless_head_is_malformed() -> None:
    exchange = _Exchange(head_request=False)
    assert exchange.feed(b"HTTP/1.1 200 OK\r\n") is None
    with pytest.raises(ValueError):
        for _ in range(100):
            exchange.feed(b"X-Filler: " + b"f" * 1000 + b"\r\n")


def test_header_names_lower_cased_and_values_trimmed() -> None:
    exchange = _Exchange(head_request=False)
    response = exchange.feed(
        b"HTTP/1.1 404 Not Found\r\nX-Amz-Request-Id:  R1 \r\nContent-LENGTH: 2\r\nX-Colon: a:b\r\n\r\nno"
    )
    assert response is not None
    assert response.status == 404 and response.body == b"no"
    assert response.headers == {"x-amz-request-id": "R1", "content-length": "2", "x-colon": "a:b"}


# -- 2. real servers (moto and Ceph RGW) -----------------------------------------------------------------

HOSTILE_KEYS = ["plain", "a b/c", "[b]x[/b]", "ü/日本", "rtl\u202e", "pct%41", "plus+", "a//b", "dot/./seg"]


# ListParts of an unknown upload: AWS and moto say NoSuchUpload, RGW says NoSuchKey.
GONE_CODES = {"NoSuchUpload", "NoSuchKey"}


def error_code(response: LeanResponse) -> str | None:
    """The Code of an S3 error body (which must be complete: all of Content-Length and well-formed XML)."""
    assert len(response.body) == int(response.headers["content-length"])
    return ET.fromstring(response.body).findtext("Code")


def _parts_view(page: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (p["PartNumber"], p["Size"], p["ETag"], p["LastModified"].timestamp()) for p in page.get("Parts", [])
    ]


def _list_parts_call(bucket: str, region: str, key: str, upload_id: str, max_parts: int = 1000) -> LeanCall:
    return LeanCall(
        "GET", bucket, region, key_path(key), (("uploadId", upload_id), ("max-parts", str(max_parts)))
    )


def test_list_parts_through_the_loop_equals_boto3(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    ids = make_uploads(client, bucket, HOSTILE_KEYS, parts=3)
    conn = S3Connection(s3_server.settings(concurrency=4))
    region = conn.bucket_region(bucket)
    calls = [_list_parts_call(bucket, region, k, u) for k, u in zip(HOSTILE_KEYS, ids, strict=True)]
    wrong = _list_parts_call(bucket, region, HOSTILE_KEYS[1], "no-such-upload-id")
    truncated = _list_parts_call(bucket, region, HOSTILE_KEYS[2], ids[2], max_parts=2)
    calls += [wrong, truncated]
    before = conn.requests
    answers = Answers()
    loop = conn.lean_loop()
    assert loop is not None
    try:
        loop.submit((call, answers) for call in calls)
        got = dict(answers.wait(len(calls)))
        assert answers.extra() == []
    finally:
        loop.close()
    assert len(got) == len(calls)  # each call answered once
    assert answers.threads == {"mputui-lean-loop"}
    assert conn.requests - before == len(calls)
    for key, upload_id, call in zip(HOSTILE_KEYS, ids, calls[: len(HOSTILE_KEYS)], strict=True):
        response = ok(got[call])
        assert response.status == 200, (key, response.body[:300])
        page = parse_list_parts(response.body)
        expected = client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
        assert page["IsTruncated"] is False
        assert len(page["Parts"]) == 3
        assert _parts_view(page) == _parts_view(expected), key
    missing = ok(got[wrong])
    assert missing.status == 404
    assert error_code(missing) in GONE_CODES
    page = parse_list_parts(ok(got[truncated]).body)
    assert page["IsTruncated"] is True and [p["PartNumber"] for p in page["Parts"]] == [1, 2]


def test_head_delete_and_errors_keep_one_connection_in_step(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    """One connection (concurrency 1), answers without a body in between: each answer is framed right."""
    client = s3_server.client()
    bucket = s3_bucket_factory()
    key = "dir/ä b+[c]"
    client.put_object(Bucket=bucket, Key=key, Body=b"hello")
    (upload_id,) = make_uploads(client, bucket, ["up/ü [x]+y"], parts=1)
    conn = S3Connection(s3_server.settings(concurrency=1))
    region = conn.bucket_region(bucket)
    head = LeanCall("HEAD", bucket, region, key_path(key), ())
    head_absent = LeanCall("HEAD", bucket, region, key_path("absent"), ())
    abort = LeanCall("DELETE", bucket, region, key_path("up/ü [x]+y"), (("uploadId", upload_id),))
    parts_after = _list_parts_call(bucket, region, "up/ü [x]+y", upload_id)
    calls = [head, head_absent, abort, parts_after, head]
    before = conn.requests
    answers = Answers()
    loop = conn.lean_loop()
    assert loop is not None
    with loop:
        loop.submit((call, answers) for call in calls)
        got = answers.wait(len(calls))
    assert [call for call, _ in got] == calls  # concurrency 1: in order
    results = [ok(result) for _, result in got]
    assert [r.status for r in results] == [200, 404, 204, 404, 200]
    assert results[0].headers["content-length"] == "5" and results[0].body == b""
    assert results[0].headers["etag"].strip('"') == client.head_object(Bucket=bucket, Key=key)["ETag"].strip(
        '"'
    )
    assert results[1].body == b"" and results[2].body == b""
    assert error_code(results[3]) in GONE_CODES
    assert results[4].headers["content-length"] == "5"
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert conn.requests - before == len(calls)


# -- 3. a raw HTTP/1.1 server over loopback TCP ----------------------------------------------------------


class RawServer:
    """A real TCP server on 127.0.0.1: one thread per connection, ``serve(server, sock)`` does the talking.

    It counts connections and requests, and how many of each were open at once.
    """

    def __init__(self, serve: Callable[[RawServer, socket.socket], None]) -> None:
        self._serve = serve
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.requests: list[str] = []  # request heads, in order of arrival
        self.connections = 0
        self.open_connections = 0
        self.max_open_connections = 0
        self.open_requests = 0
        self.max_open_requests = 0
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="raw-http-accept", daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.connections += 1
                self.open_connections += 1
                self.max_open_connections = max(self.max_open_connections, self.open_connections)
                self._socks.append(sock)
            thread = threading.Thread(target=self._run, args=(sock,), name="raw-http-conn", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, sock: socket.socket) -> None:
        try:
            self._serve(self, sock)
        except OSError:
            pass
        finally:
            with self.lock:
                self.open_connections -= 1
            sock.close()

    def read_request(self, sock: socket.socket, buf: bytearray) -> str | None:
        """The next request head on this connection (requests have no body), or None at EOF."""
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                return None
            buf += data
        end = buf.index(b"\r\n\r\n")
        head = bytes(buf[:end]).decode("latin-1")
        del buf[: end + 4]
        with self.lock:
            self.requests.append(head)
        return head

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < n:
            if time.monotonic() > deadline:
                pytest.fail(f"server saw {len(self.requests)} of {n} requests within {timeout} s")
            time.sleep(0.01)

    def close(self) -> None:
        self.stopped.set()
        self._listener.close()
        with self.lock:
            socks = list(self._socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._acceptor.join(2)
        for thread in self._threads:
            thread.join(2)

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def reply(body: bytes = b"", status: str = "200 OK", headers: tuple[str, ...] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def target(head: str) -> bytes:
    """The request target of a request head (what the raw servers echo as the body)."""
    return head.split("\r\n", 1)[0].split(" ")[1].encode()


def raw_connection(server: RawServer, **overrides: Any) -> S3Connection:
    values: dict[str, Any] = {
        "endpoint_url": f"http://127.0.0.1:{server.port}",
        "demo_credentials": ("AKIDTEST", "secret"),
        "region": "us-east-1",
        "path_style": True,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
    }
    values.update(overrides)
    return S3Connection(ConnectionSettings(**values))


def raw_loop(conn: S3Connection) -> LeanLoop:
    loop = conn.lean_loop()
    assert loop is not None
    return loop


def call(n: int, method: str = "GET") -> LeanCall:
    return LeanCall(method, "bucket", "us-east-1", f"/key{n}", (("n", str(n)),))


def expected_target(n: int) -> bytes:
    return f"/bucket/key{n}?n={n}".encode()


def test_stale_kept_alive_connection_is_resent_once() -> None:
    def serve(server: RawServer, sock: socket.socket) -> None:
        buf = bytearray()
        head = server.read_request(sock, buf)
        if head is None:
            return
        sock.sendall(reply(target(head)))
        server.read_request(sock, buf)  # the next request on this connection: hang up without an answer

    with RawServer(serve) as server:
        conn = raw_connection(server, concurrency=4)
        answers = Answers()
        with raw_loop(conn) as loop:
            loop.submit([(call(1), answers)])
            assert ok(answers.one()).body == expected_target(1)
            loop.submit([(call(2), answers)])
            second = ok(answers.one())
            assert answers.extra() == []
        assert (second.status, second.body) == (200, expected_target(2))
        assert len(server.requests) == 3
        assert server.connections == 2
        # The re-sent request is the same request (signed anew).
        first_lines = [r.split("\r\n", 1)[0] for r in server.requests]
        assert first_lines[1] == first_lines[2] == f"GET {expected_target(2).decode()} HTTP/1.1"
        assert all("Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/" in r for r in server.requests)
        assert conn.requests == 3


def test_stale_resend_goes_to_a_fresh_connection() -> None:
    """Two idle kept-alive connections, both closed by the server: the re-send must not use the second."""

    def serve(server: RawServer, sock: socket.socket) -> None:
        buf = bytearray()
        head = server.read_request(sock, buf)
        if head is None:
            return
        sock.sendall(reply(target(head)))
        server.read_request(sock, buf)

    with RawServer(serve) as server:
        conn = raw_connection(server, concurrency=2)
        answers = Answers()
        with raw_loop(conn) as loop:
            loop.submit([(call(1), answers), (call(2), answers)])  # two connections at once
            assert {ok(r).status for _, r in answers.wait(2)} == {200}
            assert server.connections == 2
            loop.submit([(call(3), answers)])
            third = answers.one()
        assert isinstance(third, LeanResponse), f"got {third!r} after {len(server.requests)} requests"
        assert third.body == expected_target(3)


def test_read_timeout() -> None:
    def serve(server: RawServer, sock: socket.socket) -> None:
        server.read_request(sock, bytearray())
        server.stopped.wait(10)  # never answer

    with RawServer(serve) as server:
        conn = raw_connection(server, read_timeout=0.3)
        answers = Answers()
        with raw_loop(conn) as loop:
            t0 = time.monotonic()
            loop.submit([(call(1), answers)])
            result = answers.one(timeout=5)
            elapsed = time.monotonic() - t0
        assert isinstance(result, TimeoutError), repr(result)
        assert 0.25 <= elapsed < 2.0
        assert len(server.requests) == 1  # a timeout is not re-sent


def test_connection_refused_is_answered() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    conn = S3Connection(
        ConnectionSettings(
            endpoint_url=f"http://127.0.0.1:{port}",
            demo_credentials=("AKIDTEST", "secret"),
            region="us-east-1",
            path_style=True,
            connect_timeout=2.0,
        )
    )
    answers = Answers()
    loop = conn.lean_loop()
    assert loop is not None
    with loop:
        loop.submit([(call(1), answers)])
        result = answers.one(timeout=5)
    assert isinstance(result, OSError) and not isinstance(result, StaleConnection), repr(result)


def test_chunked_answer_split_across_tcp_sends() -> None:
    pieces = [
        b"HTTP/1.1 200 OK\r\nTransfer-Enc",
        b"oding: chunked\r\nX-Amz-Request-Id: R",
        b"1\r\n\r",
        b"\n5;ext=1\r\nhel",
        b"lo\r\n",
        b"6\r\n wor",
        b"ld\r\n0\r",
        b"\nX-Trailer: done\r\n",
        b"\r\n",
    ]

    def serve(server: RawServer, sock: socket.socket) -> None:
        buf = bytearray()
        if server.read_request(sock, buf) is None:
            return
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(0.02)
        head = server.read_request(sock, buf)  # the same connection stays in step
        if head is not None:
            sock.sendall(reply(target(head)))

    with RawServer(serve) as server:
        conn = raw_connection(server, concurrency=1)
        answers = Answers()
        with raw_loop(conn) as loop:
            loop.submit([(call(1), answers), (call(2), answers)])
            (c1, r1), (c2, r2) = answers.wait(2)
        first, second = ok(r1), ok(r2)
        assert (c1, c2) == (call(1), call(2))
        assert (first.status, first.body, first.headers["x-amz-request-id"]) == (200, b"hello world", "R1")
        assert second.body == expected_target(2)
        assert server.connections == 1 and len(server.requests) == 2


def test_close_with_many_calls_pending() -> None:
    def serve(server: RawServer, sock: socket.socket) -> None:
        server.read_request(sock, bytearray())
        server.stopped.wait(10)  # never answer

    with RawServer(serve) as server:
        conn = raw_connection(server, concurrency=2)
        answers = Answers()
        loop = raw_loop(conn)
        calls = [call(n) for n in range(10)]
        loop.submit((c, answers) for c in calls)
        server.wait_for_requests(2)
        time.sleep(0.1)
        assert len(server.requests) == 2  # concurrency 2: the others wait
        t0 = time.monotonic()
        loop.close()
        assert time.monotonic() - t0 < 2.0
        got = answers.wait(10, timeout=2)
        assert answers.extra() == []
        assert sorted(c.key_path for c, _ in got) == sorted(c.key_path for c in calls)  # each once
        assert all(isinstance(r, LoopCancelled) for _, r in got), got
        assert loop.loop.is_closed()
        loop.close()  # idempotent
        assert answers.extra(0.05) == []
        assert len(server.requests) == 2


def test_cancelled_calls_are_not_sent() -> None:
    def serve(server: RawServer, sock: socket.socket) -> None:
        buf = bytearray()
        while (head := server.read_request(sock, buf)) is not None:
            sock.sendall(reply(target(head)))

    with RawServer(serve) as server:
        conn = raw_connection(server, concurrency=2)
        cancel = CancelToken()
        answers = Answers()
        loop = LeanLoop(conn._lean_client(), concurrency=2, connect_timeout=2, read_timeout=5, cancel=cancel)
        with loop:
            loop.submit([(call(1), answers)])
            assert ok(answers.one()).body == expected_target(1)
            cancel.cancel()
            loop.submit((call(n), answers) for n in range(2, 6))
            rest = answers.wait(4)
        assert all(isinstance(r, LoopCancelled) for _, r in rest), rest
        assert len(server.requests) == 1 and conn.requests == 1


@pytest.mark.parametrize("hang_up", [True, False], ids=["server-closes", "server-keeps-socket"])
def test_connection_close_answers(hang_up: bool) -> None:
    """After ``Connection: close`` the loop opens a new connection, whether or not the server hangs up."""

    def serve(server: RawServer, sock: socket.socket) -> None:
        buf = bytearray()
        head = server.read_request(sock, buf)
        if head is None:
            return
        sock.sendall(reply(target(head), headers=("Connection: close",)))
        if hang_up:
            return
        if server.read_request(sock, buf) is not None:  # a client that reused the connection
            sock.sendall(reply(b"reused a closed connection", status="500 Internal Server Error"))
        server.stopped.wait(10)

    with RawServer(serve) as server:
        conn = raw_connection(server, concurrency=2)
        answers = Answers()
        with raw_loop(conn) as loop:
            for n in range(5):
                loop.submit([(call(n), answers)])
                response = ok(answers.one())
                assert (response.status, response.body) == (200, expected_target(n))
        assert server.connections == 5 and len(server.requests) == 5
        assert conn.requests == 5


def test_close_delimited_answer_over_the_wire() -> None:
    def serve(server: RawServer, sock: socket.socket) -> None:
        head = server.read_request(sock, bytearray())
        if head is None:
            return
        sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        time.sleep(0.02)
        sock.sendall(b"body of " + target(head))

    with RawServer(serve) as server:
        conn = raw_connection(server)
        answers = Answers()
        with raw_loop(conn) as loop:
            for n in (1, 2):
                loop.submit([(call(n), answers)])
                assert ok(answers.one()).body == b"body of " + expected_target(n)
        assert server.connections == 2


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Le", "mid-answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "mid-answer"),
        (b"ICY 200 OK\r\n\r\n", "malformed"),
    ],
    ids=["partial-head", "partial-body", "malformed"],
)
def test_broken_answer_on_a_kept_alive_connection_is_not_resent(second: bytes, message: str) -> None:
    def serve(server: RawServer, sock: socket.socket) -> None:
        buf = bytearray()
        head = server.read_request(sock, buf)
        if head is None:
            return
        sock.sendall(reply(target(head)))
        if server.read_request(sock, buf) is not None:
            sock.sendall(second)
            time.sleep(0.05)
        # then hang up

    with RawServer(serve) as server:
        conn = raw_connection(server)
        answers = Answers()
        with raw_loop(conn) as loop:
            loop.submit([(call(1), answers)])
            assert ok(answers.one()).status == 200
            loop.submit([(call(2), answers)])
            result = answers.one()
        assert isinstance(result, ConnectionError) and not isinstance(result, StaleConnection), repr(result)
        assert message in str(result)
        assert len(server.requests) == 2 and conn.requests == 2


def test_concurrency_bound() -> None:
    full = threading.Event()  # three requests were open at once

    def serve(server: RawServer, sock: socket.socket) -> None:
        buf = bytearray()
        while (head := server.read_request(sock, buf)) is not None:
            with server.lock:
                server.open_requests += 1
                server.max_open_requests = max(server.max_open_requests, server.open_requests)
                if server.open_requests == 3:
                    full.set()
            full.wait(10)  # the first answers wait for the third request: overlap made certain, not timed
            time.sleep(0.2)
            with server.lock:
                server.open_requests -= 1
            sock.sendall(reply(target(head)))

    with RawServer(serve) as server:
        conn = raw_connection(server, concurrency=3)
        answers = Answers()
        t0 = time.monotonic()
        with raw_loop(conn) as loop:
            loop.submit((call(n), answers) for n in range(9))
            got = answers.wait(9)
        elapsed = time.monotonic() - t0
        assert sorted(ok(r).body for _, r in got) == sorted(expected_target(n) for n in range(9))
        assert server.max_open_requests == 3
        assert server.max_open_connections <= 3
        assert server.connections == 3  # kept alive and reused
        assert elapsed >= 0.55  # three rounds of 0.2 s
        assert conn.requests == 9


def test_a_failing_callback_does_not_stop_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    def serve(server: RawServer, sock: socket.socket) -> None:
        buf = bytearray()
        while (head := server.read_request(sock, buf)) is not None:
            sock.sendall(reply(target(head)))

    def broken(_call: LeanCall, _result: LeanResponse | BaseException) -> None:
        raise RuntimeError("callback bug")

    with RawServer(serve) as server, caplog.at_level(logging.ERROR, logger="mputui.s3.lean_loop"):
        conn = raw_connection(server, concurrency=1)
        answers = Answers()
        with raw_loop(conn) as loop:
            loop.submit([(call(1), broken), (call(2), answers)])
            assert ok(answers.one()).body == expected_target(2)
    assert "lean loop callback failed" in caplog.text


# -- 4. the inventory scan through the loop --------------------------------------------------------------


def _scan(conn: S3Connection, bucket: str, page_size: int) -> tuple[dict[str, Any], tuple[Any, ...], int]:
    events = list(InventoryScan(conn, bucket=bucket, page_size=page_size).events())
    found = {
        e.upload.upload_id: (
            e.upload.key,
            e.upload.parts,
            e.upload.size,
            e.upload.last_modified,
            e.upload.error,
        )
        for e in events
        if isinstance(e, UploadFound)
    }
    assert len(found) == sum(1 for e in events if isinstance(e, UploadFound))  # each upload once
    (done,) = [e.summary for e in events if isinstance(e, BucketDone)]
    finished = events[-1]
    assert isinstance(finished, ScanFinished) and not finished.totals.cancelled
    return (
        found,
        (done.uploads, done.parts, done.size, done.unknown_sizes, done.error),
        finished.totals.requests,
    )


def test_scan_through_the_loop_equals_threaded_scan(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    keys = HOSTILE_KEYS + [f"k/{i:02d}" for i in range(60 - len(HOSTILE_KEYS))]
    ids = make_uploads(client, bucket, keys, parts=3, workers=32)  # 1 + 2 + 3 bytes each
    for page_size in (2, 1000):
        lean_found, lean_done, lean_requests = _scan(
            S3Connection(s3_server.settings(concurrency=16)), bucket, page_size
        )
        boto_found, boto_done, boto_requests = _scan(
            S3Connection(s3_server.settings(concurrency=16, lean=False)), bucket, page_size
        )
        assert lean_found == boto_found, page_size
        assert set(lean_found) == set(ids)
        assert {v[0] for v in lean_found.values()} == set(keys)
        assert all(v[1:3] == (3, 6) and v[4] is None for v in lean_found.values())
        assert lean_done == boto_done == (60, 180, 360, 0, None)
        if page_size == 2:
            # Every loop answer is truncated: one loop call per upload, then its two pages on the threads.
            assert lean_requests == boto_requests + 60
        else:
            # Every loop answer is complete: one ListParts per upload either way.
            assert lean_requests == boto_requests


class _HeldListing(S3Connection):
    """Every ListMultipartUploads page after the first is held until ``release`` is set (a slow server)."""

    release = threading.Event()

    def call(self, bucket: str, operation: str, **params: Any) -> dict[str, Any]:
        if operation == "list_multipart_uploads" and params.get("KeyMarker"):
            self.release.wait(60)
        return super().call(bucket, operation, **params)


def test_cancel_while_a_bucket_is_still_listing(rgw_server: S3Server) -> None:
    """RGW only: moto answers ListMultipartUploads in one page whatever MaxUploads says."""
    client = rgw_server.client()
    bucket = "cancel-" + uuid.uuid4().hex[:10]
    client.create_bucket(Bucket=bucket)
    try:
        make_uploads(client, bucket, [f"k{i}" for i in range(6)], parts=1)
        conn = _HeldListing(rgw_server.settings())
        conn.release = threading.Event()
        scan = InventoryScan(conn, bucket=bucket, page_size=2)
        finished = None
        for event in scan.events():
            if isinstance(event, UploadFound):
                scan.cancel()  # while the second listing page is held
                conn.release.set()
            if isinstance(event, ScanFinished):
                finished = event
        assert finished is not None and finished.totals.cancelled
        assert [b.error for b in finished.buckets] == ["cancelled"]
    finally:
        empty_bucket(client, bucket)
        client.delete_bucket(Bucket=bucket)
