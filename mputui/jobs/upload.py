"""What uploading local files needs besides the multipart job (``sources.FileChunks``): the file's description
(``UploadSource``), the run's memory cap (``ByteBudget``: at most part workers x part size held), and the single
requests put also makes: a small file's PUT and a server-side copy.
"""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mputui.jobs.events import RunTracker
from mputui.jobs.multipart import JobContext
from mputui.s3.checksums import normalize_etag, plain_md5
from mputui.s3.connect import S3Connection
from mputui.s3.errors import MputuiError
from mputui.s3.objects import MD5_META, ObjectInfo


class ContentChanged(MputuiError):
    """The local bytes no longer have the MD5 they had when they were read first (the file changed)."""


def b64md5(hex_md5: str) -> str:
    """A hex MD5 as the base64 ``Content-MD5`` header wants it."""
    return base64.b64encode(bytes.fromhex(hex_md5)).decode()


def object_headers(content_type: str | None, content_encoding: str | None) -> dict[str, str]:
    """PutObject/Create/Copy parameters for the content headers that are set."""
    headers = {}
    if content_type:
        headers["ContentType"] = content_type
    if content_encoding:
        headers["ContentEncoding"] = content_encoding
    return headers


@dataclass(frozen=True, slots=True)
class UploadSource:
    """Where a job reads its bytes: ``path`` holds exactly the ``size`` bytes to store. ``part_md5s``: the
    MD5s already known (digest pass or verification), so no byte is hashed twice; others are hashed when sent.
    ``md5`` (whole content) goes into ``x-amz-meta-md5`` when the upload is created. ``checksum_algorithm``: the
    flexible checksum every part is sent with (resume of an upload created with one: S3 wants the same)."""

    path: str
    size: int
    part_size: int
    part_md5s: dict[int, str] = field(default_factory=dict)
    md5: str | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    checksum_algorithm: str | None = None


@dataclass
class UploadContext(JobContext):
    """What the upload jobs of one run share: a job's context, the run's totals and its memory cap."""

    tracker: RunTracker | None = None
    budget: ByteBudget | None = None


class ByteBudget:
    """At most ``limit`` bytes of file data held at once (each read waits for its share)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, size: int) -> Iterator[None]:
        size = min(size, self.limit)
        with self._cond:
            self._cond.wait_for(lambda: self._held + size <= self.limit)
            self._held += size
        try:
            yield
        finally:
            with self._cond:
                self._held -= size
                self._cond.notify_all()


# -- single requests ---------------------------------------------------------------------------------------


def put_small(
    conn: S3Connection,
    bucket: str,
    key: str,
    data: bytes,
    md5: str,
    *,
    content_type: str | None = None,
    content_encoding: str | None = None,
) -> str:
    """One PutObject with ``Content-MD5`` and ``x-amz-meta-md5``; the object's ETag (checked against ``md5``)."""
    response = conn.call(
        bucket,
        "put_object",
        Key=key,
        Body=data,
        ContentMD5=b64md5(md5),
        Metadata={MD5_META: md5},
        **object_headers(content_type, content_encoding),
    )
    etag = normalize_etag(response.get("ETag")).lower()
    if plain_md5(etag) is not None and etag != md5:
        raise ContentChanged(f"s3://{bucket}/{key}: the server stored other bytes (ETag {etag}, MD5 {md5})")
    return etag


def server_copy(
    conn: S3Connection,
    src: ObjectInfo,
    bucket: str,
    key: str,
    md5: str,
    *,
    content_type: str | None = None,
    content_encoding: str | None = None,
) -> None:
    """CopyObject ``src`` → ``bucket/key`` server side, only if ``src`` still has its ETag; our headers apply."""
    params: dict[str, Any] = {
        "Key": key,
        "CopySource": {"Bucket": src.bucket, "Key": src.key},
        "CopySourceIfMatch": f'"{src.etag}"',
        "MetadataDirective": "REPLACE",
        "Metadata": {MD5_META: md5},
        **object_headers(content_type, content_encoding),
    }
    conn.call(bucket, "copy_object", **params)
