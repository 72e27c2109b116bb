"""The names a job's kind, a plan's action and a write's method take. Each is a ``StrEnum`` whose values are the
strings the journal and the CLI's JSON have always held; ``multipart`` means a different thing to a copy
(UploadPartCopy) and to a put (UploadPart from a file), so copies and puts have one method enum each."""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    """What a journaled job does."""

    COPY = "copy"  # an S3 object to another key
    PUT = "put"  # a local file mputui started uploading
    RESUME = "resume"  # a local file finishing an upload someone else started


class Action(StrEnum):
    """What a plan does with one object."""

    COPY = "copy"  # cp: copy it; put: server-side copy of identical content already in S3
    UPLOAD = "upload"
    REPLACE = "replace"
    RESUME = "resume"
    SKIP = "skip"
    COMPARE = "compare"  # put planning only: decided once both sides are hashed
    LIMIT = "limit"  # put planning only: left for a later run by --limit


class CopyMethod(StrEnum):
    """How a copy moves an object."""

    COPY = "copy"  # one CopyObject
    MULTIPART = "multipart"  # CreateMultipartUpload + UploadPartCopy + Complete
    STREAM = "stream"  # GET + PUT across endpoints
    STREAM_MULTIPART = "stream-multipart"  # ranged GETs → UploadPart across endpoints


class PutMethod(StrEnum):
    """How a put writes a local file."""

    PUT = "put"  # one PutObject
    MULTIPART = "multipart"  # CreateMultipartUpload + UploadPart + Complete
    COPY = "copy"  # server-side copy of identical content


Method = CopyMethod | PutMethod


def parse_method(kind: JobKind, value: str) -> Method:
    """A journaled method in the enum of its job's kind."""
    return CopyMethod(value) if kind is JobKind.COPY else PutMethod(value)


class Outcome(StrEnum):
    """How a run ended."""

    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
