"""Actions on exact upload targets (bucket + key + upload id). Never a bucket-wide call."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from mputui.s3.connect import S3Connection
from mputui.s3.errors import describe, is_gone
from mputui.s3.inventory import list_parts
from mputui.s3.models import Upload
from mputui.s3.objects import ObjectInfo, head_object, info_from_listing
from mputui.s3.targets import target_problem


@dataclass(frozen=True, slots=True)
class AbortResult:
    """What happened to one abort. ``already_gone``: a concurrent commit/abort won the race.

    ``raced_commit``: the server accepted the abort *and* a commit of the same key at the same moment (Ceph RGW
    16.2 does; the committed object then disappears when RGW's garbage collector runs). ``error`` says so.
    """

    upload: Upload
    ok: bool
    already_gone: bool = False
    error: str | None = None
    raced_commit: bool = False
    # The abort's answer was lost (or an error) after a request that may have landed, and a listing then
    # showed the upload gone: aborted, as far as anyone can tell, and said so.
    verified_by_listing: bool = False
    # The server showed the upload gone afterwards (ListParts: NoSuchUpload, or absent from a listing).
    verified: bool = False
    aborts: int = 1  # aborts sent: more than one when parts survived the first (``verify_aborts``)
    verify_error: str | None = None  # why an accepted abort could not be verified

    @property
    def status(self) -> str:
        if self.ok:
            return "aborted"
        return "already gone" if self.already_gone else "failed"


RACE_WINDOW = timedelta(seconds=5)
# A commit the server accepted alongside an abort can still be writing its object when the abort's answer
# arrives (Ceph RGW 16.2 does not serialize the two): the check looks this long after the answer, not at once.
RACE_SETTLE_SECONDS = 0.3


def settle(accepted_at: float | None) -> None:
    """Wait until ``RACE_SETTLE_SECONDS`` after ``accepted_at`` (``time.monotonic()``; None: no wait)."""
    if accepted_at is not None:
        time.sleep(max(0.0, accepted_at + RACE_SETTLE_SECONDS - time.monotonic()))


def confirm_abort(
    conn: S3Connection, upload: Upload, response: dict[str, Any], *, accepted_at: float | None = None
) -> AbortResult:
    """After an abort the server accepted: check that no commit of the same key landed at the same moment.

    One HEAD of the key, no sooner than ``RACE_SETTLE_SECONDS`` after ``accepted_at`` (when the abort's answer
    arrived). A multipart object there, written within a few seconds of the abort (server clock), means a
    concurrent commit also succeeded — reported, not hidden.
    """
    settle(accepted_at)
    try:
        server_time = _server_time(response)
        obj = head_object(conn, upload.bucket, upload.key)
    except Exception:
        return AbortResult(upload, ok=True)
    return _race_checked(upload, server_time, obj)


def _server_time(response: dict[str, Any]) -> datetime | None:
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
    return _http_date(headers["date"]) if headers.get("date") else None


@functools.lru_cache(maxsize=64)
def _http_date(text: str) -> datetime:
    return parsedate_to_datetime(text)  # many aborts answer within the same second


def _race_checked(upload: Upload, server_time: datetime | None, obj: ObjectInfo | None) -> AbortResult:
    if (
        obj is not None
        and server_time is not None
        and obj.last_modified is not None
        and "-" in obj.etag
        and obj.last_modified >= server_time - RACE_WINDOW
        and _could_be_commit_of(obj.etag, upload)
    ):
        return AbortResult(
            upload,
            ok=True,
            raced_commit=True,
            error="a commit of this key completed at the same moment and the server accepted both "
            "(Ceph RGW then loses the committed object): check the object",
        )
    return AbortResult(upload, ok=True)


# Keys whose URL encoding is the key itself: a listing shows them the same whether or not the server encodes
# keys (RGW encodes without saying so), so they can be matched against a listing.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9/._~-]+")
LIST_CHECK_MIN = 8  # fewer accepted aborts in one bucket: one HEAD each costs less than a listing
LIST_PAGES_PER_KEYS = 50  # at most one listing page per this many keys, then HEADs for the rest
LIST_PAGE = 1000


def confirm_aborts(
    conn: S3Connection,
    accepted: list[tuple[Upload, dict[str, Any]]],
    *,
    concurrency: int = 8,
    accepted_at: float | None = None,
) -> list[AbortResult]:
    """``confirm_abort`` for many aborts the server accepted, with fewer requests.

    Per bucket, the objects in the key range of the aborted uploads are listed (ListObjectsV2, a read) once
    instead of one HEAD per key, when there are enough plain keys; the rest, and any key the listing did not
    cover within its page budget, get their HEAD. ``accepted_at``: when the last of them was accepted (the
    looks wait until ``RACE_SETTLE_SECONDS`` after it).
    """
    settle(accepted_at)
    results: list[AbortResult] = []
    heads: list[tuple[Upload, dict[str, Any]]] = []
    by_bucket: dict[str, list[tuple[Upload, dict[str, Any]]]] = {}
    for item in accepted:
        if _PLAIN_KEY.fullmatch(item[0].key):
            by_bucket.setdefault(item[0].bucket, []).append(item)
        else:
            heads.append(item)
    for bucket, items in by_bucket.items():
        if len(items) < LIST_CHECK_MIN:
            heads += items
            continue
        try:
            objects, covered = _list_key_range(conn, bucket, sorted({u.key for u, _ in items}))
        except Exception:
            heads += items  # e.g. no s3:ListBucket permission: HEAD answers without it
            continue
        for upload, response in items:
            if covered(upload.key):
                results.append(_race_checked(upload, _server_time(response), objects.get(upload.key)))
            else:
                heads.append((upload, response))
    if heads:
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(heads)))) as pool:
            results += pool.map(lambda item: confirm_abort(conn, *item), heads)
    return results


def _list_key_range(
    conn: S3Connection, bucket: str, keys: list[str]
) -> tuple[dict[str, ObjectInfo], Callable[[str], bool]]:
    """The objects (plain keys only) from ``keys[0]`` on, and which keys that listing covered."""
    params: dict[str, Any] = {"Prefix": _common_prefix(keys[0], keys[-1]), "MaxKeys": LIST_PAGE}
    if keys[0][:-1]:
        params["StartAfter"] = keys[0][:-1]  # sorts before keys[0]: the listing includes it
    objects: dict[str, ObjectInfo] = {}
    bound = ""
    for _ in range(max(1, len(keys) // LIST_PAGES_PER_KEYS)):
        page = conn.call(bucket, "list_objects_v2", **params)
        for item in page.get("Contents", []):
            key = item.get("Key", "")
            if _PLAIN_KEY.fullmatch(key):
                objects[key] = info_from_listing(bucket, item)
                bound = max(bound, key)
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return objects, lambda key: True
        if bound >= keys[-1]:
            break
        params["ContinuationToken"] = token
    return objects, lambda key: bool(bound) and key <= bound


def _could_be_commit_of(etag: str, upload: Upload) -> bool:
    """False when the object's part count rules out a commit of ``upload``: a server that accepts both a
    commit and an abort (Ceph RGW) refuses a commit of fewer parts than were uploaded, and parts are only ever
    added. So another upload of the same key with fewer parts, completed just before, is no false alarm."""
    count = etag.strip('"').rpartition("-")[2]
    if upload.parts is None or not count.isdigit():
        return True
    return int(count) >= upload.parts


def upload_exists(conn: S3Connection, bucket: str, key: str, upload_id: str) -> bool:
    """True if the upload is still in progress (ListParts answers), False if the server says it is gone."""
    try:
        list_parts(conn, bucket, key, upload_id, page_size=1)
    except Exception as exc:
        if is_gone(exc):
            return False
        raise
    return True


def refuse_unsafe_target(upload: Upload) -> AbortResult | None:
    """A failed result, nothing sent, when the upload is not exactly one target (see ``mputui.s3.targets``)."""
    problem = target_problem(*upload.ident)
    return (
        None if problem is None else AbortResult(upload, ok=False, error=f"refused, nothing sent: {problem}")
    )


def abort_upload(conn: S3Connection, upload: Upload) -> AbortResult:
    """Abort exactly this upload. A NoSuchUpload (or any error after which the upload no longer exists)
    is reported as ``already_gone``, not as a failure of ours, after checking with a follow-up call."""
    refused = refuse_unsafe_target(upload)
    if refused is not None:
        return refused
    try:
        response = conn.call(
            upload.bucket, "abort_multipart_upload", Key=upload.key, UploadId=upload.upload_id
        )
    except Exception as exc:
        try:
            still_there = upload_exists(conn, upload.bucket, upload.key, upload.upload_id)
        except Exception:
            still_there = True
        if is_gone(exc) or not still_there:
            return AbortResult(upload, ok=False, already_gone=True, error="already gone", verified=True)
        return AbortResult(upload, ok=False, error=describe(exc))
    (result,) = verify_aborts(conn, [confirm_abort(conn, upload, response, accepted_at=time.monotonic())])
    return result


ABORT_ATTEMPTS = 3
"""Aborts sent to one upload at most: AWS documents that parts still uploading when an abort arrives can
survive it, and that aborting again frees them."""


def verify_aborts(
    conn: S3Connection, results: list[AbortResult], *, concurrency: int = 8
) -> list[AbortResult]:
    """Check that each accepted abort left its upload gone, and abort again (``ABORT_ATTEMPTS`` in all) where
    parts remain; the same results with ``verified``, or failed: "not verified: parts remain".

    Per bucket with ``LIST_CHECK_MIN`` or more plain keys, one ListMultipartUploads of the aborted keys' range
    (within a page budget) instead of a ListParts per upload; ListParts (NoSuchUpload: gone) for the rest.
    Results that are not accepted aborts, or already verified, pass through unchanged.
    """
    todo = [r for r in results if r.ok and not r.verified]
    if not todo:
        return results
    found: dict[tuple[str, str, str], bool | str] = {}  # present, gone, or why it could not be told
    singles: list[AbortResult] = []
    by_bucket: dict[str, list[AbortResult]] = {}
    for r in todo:
        if _PLAIN_KEY.fullmatch(r.upload.key):
            by_bucket.setdefault(r.upload.bucket, []).append(r)
        else:
            singles.append(r)
    for bucket, items in by_bucket.items():
        if len(items) < LIST_CHECK_MIN:
            singles += items
            continue
        try:
            listed, covered = _list_upload_range(conn, bucket, sorted({r.upload.key for r in items}))
        except Exception:
            singles += items
            continue
        for r in items:
            if covered(r.upload.key):
                found[r.upload.ident] = (r.upload.key, r.upload.upload_id) in listed
            else:
                singles.append(r)

    def present(r: AbortResult) -> bool | str:
        try:
            return upload_exists(conn, r.upload.bucket, r.upload.key, r.upload.upload_id)
        except Exception as exc:
            return describe(exc)

    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(todo))))
    with pool:
        for r, state in zip(singles, pool.map(present, singles), strict=True):
            found[r.upload.ident] = state
        again = [r for r in todo if found[r.upload.ident] is True]
        redone = {r.upload.ident: r for r in pool.map(lambda r: _abort_again(conn, r), again)}
    out = []
    for r in results:
        seen = found.get(r.upload.ident) if r.ok and not r.verified else None
        if seen is None:
            out.append(r)
        elif seen is False:
            out.append(replace(r, verified=True))
        elif seen is True:
            out.append(redone[r.upload.ident])
        else:
            out.append(replace(r, verify_error=f"could not check that it is gone: {seen}"))
    return out


def _abort_again(conn: S3Connection, result: AbortResult) -> AbortResult:
    """Abort ``result``'s upload again until the server shows it gone, ``ABORT_ATTEMPTS`` aborts in all."""
    u = result.upload
    for sent in range(2, ABORT_ATTEMPTS + 1):
        try:
            conn.call(u.bucket, "abort_multipart_upload", Key=u.key, UploadId=u.upload_id)
        except Exception as exc:
            if is_gone(exc):
                return replace(result, verified=True, aborts=sent)
            return _remain(result, sent, f", and the next abort failed: {describe(exc)}")
        settle(time.monotonic())  # parts still being written when this abort arrived: give them the moment
        try:
            if not upload_exists(conn, u.bucket, u.key, u.upload_id):
                return replace(result, verified=True, aborts=sent)
        except Exception as exc:
            return replace(
                result, aborts=sent, verify_error=f"could not check that it is gone: {describe(exc)}"
            )
    return _remain(result, ABORT_ATTEMPTS, "")


def _remain(result: AbortResult, sent: int, detail: str) -> AbortResult:
    text = f"not verified: parts remain after {sent} abort{'s' if sent != 1 else ''}{detail}"
    if result.error:  # a raced commit's warning stays
        text = f"{text}; {result.error}"
    return replace(result, ok=False, aborts=sent, error=text)


def _common_prefix(first: str, last: str) -> str:
    """The prefix that ``first``, ``last`` and every key sorted between them share."""
    common = next(
        (i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), min(len(first), len(last))
    )
    return first[:common]


def _list_upload_range(
    conn: S3Connection, bucket: str, keys: list[str]
) -> tuple[set[tuple[str, str]], Callable[[str], bool]]:
    """The uploads (plain keys only) from ``keys[0]`` on, as (key, upload id), and which keys that listing
    covered (a key at the end of a truncated page may have more uploads on the next one)."""
    params: dict[str, Any] = {"Prefix": _common_prefix(keys[0], keys[-1]), "MaxUploads": LIST_PAGE}
    if keys[0][:-1]:
        params["KeyMarker"] = keys[0][:-1]  # sorts before keys[0]: the listing includes it
    listed: set[tuple[str, str]] = set()
    bound = ""
    for _ in range(max(1, len(keys) // LIST_PAGES_PER_KEYS)):
        page = conn.call(bucket, "list_multipart_uploads", **params)
        for item in page.get("Uploads", []):
            key = item.get("Key", "")
            if _PLAIN_KEY.fullmatch(key):
                listed.add((key, item.get("UploadId", "")))
                bound = max(bound, key)
        if not page.get("IsTruncated"):
            return listed, lambda key: True
        next_key, next_id = page.get("NextKeyMarker") or "", page.get("NextUploadIdMarker") or ""
        if bound >= keys[-1] or not next_key:
            break
        if (next_key, next_id) == (params.get("KeyMarker"), params.get("UploadIdMarker", "")):
            break  # paging that does not advance
        params["KeyMarker"] = next_key
        params.pop("UploadIdMarker", None)
        if next_id:
            params["UploadIdMarker"] = next_id
    return listed, lambda key: bool(bound) and key < bound
