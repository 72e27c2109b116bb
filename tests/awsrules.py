"""A loopback HTTP proxy in front of moto that plays AWS's rules for uploads created with a checksum algorithm.

moto 5.2.1 stores an upload's ``ChecksumAlgorithm``/``ChecksumType`` (and lists them in ListMultipartUploads),
but lists no part checksums in ListParts and completes such an upload without them; Ceph RGW 16 has no flexible
checksums at all. AWS does what this double does:

- CreateMultipartUpload: the algorithm and type (``x-amz-checksum-algorithm``/``-type``) are remembered with the
  upload id moto answers;
- UploadPart: a checksum of another algorithm is refused, and so is none for a COMPOSITE upload
  (``InvalidRequest: Checksum Type mismatch occurred...``); a FULL_OBJECT upload's part without one gets it
  computed here; a value that does not match the body is ``BadDigest``; the part's checksum is remembered and
  echoed in the answer's ``x-amz-checksum-*`` header;
- ListParts: each part gets its ``<ChecksumALG>``, the answer its ``<ChecksumAlgorithm>``/``<ChecksumType>``;
- CompleteMultipartUpload: a part without its checksum is refused with AWS's message ("The upload was created
  using a crc32 checksum. The complete request must include the checksum for each part. It was missing for part
  1 in the request."), a wrong one with ``InvalidPart``, a full-object checksum that is not the object's with
  ``BadDigest``.

Requests are forwarded unchanged (moto checks no signature; the Host header is kept). Only ever listens on and
connects to loopback.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from botocore.httpchecksum import _CHECKSUM_CLS
from faultproxy import _Closed, _dechunk, _header, _quickack, _read_body, _read_head

_CHECKSUM_HEADER = re.compile(
    rb"^x-amz-checksum-(crc32|crc32c|crc64nvme|sha1|sha256|sha512|md5|xxhash64|xxhash3|xxhash128)$"
)


def checksum_of(algorithm: str, data: bytes) -> str:
    """The base64 checksum as botocore computes it (independent of mputui's own implementation)."""
    if algorithm == "MD5":
        return base64.b64encode(hashlib.md5(data).digest()).decode()
    return str(_CHECKSUM_CLS[algorithm.lower()]().handle(data))


def error_answer(status: str, code: str, message: str) -> bytes:
    """A whole HTTP answer carrying S3's error document."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        "<RequestId>awsrules</RequestId><HostId>awsrules</HostId></Error>"
    ).encode()
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


@dataclass
class _Upload:
    algorithm: str
    kind: str  # COMPOSITE | FULL_OBJECT
    parts: dict[int, tuple[str, bytes]] = field(default_factory=dict)  # number -> (checksum, body)


def _checksum_header(head: bytes) -> tuple[str, str] | None:
    """(ALGORITHM, value) of the request's x-amz-checksum-ALG header, if any."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        match = _CHECKSUM_HEADER.match(name.strip().lower())
        if match:
            return match.group(1).decode().upper(), value.strip().decode()
    return None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


@dataclass
class AwsRulesProxy:
    """Run with ``start()``; ``url`` is the endpoint to give clients; ``stop()`` when done."""

    upstream_host: str
    upstream_port: int
    uploads: dict[str, _Upload] = field(default_factory=dict)
    # What the double refused, in order: (operation, error code, message).
    refused: list[tuple[str, str, str]] = field(default_factory=list)
    # The XML bodies of the CompleteMultipartUpload requests it forwarded, and their checksum headers.
    completed: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AwsRulesProxy:
        self._thread = threading.Thread(target=self._run, name="awsrules", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("AWS-rules proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0, limit=2**20))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    # -- the rules -------------------------------------------------------------------------------------

    def _refuse(self, operation: str, status: str, code: str, message: str) -> bytes:
        self.refused.append((operation, code, message))
        return error_answer(status, code, message)

    def _before(self, method: str, query: dict[str, list[str]], head: bytes, body: bytes) -> bytes | None:
        """A refusal to send instead of forwarding, or None."""
        upload_id = (query.get("uploadId") or [""])[0]
        upload = self.uploads.get(upload_id)
        if upload is None:
            return None
        if method == "PUT" and "partNumber" in query and _header(head, b"x-amz-copy-source") is None:
            if b"aws-chunked" in (_header(head, b"content-encoding") or b"").lower():
                return self._refuse(
                    "UploadPart", "501 Not Implemented", "NotImplemented", "aws-chunked bodies"
                )
            given = _checksum_header(head)
            actual = given[0].lower() if given else "null"
            if (given is None and upload.kind == "COMPOSITE") or (given and given[0] != upload.algorithm):
                return self._refuse(
                    "UploadPart",
                    "400 Bad Request",
                    "InvalidRequest",
                    f"Checksum Type mismatch occurred, expected checksum Type: {upload.algorithm.lower()}, "
                    f"actual checksum Type: {actual}",
                )
            if given is not None and given[1] != checksum_of(upload.algorithm, body):
                return self._refuse(
                    "UploadPart",
                    "400 Bad Request",
                    "BadDigest",
                    f"The {upload.algorithm} you specified did not match the calculated checksum.",
                )
            return None
        if method == "POST" and "uploadId" in query:
            return self._check_complete(upload, head, body)
        return None

    def _check_complete(self, upload: _Upload, head: bytes, body: bytes) -> bytes | None:
        field_name = "Checksum" + upload.algorithm
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return None  # moto answers MalformedXML
        for part in (e for e in root if _local(e.tag) == "Part"):
            values = {_local(c.tag): (c.text or "").strip() for c in part}
            number = int(values.get("PartNumber", "0"))
            if not values.get(field_name):
                return self._refuse(
                    "CompleteMultipartUpload",
                    "400 Bad Request",
                    "InvalidRequest",
                    f"The upload was created using a {upload.algorithm.lower()} checksum. The complete request "
                    f"must include the checksum for each part. It was missing for part {number} in the request.",
                )
            known = upload.parts.get(number)
            if known is None or known[0] != values[field_name]:
                return self._refuse(
                    "CompleteMultipartUpload",
                    "400 Bad Request",
                    "InvalidPart",
                    "One or more of the specified parts could not be found.  The part may not have been "
                    "uploaded, or the specified entity tag may not match the part's entity tag.",
                )
        given = _checksum_header(head)
        if given is not None and upload.kind == "FULL_OBJECT":
            numbers = [
                int(next((c.text or "0") for c in p if _local(c.tag) == "PartNumber"))
                for p in root
                if _local(p.tag) == "Part"
            ]
            whole = b"".join(upload.parts[n][1] for n in sorted(numbers) if n in upload.parts)
            if given[0] != upload.algorithm or given[1] != checksum_of(upload.algorithm, whole):
                return self._refuse(
                    "CompleteMultipartUpload",
                    "400 Bad Request",
                    "BadDigest",
                    f"The {given[0]} you specified for the full object did not match the calculated checksum.",
                )
        return None

    def _after(
        self,
        method: str,
        query: dict[str, list[str]],
        head: bytes,
        body: bytes,
        rhead: bytes,
        rbody: bytes,
    ) -> bytes | None:
        """The answer's new body, or None to pass it on; records what succeeded."""
        status = int(rhead.split(b" ", 2)[1])
        if status != 200:
            return None
        upload_id = (query.get("uploadId") or [""])[0]
        if method == "POST" and "uploads" in query:
            algorithm = (_header(head, b"x-amz-checksum-algorithm") or b"").decode().upper()
            if algorithm:
                kind = (_header(head, b"x-amz-checksum-type") or b"").decode().upper()
                kind = kind or ("FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE")
                new_id = re.search(rb"<UploadId>([^<]+)</UploadId>", rbody)
                if new_id:
                    self.uploads[new_id.group(1).decode()] = _Upload(algorithm, kind)
            return None
        upload = self.uploads.get(upload_id)
        if upload is None:
            return None
        if method == "PUT" and "partNumber" in query and _header(head, b"x-amz-copy-source") is None:
            value = checksum_of(upload.algorithm, body)
            upload.parts[int(query["partNumber"][0])] = (value, body)
            return None
        if method == "POST":
            checksums = {
                k.decode(): v.decode()
                for k, v in (
                    (line.partition(b":")[0].strip().lower(), line.partition(b":")[2].strip())
                    for line in head.split(b"\r\n")[1:]
                )
                if k.startswith(b"x-amz-checksum-")
            }
            self.completed.append((body, checksums))
            del self.uploads[upload_id]
            return None
        if method == "GET" and "partNumber" not in query:
            return self._list_parts(upload, rbody)
        return None

    def _list_parts(self, upload: _Upload, body: bytes) -> bytes:
        name = "Checksum" + upload.algorithm

        def part(match: re.Match[bytes]) -> bytes:
            number = int(match.group(1))
            known = upload.parts.get(number)
            extra = f"<{name}>{known[0]}</{name}>".encode() if known else b""
            return match.group(0) + extra

        body = re.sub(rb"<PartNumber>(\d+)</PartNumber>", part, body)
        top = (
            f"<ChecksumAlgorithm>{upload.algorithm}</ChecksumAlgorithm><ChecksumType>{upload.kind}</ChecksumType>"
        ).encode()
        return re.sub(rb"(</UploadId>)", lambda m: m.group(1) + top, body, count=1)

    # -- HTTP ------------------------------------------------------------------------------------------

    async def _client(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                head = await _read_head(creader)
                method, target = head.split(b" ", 2)[:2]
                if (_header(head, b"expect") or b"").lower() == b"100-continue":
                    cwriter.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    await cwriter.drain()
                raw = await _read_body(creader, head, response=False, method=method)
                chunked = b"chunked" in (_header(head, b"transfer-encoding") or b"").lower()
                body = _dechunk(raw) if chunked else raw
                query = parse_qs(urlsplit(target.decode("latin-1")).query, keep_blank_values=True)
                verb = method.decode()
                with self._lock:
                    refusal = self._before(verb, query, head, body)
                if refusal is not None:
                    cwriter.write(refusal)
                    await cwriter.drain()
                    continue
                if upstream is None:
                    upstream = await asyncio.open_connection(
                        self.upstream_host, self.upstream_port, limit=2**20
                    )
                ureader, uwriter = upstream
                uwriter.write(head + raw)
                await uwriter.drain()
                _quickack(uwriter)
                rhead = await _read_head(ureader)
                while rhead[9:10] == b"1":
                    rhead = await _read_head(ureader)
                rbody = await _read_body(ureader, rhead, response=True, method=method)
                rchunked = b"chunked" in (_header(rhead, b"transfer-encoding") or b"").lower()
                plain = _dechunk(rbody) if rchunked else rbody
                with self._lock:
                    new = self._after(verb, query, head, body, rhead, plain)
                    echo = self._echo(verb, query, rhead)
                if new is not None or echo:
                    lines = [
                        line
                        for line in rhead.rstrip(b"\r\n").split(b"\r\n")
                        if line.partition(b":")[0].strip().lower()
                        not in (b"content-length", b"transfer-encoding")
                    ]
                    payload = new if new is not None else plain
                    lines += [*echo, b"Content-Length: " + str(len(payload)).encode()]
                    rhead, rbody = b"\r\n".join(lines) + b"\r\n\r\n", payload
                cwriter.write(rhead + rbody)
                await cwriter.drain()
                if (_header(rhead, b"connection") or b"").lower() == b"close":
                    return
        except (_Closed, ConnectionError, asyncio.CancelledError):
            return
        finally:
            if upstream is not None:
                upstream[1].close()
            cwriter.close()

    def _echo(self, method: str, query: dict[str, list[str]], rhead: bytes) -> list[bytes]:
        """The checksum header AWS returns with an UploadPart answer."""
        if method != "PUT" or "partNumber" not in query or int(rhead.split(b" ", 2)[1]) != 200:
            return []
        upload = self.uploads.get((query.get("uploadId") or [""])[0])
        if upload is None:
            return []
        known = upload.parts.get(int(query["partNumber"][0]))
        name = f"x-amz-checksum-{upload.algorithm.lower()}"
        if known is None or _header(rhead, name.encode()) is not None:  # moto echoes a checksum it was sent
            return []
        return [f"{name}: {known[0]}".encode()]
