"""``--debug``: one line per HTTP request (method, URL, status or error, attempt, lean or boto3 path).

Lines go to the ``mputui.wire`` logger; the command line attaches a handler (stderr or ``--log-file``). Nothing
here ever sees a header: URLs carry no credentials (requests are signed in headers) and a URL's
``user:password@`` is redacted; errors are described by ``describe``, which withholds any text holding a secret.
"""

from __future__ import annotations

import logging
from typing import Any

from mputui.formatting import redact_url, safe_text
from mputui.s3.errors import describe

logger = logging.getLogger("mputui.wire")


def enabled() -> bool:
    """True when ``--debug`` (or ``MPUTUI_DEBUG=1``) is on."""
    return logger.isEnabledFor(logging.DEBUG)


def request(path: str, method: str, url: str, outcome: int | BaseException, attempt: int) -> None:
    """Log one HTTP attempt."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    shown = str(outcome) if isinstance(outcome, int) else f"error: {describe(outcome)}"
    logger.debug("%s %s %s -> %s (attempt %d)", path, method, safe_text(redact_url(url)), shown, attempt)


def note(text: str) -> None:
    """Log a decision (a bucket taking the boto3 path, a fallback)."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s", safe_text(redact_url(text)))


def boto3_attempt(
    request_dict: dict[str, Any] | None = None,
    response: Any = None,
    attempts: int = 0,
    caught_exception: BaseException | None = None,
    **_: Any,
) -> None:
    """A botocore ``needs-retry`` handler: logs the attempt that just ended, decides nothing."""
    if request_dict is None or not logger.isEnabledFor(logging.DEBUG):
        return
    outcome: int | BaseException
    if caught_exception is not None:
        outcome = caught_exception
    elif response is not None and response[0] is not None:
        outcome = int(response[0].status_code)
    else:
        return
    request(
        "boto3", str(request_dict.get("method", "?")), str(request_dict.get("url", "?")), outcome, attempts
    )
