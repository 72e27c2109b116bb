"""What ``put LOCAL_PATH s3://BUCKET/PREFIX`` will do with each file: the mode's decision, the MD5 pass, and
duplicate detection (content already under the prefix, or twice in the tree, goes up once; the other keys are
made by a server-side copy, as s3cmd's sync learned to do).

Modes (s3-parallel-put's, ``stupid`` renamed ``always``): ``add`` uploads keys that are absent (no hashing of
files whose key exists); ``update`` also re-uploads keys whose content differs — compared by MD5 (a plain ETag,
or ``x-amz-meta-md5``, which mputui sets on everything it uploads) or, for a multipart object without one, by
its multipart ETag computed locally at that object's part size; ``always`` uploads without looking.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from mputui.jobs.engine import Engine, with_retries
from mputui.jobs.filerules import Rule
from mputui.jobs.journal import GZIP_SUFFIX, JobIndex, JobRecord, Journal, clean_endpoint, job_id_for
from mputui.jobs.kinds import Action, JobKind
from mputui.jobs.localfiles import Digest, LocalFile, digest_file, guess_content_type, walk
from mputui.jobs.multipart import completed_by_record
from mputui.jobs.plan import DEFAULT_PART_SIZE, MAX_SINGLE_COPY, dest_dir, effective_part_size, part_count
from mputui.parsing import S3Url
from mputui.s3.cancel import CancelToken
from mputui.s3.connect import S3Connection
from mputui.s3.errors import MputuiError
from mputui.s3.objects import ObjectInfo, head_object, list_objects

MODES = ("add", "update", "always")
MIB = 1024 * 1024
COMMON_PART_MIB = (8, 5, 16, 64, 15, 100, 128)  # aws-cli, minimum, s3cmd (15), rclone/boto defaults
MAX_EXTRA_PASSES = 3


@dataclass(frozen=True, slots=True)
class PutOptions:
    """How a put decides and uploads."""

    mode: str = "update"
    part_size: int = DEFAULT_PART_SIZE
    gzip: bool = False
    content_type: str | None = None  # None: guessed from each key's name
    rules: tuple[Rule, ...] = ()  # --include/--exclude, in the order given
    limit: int | None = None
    dedupe: bool = True


@dataclass(frozen=True, slots=True)
class PutItem:
    """One file of a plan. ``action``: upload, replace, resume (a journaled upload), copy or skip.

    A copy is made from ``copy_from`` (an object already there) or from ``copy_of`` (the key of another item
    of this plan, uploaded first)."""

    file: LocalFile
    bucket: str
    key: str
    action: Action
    reason: str
    digest: Digest | None = None
    part_size: int = DEFAULT_PART_SIZE
    content_type: str | None = None
    content_encoding: str | None = None
    copy_from: ObjectInfo | None = None
    copy_of: str | None = None
    job_id: str | None = None

    @property
    def dst(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def size(self) -> int:
        """Bytes stored (after gzip, once hashed)."""
        return self.digest.size if self.digest is not None else self.file.size

    @property
    def multipart(self) -> bool:
        return self.size > self.part_size

    @property
    def parts(self) -> int:
        return part_count(self.size, self.part_size) if self.multipart else 1

    @property
    def copy_source(self) -> str | None:
        if self.copy_from is not None:
            return self.copy_from.url
        return f"s3://{self.bucket}/{self.copy_of}" if self.copy_of is not None else None


@dataclass(frozen=True, slots=True)
class PutPlan:
    """Everything one put will do; ``stale`` jobs (their file changed since) are aborted first; ``elsewhere``:
    journaled jobs writing the same keys through an endpoint this run cannot match to its own."""

    items: tuple[PutItem, ...]
    stale: tuple[JobRecord, ...] = ()
    limited: int = 0  # files left out by --limit
    unreadable: tuple[tuple[str, str], ...] = ()  # (path, reason)
    elsewhere: tuple[JobRecord, ...] = ()
    overwrites: tuple[str, ...] = ()  # URLs of existing objects with other content this plan writes over

    def count(self, *actions: str) -> int:
        return sum(1 for i in self.items if i.action in actions)

    def size(self, *actions: str) -> int:
        return sum(i.size for i in self.items if i.action in actions)

    @property
    def todo(self) -> list[PutItem]:
        return [i for i in self.items if i.action != Action.SKIP]


def put_job_id(endpoint: str | None, path: str, dst: str, digest: Digest, gzip_it: bool) -> str:
    """The job id of uploading this content of this file to ``dst`` (a re-run finds the same job)."""
    return job_id_for(None, f"file://{path}", endpoint, dst, digest.md5 + (GZIP_SUFFIX if gzip_it else ""))


class PutPlanner:
    """Builds a ``PutPlan``: walk, list the destination, hash what needs it (concurrently), decide, dedupe."""

    def __init__(
        self,
        conn: S3Connection,
        options: PutOptions,
        journal: Journal,
        *,
        cancel: CancelToken,
        hashed: Callable[[int], None] | None = None,
    ) -> None:
        if options.mode not in MODES:
            raise MputuiError(f"unknown mode {options.mode!r} (use add, update or always)", exit_code=2)
        self.conn = conn
        self.options = options
        self.journal = journal
        self.cancel = cancel
        self._hashed = hashed
        self.endpoint = clean_endpoint(conn.endpoint_url)
        self.index: JobIndex = JobIndex(journal)

    def plan(self, local_path: str, dst: S3Url) -> PutPlan:
        o = self.options
        unreadable: list[tuple[str, str]] = []
        try:
            files = list(
                walk(
                    local_path,
                    dst.key,
                    rules=o.rules,
                    on_skip=lambda p, why: unreadable.append((p, why)),
                )
            )
        except FileNotFoundError as exc:
            raise MputuiError(str(exc), exit_code=2) from exc
        files = [replace(f, path=os.path.abspath(f.path)) for f in files]
        remote = self._remote(dst, files) if o.mode != "always" else {}
        items: list[PutItem] = []
        for f in files:
            existing = remote.get(f.key)
            if o.mode == "always":
                items.append(self._item(f, dst.bucket, Action.UPLOAD, "mode always: not checked"))
            elif existing is None:
                items.append(self._item(f, dst.bucket, Action.UPLOAD, "new"))
            elif o.mode == "add":
                items.append(self._item(f, dst.bucket, Action.SKIP, "key exists (mode add)"))
            else:
                items.append(self._item(f, dst.bucket, Action.COMPARE, ""))
        items = self._hash(items)
        items = [self._decide(i, remote.get(i.key)) for i in items]
        differs = {i.key for i in items if i.action == Action.REPLACE}  # still so once deduped into a copy
        limited = 0
        if o.limit is not None:
            kept = 0
            for n, item in enumerate(items):
                if item.action == Action.SKIP:
                    continue
                kept += 1
                if kept > o.limit:
                    items[n] = replace(item, action=Action.LIMIT)
            limited = sum(1 for i in items if i.action == Action.LIMIT)
            items = [i for i in items if i.action != Action.LIMIT]
        items = [self._with_job(i) for i in items]
        if o.dedupe:
            items = self._dedupe(items, remote)
        elsewhere = [
            r for i in items for r in self.index.elsewhere(i.dst, self.endpoint) if r.kind is not JobKind.COPY
        ]
        overwrites = tuple(i.dst for i in items if i.key in differs and i.action != Action.SKIP)
        return PutPlan(
            tuple(items), tuple(self._stale(items)), limited, tuple(unreadable), tuple(elsewhere), overwrites
        )

    def _item(self, f: LocalFile, bucket: str, action: Action, reason: str) -> PutItem:
        o = self.options
        return PutItem(
            file=f,
            bucket=bucket,
            key=f.key,
            action=action,
            reason=reason,
            part_size=effective_part_size(f.size, o.part_size),
            content_type=o.content_type or guess_content_type(f.key),
            content_encoding="gzip" if o.gzip else None,
        )

    def _remote(self, dst: S3Url, files: list[LocalFile]) -> dict[str, ObjectInfo]:
        """What the destination holds under the prefix (one paged listing, not a HEAD per file)."""
        if len(files) == 1 and files[0].key == dst.key:
            found = with_retries(
                lambda: head_object(self.conn, dst.bucket, dst.key, metadata=True), cancel=self.cancel
            )
            return {dst.key: found} if found is not None else {}
        return {o.key: o for o in list_objects(self.conn, dst.bucket, dest_dir(dst))}

    def _hash(self, items: list[PutItem]) -> list[PutItem]:
        """Digest every file that is not skipped, a few at a time (hashlib releases the GIL)."""
        todo = [n for n, i in enumerate(items) if i.action != Action.SKIP]
        out = list(items)
        workers = max(1, min(4, os.cpu_count() or 1, len(todo)))
        with Engine(workers, cancel=self.cancel, name="mputui-md5") as engine:
            for n, result in engine.map_unordered(lambda n: self._digest(items[n]), todo, retry=False):
                if isinstance(result, BaseException):
                    if isinstance(result, OSError):
                        out[n] = replace(
                            items[n], action=Action.SKIP, reason=f"unreadable: {result.strerror or result}"
                        )
                        continue
                    raise result
                out[n] = replace(items[n], digest=result)
        self.cancel.check()
        return out

    def _digest(self, item: PutItem) -> Digest:
        return digest_file(
            item.file.path,
            item.part_size,
            gzip_it=self.options.gzip,
            progress=self._hashed,
            cancel=self.cancel,
        )

    def _decide(self, item: PutItem, existing: ObjectInfo | None) -> PutItem:
        if item.action != Action.COMPARE or existing is None or item.digest is None:
            return item
        if self._same(item, existing):
            return replace(item, action=Action.SKIP, reason="same content already there")
        return replace(item, action=Action.REPLACE, reason="content differs")

    def _same(self, item: PutItem, existing: ObjectInfo) -> bool:
        digest = item.digest
        assert digest is not None
        if existing.size != digest.size:
            return False
        if existing.md5 is None:
            existing = (
                with_retries(
                    lambda: head_object(self.conn, existing.bucket, existing.key, metadata=True),
                    cancel=self.cancel,
                )
                or existing
            )
        if existing.md5 is not None:
            return existing.md5 == digest.md5
        if not existing.multipart_etag:
            return False  # an ETag that is not an MD5 (SSE-KMS/SSE-C) and no x-amz-meta-md5
        wanted = existing.etag.lower()
        for part_size in self._part_size_candidates(existing, digest.part_size):
            if part_size != digest.part_size:
                # Another part size than ours: another pass over this file (the only place a byte is hashed
                # twice; objects mputui uploaded carry x-amz-meta-md5 and never get here).
                digest = digest_file(item.file.path, part_size, gzip_it=self.options.gzip)
            if digest.multipart_etag == wanted:
                return True
        return False

    def _part_size_candidates(self, obj: ObjectInfo, ours: int) -> list[int]:
        """Part sizes that give ``obj``'s part count: ours (no extra pass), part 1's size if the server tells
        it (HEAD PartNumber=1; RGW ignores it), the size split evenly in whole MiB, common tools' defaults."""
        try:
            count = int(obj.etag.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            return []
        fits = [p for p in (ours, self._part_size_of(obj)) if p and part_count(obj.size, p) == count]
        even = -(-obj.size // count)
        guesses = [-(-even // MIB) * MIB, *(m * MIB for m in COMMON_PART_MIB)]
        others = [p for p in guesses if part_count(obj.size, p) == count and p not in fits]
        return list(dict.fromkeys([*fits, *others]))[: 1 + MAX_EXTRA_PASSES]

    def _part_size_of(self, obj: ObjectInfo) -> int | None:
        """The size of part 1 of a multipart object (HEAD with PartNumber=1), None if the server won't say."""
        try:
            head = with_retries(
                lambda: self.conn.call(obj.bucket, "head_object", Key=obj.key, PartNumber=1),
                cancel=self.cancel,
            )
        except Exception:
            return None
        size = int(head.get("ContentLength", 0))
        return size if 0 < size < obj.size else None

    def _with_job(self, item: PutItem) -> PutItem:
        if item.digest is None and item.action == Action.SKIP:
            return self._closed_by_record(item)
        if item.digest is None or not item.multipart:
            return item
        job_id = self.index.resolve(
            put_job_id(self.endpoint, item.file.path, item.dst, item.digest, self.options.gzip)
        )
        if self.journal.load(job_id) is not None:
            # Also when the key already holds this content: a run killed between Complete and forgetting the
            # job left it journaled, and the job (finding its upload gone and the object its own) closes it.
            return replace(item, action=Action.RESUME, reason="interrupted upload journaled", job_id=job_id)
        if item.action == Action.SKIP:
            return item
        return replace(item, job_id=job_id)

    def _closed_by_record(self, item: PutItem) -> PutItem:
        """A key ``--mode add`` skips unhashed: if a journaled put of this file to this key completed it (a run
        killed between Complete and forgetting the job), the skip names that job and the run closes it."""
        for record in self.journal.records():
            if (
                record.kind == JobKind.PUT
                and (record.path, record.dst) == (item.file.path, item.dst)
                and clean_endpoint(record.dst_endpoint) == self.endpoint
                and completed_by_record(self.conn, record) is not None
            ):
                return replace(
                    item, reason="key exists (mode add): completed by an interrupted run", job_id=record.id
                )
        return item

    def _dedupe(self, items: list[PutItem], remote: dict[str, ObjectInfo]) -> list[PutItem]:
        """Turn uploads of content that is already there (or uploaded by this plan) into server-side copies."""
        wanted = {
            (i.digest.md5, i.digest.size)
            for i in items
            if i.action in (Action.UPLOAD, Action.REPLACE)
            and i.digest is not None
            and 0 < i.digest.size <= MAX_SINGLE_COPY
        }
        sources: dict[tuple[str, int], ObjectInfo] = {}
        for obj in self._remote_md5s(remote.values(), {size for _, size in wanted}):
            md5 = obj.md5
            if md5 is not None and (md5, obj.size) in wanted:
                sources.setdefault((md5, obj.size), obj)
        first_local: dict[tuple[str, int], str] = {}
        out = []
        for item in items:
            d = item.digest
            if (
                item.action not in (Action.UPLOAD, Action.REPLACE)
                or d is None
                or (d.md5, d.size) not in wanted
            ):
                out.append(item)
                continue
            source = sources.get((d.md5, d.size))
            if source is not None and source.key != item.key:
                out.append(
                    replace(
                        item, action=Action.COPY, reason="same content under the prefix", copy_from=source
                    )
                )
            elif (d.md5, d.size) in first_local:
                out.append(
                    replace(
                        item,
                        action=Action.COPY,
                        reason="same content as another file",
                        copy_of=first_local[(d.md5, d.size)],
                    )
                )
            else:
                first_local[(d.md5, d.size)] = item.key
                out.append(item)
        return out

    def _remote_md5s(self, objects: Iterable[ObjectInfo], sizes: set[int]) -> list[ObjectInfo]:
        """Objects of a wanted size with their MD5 known (HEADing the multipart ones for x-amz-meta-md5)."""
        candidates = [o for o in objects if o.size in sizes]
        plain = [o for o in candidates if o.md5 is not None]
        need_head = [o for o in candidates if o.md5 is None]
        if not need_head:
            return plain
        found = list(plain)
        with Engine(min(16, len(need_head)), cancel=self.cancel, name="mputui-head") as engine:
            for _, result in engine.map_unordered(
                lambda o: head_object(self.conn, o.bucket, o.key, metadata=True), need_head
            ):
                if isinstance(result, ObjectInfo) and result.md5 is not None:
                    found.append(result)
        return found

    def _stale(self, items: list[PutItem]) -> list[JobRecord]:
        """Journaled put jobs for the same file and key whose content differs from today's file."""
        wanted = {(i.file.path, i.dst): i.job_id for i in items if i.job_id is not None}
        return [
            r
            for r in self.journal.records()
            if r.kind == JobKind.PUT
            and (r.path, r.dst) in wanted
            and wanted[(r.path, r.dst)] != r.id
            and clean_endpoint(r.dst_endpoint) == self.endpoint
        ]
