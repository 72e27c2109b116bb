"""Turn boto3/botocore exceptions into one short line a person can act on (never a traceback)."""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import threading
import weakref
from typing import Any

import botocore.exceptions as bexc
from botocore.parsers import ResponseParserError

from mputui.formatting import one_line, redact_urls, safe_text

# Error codes that mean "this upload no longer exists". RGW answers ListParts on an aborted upload with
# NoSuchKey rather than NoSuchUpload, so both count.
GONE_CODES = frozenset({"NoSuchUpload", "NoSuchKey"})
REDIRECT_CODES = frozenset(
    {
        "PermanentRedirect",
        "TemporaryRedirect",
        "AuthorizationHeaderMalformed",
        "IllegalLocationConstraintException",
        "301",
        "307",
    }
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


# The IAM action each S3 operation needs (the names differ: ListMultipartUploads is
# s3:ListBucketMultipartUploads, CompleteMultipartUpload is s3:PutObject, HeadObject is s3:GetObject).
IAM_ACTIONS = {
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "ListParts": "s3:ListMultipartUploadParts",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "CompleteMultipartUpload": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "PutObject": "s3:PutObject",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "ListBuckets": "s3:ListAllMyBuckets",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
}
# Operations on the bucket itself (their resource is the bucket's ARN, not an object's).
BUCKET_OPERATIONS = frozenset(
    {
        "ListMultipartUploads",
        "PutBucketLifecycleConfiguration",
        "GetBucketLifecycleConfiguration",
        "ListObjectsV2",
        "ListObjects",
        "HeadBucket",
    }
)
# Operations that read a source object and write the destination: either permission may be the missing one.
COPY_OPERATIONS = frozenset({"CopyObject", "UploadPartCopy"})
_AWS_NAMES_ACTION = re.compile(r"perform: (s3:[A-Za-z0-9]+)(?: on resource: \"?(arn:[^\"\s]+))?")


def note_request(exc: BaseException, bucket: str, params: dict[str, Any], region: str = "") -> None:
    """Remember on a ``ClientError`` which bucket, key (and copy source) its request named, so that
    ``describe`` can say which permission a denial is about."""
    if isinstance(exc, bexc.ClientError):
        source = params.get("CopySource")
        exc.mputui_request = {
            "bucket": bucket,
            "key": params.get("Key"),
            "source": (source.get("Bucket"), source.get("Key")) if isinstance(source, dict) else None,
            "partition": _partition(region),
        }


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def is_denied(exc: BaseException) -> bool:
    """True for an AccessDenied, or a bare 403 (a HEAD's answer has no body to say more)."""
    code = error_code(exc)
    return code == "AccessDenied" or (http_status(exc) == 403 and code in ("403", "Forbidden"))


def denied_text(exc: bexc.ClientError) -> str:
    """``access denied: needs s3:ACTION on arn:aws:s3:::BUCKET[/KEY]``, as far as the request tells."""
    operation = exc.operation_name
    request: dict[str, Any] = getattr(exc, "mputui_request", None) or {}
    bucket = request.get("bucket") or exc.response.get("Error", {}).get("BucketName")
    arn = f"arn:{request.get('partition', 'aws')}:s3:::"
    named = _AWS_NAMES_ACTION.search(str(exc.response.get("Error", {}).get("Message") or ""))
    if named:  # AWS names the action (and the resource) it denied: that is the one
        return f"access denied: needs {named.group(1)}" + (f" on {named.group(2)}" if named.group(2) else "")
    if operation in COPY_OPERATIONS:
        source = request.get("source") or (None, None)
        needs = (
            [f"s3:GetObject on {arn}{source[0]}/{source[1]}"] if source[0] else ["s3:GetObject on the source"]
        )
        if bucket:
            needs.append(f"s3:PutObject on {arn}{bucket}/{request.get('key') or '*'}")
        return "access denied: needs " + " and ".join(needs)
    action = IAM_ACTIONS.get(operation)
    if action is None:
        return f"access denied ({operation})" if operation else "access denied"
    if operation == "ListBuckets":
        return f"access denied: needs {action}"
    if not bucket:
        return f"access denied: needs {action}"
    key = request.get("key")
    resource = f"{arn}{bucket}" if operation in BUCKET_OPERATIONS or not key else f"{arn}{bucket}/{key}"
    return f"access denied: needs {action} on {resource}"


# The credentials in use (access key id, secret, session token), so that no message that contains one is shown:
# a server may echo a request's headers (Authorization, X-Amz-Security-Token) in its error text.
_secret_values: set[str] = set()
_secret_sources: weakref.WeakSet[Any] = weakref.WeakSet()
_secrets_lock = threading.Lock()
_MIN_SECRET = 8  # shorter values (demo keys) would hide innocent messages
_SECRET_WINDOW = 16  # a secret is found in a message by any run this long of it (a server may cut it)
# Header names whose presence in a message means the server echoed the request's credentials.
_ECHO_MARKERS = ("x-amz-security-token", "aws4-hmac-sha256 credential=", "x-amz-credential=")
WITHHELD = "the server's message is not shown: it contains your credentials"


def register_credentials(credentials: Any) -> None:
    """Remember ``credentials`` (botocore ``Credentials``, refreshable or not) so that ``describe`` never shows
    a message containing their access key id, secret key or token (refreshed tokens included)."""
    if credentials is None:
        return
    with _secrets_lock:
        with contextlib.suppress(TypeError):  # not weak-referenceable: its values are kept below
            _secret_sources.add(credentials)
        for name in ("access_key", "secret_key", "token"):
            value = getattr(credentials, name, None)
            if isinstance(value, str) and len(value) >= _MIN_SECRET:
                _secret_values.add(value)


def _current_secrets() -> set[str]:
    with _secrets_lock:
        values = set(_secret_values)
        sources = list(_secret_sources)
    for credentials in sources:
        try:
            frozen = credentials.get_frozen_credentials()
        except Exception:
            continue
        values.update(v for v in frozen if isinstance(v, str) and len(v) >= _MIN_SECRET)
    return values


def reveals_secret(text: str) -> bool:
    """True when ``text`` contains (a long enough run of) a registered credential, even split by invisible
    characters or whitespace, or echoes a credential header."""
    if not text:
        return False
    lowered = text.lower()
    if any(marker in lowered for marker in _ECHO_MARKERS):
        return True
    squeezed = "".join(ch for ch in text if ch.isprintable() and not ch.isspace())
    for secret in _current_secrets():
        if secret in text or secret in squeezed:
            return True
        for i in range(len(secret) - _SECRET_WINDOW + 1):
            if secret[i : i + _SECRET_WINDOW] in squeezed:
                return True
    return False


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


def is_redirect(exc: BaseException) -> bool:
    """True for the answers botocore follows to another endpoint or region: a redirect status (301, 302, 307,
    308), a redirect or wrong-region error code, or a HEAD's bare 400 that names the bucket's region."""
    if not isinstance(exc, bexc.ClientError):
        return False
    if error_code(exc) in REDIRECT_CODES or http_status(exc) in (301, 302, 307, 308):
        return True
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
    return http_status(exc) == 400 and "x-amz-bucket-region" in headers


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
    """One line describing ``exc`` without secrets or tracebacks, safe to print.

    Whatever a server sent (error codes and messages, reason text, regions) is shown through ``safe_text``
    like keys; a URL's ``user:password@`` is shown as ``***@``; a message that contains the credentials in use
    is not shown at all.
    """
    text = _describe(exc)
    if reveals_secret(text):
        code = error_code(exc) if isinstance(exc, bexc.ClientError) else None
        shown = code if code and not reveals_secret(code) else type(exc).__name__
        text = f"{shown}: {WITHHELD}"
    return safe_text(" ".join(redact_urls(text).split()))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MputuiError):
        return exc.message
    if isinstance(exc, bexc.ClientError):
        code = error_code(exc) or "error"
        status = http_status(exc)
        if status == 407:
            return (
                "proxy refused: it asks for credentials (HTTP 407); give them in the proxy URL, "
                "e.g. HTTPS_PROXY=http://USER:PASSWORD@HOST:PORT"
            )
        if is_denied(exc):
            return denied_text(exc)
        known = _CODE_MESSAGES.get(code)
        if known:
            return known
        msg = str(exc.response.get("Error", {}).get("Message") or "")
        if reveals_secret(msg):
            msg = WITHHELD
        detail = f": {_one_line(msg)}" if msg and msg != code else ""
        if reveals_secret(code):
            return f"error (HTTP {status}){detail}" if status else f"error{detail}"
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
    if isinstance(exc, bexc.ProxyConnectionError):
        return (
            f"proxy refused or unreachable ({_proxy_detail(exc)}): check HTTP_PROXY/HTTPS_PROXY and NO_PROXY"
        )
    if isinstance(exc, bexc.SSLError):
        where = exc.kwargs.get("endpoint_url", "the endpoint")
        if _cause(exc, ssl.SSLCertVerificationError) or "certificate verify failed" in str(exc):
            return (
                f"certificate of {where} not trusted (give its CA with --ca-bundle, AWS_CA_BUNDLE or the "
                "profile's ca_bundle; --no-verify-ssl skips the check)"
            )
        return f"TLS handshake with {where} failed: {_one_line(str(exc.kwargs.get('error', exc)))}"
    if isinstance(exc, bexc.EndpointConnectionError | bexc.ConnectTimeoutError):
        where = exc.kwargs.get("endpoint_url", "the endpoint")
        if _cause(exc, socket.gaierror) or "Name or service not known" in str(exc.kwargs.get("error", "")):
            return f"cannot resolve host of {where} (check the endpoint URL and DNS)"
        if _cause(exc, ConnectionRefusedError) or "Connection refused" in str(exc.kwargs.get("error", "")):
            return f"connection refused by {where}"
        if isinstance(exc, bexc.ConnectTimeoutError) and not isinstance(exc, bexc.EndpointConnectionError):
            return f"timed out connecting to {where}"
        return f"cannot connect to {where}: {_one_line(str(exc.kwargs.get('error', 'unreachable')))}"
    if isinstance(exc, bexc.ReadTimeoutError):
        return f"timed out waiting for {exc.kwargs.get('endpoint_url', 'the endpoint')} to answer"
    if isinstance(exc, bexc.ConnectionClosedError):
        return f"connection dropped by {exc.kwargs.get('endpoint_url', 'the endpoint')}"
    if isinstance(exc, bexc.HTTPClientError):
        return f"connection error: {_one_line(str(exc.kwargs.get('error', exc)))}"
    if isinstance(exc, ResponseParserError):
        return f"the server's answer could not be read: {_one_line(str(exc))}"
    if isinstance(exc, bexc.TokenRetrievalError | bexc.SSOTokenLoadError | bexc.UnauthorizedSSOTokenError):
        return "SSO session expired or missing (run `aws sso login`)"
    if isinstance(exc, bexc.BotoCoreError):
        return _one_line(str(exc))
    if isinstance(exc, ValueError) and "endpoint" in str(exc).lower():
        return _one_line(str(exc))
    return f"{type(exc).__name__}: {_one_line(str(exc))}"


def _cause(exc: BaseException, kind: type[BaseException]) -> bool:
    """True when ``kind`` is anywhere in the chain of causes of a botocore/urllib3 connection error."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        kwargs = getattr(current, "kwargs", None)
        if isinstance(kwargs, dict):
            todo.append(kwargs.get("error"))
        todo += [getattr(current, "reason", None), current.__cause__, current.__context__]
        todo += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
    return False


def _proxy_detail(exc: BaseException) -> str:
    url = str(exc.kwargs.get("proxy_url", "")) if isinstance(exc, bexc.BotoCoreError) else ""
    error = exc.kwargs.get("error") if isinstance(exc, bexc.BotoCoreError) else None
    detail = _one_line(str(error)) if error is not None else ""
    return ", ".join(p for p in (url, detail) if p) or "no answer"


def _one_line(text: str) -> str:
    return one_line(text, limit=300)
