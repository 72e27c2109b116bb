"""What a ``MultipartJob``'s parts come from: ``CopyRanges`` (an S3 object, copied server side or streamed) and
``FileChunks`` (a local file: put's large files, and resume's abandoned uploads, which may not be recreated)."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from typing import Any

from mputui.jobs.events import ObjectDone, PartSent
from mputui.jobs.journal import JobRecord
from mputui.jobs.kinds import PutMethod
from mputui.jobs.localfiles import read_range
from mputui.jobs.multipart import JobContext, JobFailed, MultipartJob, completed_by_record
from mputui.jobs.transfer import SourceChanged, Transfer
from mputui.jobs.upload import (
    ContentChanged,
    UploadContext,
    UploadSource,
    b64md5,
    object_headers,
)
from mputui.s3.checksums import checksum_field, checksum_of, multipart_etag, normalize_etag, plain_md5
from mputui.s3.errors import describe
from mputui.s3.models import Part
from mputui.s3.objects import MD5_META, ObjectInfo, head_object, same_content


class CopyRanges:
    """Parts are byte ranges of the S3 object ``src`` (UploadPartCopy, or ranged GET → UploadPart); the job is
    given up, its upload aborted, if the source changes."""

    then = "resume"
    can_recreate = True
    checksum_algorithm: str | None = None

    def __init__(self, transfer: Transfer, src: ObjectInfo) -> None:
        self.t = transfer
        self.src = src

    def create_info(self) -> ObjectInfo:
        return self.src

    def keep(self, part: Part) -> str | None:
        return normalize_etag(part.etag) or None  # the server's word: each part was copied from this version

    def is_ours(self, record: JobRecord, obj: ObjectInfo) -> bool:
        return same_content(self.src, obj)

    def present(self, size: int) -> None:
        pass

    def send(self, record: JobRecord, part_number: int, first: int, last: int) -> str:
        assert record.upload_id is not None
        return self.t.copy_part(
            self.src, record.dst_bucket, record.dst_key, record.upload_id, part_number, first, last
        )

    def sent(self, record: JobRecord, part_number: int, size: int) -> PartSent:
        return PartSent(record.id, record.source, record.dst, part_number, size)

    def abandon(self, job: MultipartJob[Any], exc: BaseException) -> None:
        if isinstance(exc, SourceChanged) or self._changed(job.record):
            job.abort(f"source {self.src.url} changed during the copy")
            raise SourceChanged(
                f"source {self.src.url} changed during the copy (ETag no longer {job.record.src_etag}); "
                "the upload was aborted, nothing was written"
            ) from exc

    def final(self, record: JobRecord, exc: BaseException) -> JobFailed | None:
        return None

    def before_complete(self, job: MultipartJob[Any]) -> None:
        # Some servers (moto) ignore CopySourceIfMatch on UploadPartCopy: compare once more before completing.
        if self._changed(job.record):
            job.fail(SourceChanged(f"source {self.src.url} changed during the copy"))

    def result(
        self, record: JobRecord, *, resumed: bool, parts: int, size: int, etag: str | None
    ) -> ObjectDone:
        return ObjectDone(
            record.source,
            record.dst,
            record.src_size,
            record.method,
            parts=record.parts_total,
            parts_sent=parts,
            resumed=resumed,
            job_id=record.id,
        )

    def _changed(self, record: JobRecord) -> bool:
        current = head_object(self.t.src_conn, self.src.bucket, self.src.key, metadata=True)
        return current is None or current.etag != record.src_etag


class FileChunks:
    """Parts are chunks of the local file ``source.path``, each sent with its ``Content-MD5`` and its returned
    ETag checked; a listed part counts only if its ETag is the MD5 of its chunk. ``can_recreate``: if the
    journaled upload vanished, start a new one (put); otherwise fail (resume of an upload someone else started:
    there is nothing of ours to restart)."""

    then = "re-run"

    def __init__(self, ctx: UploadContext, source: UploadSource, *, can_recreate: bool = True) -> None:
        self.ctx = ctx
        self.source = source
        self.can_recreate = can_recreate
        self.tracker = ctx.tracker
        self.budget = ctx.budget
        self.md5s = dict(source.part_md5s)
        self.checksum_algorithm = source.checksum_algorithm
        self._lock = threading.Lock()

    def create_info(self) -> ObjectInfo:
        """The MD5 (as a plain ETag, it becomes x-amz-meta-md5, as for copies: comparable later) and the content
        headers."""
        s = self.source
        return ObjectInfo(
            bucket="",
            key=s.path,
            size=s.size,
            etag=s.md5 or "",
            headers=object_headers(s.content_type, s.content_encoding),
        )

    def keep(self, part: Part) -> str | None:
        remote = plain_md5(part.etag)
        return remote if remote is not None and self.md5s.get(part.part_number) == remote else None

    def is_ours(self, record: JobRecord, obj: ObjectInfo) -> bool:
        if self.source.md5 is not None and obj.metadata.get(MD5_META) == self.source.md5:
            return True
        n = record.parts_total
        if len(self.md5s) == n and obj.etag.lower() == multipart_etag(self.md5s[i] for i in range(1, n + 1)):
            return True
        return completed_by_record(self.ctx.transfer.dst_conn, record) is not None

    def present(self, size: int) -> None:
        if self.tracker is not None:
            self.tracker.present(size)

    def send(self, record: JobRecord, part_number: int, first: int, last: int) -> str:
        size = last - first + 1
        with self.budget.hold(size) if self.budget is not None else contextlib.nullcontext():
            data = read_range(self.source.path, first, size)
            md5 = self.md5s.get(part_number)
            if md5 is None:  # not hashed before (a part resume sends for the first time)
                md5 = hashlib.md5(data).hexdigest()
            response = self.ctx.transfer.dst_conn.call(
                record.dst_bucket,
                "upload_part",
                Key=record.dst_key,
                UploadId=record.upload_id,
                PartNumber=part_number,
                Body=data,
                ContentMD5=b64md5(md5),
                **self._checksum(data),
            )
            del data
        etag = normalize_etag(response.get("ETag"))
        if plain_md5(etag) is not None and etag.lower() != md5:
            raise ContentChanged(
                f"{record.path} changed while being uploaded (part {part_number} no longer has MD5 {md5}); "
                f"re-run to upload the new content"
            )
        with self._lock:
            self.md5s[part_number] = md5
        return etag.lower() or md5

    def _checksum(self, data: bytes) -> dict[str, str]:
        """The part's checksum of the upload's algorithm: S3 refuses a part of an upload created with one
        without it (COMPOSITE) and the Complete without every part's."""
        if not self.checksum_algorithm:
            return {}
        value = checksum_of(self.checksum_algorithm, data)
        if value is None:
            raise JobFailed(
                f"the upload was created with {self.checksum_algorithm} checksums, which mputui cannot compute",
                resumable=False,
            )
        return {checksum_field(self.checksum_algorithm): value}

    def sent(self, record: JobRecord, part_number: int, size: int) -> PartSent:
        if self.tracker is not None:
            self.tracker.sent(size)
        return PartSent(record.id, record.source, record.dst, part_number, size)

    def abandon(self, job: MultipartJob[Any], exc: BaseException) -> None:
        pass

    def final(self, record: JobRecord, exc: BaseException) -> JobFailed | None:
        if isinstance(exc, ContentChanged) or "BadDigest" in describe(exc):
            return JobFailed(
                f"{record.path} changed while being uploaded: {describe(exc)}; its upload is kept in job "
                f"{record.id} (`mputui jobs abort {record.id}`, or re-run the put to start over with the new "
                "content)",
                resumable=False,
            )
        return None

    def before_complete(self, job: MultipartJob[Any]) -> None:
        pass

    def result(
        self, record: JobRecord, *, resumed: bool, parts: int, size: int, etag: str | None
    ) -> ObjectDone:
        return ObjectDone(
            source=record.source,
            dst=record.dst,
            size=record.src_size,
            method=PutMethod.MULTIPART,
            parts=record.parts_total,
            parts_sent=parts,
            bytes_sent=size,
            resumed=resumed,
            job_id=record.id,
            etag=etag,
        )


def copy_job(ctx: JobContext, record: JobRecord, src: ObjectInfo) -> MultipartJob[ObjectDone]:
    """The multipart job copying ``src`` to ``record``'s destination."""
    return MultipartJob(ctx, record, CopyRanges(ctx.transfer, src))


def file_job(
    ctx: UploadContext, record: JobRecord, source: UploadSource, *, can_recreate: bool = True
) -> MultipartJob[ObjectDone]:
    """The multipart job uploading the local ``source`` to ``record``'s destination."""
    return MultipartJob(ctx, record, FileChunks(ctx, source, can_recreate=can_recreate))
