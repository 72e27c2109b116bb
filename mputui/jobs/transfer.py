"""How bytes move between two endpoints: server side when they are the same, streamed when they differ.

Server side: CopyObject, or UploadPartCopy with a byte range; the bytes never leave the S3 service. Across
endpoints a server cannot reach the other, so each part is a ranged GET held in memory and sent with
UploadPart: memory stays below (parallel parts x part size). Every request that reads the source names the
ETag it expects (``CopySourceIfMatch`` / ``IfMatch``), so a source that changes mid-copy fails with 412.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import weakref
from dataclasses import replace
from typing import Any

from mputui.jobs.kinds import CopyMethod
from mputui.s3.checksums import normalize_etag, quoted_etag
from mputui.s3.connect import S3Connection
from mputui.s3.errors import MputuiError, error_code, http_status
from mputui.s3.objects import ObjectInfo, object_params

_single_attempt: weakref.WeakKeyDictionary[S3Connection, S3Connection] = weakref.WeakKeyDictionary()
_single_attempt_lock = threading.Lock()


def single_attempt(conn: S3Connection) -> S3Connection:
    """A connection like ``conn`` (same settings and credentials chain) that sends every request once: for a
    request botocore must not resend blindly (CreateMultipartUpload makes a new upload each time)."""
    with _single_attempt_lock:
        found = _single_attempt.get(conn)
        if found is None:
            # No retry at all: one attempt in total.
            found = _single_attempt[conn] = S3Connection(replace(conn.settings, max_attempts=1))
        return found


class SourceChanged(MputuiError):
    """The source no longer has the ETag the job was started for."""


def is_precondition_failed(exc: BaseException) -> bool:
    return error_code(exc) == "PreconditionFailed" or http_status(exc) == 412


class Transfer:
    """The operations of one copy direction (source connection → destination connection)."""

    def __init__(self, src_conn: S3Connection, dst_conn: S3Connection) -> None:
        self.src_conn = src_conn
        self.dst_conn = dst_conn
        self.streaming = src_conn is not dst_conn and src_conn.endpoint_url != dst_conn.endpoint_url

    def method(self, multipart: bool) -> CopyMethod:
        if self.streaming:
            return CopyMethod.STREAM_MULTIPART if multipart else CopyMethod.STREAM
        return CopyMethod.MULTIPART if multipart else CopyMethod.COPY

    # -- single request -----------------------------------------------------------------------------

    def copy_single(self, src: ObjectInfo, dst_bucket: str, dst_key: str) -> None:
        """Copy a whole object in one request (server side) or one GET + PUT (streamed)."""
        try:
            if self.streaming:
                data = self._get(src, None)
                self.dst_conn.call(
                    dst_bucket,
                    "put_object",
                    Key=dst_key,
                    Body=data,
                    ContentMD5=_b64md5(data),
                    **object_params(src),
                )
            else:
                self.dst_conn.call(
                    dst_bucket,
                    "copy_object",
                    Key=dst_key,
                    CopySource={"Bucket": src.bucket, "Key": src.key},
                    CopySourceIfMatch=quoted_etag(src.etag),
                    MetadataDirective="REPLACE",
                    **object_params(src),
                )
        except Exception as exc:
            if is_precondition_failed(exc):
                raise SourceChanged(f"source {src.url} changed during the copy") from exc
            raise

    # -- multipart ----------------------------------------------------------------------------------

    def create(self, src: ObjectInfo, dst_bucket: str, dst_key: str) -> str:
        """One CreateMultipartUpload carrying ``src``'s metadata, sent once (never retried: a lost answer may
        have made an upload, see ``mputui.jobs.multipart.UploadCreator``); the new upload's id."""
        response = single_attempt(self.dst_conn).call(
            dst_bucket, "create_multipart_upload", Key=dst_key, **object_params(src)
        )
        return str(response["UploadId"])

    def copy_part(
        self,
        src: ObjectInfo,
        dst_bucket: str,
        dst_key: str,
        upload_id: str,
        part_number: int,
        first: int,
        last: int,
    ) -> str:
        """Copy bytes ``first..last`` of ``src`` into part ``part_number``; the part's ETag."""
        try:
            if self.streaming:
                data = self._get(src, (first, last))
                response = self.dst_conn.call(
                    dst_bucket,
                    "upload_part",
                    Key=dst_key,
                    UploadId=upload_id,
                    PartNumber=part_number,
                    Body=data,
                    ContentMD5=_b64md5(data),
                )
                return normalize_etag(response.get("ETag"))
            response = self.dst_conn.call(
                dst_bucket,
                "upload_part_copy",
                Key=dst_key,
                UploadId=upload_id,
                PartNumber=part_number,
                CopySource={"Bucket": src.bucket, "Key": src.key},
                CopySourceRange=f"bytes={first}-{last}",
                CopySourceIfMatch=quoted_etag(src.etag),
            )
            return normalize_etag(response.get("CopyPartResult", {}).get("ETag"))
        except Exception as exc:
            if is_precondition_failed(exc):
                raise SourceChanged(f"source {src.url} changed during the copy") from exc
            raise

    def complete(self, dst_bucket: str, dst_key: str, upload_id: str, etags: dict[int, str]) -> None:
        parts = [{"PartNumber": n, "ETag": quoted_etag(etags[n])} for n in sorted(etags)]
        self.dst_conn.call(
            dst_bucket,
            "complete_multipart_upload",
            Key=dst_key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )

    def _get(self, src: ObjectInfo, byte_range: tuple[int, int] | None) -> bytes:
        params: dict[str, Any] = {"Key": src.key, "IfMatch": quoted_etag(src.etag)}
        expected = src.size
        if byte_range is not None:
            params["Range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
            expected = byte_range[1] - byte_range[0] + 1
        response = self.src_conn.call(src.bucket, "get_object", **params)
        body = response["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        if len(data) != expected:
            raise ConnectionError(f"short read from {src.url}: {len(data)} of {expected} bytes")
        return data


def _b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()
