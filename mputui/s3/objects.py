"""Objects: the one HEAD and the one listing of them, their MD5 when knowable, and "same content" checks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from mputui.s3.checksums import normalize_etag
from mputui.s3.connect import S3Connection
from mputui.s3.errors import error_code, http_status

MD5_META = "md5"  # x-amz-meta-md5, as s3cmd keeps it: survives copies, unlike a multipart ETag
SOURCE_ETAG_META = "mputui-source-etag"  # when the MD5 is unknown: what the copy was made from
_HEX_MD5 = re.compile(r"[0-9a-f]{32}")
# Headers carried over to the destination, as HeadObject reports them and Create/Put/Copy accept them.
CARRIED_HEADERS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object. ``headed`` is False when it comes from a listing or a basic HEAD (no metadata/headers known).
    ``etag`` is normalised (``normalize_etag``): no quotes, its case as the server wrote it."""

    bucket: str
    key: str
    size: int
    etag: str
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    storage_class: str | None = None
    encrypted_etag: bool = False  # SSE-KMS / SSE-C: the ETag is not an MD5 even for a single PUT
    headed: bool = False
    last_modified: datetime | None = None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def multipart_etag(self) -> bool:
        return "-" in self.etag

    @property
    def md5(self) -> str | None:
        """The content MD5 (hex) if knowable: ``x-amz-meta-md5``, s3cmd's attrs, or a plain ETag."""
        meta = self.metadata.get(MD5_META, "").lower()
        if _HEX_MD5.fullmatch(meta):
            return meta
        for attr in self.metadata.get("s3cmd-attrs", "").split("/"):
            name, _, value = attr.partition(":")
            if name == "md5" and _HEX_MD5.fullmatch(value.lower()):
                return value.lower()
        if not self.multipart_etag and not self.encrypted_etag and _HEX_MD5.fullmatch(self.etag.lower()):
            return self.etag.lower()
        return None


def info_from_head(bucket: str, key: str, head: dict[str, Any]) -> ObjectInfo:
    """ObjectInfo from a HeadObject (or GetObject) response."""
    sse = head.get("ServerSideEncryption")
    return ObjectInfo(
        bucket=bucket,
        key=key,
        size=int(head.get("ContentLength", 0)),
        etag=normalize_etag(head.get("ETag")),
        metadata={k.lower(): v for k, v in (head.get("Metadata") or {}).items()},
        headers={h: head[h] for h in CARRIED_HEADERS if head.get(h)},
        storage_class=head.get("StorageClass") or None,
        encrypted_etag=sse == "aws:kms" or sse == "aws:kms:dsse" or bool(head.get("SSECustomerAlgorithm")),
        headed=True,
        last_modified=head.get("LastModified"),
    )


def info_from_listing(bucket: str, item: dict[str, Any]) -> ObjectInfo:
    """ObjectInfo from one ``Contents`` entry of a ListObjectsV2 page."""
    return ObjectInfo(
        bucket=bucket,
        key=item["Key"],
        size=int(item.get("Size", 0)),
        etag=normalize_etag(item.get("ETag")),
        storage_class=item.get("StorageClass") or None,
        last_modified=item.get("LastModified"),
    )


def is_not_found(exc: BaseException) -> bool:
    return error_code(exc) in ("404", "NoSuchKey", "NotFound") or http_status(exc) == 404


def head_object(conn: S3Connection, bucket: str, key: str, *, metadata: bool = False) -> ObjectInfo | None:
    """HEAD one object; None when it does not exist. By default size, ETag and last-modified only (a request
    the lean path answers; ``headed`` False); ``metadata=True`` adds metadata and headers (through boto3)."""
    try:
        head = conn.call(bucket, "head_object" if metadata else "head_object_basic", Key=key)
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise
    info = info_from_head(bucket, key, head)
    return info if metadata else replace(info, metadata={}, headers={}, headed=False)


def list_objects(conn: S3Connection, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
    """Every object under ``prefix`` (ListObjectsV2, paged), without metadata."""
    token: str | None = None
    while True:
        params: dict[str, Any] = {"Prefix": prefix} if prefix else {}
        if token:
            params["ContinuationToken"] = token
        page = conn.call(bucket, "list_objects_v2", **params)
        for item in page.get("Contents", []):
            yield info_from_listing(bucket, item)
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return


def same_content(src: ObjectInfo, dst: ObjectInfo) -> bool:
    """True when ``dst`` holds the same bytes as ``src``: same size and same MD5, ETag or copy marker."""
    if src.size != dst.size:
        return False
    if src.etag and src.etag == dst.etag:
        return True
    if src.md5 is not None and src.md5 == dst.md5:
        return True
    return bool(src.etag) and dst.metadata.get(SOURCE_ETAG_META) == src.etag


def destination_metadata(src: ObjectInfo) -> dict[str, str]:
    """The source's metadata plus its MD5 (or, when unknown, its ETag) for later comparisons."""
    meta = dict(src.metadata)
    md5 = src.md5
    if md5 is not None:
        meta[MD5_META] = md5
    elif src.etag:
        meta[SOURCE_ETAG_META] = src.etag
    return meta


def object_params(src: ObjectInfo) -> dict[str, Any]:
    """Create/Put/Copy(REPLACE) parameters that carry ``src``'s metadata, headers and storage class."""
    params: dict[str, Any] = {"Metadata": destination_metadata(src), **src.headers}
    if src.storage_class and src.storage_class != "STANDARD":
        params["StorageClass"] = src.storage_class
    return params
