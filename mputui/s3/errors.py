"""Turn boto3/botocore exceptions into one short line a person can act on (never a traceback)."""

from __future__ import annotations

import botocore.exceptions as bexc

# Error codes that mean "this upload no longer exists". RGW answers ListParts on an aborted upload with
# NoSuchKey rather than NoSuchUpload, so both count.
GONE_CODES = frozenset({"NoSuchUpload", "NoSuchKey"})
REDIRECT_CODES = frozenset(
    {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "301"}
)

_CODE_MESSAGES = {
    "AccessDenied": "access denied",
    "AllAccessDisabled": "access denied (all access disabled)",
    "AccountProblem": "account problem reported by the server",
    "NoSuchBucket": "bucket not found",
    "NoSuchUpload": "upload not found (already aborted or completed)",
    "NoSuchKey": "not found",
    "InvalidAccessKeyId": "invalid access key id (check your credentials)",
    "SignatureDoesNotMatch": "signature mismatch (check the secret key and the region)",
    "ExpiredToken": "credentials expired (refresh your session or token)",
    "InvalidToken": "invalid session token",
    "RequestTimeTooSkewed": "clock skew too large between this machine and the server",
    "SlowDown": "throttled by the server (SlowDown) even after retries",
    "Throttling": "throttled by the server even after retries",
    "ServiceUnavailable": "service unavailable (503) even after retries",
    "InternalError": "server internal error (500) even after retries",
    "InvalidBucketName": "invalid bucket name",
    "PermanentRedirect": "bucket is in another region and the redirect failed",
    "AuthorizationHeaderMalformed": "wrong region for this bucket or endpoint",
    "NotImplemented": "not implemented by this server",
}


class MputuiError(Exception):
    """An error to show as one line; ``exit_code`` 2 for usage/config problems, 1 otherwise."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def error_code(exc: BaseException) -> str | None:
    """The S3 error code of a ``ClientError`` (e.g. ``"NoSuchUpload"``), else ``None``."""
    if isinstance(exc, bexc.ClientError):
        code = exc.response.get("Error", {}).get("Code")
        if code:
            return str(code)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return str(status) if status else None
    return None


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a ``ClientError``, else ``None``."""
    if isinstance(exc, bexc.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status else None
    return None


def is_gone(exc: BaseException) -> bool:
    """True when the error says the upload (or object) does not exist any more."""
    return error_code(exc) in GONE_CODES


def is_usage_error(exc: BaseException) -> bool:
    """True for problems in how mputui was invoked/configured (exit code 2) rather than at run time."""
    if isinstance(exc, MputuiError):
        return exc.exit_code == 2
    return isinstance(
        exc,
        bexc.ProfileNotFound
        | bexc.InvalidRegionError
        | bexc.InvalidEndpointConfigurationError
        | bexc.ConfigParseError
        | bexc.InvalidConfigError,
    ) or (isinstance(exc, ValueError) and "endpoint" in str(exc).lower())


def describe(exc: BaseException) -> str:
    """One line describing ``exc`` without secrets or tracebacks."""
    if isinstance(exc, MputuiError):
        return exc.message
    if isinstance(exc, bexc.ClientError):
        code = error_code(exc) or "error"
        status = http_status(exc)
        known = _CODE_MESSAGES.get(code)
        if known:
            return known
        msg = exc.response.get("Error", {}).get("Message") or ""
        detail = f": {_one_line(msg)}" if msg and msg != code else ""
        if code.isdigit():  # no S3 error body, only an HTTP status
            retried = " even after retries" if int(code) >= 500 else ""
            return f"HTTP {code}{detail}{retried}"
        return f"{code} (HTTP {status}){detail}" if status else f"{code}{detail}"
    if isinstance(exc, bexc.ProfileNotFound):
        return f"unknown profile {exc.kwargs.get('profile')!r} (not in your AWS config or credentials file)"
    if isinstance(exc, bexc.NoCredentialsError):
        return (
            "no credentials found (set AWS_PROFILE or --profile, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; "
            "try `mputui --demo` for a local demo)"
        )
    if isinstance(exc, bexc.PartialCredentialsError):
        return f"incomplete credentials: {exc.kwargs.get('cred_var', 'a value')} is missing"
    if isinstance(exc, bexc.InvalidRegionError):
        return f"invalid region name {exc.kwargs.get('region_name')!r}"
    if isinstance(exc, bexc.EndpointConnectionError):
        return f"cannot connect to {exc.kwargs.get('endpoint_url', 'the endpoint')} (connection refused or unreachable)"
    if isinstance(exc, bexc.ConnectTimeoutError):
        return f"timed out connecting to {exc.kwargs.get('endpoint_url', 'the endpoint')}"
    if isinstance(exc, bexc.ReadTimeoutError):
        return f"timed out waiting for {exc.kwargs.get('endpoint_url', 'the endpoint')} to answer"
    if isinstance(exc, bexc.ConnectionClosedError):
        return f"connection dropped by {exc.kwargs.get('endpoint_url', 'the endpoint')}"
    if isinstance(exc, bexc.SSLError):
        return f"TLS error talking to {exc.kwargs.get('endpoint_url', 'the endpoint')}"
    if isinstance(exc, bexc.ProxyConnectionError):
        return f"cannot connect to proxy {exc.kwargs.get('proxy_url', '')}".rstrip()
    if isinstance(exc, bexc.HTTPClientError):
        return f"connection error: {_one_line(str(exc.kwargs.get('error', exc)))}"
    if isinstance(exc, bexc.TokenRetrievalError | bexc.SSOTokenLoadError | bexc.UnauthorizedSSOTokenError):
        return "SSO session expired or missing (run `aws sso login`)"
    if isinstance(exc, bexc.BotoCoreError):
        return _one_line(str(exc))
    if isinstance(exc, ValueError) and "endpoint" in str(exc).lower():
        return _one_line(str(exc))
    return f"{type(exc).__name__}: {_one_line(str(exc))}"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
