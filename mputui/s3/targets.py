"""The one check that a destructive request names exactly one upload: bucket, key and upload id.

A listing comes from the server (or whatever sits between it and us) and is untrusted. An empty key turns
``DELETE /bucket/KEY?uploadId=ID`` into ``DELETE /bucket/?uploadId=ID``, which a server may carry out as
DeleteBucket (moto does; s3cmd's ``abortmp`` without a key deleted a Ceph bucket that way); an empty upload id
turns AbortMultipartUpload into DeleteObject. A key made only of ``/`` and ``.`` segments is the same hazard
behind a proxy or server that collapses ``//`` or resolves ``.``/``..``. Such a target is refused before any
request is built, on every path (boto3, the lean client, the event loop).
"""

from __future__ import annotations

from mputui.s3.errors import MputuiError

# The requests that act on one upload and must never be widened to a bucket or an object.
DESTRUCTIVE_OPERATIONS = frozenset({"abort_multipart_upload", "complete_multipart_upload"})


class UnsafeTarget(MputuiError):
    """A destructive request whose target is not exactly one upload; nothing was sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"refused, nothing sent: {reason}", exit_code=1)
        self.reason = reason


def target_problem(bucket: str, key: str, upload_id: str) -> str | None:
    """Why ``(bucket, key, upload_id)`` is not a safe target of a destructive request, or None when it is."""
    if not bucket or not bucket.strip():
        return "the upload's bucket name is empty"
    if "/" in bucket or bucket in (".", ".."):
        return "the bucket name would change the request's path"
    if not key:
        return "the upload's key is empty (the request would name the whole bucket)"
    if _normalises_away(key):
        return "the key resolves to no key, or out of the bucket, once '//', '.' and '..' are normalised"
    if not upload_id or not upload_id.strip():
        return "the upload id is empty (the request would name the object, not the upload)"
    return None


def check_target(bucket: str, key: str, upload_id: str) -> None:
    """Raise ``UnsafeTarget`` unless the target is exactly one upload."""
    problem = target_problem(bucket, key, upload_id)
    if problem is not None:
        raise UnsafeTarget(problem)


def _normalises_away(key: str) -> bool:
    """True when collapsing ``//`` and resolving ``.``/``..`` (RFC 3986) leaves no key, or climbs out of the
    bucket (``a/..``, ``../other-bucket/x``)."""
    depth = 0
    for segment in key.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if depth == 0:
                return True
            depth -= 1
        else:
            depth += 1
    return depth == 0


def check_signed_delete(key_path: str, query: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> None:
    """The last line of defence for a hand-built DELETE: it must name a key and carry a non-empty upload id."""
    upload_ids = [value for name, value in query if name == "uploadId"]
    if not key_path.strip("/") or not upload_ids or not all(v.strip() for v in upload_ids):
        raise UnsafeTarget("a DELETE without a key or an upload id")
