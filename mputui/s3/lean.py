"""A lean path for the hot calls of a scan and a bulk abort: ListMultipartUploads, ListParts, HeadObject and
AbortMultipartUpload.

boto3 spends ~3-6 ms of client CPU per request (endpoint rules, the event system, the model-driven parser),
which is what limits a scan of 100,000 uploads, not the network. These calls are signed here
with SigV4 (signing key cached per day), sent over urllib3 (one kept-alive connection per worker thread, so the
workers share no lock, and quick ACKs on Linux: see ``_QUICKACK``) and parsed with ElementTree. Credentials still
come from the boto3 session (refreshable ones are refreshed as usual) and retries follow botocore's standard
mode (same attempts, same retryable errors, exponential backoff with jitter). Errors are raised as botocore
``ClientError``/connection exceptions, so callers cannot tell the paths apart. ``MPUTUI_LEAN=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import random
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import botocore.exceptions as bexc
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from mputui.s3.targets import check_signed_delete, check_target

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
# botocore's standard retry mode: these codes are retried (throttling and transient errors).
RETRY_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
    }
)
RETRY_STATUS = frozenset({500, 502, 503, 504})
MAX_BACKOFF = 20.0


# Linux: ACK the response's first segment at once. A server that writes the head and the body of a response
# separately with Nagle's algorithm on (RGW's beast frontend by default) otherwise waits for the client's
# delayed ACK (~40 ms) before sending the body, on every request of a kept-alive connection.
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def _quickack(sock: Any) -> None:
    if _QUICKACK is not None and sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


class _QuickAckHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)
        _quickack(self.sock)


class _QuickAckHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)
        _quickack(self.sock)


class _QuickAckHTTPPool(HTTPConnectionPool):
    ConnectionCls = _QuickAckHTTPConnection


class _QuickAckHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _QuickAckHTTPSConnection


def _quote(value: str, safe: str = "-_.~") -> str:
    return quote(value, safe=safe)


class SigV4Signer:
    """AWS Signature Version 4 for S3 requests without a body, signing key cached per (date, region)."""

    def __init__(self, service: str = "s3") -> None:
        self.service = service
        self._keys: dict[tuple[str, str, str], bytes] = {}

    def _signing_key(self, secret: str, date: str, region: str) -> bytes:
        cache_key = (secret, date, region)
        key = self._keys.get(cache_key)
        if key is None:
            k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
            k = hmac.new(k, region.encode(), hashlib.sha256).digest()
            k = hmac.new(k, self.service.encode(), hashlib.sha256).digest()
            key = hmac.new(k, b"aws4_request", hashlib.sha256).digest()
            if len(self._keys) > 64:
                self._keys.clear()
            self._keys[cache_key] = key
        return key

    def headers(
        self,
        *,
        method: str = "GET",
        host: str,
        path: str,
        query: list[tuple[str, str]],
        region: str,
        access_key: str,
        secret_key: str,
        token: str | None,
        now: datetime | None = None,
    ) -> dict[str, str]:
        """The headers (``Authorization``, ``X-Amz-Date``, ...) for ``METHOD path?query`` on ``host``.

        ``path`` is already URI-encoded (S3 does not double-encode it).
        """
        amz_date = now.strftime("%Y%m%dT%H%M%SZ") if now is not None else _amz_date(int(time.time()))
        date = amz_date[:8]
        headers = {"host": host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": amz_date}
        if token:
            headers["x-amz-security-token"] = token
        names = sorted(headers)
        canonical_query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query))
        canonical = "\n".join(
            [
                method,
                path,
                canonical_query,
                "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names),
                ";".join(names),
                EMPTY_SHA256,
            ]
        )
        scope = f"{date}/{region}/{self.service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.digest(self._signing_key(secret_key, date, region), to_sign.encode(), "sha256")
        out = {
            "X-Amz-Date": amz_date,
            "X-Amz-Content-SHA256": EMPTY_SHA256,
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, "
                f"Signature={signature.hex()}"
            ),
        }
        if token:
            out["X-Amz-Security-Token"] = token
        return out


@functools.lru_cache(maxsize=4)
def _amz_date(epoch_second: int) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch_second))


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _text(elem: ET.Element, name: str) -> str | None:
    child = elem.find(_NS + name)
    if child is None:
        child = elem.find(name)
    return None if child is None else (child.text or "")


def _children(elem: ET.Element, name: str) -> list[ET.Element]:
    found = elem.findall(_NS + name)
    return found if found else elem.findall(name)


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() == "true"


class MalformedAnswerError(bexc.BotoCoreError):
    """A 2xx answer whose body is not the XML the operation returns (cut short, garbled, a proxy's page)."""

    fmt = "the server's answer to {operation} could not be read ({error}), {attempts} attempt(s)"


def _root(body: bytes, name: str) -> ET.Element:
    """The parsed body, which must be a ``<nameResult>`` document (moto says ``<nameResponse>``);
    ``ValueError`` otherwise: a proxy's HTML page is not an empty listing."""
    root = ET.fromstring(body)
    local = root.tag.rpartition("}")[2]
    if local not in (name + "Result", name + "Response"):
        raise ValueError(f"a <{local}> document, not <{name}Result>")
    return root


def parse_list_parts(body: bytes) -> dict[str, Any]:
    """A ListParts response body as boto3 would return it (the fields mputui uses)."""
    root = _root(body, "ListParts")
    parts = []
    for p in _children(root, "Part"):
        parts.append(
            {
                "PartNumber": int(_text(p, "PartNumber") or 0),
                "Size": int(_text(p, "Size") or 0),
                "ETag": _text(p, "ETag") or "",
                "LastModified": _parse_time(_text(p, "LastModified")),
            }
        )
    return {
        "Parts": parts,
        "IsTruncated": _bool(_text(root, "IsTruncated")),
        "NextPartNumberMarker": int(_text(root, "NextPartNumberMarker") or 0),
    }


def parse_list_uploads(body: bytes) -> dict[str, Any]:
    """A ListMultipartUploads response body as boto3 would return it (the fields mputui uses)."""
    root = _root(body, "ListMultipartUploads")
    uploads = []
    for u in _children(root, "Upload"):
        initiator = u.find(_NS + "Initiator")
        item: dict[str, Any] = {
            "Key": _text(u, "Key") or "",
            "UploadId": _text(u, "UploadId") or "",
            "Initiated": _parse_time(_text(u, "Initiated")),
            "StorageClass": _text(u, "StorageClass"),
        }
        if initiator is not None:
            item["Initiator"] = {"ID": _text(initiator, "ID"), "DisplayName": _text(initiator, "DisplayName")}
        uploads.append(item)
    out: dict[str, Any] = {"Uploads": uploads, "IsTruncated": _bool(_text(root, "IsTruncated"))}
    for name in ("NextKeyMarker", "NextUploadIdMarker", "EncodingType"):
        value = _text(root, name)
        if value is not None:
            out[name] = value
    return out


def _client_error(status: int, headers: dict[str, str], body: bytes, operation: str) -> bexc.ClientError:
    error: dict[str, Any] = {"Code": str(status), "Message": ""}
    try:
        root = ET.fromstring(body) if body else None
    except ET.ParseError:
        root = None
    if root is not None:
        for name in ("Code", "Message", "Region", "BucketName", "Key"):
            value = _text(root, name)
            if value is not None:
                error[name] = value
    response = {
        "Error": error,
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers},
    }
    return bexc.ClientError(response, operation)


class LeanS3:
    """Hand-signed read-only list calls sharing credentials, retries and counting with an ``S3Connection``."""

    def __init__(
        self,
        *,
        credentials: Any,
        endpoint_for: Any,
        path_style: bool,
        max_attempts: int,
        connect_timeout: float,
        read_timeout: float,
        count: Any,
    ) -> None:
        self._credentials = credentials
        self._endpoint_for = endpoint_for  # region -> endpoint URL (from the boto3 client)
        self._path_style = path_style
        self._max_attempts = max_attempts
        self._count = count
        self._signer = SigV4Signer()
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        # One kept-alive connection per worker thread and endpoint (see _connection_pool): no lock shared by
        # the workers (a shared pool's queue lock convoys under the GIL).
        self._local = threading.local()
        self._bases: dict[tuple[str, str], tuple[str, str, str]] = {}

    def _connection_pool(self, base: str) -> Any:
        """This thread's connection pool for ``base`` (scheme://host[:port])."""
        pools: dict[str, Any] | None = getattr(self._local, "pools", None)
        if pools is None:
            manager = urllib3.PoolManager(num_pools=16, maxsize=1, retries=False, timeout=self._timeout)
            manager.pool_classes_by_scheme = {"http": _QuickAckHTTPPool, "https": _QuickAckHTTPSPool}
            self._local.manager = manager
            pools = self._local.pools = {}
        pool = pools.get(base)
        if pool is None:
            pool = pools[base] = self._local.manager.connection_from_url(base)
        return pool

    def _base(self, bucket: str, region: str) -> tuple[str, str, str]:
        """(scheme://host[:port], host header, path prefix) for the bucket, addressed as boto3 would."""
        cached = self._bases.get((bucket, region))
        if cached is None:
            cached = self._address(bucket, region)
            if len(self._bases) > 4096:
                self._bases.clear()
            self._bases[(bucket, region)] = cached
        return cached

    def _address(self, bucket: str, region: str) -> tuple[str, str, str]:
        endpoint = urlsplit(self._endpoint_for(region))
        host = endpoint.netloc
        default_port = {"http": ":80", "https": ":443"}.get(endpoint.scheme, "")
        if default_port and host.endswith(default_port):
            host = host[: -len(default_port)]
        prefix = endpoint.path.rstrip("/")
        virtual = (
            not self._path_style
            and _dns_compatible(bucket)
            and not _is_ip_or_localhost(endpoint.hostname or "")
            and not (endpoint.scheme == "https" and "." in bucket)
        )
        if virtual:
            host = f"{bucket}.{host}"
            return f"{endpoint.scheme}://{host}", host, prefix
        return f"{endpoint.scheme}://{host}", host, f"{prefix}/{_quote(bucket)}"

    def list_parts(
        self, bucket: str, region: str, *, Key: str, UploadId: str, **params: Any
    ) -> dict[str, Any]:
        """ListParts, one page."""
        query = [("uploadId", UploadId)]
        if "MaxParts" in params:
            query.append(("max-parts", str(params["MaxParts"])))
        if params.get("PartNumberMarker"):
            query.append(("part-number-marker", str(params["PartNumberMarker"])))
        _, page = self._request(
            "GET", bucket, region, _key_path(Key), query, "ListParts", parse=parse_list_parts
        )
        assert page is not None
        return page

    def abort_multipart_upload(
        self,
        bucket: str,
        region: str,
        *,
        Key: str,
        UploadId: str,
    ) -> dict[str, Any]:
        """AbortMultipartUpload of exactly this upload."""
        check_target(bucket, Key, UploadId)
        response, _ = self._request(
            "DELETE",
            bucket,
            region,
            _key_path(Key),
            [("uploadId", UploadId)],
            "AbortMultipartUpload",
            ok=(200, 204),
        )
        return {"ResponseMetadata": _metadata(response)}

    def head_object(self, bucket: str, region: str, *, Key: str) -> dict[str, Any]:
        """HeadObject: the fields mputui uses (size, ETag, last modified)."""
        response, _ = self._request("HEAD", bucket, region, _key_path(Key), [], "HeadObject")
        headers = {k.lower(): v for k, v in response.headers.items()}
        out: dict[str, Any] = {"ResponseMetadata": _metadata(response)}
        if "content-length" in headers:
            out["ContentLength"] = int(headers["content-length"])
        if "etag" in headers:
            out["ETag"] = headers["etag"]
        if "last-modified" in headers:
            out["LastModified"] = parsedate_to_datetime(headers["last-modified"]).astimezone(UTC)
        return out

    def list_multipart_uploads(self, bucket: str, region: str, **params: Any) -> dict[str, Any]:
        """ListMultipartUploads, one page."""
        query = [("uploads", "")]
        for name, q in (
            ("MaxUploads", "max-uploads"),
            ("Prefix", "prefix"),
            ("KeyMarker", "key-marker"),
            ("UploadIdMarker", "upload-id-marker"),
        ):
            if params.get(name):
                query.append((q, str(params[name])))
        _, page = self._request(
            "GET", bucket, region, "", query, "ListMultipartUploads", parse=parse_list_uploads
        )
        assert page is not None
        return page

    def request_bytes(
        self, method: str, bucket: str, region: str, key_path: str, query: tuple[tuple[str, str], ...]
    ) -> tuple[str, bytes]:
        """(scheme://host[:port], the signed HTTP/1.1 request) for an event loop to send; counts it."""
        if method == "DELETE":
            check_signed_delete(key_path, query)
        base, host, prefix = self._base(bucket, region)
        path = (prefix + key_path) or "/"
        creds = self._credentials.get_frozen_credentials()
        headers = self._signer.headers(
            method=method,
            host=host,
            path=path,
            query=list(query),
            region=region,
            access_key=creds.access_key,
            secret_key=creds.secret_key,
            token=creds.token,
        )
        lines = [f"{method} {_target(path, query)} HTTP/1.1", f"Host: {host}", "User-Agent: mputui-lean"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._count()
        return base, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _request(
        self,
        method: str,
        bucket: str,
        region: str,
        key_path: str,
        query: list[tuple[str, str]],
        operation: str,
        ok: tuple[int, ...] = (200,),
        parse: Callable[[bytes], dict[str, Any]] | None = None,
    ) -> tuple[Any, dict[str, Any] | None]:
        """(the response, ``parse(body)``): transport errors, retryable statuses and a 2xx body that ``parse``
        cannot read are retried, all within the same ``max_attempts`` (botocore retries a garbled answer too)."""
        base, host, prefix = self._base(bucket, region)
        path = (prefix + key_path) or "/"
        target = _target(path, query)
        # The pool gets the request target as is: urllib3 would normalise "/./" and "//" in a full URL,
        # and those are legal in S3 keys.
        pool = self._connection_pool(base)
        attempt = 0
        while True:
            attempt += 1
            creds = self._credentials.get_frozen_credentials()
            headers = self._signer.headers(
                method=method,
                host=host,
                path=path,
                query=query,
                region=region,
                access_key=creds.access_key,
                secret_key=creds.secret_key,
                token=creds.token,
            )
            headers["Host"] = host
            headers["User-Agent"] = "mputui-lean"
            self._count()
            try:
                response = pool.urlopen(
                    method,
                    target,
                    headers=headers,
                    retries=False,
                    redirect=False,
                    assert_same_host=False,
                    preload_content=True,
                )
            except urllib3.exceptions.HTTPError as exc:
                error: BaseException = _connection_error(exc, base)
                if attempt >= self._max_attempts:
                    raise error from exc
                self._backoff(attempt)
                continue
            status = response.status
            if status in ok:
                if parse is None:
                    return response, None
                try:
                    return response, parse(bytes(response.data))
                except (ET.ParseError, ValueError) as exc:  # garbled XML, a bad number, not S3's document
                    if attempt >= self._max_attempts:
                        raise MalformedAnswerError(
                            operation=operation, error=_one_line(exc), attempts=attempt
                        ) from exc
                    self._backoff(attempt)
                    continue
            lowered = {k.lower(): v for k, v in response.headers.items()}
            client_error = _client_error(status, lowered, bytes(response.data), operation)
            code = client_error.response["Error"]["Code"]
            if (status in RETRY_STATUS or code in RETRY_CODES) and attempt < self._max_attempts:
                self._backoff(attempt)
                continue
            raise client_error

    @staticmethod
    def _backoff(attempt: int) -> None:
        # botocore standard mode: random jitter times 2^(attempt-1), capped at 20 s.
        time.sleep(random.random() * min(MAX_BACKOFF, 2 ** (attempt - 1)))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:120]


def _target(path: str, query: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> str:
    return f"{path}?" + "&".join(f"{_quote(k)}={_quote(v)}" if v else _quote(k) for k, v in query)


def key_path(key: str) -> str:
    """A key as a URI path (``/`` kept, everything else outside the unreserved set percent-encoded)."""
    return _key_path(key)


def _key_path(key: str) -> str:
    return "/" + _quote(key, safe="-_.~/")


def _metadata(response: Any) -> dict[str, Any]:
    return {
        "HTTPStatusCode": response.status,
        "HTTPHeaders": {k.lower(): v for k, v in response.headers.items()},
    }


def _connection_error(exc: urllib3.exceptions.HTTPError, endpoint: str) -> BaseException:
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return bexc.ConnectTimeoutError(endpoint_url=endpoint)
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return bexc.ReadTimeoutError(endpoint_url=endpoint)
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return bexc.EndpointConnectionError(endpoint_url=endpoint)
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and isinstance(
        exc.reason, urllib3.exceptions.NewConnectionError
    ):
        return bexc.EndpointConnectionError(endpoint_url=endpoint)
    return bexc.ConnectionClosedError(endpoint_url=endpoint)


def _dns_compatible(bucket: str) -> bool:
    if not 3 <= len(bucket) <= 63 or bucket != bucket.lower() or ".." in bucket:
        return False
    return all(label and label[0].isalnum() and label[-1].isalnum() for label in bucket.split("."))


def _is_ip_or_localhost(host: str) -> bool:
    if host == "localhost" or host.startswith("["):
        return True
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)
