"""Commit (complete) an abandoned upload from its listed parts — planned, validated, verified afterwards.

A commit is only ever made from a plan the user saw: exactly the planned parts, in order, with their listed
ETags. Under a concurrent commit or abort exactly one wins; the loser is told plainly (Manta's rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mputui.s3.actions import upload_exists
from mputui.s3.checksums import expected_etag
from mputui.s3.connect import S3Connection
from mputui.s3.errors import describe, error_code, is_gone
from mputui.s3.inventory import list_parts
from mputui.s3.models import Part
from mputui.s3.objects import ObjectInfo, head_object

# The commit screen's name for the object a commit would replace (it is being reworded elsewhere; rename there).
ExistingObject = ObjectInfo

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000


@dataclass(frozen=True, slots=True)
class CommitPlan:
    """What a commit would do: which parts, the object it makes, and what would make it wrong."""

    bucket: str
    key: str
    upload_id: str
    parts: tuple[Part, ...]  # the parts to complete with, ascending
    listed: int  # how many parts the upload has
    size: int
    etag: str | None  # the ETag the object will get, when computable
    problems: tuple[str, ...]
    dropped: tuple[int, ...] = ()  # part numbers left out (after a gap, with contiguous_prefix)

    @property
    def ok(self) -> bool:
        return not self.problems


def find_gaps(numbers: list[int]) -> list[int]:
    """Part numbers missing between 1 and the highest listed one."""
    present = set(numbers)
    return [n for n in range(1, max(numbers, default=0) + 1) if n not in present]


def plan_commit(
    bucket: str, key: str, upload_id: str, parts: list[Part], *, contiguous_prefix: bool = False
) -> CommitPlan:
    """Build a commit plan from the listed parts (pure: no requests).

    Problems that refuse the commit: no parts; a gap in part numbers (S3 would silently make an object with a
    hole) unless ``contiguous_prefix`` (then parts 1..k up to the first gap are used); a non-last part under
    5 MiB; more than 10,000 parts.
    """
    ordered = sorted({p.part_number: p for p in parts}.values(), key=lambda p: p.part_number)
    problems: list[str] = []
    chosen = ordered
    dropped: list[int] = []
    gaps = find_gaps([p.part_number for p in ordered])
    if not ordered:
        problems.append("the upload has no parts")
    elif gaps:
        if contiguous_prefix:
            first_gap = gaps[0]
            chosen = [p for p in ordered if p.part_number < first_gap]
            dropped = [p.part_number for p in ordered if p.part_number > first_gap]
            if not chosen:
                problems.append("part 1 is missing: there is no contiguous prefix to commit")
        else:
            problems.append(
                f"gap in part numbers: missing {format_ranges(gaps)} (the object would silently lack those bytes; "
                "use --contiguous-prefix to commit parts 1.."
                f"{gaps[0] - 1} only)"
                if gaps[0] > 1
                else f"gap in part numbers: missing {format_ranges(gaps)}, including part 1"
            )
    small = [p.part_number for p in chosen[:-1] if p.size < MIN_PART_SIZE]
    if small:
        problems.append(
            f"non-last part(s) under 5 MiB: {format_ranges(small)} (S3 refuses to complete with them: EntityTooSmall)"
        )
    if len(chosen) > MAX_PARTS or any(p.part_number > MAX_PARTS for p in chosen):
        problems.append(f"more than {MAX_PARTS:,} parts (S3's limit)")
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
    )


def format_ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 7, 9, 10]`` → ``1-3, 7, 9-10`` (at most 8 ranges shown)."""
    out: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(out[:8]) + (f" and {len(out) - 8} more ranges" if len(out) > 8 else "")


def load_plan(
    conn: S3Connection, bucket: str, key: str, upload_id: str, *, contiguous_prefix: bool = False
) -> CommitPlan:
    """List every part of the upload and plan its commit (raises the listing error, e.g. NoSuchUpload)."""
    parts = list_parts(conn, bucket, key, upload_id)
    return plan_commit(bucket, key, upload_id, parts, contiguous_prefix=contiguous_prefix)


@dataclass(frozen=True, slots=True)
class CommitResult:
    """The outcome of one commit."""

    plan: CommitPlan
    status: str  # "committed" | "already gone" | "failed"
    etag: str | None = None
    error: str | None = None
    verified: bool = False  # HEAD afterwards matched the planned size (and ETag, when computable)

    @property
    def ok(self) -> bool:
        return self.status == "committed"


def _matches_plan(obj: ObjectInfo | None, plan: CommitPlan) -> bool:
    if obj is None or obj.size != plan.size:
        return False
    return plan.etag is None or obj.etag.lower() == plan.etag


def complete_upload(conn: S3Connection, plan: CommitPlan) -> CommitResult:
    """Complete the upload with exactly the planned parts, then HEAD the object and check it.

    Never called with a plan that has problems. If the upload is gone (aborted or completed concurrently), the
    object at the key tells whether it was *this* commit that landed (a retried request whose first attempt
    succeeded) — otherwise the other operation won and that is reported.
    """
    if not plan.ok:
        raise ValueError("refusing to commit a plan with problems: " + "; ".join(plan.problems))
    request: dict[str, Any] = {
        "Key": plan.key,
        "UploadId": plan.upload_id,
        "MultipartUpload": {"Parts": [{"PartNumber": p.part_number, "ETag": p.etag} for p in plan.parts]},
    }
    try:
        conn.call(plan.bucket, "complete_multipart_upload", **request)
    except Exception as exc:
        # RGW answers 500 InternalError (not NoSuchUpload) to a complete after an abort: check, don't trust.
        gone = is_gone(exc)
        if not gone:
            try:
                gone = not upload_exists(conn, plan.bucket, plan.key, plan.upload_id)
            except Exception:
                gone = False
        if not gone:
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
