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
import re
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import botocore.exceptions as bexc
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from mputui.s3.routes import Route, Router, StepAside, tls_context
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
        extra: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """The headers (``Authorization``, ``X-Amz-Date``, ...) for ``METHOD path?query`` on ``host``.

        ``path`` is already URI-encoded (S3 does not double-encode it). ``extra`` headers (lower-case names,
        e.g. ``x-amz-request-payer``) are signed and returned too.
        """
        amz_date = now.strftime("%Y%m%dT%H%M%SZ") if now is not None else _amz_date(int(time.time()))
        date = amz_date[:8]
        headers = {"host": host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": amz_date}
        if token:
            headers["x-amz-security-token"] = token
        if extra:
            headers.update(extra)
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
        if extra:
            out.update(extra)
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


def _checksums(elem: ET.Element) -> dict[str, str]:
    """The ``Checksum*`` children (``ChecksumCRC32``, ``ChecksumAlgorithm``, ``ChecksumType``...) by name."""
    out = {}
    for child in elem:
        name = child.tag.rpartition("}")[2]
        if name.startswith("Checksum") and child.text:
            out[name] = child.text
    return out


def parse_list_parts(body: bytes) -> dict[str, Any]:
    """A ListParts response body as boto3 would return it (the fields mputui uses)."""
    root = _root(body, "ListParts")
    parts = []
    for p in _children(root, "Part"):
        item: dict[str, Any] = {
            "PartNumber": int(_text(p, "PartNumber") or 0),
            "Size": int(_text(p, "Size") or 0),
            "ETag": _text(p, "ETag") or "",
            "LastModified": _parse_time(_text(p, "LastModified")),
        }
        item.update(_checksums(p))
        parts.append(item)
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
        item.update(_checksums(u))
        if initiator is not None:
            item["Initiator"] = {"ID": _text(initiator, "ID"), "DisplayName": _text(initiator, "DisplayName")}
        uploads.append(item)
    out: dict[str, Any] = {"Uploads": uploads, "IsTruncated": _bool(_text(root, "IsTruncated"))}
    for name in ("NextKeyMarker", "NextUploadIdMarker", "EncodingType"):
        value = _text(root, name)
        if value is not None:
            out[name] = value
    return out


# A character reference XML 1.0 forbids (C0 controls but TAB, LF, CR): how Ceph RGW writes them raw.
_FORBIDDEN_REF = re.compile(rb"&#(?:x0*([0-8bcefBCEF]|1[0-9a-fA-F])|0*([0-8]|1[124-9]|2[0-9]|3[01]));")


_KEY_ELEMENT = re.compile(rb"(<Key>.*?</Key>)", re.S)


def tolerate_raw_markers(body: bytes) -> bytes:
    """A ListMultipartUploads answer with the character references XML 1.0 forbids read as U+FFFD, outside
    ``Key`` elements only. Ceph RGW echoes ``Prefix``, ``KeyMarker`` and ``NextKeyMarker`` raw even to
    ``EncodingType=url``; mputui pages from the last upload listed, never from those fields. A key itself is
    never altered: a raw one still fails the parse, and the page is asked for again with its keys encoded."""
    pieces = _KEY_ELEMENT.split(body)
    return b"".join(p if i % 2 else _FORBIDDEN_REF.sub(b"&#xFFFD;", p) for i, p in enumerate(pieces))


def parse_list_uploads_encoded(body: bytes) -> dict[str, Any]:
    """A ListMultipartUploads answer to ``EncodingType=url`` (see ``tolerate_raw_markers``)."""
    return parse_list_uploads(tolerate_raw_markers(body))


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


WireLog = Callable[[str, str, str, "int | BaseException", int], None]
"""(path, method, URL, status or exception, attempt): one line of ``--debug`` per request."""


def _no_log(*_: Any) -> None:
    return None


class LeanS3:
    """Hand-signed calls for the hot operations, sharing credentials, retries, counting, routes (``Router``)
    and TLS trust with an ``S3Connection``."""

    def __init__(
        self,
        *,
        credentials: Any,
        router: Router,
        verify: bool | str,
        max_attempts: int,
        connect_timeout: float,
        read_timeout: float,
        count: Callable[[], None],
        user_agent: str = "mputui",
        extra_headers: dict[str, str] | None = None,
        log: WireLog = _no_log,
    ) -> None:
        self._credentials = credentials
        self.router = router
        self.verify = verify
        self._ssl_context: ssl.SSLContext | None = None
        self._ssl_lock = threading.Lock()
        self.user_agent = user_agent
        self.extra_headers = dict(extra_headers or {})
        self.log = log
        self._max_attempts = max_attempts
        self._count = count
        self._signer = SigV4Signer()
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        # One kept-alive connection per worker thread and endpoint (see _connection_pool): no lock shared by
        # the workers (a shared pool's queue lock convoys under the GIL).
        self._local = threading.local()

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The one TLS context of this client, made at its first HTTPS connection (loading a CA bundle costs
        tens of ms of CPU: an http:// endpoint never pays it)."""
        with self._ssl_lock:
            if self._ssl_context is None:
                self._ssl_context = tls_context(self.verify)
            return self._ssl_context

    def _connection_pool(self, route: Route) -> Any:
        """This thread's connection pool for the route's origin."""
        pools: dict[tuple[str, str, int], Any] | None = getattr(self._local, "pools", None)
        if pools is None:
            manager = urllib3.PoolManager(num_pools=16, maxsize=1, retries=False, timeout=self._timeout)
            manager.pool_classes_by_scheme = {"http": _QuickAckHTTPPool, "https": _QuickAckHTTPSPool}
            self._local.manager = manager
            pools = self._local.pools = {}
        key = (route.scheme, route.host, route.port)
        pool = pools.get(key)
        if pool is None:
            tls: dict[str, Any] | None = None
            if route.scheme == "https":
                tls = {"ssl_context": self.ssl_context}
                if self.verify is False:
                    tls.update(cert_reqs="CERT_NONE", assert_hostname=False)
            pool = pools[key] = self._local.manager.connection_from_host(
                route.host, route.port, route.scheme, pool_kwargs=tls
            )
        return pool

    def _signed(
        self, method: str, route: Route, path: str, query: list[tuple[str, str]] | tuple[tuple[str, str], ...]
    ) -> dict[str, str]:
        creds = self._credentials.get_frozen_credentials()
        headers = self._signer.headers(
            method=method,
            host=route.host_header,
            path=path,
            query=list(query),
            region=route.region,
            access_key=creds.access_key,
            secret_key=creds.secret_key,
            token=creds.token,
            extra=self.extra_headers,
        )
        headers["Host"] = route.host_header
        headers["User-Agent"] = self.user_agent
        return headers

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
            ("EncodingType", "encoding-type"),
        ):
            if params.get(name):
                query.append((q, str(params[name])))
        encoded = params.get("EncodingType") == "url"
        parse = parse_list_uploads_encoded if encoded else parse_list_uploads
        _, page = self._request("GET", bucket, region, "", query, "ListMultipartUploads", parse=parse)
        assert page is not None
        return page

    def prepare(
        self, method: str, bucket: str, region: str, key_path: str, query: tuple[tuple[str, str], ...]
    ) -> tuple[Route, str, bytes]:
        """(route, URL, the signed HTTP/1.1 request) for an event loop to send; counts it. ``StepAside`` when
        the bucket's calls take boto3 (nothing counted or sent)."""
        if method == "DELETE":
            check_signed_delete(key_path, query)
        route = self.router.route(bucket, region)
        path = (route.prefix + key_path) or "/"
        target = _target(path, query)
        url = route.origin + target
        headers = self._signed(method, route, path, query)
        if route.proxy is not None and route.scheme == "http":
            # Through an HTTP proxy a plain-HTTP request names its absolute URL; an HTTPS one goes through a
            # CONNECT tunnel in origin form.
            target = url
            if route.proxy.authorization:
                headers["Proxy-Authorization"] = route.proxy.authorization
        lines = [f"{method} {target} HTTP/1.1", *(f"{name}: {value}" for name, value in headers.items())]
        self._count()
        return route, url, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

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
        cannot read are retried, all within the same ``max_attempts`` (botocore retries a garbled answer too).
        ``StepAside`` (nothing sent) when the bucket's calls take boto3."""
        route = self.router.route(bucket, region)
        if route.proxy is not None:
            # urllib3 rewrites an absolute-form target ("/./", "//" are legal in keys): through a proxy, the
            # threaded calls (pages, single calls, redos) take boto3; the event loop speaks the proxy itself.
            raise StepAside(f"through proxy {route.proxy.url}")
        path = (route.prefix + key_path) or "/"
        target = _target(path, query)
        url = route.origin + target
        # The pool gets the request target as is: urllib3 would normalise "/./" and "//" in a full URL,
        # and those are legal in S3 keys.
        pool = self._connection_pool(route)
        attempt = 0
        while True:
            attempt += 1
            headers = self._signed(method, route, path, query)
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
                error: BaseException = connection_error(exc, route.origin)
                self.log("lean", method, url, error, attempt)
                if attempt >= self._max_attempts:
                    raise error from exc
                self._backoff(attempt)
                continue
            status = response.status
            self.log("lean", method, url, status, attempt)
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
    if not query:
        return path
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


def connection_error(exc: BaseException, endpoint: str) -> BaseException:
    """The botocore exception boto3 raises for the same transport failure (``error`` keeps the cause).

    The order matters: urllib3's ``NewConnectionError`` (refused, cannot resolve) subclasses its
    ``ConnectTimeoutError``.
    """
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason else exc
    if isinstance(reason, urllib3.exceptions.ProxyError):
        return bexc.ProxyConnectionError(proxy_url="the proxy", error=reason)
    if isinstance(reason, urllib3.exceptions.NewConnectionError | socket.gaierror | ConnectionRefusedError):
        return bexc.EndpointConnectionError(endpoint_url=endpoint, error=reason)
    if isinstance(reason, urllib3.exceptions.SSLError | ssl.SSLError):
        return bexc.SSLError(endpoint_url=endpoint, error=reason)
    if isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
        return bexc.ConnectTimeoutError(endpoint_url=endpoint, error=reason)
    if isinstance(reason, urllib3.exceptions.ReadTimeoutError | TimeoutError):
        return bexc.ReadTimeoutError(endpoint_url=endpoint, error=reason)
    return bexc.ConnectionClosedError(endpoint_url=endpoint, error=reason)
