"""A hostile S3 endpoint on 127.0.0.1 for tests: a real HTTP server whose answers attack the terminal or leak secrets.

Every request is answered by ``answer(request) -> (status, body)``; helpers build S3 ``<Error>`` documents. It
speaks HTTP/1.1 with keep-alive, so both boto3 and mputui's hand-signed lean path talk to it as to any server.
"""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Request:
    """What the server received."""

    method: str
    path: str
    headers: dict[str, str]

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    @property
    def access_key_id(self) -> str:
        match = re.search(r"Credential=([^/,\s]+)/", self.header("authorization"))
        return match.group(1) if match else ""


# An error code and message that attack the terminal: 8-bit CSI (U+009B), OSC ... ST (U+009D ... U+009C), an RLO
# (U+202E) and a zero-width space; and how mputui must show them (like keys: visible stand-ins).
HOSTILE_CODE = "Bad\x9b31mCode\u202e"
HOSTILE_MESSAGE = "pwn\x9b2J \x9d0;title\x9c \u202eexe.txt\u200bhidden \x9b?1049h"
SHOWN_CODE = "Bad\\x9b31mCode⟨U+202E⟩"
SHOWN_MESSAGE = "pwn\\x9b2J \\x9d0;title\\x9c ⟨U+202E⟩exe.txt⟨U+200B⟩hidden \\x9b?1049h"


Answer = Callable[[Request], tuple[int, bytes]]
"""``(status, body)``; status ``0``: close the connection without answering."""


def error_xml(code: str, message: str) -> bytes:
    """An S3 error document carrying ``code`` and ``message`` exactly (XML-escaped, UTF-8)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        "<RequestId>tx0001</RequestId></Error>"
    ).encode()


def list_buckets_xml(*names: str) -> bytes:
    buckets = "".join(
        f"<Bucket><Name>{escape(n)}</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket>"
        for n in names
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Owner><ID>o</ID><DisplayName>o</DisplayName></Owner><Buckets>{buckets}</Buckets>"
        "</ListAllMyBucketsResult>"
    ).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
        with self.server.lock:
            self.server.requests.append(request)
        status, body = self.server.answer(request)
        if status == 0:
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amz-request-id", "tx0001")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: Answer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.requests: list[Request] = []
        self.lock = threading.Lock()


@dataclass
class HostileS3:
    url: str
    server: _Server

    @property
    def requests(self) -> list[Request]:
        with self.server.lock:
            return list(self.server.requests)


@contextmanager
def hostile_s3(answer: Answer) -> Iterator[HostileS3]:
    """Run the server for the ``with`` block."""
    server = _Server(answer)
    thread = threading.Thread(target=server.serve_forever, name="hostile-s3", daemon=True)
    thread.start()
    try:
        yield HostileS3(f"http://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def list_uploads_xml(bucket: str, *uploads: tuple[str, str, str]) -> bytes:
    """A one-page ListMultipartUploads answer; ``uploads`` are (key, upload id, storage class)."""
    items = "".join(
        f"<Upload><Key>{escape(k)}</Key><UploadId>{escape(u)}</UploadId><StorageClass>{escape(c)}</StorageClass>"
        "<Initiated>2026-01-01T00:00:00.000Z</Initiated></Upload>"
        for k, u, c in uploads
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Bucket>{escape(bucket)}</Bucket><IsTruncated>false</IsTruncated>{items}</ListMultipartUploadsResult>"
    ).encode()


def list_parts_xml(bucket: str, key: str, upload_id: str) -> bytes:
    """A ListParts answer with no parts."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key><UploadId>{escape(upload_id)}</UploadId>"
        "<IsTruncated>false</IsTruncated></ListPartsResult>"
    ).encode()
