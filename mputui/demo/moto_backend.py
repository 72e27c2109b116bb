"""moto, imported only when a demo starts, and the small patch that makes it report honest upload times."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from mputui.s3.errors import MputuiError

DEMO_HOST = "127.0.0.1"
DEMO_REGION = "us-east-1"
INSTALL_HINT = "the demo endpoint needs moto: pip install 'mputui[demo]'"


def import_moto_server() -> Any:
    try:
        import moto.s3.models
        import moto.server
    except ImportError as exc:
        raise MputuiError(INSTALL_HINT, exit_code=2) from exc
    return moto.server


def quiet_werkzeug() -> None:
    # Werkzeug logs one line per request to stderr, which would scribble over the TUI; keep errors only,
    # unless the application configured that logger itself.
    logger = logging.getLogger("werkzeug")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.ERROR)


def demo_backend() -> Any:
    """moto's S3 backend that requests signed with any demo key reach (default account, aws partition)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    return s3_backends[DEFAULT_ACCOUNT_ID][get_partition(DEMO_REGION)]


def discard_demo_data() -> None:
    with contextlib.suppress(ImportError):
        demo_backend().reset()  # closes every part's and object's buffer (memory and temp files)


# --- the moto patch -------------------------------------------------------------------------------------

_patch_lock = threading.Lock()
_patched = False


def _iso_utc(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def patch_moto() -> None:
    """Make moto report honest upload initiation times and storage classes. Idempotent, process-wide.

    Why: moto (5.1 and 5.2 at least) answers ListMultipartUploads with ``Initiated`` hard-coded to 2010-11-10T20:48:33Z and
    ``StorageClass`` hard-coded to STANDARD for every upload (``S3Response.list_multipart_uploads``), and
    ``FakeMultipart`` does not even record when it was created. mputui's whole point is the age of uploads, so
    the demo must not show every upload as 14 years old.

    What: (1) ``FakeMultipart.__init__`` also sets ``self.initiated`` (naive UTC, moto's convention; seeding
    overwrites it); (2) ``S3Response.list_multipart_uploads`` runs unchanged, but for the duration of the
    call this response object's ``serialized`` is wrapped to put each upload's ``initiated`` and ``storage``
    into the result dict before moto serialises it; with moto < 5.2, which renders the ``S3_ALL_MULTIPARTS``
    Jinja template instead, the two hard-coded values in that template are replaced by the same attributes.
    Parts need no patch: ListParts reports each part's own ``FakeKey.last_modified``, which seeding sets.
    Uploads moto created before the patch keep the old values.
    """
    global _patched
    with _patch_lock:
        if _patched:
            return
        from moto.core.utils import utcnow
        from moto.s3 import responses as s3_responses
        from moto.s3.models import FakeMultipart
        from moto.s3.responses import S3Response

        original_init = FakeMultipart.__init__

        @functools.wraps(original_init)
        def init_with_time(self: Any, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            self.initiated = utcnow()

        original_list = S3Response.list_multipart_uploads

        @functools.wraps(original_list)
        def list_with_times(self: Any) -> Any:
            serialize = getattr(self, "serialized", None)
            if serialize is None:  # moto < 5.2: the template below does it
                return original_list(self)

            def serialized(action_result: Any) -> Any:
                result = getattr(action_result, "result", None)
                if isinstance(result, dict):
                    live = self.backend.list_multipart_uploads(self.bucket_name)
                    for entry in result.get("Uploads") or []:
                        upload = live.get(entry.get("UploadId"))
                        initiated = getattr(upload, "initiated", None)
                        if initiated is not None:
                            entry["Initiated"] = _iso_utc(initiated)
                        storage = getattr(upload, "storage", None)
                        if storage:
                            entry["StorageClass"] = storage
                return serialize(action_result)

            self.serialized = serialized  # this instance only: moto builds one response object per request
            try:
                return original_list(self)
            finally:
                del self.serialized

        setattr(FakeMultipart, "__init__", init_with_time)  # noqa: B010
        setattr(S3Response, "list_multipart_uploads", list_with_times)  # noqa: B010
        # moto < 5.2 renders this Jinja template instead (with the same two hard-coded values).
        template_name = "S3_ALL_MULTIPARTS"
        template = getattr(s3_responses, template_name, None)
        if isinstance(template, str):
            template = template.replace(_MOTO_STORAGE_XML, _HONEST_STORAGE_XML)
            setattr(s3_responses, template_name, template.replace(_MOTO_INITIATED_XML, _HONEST_INITIATED_XML))
        _patched = True


_MOTO_INITIATED_XML = "<Initiated>2010-11-10T20:48:33.000Z</Initiated>"
_HONEST_INITIATED_XML = (
    "<Initiated>{% if upload.initiated is defined %}{{ upload.initiated.strftime('%Y-%m-%dT%H:%M:%S.000Z') }}"
    "{% else %}2010-11-10T20:48:33.000Z{% endif %}</Initiated>"
)
_MOTO_STORAGE_XML = "<StorageClass>STANDARD</StorageClass>"
_HONEST_STORAGE_XML = "<StorageClass>{{ upload.storage or 'STANDARD' }}</StorageClass>"
