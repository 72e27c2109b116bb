"""A test double for parts that survive an abort, which AWS documents and neither moto nor Ceph RGW shows.

An HTTP proxy in front of a real server (``FaultProxy`` hooks): the first DELETE of a chosen upload goes to the
server, which aborts it; from then on the double shows the upload as if a part still being written had landed
after the abort — ListParts answers with that part and ListMultipartUploads lists the upload — until it has
answered ``survives`` further DELETEs of it (204, as S3 does when it removes the surviving parts). After that the
server's own answers (NoSuchUpload) show through. ``survives=None``: the parts survive every abort.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from faultproxy import FaultProxy, Faults

from conftest import S3Server

_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_WHEN = "2026-01-01T00:00:00.000Z"


@dataclass
class Survivor:
    bucket: str
    key: str
    survives: int | None  # further aborts the surviving part outlives after the first; None: every one


@dataclass
class SurvivingParts:
    """Start with ``start()``; ``url`` is the endpoint to use; ``stop()`` when done."""

    server: S3Server
    survivors: dict[str, Survivor]  # by upload id
    aborts: Counter[str] = field(default_factory=Counter)  # DELETEs seen per chosen upload id

    def __post_init__(self) -> None:
        parts = urlsplit(self.server.url)
        self.proxy = FaultProxy(
            parts.hostname or "127.0.0.1",
            parts.port or 80,
            Faults(),
            answer=self._answer,
            rewrite=self._rewrite,
        )

    @property
    def url(self) -> str:
        return self.proxy.url

    def start(self) -> SurvivingParts:
        self.proxy.start()
        return self

    def stop(self) -> None:
        self.proxy.stop()

    def shown(self, upload_id: str) -> bool:
        """True while the double shows the upload after its first abort."""
        s = self.survivors[upload_id]
        n = self.aborts[upload_id]
        return n >= 1 and (s.survives is None or n <= s.survives)

    def _target(self, head: bytes) -> tuple[str, str, dict[str, list[str]]]:
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        split = urlsplit(target)
        return method, unquote(split.path), parse_qs(split.query, keep_blank_values=True)

    def _answer(self, head: bytes) -> bytes | None:
        method, _path, query = self._target(head)
        upload_id = (query.get("uploadId") or [""])[0]
        if upload_id not in self.survivors:
            return None
        if method == "DELETE":
            self.aborts[upload_id] += 1
            if self.aborts[upload_id] == 1:
                return None  # the real abort
            return b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
        if method == "GET" and "partNumber" not in query and self.shown(upload_id):
            return _ok(_list_parts(self.survivors[upload_id], upload_id))
        return None

    def _rewrite(self, head: bytes, _rhead: bytes, body: bytes) -> bytes | None:
        method, path, query = self._target(head)
        if method != "GET" or "uploads" not in query:
            return None
        bucket = path.strip("/")
        prefix = (query.get("prefix") or [""])[0]
        extra = "".join(
            _upload(s, upload_id)
            for upload_id, s in self.survivors.items()
            if s.bucket == bucket and s.key.startswith(prefix) and self.shown(upload_id)
        )
        end = b"</ListMultipartUploadsResult>"
        if not extra or end not in body:
            return None
        return body.replace(end, extra.encode() + end)


def _ok(xml: str) -> bytes:
    payload = xml.encode()
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: "
        + str(len(payload)).encode()
        + b"\r\n\r\n"
        + payload
    )


def _list_parts(s: Survivor, upload_id: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ListPartsResult xmlns="{_NS}"><Bucket>{escape(s.bucket)}</Bucket>'
        f"<Key>{escape(s.key)}</Key><UploadId>{escape(upload_id)}</UploadId><PartNumberMarker>0</PartNumberMarker>"
        "<NextPartNumberMarker>1</NextPartNumberMarker><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>"
        f'<Part><PartNumber>1</PartNumber><LastModified>{_WHEN}</LastModified><ETag>"{"0" * 32}"</ETag>'
        "<Size>5</Size></Part></ListPartsResult>"
    )


def _upload(s: Survivor, upload_id: str) -> str:
    owner = "<ID>survivor</ID><DisplayName>survivor</DisplayName>"
    return (
        f"<Upload><Key>{escape(s.key)}</Key><UploadId>{escape(upload_id)}</UploadId>"
        f"<Initiator>{owner}</Initiator><Owner>{owner}</Owner><StorageClass>STANDARD</StorageClass>"
        f"<Initiated>{_WHEN}</Initiated></Upload>"
    )
