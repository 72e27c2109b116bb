"""Commit (complete) an abandoned upload from its listed parts — planned, validated, verified afterwards.

A commit is only ever made from a plan the user saw: exactly the planned parts, in order, with their listed
ETags. Under a concurrent commit or abort exactly one wins; the loser is told plainly (Manta's rule). A commit
never replaces an object unless asked to (``overwrite``): a stale upload committed over the good object a
client's retry made is the usual way salvage destroys data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mputui.formatting import existing_object_text
from mputui.formatting import format_ranges as format_ranges  # imported from here by mputui.jobs
from mputui.s3 import wirelog
from mputui.s3.actions import upload_exists
from mputui.s3.checksums import (
    FULL_OBJECT,
    checksum_field,
    effective_checksum_type,
    expected_etag,
    full_object_checksum,
)
from mputui.s3.connect import S3Connection
from mputui.s3.errors import describe, error_code, http_status, is_gone
from mputui.s3.inventory import list_parts
from mputui.s3.models import Part, PartFlags, Problem, ProblemCode, Upload
from mputui.s3.objects import ObjectInfo, head_object

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3 refuses to complete an upload whose parts, other than the last, are smaller than this."""
MAX_PARTS = 10_000
"""S3's highest part number."""


@dataclass(frozen=True, slots=True)
class CommitPlan:
    """What a commit would do: which parts, the object it makes, what refuses it, and which listed parts are
    flagged (what the CLI's ``parts`` and the TUI's parts pane show)."""

    bucket: str
    key: str
    upload_id: str
    parts: tuple[Part, ...]  # the parts to complete with, ascending
    listed: int  # how many parts the upload has
    size: int
    etag: str | None  # the ETag the object will get, when computable
    problems: tuple[Problem, ...]
    dropped: tuple[int, ...] = ()  # part numbers left out (after a gap, with contiguous_prefix)
    flags: tuple[PartFlags, ...] = ()  # every listed part, ascending, with what in it blocks a commit
    checksum_algorithm: str | None = None  # the upload's flexible checksum algorithm (CRC32, ...)
    checksum_type: str | None = None  # COMPOSITE or FULL_OBJECT (S3's default for the algorithm if unlisted)
    checksum: str | None = None  # the FULL_OBJECT checksum, combined from the parts' CRCs when they list them
    existing: ObjectInfo | None = None  # the object at the key when planned (``load_plan`` HEADs it)

    @property
    def ok(self) -> bool:
        return not self.problems

    def has(self, code: ProblemCode) -> bool:
        """True when ``code`` is among the problems."""
        return any(p.code is code for p in self.problems)


def find_gaps(numbers: list[int]) -> list[int]:
    """Part numbers missing between 1 and the highest listed one."""
    present = set(numbers)
    return [n for n in range(1, max(numbers, default=0) + 1) if n not in present]


def flag_parts(ordered: list[Part]) -> tuple[PartFlags, ...]:
    """Each part (ascending, distinct numbers) with what blocks a commit of all of them: the part numbers
    missing just before it, under 5 MiB and not last, a number over 10,000."""
    flags: list[PartFlags] = []
    previous = 0
    for i, part in enumerate(ordered):
        codes: list[ProblemCode] = []
        missing = None
        if part.part_number != previous + 1:
            codes.append(ProblemCode.GAP)
            missing = (previous + 1, part.part_number - 1)
        if part.size < MIN_PART_SIZE and i < len(ordered) - 1:
            codes.append(ProblemCode.SMALL_PART)
        if part.part_number > MAX_PARTS:
            codes.append(ProblemCode.TOO_MANY_PARTS)
        flags.append(PartFlags(part, tuple(codes), missing))
        previous = part.part_number
    return tuple(flags)


def plan_commit(
    bucket: str,
    key: str,
    upload_id: str,
    parts: list[Part],
    *,
    contiguous_prefix: bool = False,
    checksum_algorithm: str | None = None,
    checksum_type: str | None = None,
) -> CommitPlan:
    """Build a commit plan from the listed parts (pure: no requests).

    Problems that refuse the commit: no parts; a gap in part numbers (S3 would silently make an object with a
    hole) unless ``contiguous_prefix`` (then parts 1..k up to the first gap are used); a non-last part under
    5 MiB; more than 10,000 parts. ``checksum_algorithm``/``checksum_type``: the upload's, as listed (the
    algorithm defaults to the one the parts list checksums of).
    """
    ordered = sorted({p.part_number: p for p in parts}.values(), key=lambda p: p.part_number)
    problems: list[Problem] = []
    chosen = ordered
    dropped: list[int] = []
    gaps = find_gaps([p.part_number for p in ordered])
    if not ordered:
        problems.append(Problem(ProblemCode.NO_PARTS))
    elif gaps:
        if contiguous_prefix:
            first_gap = gaps[0]
            chosen = [p for p in ordered if p.part_number < first_gap]
            dropped = [p.part_number for p in ordered if p.part_number > first_gap]
            if not chosen:
                problems.append(Problem(ProblemCode.NO_PREFIX, (1,)))
        else:
            problems.append(Problem(ProblemCode.GAP, tuple(gaps)))
    small = [p.part_number for p in chosen[:-1] if p.size < MIN_PART_SIZE]
    if small:
        problems.append(Problem(ProblemCode.SMALL_PART, tuple(small)))
    beyond = [p.part_number for p in chosen if p.part_number > MAX_PARTS]
    if beyond:  # distinct numbers from 1: more than 10,000 parts always has one over 10,000
        problems.append(Problem(ProblemCode.TOO_MANY_PARTS, tuple(beyond)))
    algorithm = checksum_algorithm or next(
        (p.checksum_algorithm for p in ordered if p.checksum_algorithm), None
    )
    kind = effective_checksum_type(algorithm, checksum_type)
    return CommitPlan(
        bucket=bucket,
        key=key,
        upload_id=upload_id,
        parts=tuple(chosen),
        listed=len(ordered),
        size=sum(p.size for p in chosen),
        etag=expected_etag(chosen),
        problems=tuple(problems),
        dropped=tuple(dropped),
        flags=flag_parts(ordered),
        checksum_algorithm=algorithm.upper() if algorithm else None,
        checksum_type=kind,
        checksum=full_object_checksum(algorithm, chosen) if kind == FULL_OBJECT else None,
    )


def load_plan(
    conn: S3Connection,
    bucket: str,
    key: str,
    upload_id: str,
    *,
    contiguous_prefix: bool = False,
    upload: Upload | None = None,
) -> CommitPlan:
    """List every part of the upload and plan its commit, with the object now at the key (raises the listing
    error, e.g. NoSuchUpload). ``upload``: the listed upload, whose checksum algorithm and type the plan takes."""
    parts = list_parts(conn, bucket, key, upload_id)
    plan = plan_commit(
        bucket,
        key,
        upload_id,
        parts,
        contiguous_prefix=contiguous_prefix,
        checksum_algorithm=upload.checksum_algorithm if upload else None,
        checksum_type=upload.checksum_type if upload else None,
    )
    return replace(plan, existing=head_object(conn, bucket, key))


def with_listed_checksums(parts: list[Part], listed: list[Part]) -> list[Part]:
    """``parts`` with the checksums the server lists for the same part (same number and ETag)."""
    by_number = {p.part_number: p for p in listed}
    out = []
    for part in parts:
        found = by_number.get(part.part_number)
        if (
            found is not None
            and found.checksum
            and found.etag.strip('"').lower() == part.etag.strip('"').lower()
        ):
            part = replace(part, checksum_algorithm=found.checksum_algorithm, checksum=found.checksum)
        out.append(part)
    return out


def completed_part(part: Part) -> dict[str, Any]:
    """One entry of CompleteMultipartUpload's part list: number, ETag and the part's listed checksum (S3
    refuses to complete an upload created with a checksum algorithm without each part's checksum)."""
    entry: dict[str, Any] = {"PartNumber": part.part_number, "ETag": part.etag}
    if part.checksum and part.checksum_algorithm:
        entry[checksum_field(part.checksum_algorithm)] = part.checksum
    return entry


@dataclass(frozen=True, slots=True)
class CommitResult:
    """The outcome of one commit."""

    plan: CommitPlan
    status: str  # "committed" | "already gone" | "refused" (an object exists at the key) | "failed"
    etag: str | None = None
    error: str | None = None
    verified: bool = False  # HEAD afterwards matched the planned size (and ETag, when computable)
    existing: ObjectInfo | None = None  # "refused": the object at the key

    @property
    def ok(self) -> bool:
        return self.status == "committed"


def _matches_plan(obj: ObjectInfo | None, plan: CommitPlan) -> bool:
    if obj is None or obj.size != plan.size:
        return False
    return plan.etag is None or obj.etag.lower() == plan.etag


def complete_upload(conn: S3Connection, plan: CommitPlan, *, overwrite: bool = False) -> CommitResult:
    """Complete the upload with exactly the planned parts, then HEAD the object and check it.

    Never called with a plan that has problems. Unless ``overwrite``, an object at the key refuses the commit:
    a HEAD just before, and ``If-None-Match: *`` on the request for a server that honours it (one that does not
    implement it is asked again without it, after the HEAD). ``x-amz-mp-object-size`` carries the planned size,
    for a server that checks the assembly against it. If the upload is gone (aborted or completed concurrently),
    the object at the key tells whether it was *this* commit that landed (a retried request whose first attempt
    succeeded) — otherwise the other operation won and that is reported.
    """
    if not plan.ok:
        raise ValueError(
            "refusing to commit a plan with problems: " + ", ".join(p.code for p in plan.problems)
        )
    if not overwrite:
        try:
            existing = head_object(conn, plan.bucket, plan.key)
        except Exception as exc:
            return CommitResult(
                plan, "failed", error=f"cannot check the key: {describe(exc)}; nothing committed"
            )
        if existing is not None:
            return _refused(plan, existing)
    request: dict[str, Any] = {
        "Key": plan.key,
        "UploadId": plan.upload_id,
        "MultipartUpload": {"Parts": [completed_part(p) for p in plan.parts]},
        "MpuObjectSize": plan.size,
    }
    if plan.checksum is not None and plan.checksum_algorithm is not None:
        request[checksum_field(plan.checksum_algorithm)] = plan.checksum
        request["ChecksumType"] = FULL_OBJECT
    if not overwrite:
        request["IfNoneMatch"] = "*"
    try:
        _send_complete(conn, plan, request)
    except Exception as exc:
        # RGW answers 500 InternalError (not NoSuchUpload) to a complete after an abort: check, don't trust.
        gone = is_gone(exc)
        if not gone:
            try:
                gone = not upload_exists(conn, plan.bucket, plan.key, plan.upload_id)
            except Exception:
                gone = False
        if not gone:
            if _precondition_failed(exc):
                # An object appeared at the key after the HEAD (and the upload is still there: not a retry).
                try:
                    obj = head_object(conn, plan.bucket, plan.key)
                except Exception:
                    obj = None
                return _refused(plan, obj)
            if plan.dropped and error_code(exc) == "InvalidPart":
                # Seen on Ceph RGW 16.2: it refuses to complete with a subset of the uploaded parts.
                return CommitResult(
                    plan,
                    "failed",
                    error="the server refused to complete with only some of the uploaded parts (InvalidPart; "
                    "Ceph RGW requires all of them); nothing changed",
                )
            return CommitResult(plan, "failed", error=describe(exc))
        try:
            obj = head_object(conn, plan.bucket, plan.key)
        except Exception:
            obj = None
        if _matches_plan(obj, plan) and plan.etag is not None:
            return CommitResult(plan, "committed", etag=obj.etag if obj else None, verified=True)
        return CommitResult(
            plan, "already gone", error="the upload no longer exists (aborted or completed by someone else)"
        )
    # The Complete response's ETag is empty on RGW: HEAD gives the real one.
    try:
        obj = head_object(conn, plan.bucket, plan.key)
    except Exception as exc:
        return CommitResult(plan, "committed", error=f"committed, but checking it failed: {describe(exc)}")
    if not _matches_plan(obj, plan):
        got = "no object" if obj is None else f"size {obj.size}, ETag {obj.etag}"
        return CommitResult(
            plan,
            "committed",
            etag=obj.etag if obj else None,
            error=f"committed, but the object does not match the plan ({got}; planned size {plan.size}, "
            f"ETag {plan.etag})",
        )
    return CommitResult(plan, "committed", etag=obj.etag if obj else None, verified=True)


CONDITIONAL_PARAMS = ("IfNoneMatch", "MpuObjectSize")


def _send_complete(conn: S3Connection, plan: CommitPlan, request: dict[str, Any]) -> None:
    """CompleteMultipartUpload; once more without the conditional headers if the server does not implement
    them (S3's NotImplemented: "a header you provided implies functionality that is not implemented")."""
    try:
        conn.call(plan.bucket, "complete_multipart_upload", **request)
    except Exception as exc:
        if not (error_code(exc) == "NotImplemented" or http_status(exc) == 501):
            raise
        wirelog.note(
            f"complete of s3://{plan.bucket}/{plan.key}: the server does not implement If-None-Match or "
            f"x-amz-mp-object-size ({describe(exc)}); completing without them, the HEAD before it having "
            "checked the key"
        )
        plain = {k: v for k, v in request.items() if k not in CONDITIONAL_PARAMS}
        conn.call(plan.bucket, "complete_multipart_upload", **plain)


def _precondition_failed(exc: BaseException) -> bool:
    return error_code(exc) == "PreconditionFailed" or http_status(exc) == 412


def _refused(plan: CommitPlan, existing: ObjectInfo | None) -> CommitResult:
    return CommitResult(
        plan,
        "refused",
        error=f"{existing_object_text(existing)}; nothing committed",
        existing=existing,
    )
