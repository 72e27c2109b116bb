"""Concurrent inventory of in-progress multipart uploads: buckets → uploads → parts.

Work runs on a bounded thread pool, across buckets and uploads at once. Results stream out as events
(see ``mputui.s3.models``) in the consumer's thread, long before the scan ends. A failure in one bucket or one
upload is reported there and the scan goes on.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import unquote_plus

from botocore.parsers import ResponseParserError

from mputui.s3.cancel import Cancelled, CancelToken
from mputui.s3.checksums import listed_checksum, quoted_etag
from mputui.s3.connect import S3Connection
from mputui.s3.errors import MputuiError, describe, error_code, http_status, is_gone
from mputui.s3.lean import MalformedAnswerError, key_path, parse_list_parts
from mputui.s3.lean_loop import LeanCall, LeanLoop, LeanResponse, LoopCancelled
from mputui.s3.models import (
    BucketDone,
    BucketsListed,
    BucketSummary,
    Part,
    ScanEvent,
    ScanFailed,
    ScanFinished,
    ScanProgress,
    ScanTotals,
    Upload,
    UploadFound,
)

MAX_PAGE = 1000
FIRST_PAGE = 5
GATHER_PAUSE = 0.002


def list_parts(
    conn: S3Connection,
    bucket: str,
    key: str,
    upload_id: str,
    *,
    page_size: int = MAX_PAGE,
    cancel: CancelToken | None = None,
) -> list[Part]:
    """Every part of one upload, in part-number order (ListParts paged with PartNumberMarker)."""
    parts: list[Part] = []
    marker = 0
    while True:
        if cancel is not None:
            cancel.check()
        params: dict[str, Any] = {"Key": key, "UploadId": upload_id, "MaxParts": page_size}
        if marker:
            params["PartNumberMarker"] = marker
        page = conn.call(bucket, "list_parts", **params)
        parts.extend(_parts_of(page))
        if not page.get("IsTruncated"):
            break
        next_marker = int(page.get("NextPartNumberMarker") or 0)
        if next_marker <= marker:
            # A server that does not advance would loop forever; the parts so far are all we can know.
            raise RuntimeError(f"ListParts paging did not advance past part {marker}")
        marker = next_marker
    return _unique(parts)


def parts_error(exc: BaseException) -> str:
    """Why an upload's parts are not listed. A 500 or an unreadable answer for one key while the bucket lists
    is the server failing on that key (Ceph RGW on a key with a control character), not a passing fault."""
    if listing_broken(exc):
        return f"the server fails on this key ({describe(exc)})"
    return describe(exc)


def _parts_of(page: dict[str, Any]) -> list[Part]:
    return [
        Part(
            int(p["PartNumber"]),
            int(p.get("Size", 0)),
            quoted_etag(p.get("ETag")),
            p.get("LastModified"),
            *listed_checksum(p),
        )
        for p in page.get("Parts", [])
    ]


def _unique(parts: list[Part]) -> list[Part]:
    # Servers list parts in order, but dedupe/sort anyway: a repeated page must not double-count bytes.
    unique = {p.part_number: p for p in parts}
    return [unique[n] for n in sorted(unique)]


def iter_upload_pages(
    conn: S3Connection,
    bucket: str,
    *,
    prefix: str = "",
    page_size: int = MAX_PAGE,
    first_page_size: int | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[list[Upload]]:
    """Pages of in-progress uploads in ``bucket`` (ListMultipartUploads, KeyMarker + UploadIdMarker).

    Uploads come without part totals. Duplicates that some servers repeat across pages are dropped.
    ``first_page_size`` (smaller) gets the first uploads back sooner. A page the server cannot send plainly
    (a key with a control character breaks its XML, or makes it answer 500) is listed again with
    ``EncodingType=url`` (see ``_encoded_page``), and so is the rest of the bucket.
    """
    key_marker = ""
    id_marker = ""
    seen: set[tuple[str, str]] = set()
    encoded = False
    while True:
        if cancel is not None:
            cancel.check()
        first = not key_marker
        size = first_page_size if first and first_page_size else page_size
        params: dict[str, Any] = {}
        if key_marker:
            params["KeyMarker"] = key_marker
            if id_marker:
                params["UploadIdMarker"] = id_marker
        if encoded:
            page = _encoded_page(conn, bucket, prefix, size, params, None)
        else:
            # Plain first: EncodingType=url is not decodable on every server (RGW encodes keys but does not
            # echo EncodingType), and raw XML carries every key but those with control characters.
            try:
                page = conn.call(
                    bucket, "list_multipart_uploads", MaxUploads=size, **_prefix(prefix), **params
                )
            except Exception as exc:
                if not listing_broken(exc):
                    raise
                page = _encoded_page(conn, bucket, prefix, size, params, exc)
                encoded = True
        batch: list[Upload] = []
        for u in page.get("Uploads", []):
            key = u.get("Key", "")
            upload_id = u.get("UploadId", "")
            if (key, upload_id) in seen or not key.startswith(prefix):
                continue
            seen.add((key, upload_id))
            initiator = u.get("Initiator") or {}
            batch.append(
                Upload(
                    bucket=bucket,
                    key=key,
                    upload_id=upload_id,
                    initiated=u["Initiated"],
                    storage_class=u.get("StorageClass"),
                    initiator=initiator.get("DisplayName") or initiator.get("ID"),
                    checksum_algorithm=u.get("ChecksumAlgorithm"),
                    checksum_type=u.get("ChecksumType"),
                )
            )
        yield batch
        if not page.get("IsTruncated"):
            return
        next_key = page.get("NextKeyMarker") or ""
        next_id = page.get("NextUploadIdMarker") or ""
        if (encoded or not next_key) and page.get("Uploads"):
            last = page["Uploads"][-1]
            next_key, next_id = last.get("Key", ""), last.get("UploadId", "")
        if (next_key, next_id) == (key_marker, id_marker) or not next_key:
            raise RuntimeError("ListMultipartUploads paging did not advance")
        key_marker, id_marker = next_key, next_id


def listing_broken(exc: BaseException) -> bool:
    """True when a listing failed the way a key the server cannot put in XML makes it fail: an answer that
    is not readable XML, or a 500 (Ceph RGW; botocore also reports an unreadable 200 as a 500)."""
    if isinstance(exc, MalformedAnswerError | ResponseParserError):
        return True
    return http_status(exc) == 500 or error_code(exc) in ("InternalError", "500")


def _prefix(prefix: str) -> dict[str, str]:
    return {"Prefix": prefix} if prefix else {}


def _encoded_page(
    conn: S3Connection,
    bucket: str,
    prefix: str,
    size: int,
    markers: dict[str, Any],
    plain_failure: BaseException | None,
) -> dict[str, Any]:
    """One ListMultipartUploads page with ``EncodingType=url``, its keys decoded.

    Why the detours: Ceph RGW encodes each ``Key`` but sends the request's ``Prefix`` and ``KeyMarker`` and
    the page's ``NextKeyMarker`` (its last key) raw, and answers 500 when one of them has a control
    character. So a prefix is cut before its first control character (and the keys filtered by the caller),
    the next page starts after the last upload listed (never ``NextKeyMarker``), and a page that fails is
    asked for again with another size, so that it ends on another key, last without the prefix (the broken
    key may be the last under it). If none works, the plain listing's failure is said.
    """
    cut = _controls_free(prefix)
    tries = [(cut, size)] + [(cut, s) for s in dict.fromkeys((MAX_PAGE, size - 1)) if 0 < s != size]
    if cut:
        tries.append(("", MAX_PAGE))
    failure: BaseException | None = None
    for listed_prefix, attempt_size in tries:
        try:
            page = conn.call(
                bucket,
                "list_multipart_uploads",
                MaxUploads=attempt_size,
                EncodingType="url",
                **_prefix(listed_prefix),
                **markers,
            )
        except Exception as exc:
            if not listing_broken(exc):
                raise
            failure = exc
            continue
        page = _decoded(page)
        last = (page.get("Uploads") or [{}])[-1].get("Key", "")
        if last > prefix and not last.startswith(prefix):
            page = {**page, "IsTruncated": False}  # listed past the prefix: nothing after is under it
        return page
    assert failure is not None
    raise MputuiError(
        f"the server cannot list these uploads ({describe(plain_failure or failure)}), "
        "not even with EncodingType=url"
    ) from failure


def _controls_free(prefix: str) -> str:
    """``prefix`` up to its first C0 control character (XML 1.0 carries only TAB, LF and CR of them)."""
    for i, ch in enumerate(prefix):
        if ord(ch) < 0x20 and ch not in "\t\n\r":
            return prefix[:i]
    return prefix


_URL_ENCODED = re.compile(r"(?:[A-Za-z0-9\-_.~/!*'()+]|%[0-9A-Fa-f]{2})*")


def _decoded(page: dict[str, Any]) -> dict[str, Any]:
    """The page with its keys URL-decoded (neither botocore nor the lean parser decodes this operation's).

    A server that echoes ``EncodingType`` encoded them; one that does not (Ceph RGW) is taken to have encoded
    them unless a key shows otherwise (a space, a non-ASCII character, a lone ``%``): those of a server that
    ignored the parameter are left as they came.
    """
    uploads = page.get("Uploads", [])
    echoed = page.get("EncodingType") == "url"
    if not echoed and not all(_URL_ENCODED.fullmatch(u.get("Key", "")) for u in uploads):
        return page
    decoded = [{**u, "Key": unquote_plus(u.get("Key", ""))} for u in uploads]
    return {**page, "Uploads": decoded}


def key_uploads(conn: S3Connection, bucket: str, key: str) -> list[Upload]:
    """Every in-progress upload of exactly ``key`` (a prefix listing also shows ``key/...`` and ``keyX``)."""
    return [u for page in iter_upload_pages(conn, bucket, prefix=key) for u in page if u.key == key]


def find_upload(conn: S3Connection, bucket: str, key: str, upload_id: str) -> Upload | None:
    """The in-progress upload ``upload_id`` if it is an upload of exactly ``key``, else None.

    Why: some servers (moto) run ListParts and CompleteMultipartUpload on the upload id alone, whatever key the
    request names, so a command given a key and an upload id checks that the pair belongs together before it
    plans anything: ``commit s3://b/junk --upload-id <id of junkyard/a>`` must not complete ``junkyard/a``.
    """
    for page in iter_upload_pages(conn, bucket, prefix=key):
        for u in page:
            if u.key == key and u.upload_id == upload_id:
                return u
    return None


def with_parts(upload: Upload, parts: list[Part]) -> Upload:
    """``upload`` with its part count, total size and newest part time filled in."""
    newest = max((p.last_modified for p in parts if p.last_modified is not None), default=None)
    return replace(
        upload, parts=len(parts), size=sum(p.size for p in parts), last_modified=newest, error=None
    )


@dataclass
class _BucketState:
    name: str
    pending: int = 0
    listing_done: bool = False
    finished: bool = False
    uploads: int = 0
    parts: int = 0
    size: int = 0
    unknown_sizes: int = 0
    oldest: datetime | None = None
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class InventoryScan:
    """One scan of in-progress uploads. Start it with ``events()`` (iterator) or ``run(callback)``.

    ``bucket`` limits the scan to one bucket (and ``prefix`` to keys under it); ``older_than`` is applied by the
    caller. ``cancel()`` may be called from any thread; the event stream then ends with a ``ScanFinished``
    whose totals say ``cancelled``.
    """

    def __init__(
        self,
        conn: S3Connection,
        *,
        bucket: str | None = None,
        prefix: str = "",
        page_size: int = MAX_PAGE,
        concurrency: int | None = None,
        progress_interval: float = 0.25,
    ) -> None:
        self.conn = conn
        self.bucket = bucket
        self.prefix = prefix
        self.page_size = page_size
        self.concurrency = concurrency or conn.settings.concurrency
        self.progress_interval = progress_interval
        self._cancel = CancelToken()
        self._queue: queue.SimpleQueue[ScanEvent | None] = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()
        self._buckets: dict[str, _BucketState] = {}
        self._buckets_done = 0
        self._uploads = 0
        self._all_done = threading.Event()
        self._outstanding = 0
        self._start_requests = 0
        self._t0 = 0.0
        self._executor: ThreadPoolExecutor | None = None
        self._loop: LeanLoop | None = None

    # -- public ----------------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop issuing requests; the event stream ends soon after."""
        self._cancel.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancel.cancelled

    def events(self) -> Iterator[ScanEvent]:
        """Run the scan in the background and yield its events here as they happen."""
        if self._started:
            raise RuntimeError("an InventoryScan runs once")
        self._started = True
        thread = threading.Thread(target=self._main, name="mputui-scan", daemon=True)
        thread.start()
        try:
            while True:
                try:
                    event = self._queue.get_nowait()
                except queue.Empty:
                    event = self._queue.get()
                    # Woken by one event: let a few ms of them gather, so this thread wakes per batch, not
                    # per upload (thousands a second; each wake-up costs a GIL hand-off).
                    time.sleep(GATHER_PAUSE)
                if event is None:
                    return
                yield event
        finally:
            # The consumer stopped early (break, exception, generator closed): stop the workers too.
            self.cancel()

    def run(self, on_event: Callable[[ScanEvent], None]) -> ScanTotals:
        """Run the scan to the end, calling ``on_event`` for each event (in this thread)."""
        totals = ScanTotals()
        for event in self.events():
            on_event(event)
            if isinstance(event, ScanFinished):
                totals = event.totals
        return totals

    # -- workers ---------------------------------------------------------------------------------------

    def _emit(self, event: ScanEvent) -> None:
        self._queue.put(event)

    def _main(self) -> None:
        self._t0 = time.monotonic()
        self._start_requests = self.conn.requests
        failed: str | None = None
        executor = self._executor = ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="mputui-scan"
        )
        ticker = threading.Thread(target=self._tick, name="mputui-scan-progress", daemon=True)
        try:
            try:
                names = [self.bucket] if self.bucket else self.conn.list_bucket_names()
            except Exception as exc:
                failed = describe(exc)
                self._emit(ScanFailed(failed))
                names = []
            self._emit(BucketsListed(tuple(names)))
            if names:
                ticker.start()
            with self._lock:
                self._outstanding = len(names)
                for name in names:
                    self._buckets[name] = _BucketState(name)
            if not names:
                self._all_done.set()
            else:
                self._loop = self._start_loop()
            for name in names:
                executor.submit(self._scan_bucket, executor, self._buckets[name])
            while not self._all_done.wait(0.05):
                if self._cancel.cancelled:
                    break
        finally:
            if self._loop is not None:
                self._loop.close()
            executor.shutdown(wait=True, cancel_futures=True)
            self._all_done.set()
            summaries = tuple(self._summary(b) for b in self._buckets.values())
            totals = ScanTotals(
                buckets=len(summaries),
                failed_buckets=sum(1 for s in summaries if s.error is not None) + (1 if failed else 0),
                uploads=sum(s.uploads for s in summaries),
                parts=sum(s.parts for s in summaries),
                size=sum(s.size for s in summaries),
                unknown_sizes=sum(s.unknown_sizes for s in summaries),
                requests=self.conn.requests - self._start_requests,
                elapsed=time.monotonic() - self._t0,
                cancelled=self._cancel.cancelled,
            )
            self._emit(ScanFinished(totals, summaries))
            self._queue.put(None)

    def _start_loop(self) -> LeanLoop | None:
        """The event loop for the ListParts fan-out, if the lean path is on (else: the thread pool)."""
        try:
            return self.conn.lean_loop(cancel=self._cancel)
        except Exception:
            return None  # e.g. no credentials: the threaded path reports it per bucket

    def _tick(self) -> None:
        while not self._all_done.wait(self.progress_interval):
            self._emit(self._progress())

    def _progress(self) -> ScanProgress:
        return ScanProgress(
            buckets_done=self._buckets_done,
            buckets_total=len(self._buckets),
            uploads=self._uploads,
            requests=self.conn.requests - self._start_requests,
            elapsed=time.monotonic() - self._t0,
        )

    def _scan_bucket(self, executor: ThreadPoolExecutor, state: _BucketState) -> None:
        try:
            for batch in iter_upload_pages(
                self.conn,
                state.name,
                prefix=self.prefix,
                page_size=self.page_size,
                # Every bucket's first page at once, small, so that uploads stream (and their ListParts
                # start) well before the large pages of many buckets are all listed.
                first_page_size=min(FIRST_PAGE, self.page_size),
                cancel=self._cancel,
            ):
                with state.lock:
                    state.pending += len(batch)
                if self._loop is not None:
                    if self._cancel.cancelled:
                        raise Cancelled
                    try:
                        self._submit_to_loop(self._loop, state, batch)
                    except RuntimeError:  # the loop was closed: the scan was cancelled
                        raise Cancelled from None
                    continue
                for upload in batch:
                    try:
                        executor.submit(self._scan_upload, state, upload)
                    except RuntimeError:  # executor shut down: the scan was cancelled
                        raise Cancelled from None
        except Cancelled:
            state.error = "cancelled"
        except Exception as exc:
            state.error = describe(exc)
        with state.lock:
            state.listing_done = True
        self._maybe_finish(state)

    def _submit_to_loop(self, loop: LeanLoop, state: _BucketState, batch: list[Upload]) -> None:
        region = self.conn.bucket_region(state.name)
        max_parts = str(self.page_size)
        loop.submit(
            (
                LeanCall(
                    "GET",
                    upload.bucket,
                    region,
                    key_path(upload.key),
                    (("uploadId", upload.upload_id), ("max-parts", max_parts)),
                ),
                partial(self._parts_answered, state, upload),
            )
            for upload in batch
        )

    def _parts_answered(
        self, state: _BucketState, upload: Upload, _call: LeanCall, answer: LeanResponse | BaseException
    ) -> None:
        """In the loop's thread: a one-page success is recorded here; anything else is redone on the thread
        pool, which pages, retries, follows redirects and describes errors."""
        if isinstance(answer, LeanResponse) and answer.status == 200:
            try:
                page = parse_list_parts(answer.body)
            except Exception:
                page = None
            if page is not None and not page["IsTruncated"]:
                self._record(state, with_parts(upload, _unique(_parts_of(page))))
                return
        if isinstance(answer, LoopCancelled) or self._cancel.cancelled:
            state.error = "cancelled"
            self._record(state, None)
            return
        try:
            assert self._executor is not None
            self._executor.submit(self._scan_upload, state, upload)
        except RuntimeError:  # executor shut down: the scan was cancelled
            state.error = "cancelled"
            self._record(state, None)

    def _scan_upload(self, state: _BucketState, upload: Upload) -> None:
        result: Upload | None
        try:
            if self._cancel.cancelled:
                raise Cancelled
            parts = list_parts(
                self.conn,
                upload.bucket,
                upload.key,
                upload.upload_id,
                page_size=self.page_size,
                cancel=self._cancel,
            )
            result = with_parts(upload, parts)
        except Cancelled:
            result = None
            state.error = "cancelled"
        except Exception as exc:
            # Completed or aborted since it was listed: it is no longer an in-progress upload.
            result = None if is_gone(exc) else replace(upload, error=parts_error(exc))
        self._record(state, result)

    def _record(self, state: _BucketState, result: Upload | None) -> None:
        if result is not None:
            with state.lock:
                state.uploads += 1
                if result.size is None:
                    state.unknown_sizes += 1
                else:
                    state.size += result.size
                    state.parts += result.parts or 0
                if state.oldest is None or result.initiated < state.oldest:
                    state.oldest = result.initiated
            with self._lock:
                self._uploads += 1
            self._emit(UploadFound(result))
        with state.lock:
            state.pending -= 1
        self._maybe_finish(state)

    def _maybe_finish(self, state: _BucketState) -> None:
        with state.lock:
            if state.finished or not state.listing_done or state.pending > 0:
                return
            state.finished = True
        self._emit(BucketDone(self._summary(state)))
        with self._lock:
            self._buckets_done += 1
            self._outstanding -= 1
            if self._outstanding == 0:
                self._all_done.set()

    def _summary(self, state: _BucketState) -> BucketSummary:
        with state.lock:
            return BucketSummary(
                name=state.name,
                uploads=state.uploads,
                parts=state.parts,
                size=state.size,
                unknown_sizes=state.unknown_sizes,
                oldest=state.oldest,
                error=state.error if state.error else ("cancelled" if not state.finished else None),
                region=self.conn.bucket_region(state.name),
            )


def scan(conn: S3Connection, **kwargs: Any) -> Iterator[ScanEvent]:
    """Shorthand: ``InventoryScan(conn, **kwargs).events()``."""
    return InventoryScan(conn, **kwargs).events()
