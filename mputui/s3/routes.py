"""Where the lean path sends a bucket's requests: exactly where botocore would, asked of botocore itself.

botocore's endpoint rules decide the host, the addressing (virtual or path; the profile's ``addressing_style``),
FIPS/dual-stack/accelerate hosts and the signing region and name. Rather than re-derive them, mputui builds the
request botocore would send for the bucket (ListMultipartUploads, on a client kept for this and never used for
real requests), stops it at ``before-send`` and keeps its URL and signing scope: once per bucket and region,
nothing is sent. Whatever the lean path cannot do exactly (another signing name or algorithm, a session token of
S3 Express, an ARN, an HTTPS proxy) gets no route, and the call takes boto3.

Proxies follow botocore too: ``HTTP_PROXY``/``HTTPS_PROXY`` by the request's scheme unless ``NO_PROXY`` names the
endpoint (urllib's rules, decided on the endpoint URL as botocore does). TLS trust is boto3's: ``verify=False``,
a CA bundle (``--ca-bundle``, ``AWS_CA_BUNDLE``, the profile's ``ca_bundle``), else certifi.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies, proxy_bypass

import botocore.httpsession

from mputui.formatting import redact_url

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Proxy:
    """An HTTP proxy: where to connect and how to authenticate (``url`` is shown, never the password)."""

    host: str
    port: int
    url: str
    authorization: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """How the lean path reaches a bucket: connect to ``host:port`` (or through ``proxy``), send
    ``Host: host_header`` and ``prefix + /key`` as the path, sign for ``region``."""

    scheme: str
    host: str
    port: int
    host_header: str
    prefix: str
    region: str
    origin: str  # scheme://netloc as botocore wrote it (shown in --debug lines)
    proxy: Proxy | None = None


class StepAside(Exception):
    """The lean path cannot send this request exactly as botocore would: nothing was sent, use boto3."""


def host_header(url: str) -> str:
    """The ``Host`` botocore signs and urllib3 sends for ``url``: lower-case, IPv6 in brackets, no default
    port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def proxy_for(endpoint_url: str, scheme: str) -> Proxy | None:
    """The proxy botocore would use for a request of ``scheme`` to ``endpoint_url`` (None: direct).

    ``StepAside`` for a proxy the lean path does not speak (an ``https://`` proxy).
    """
    try:
        if proxy_bypass(urlsplit(endpoint_url).netloc):
            return None
    except (TypeError, OSError):  # botocore ignores these too
        pass
    url = getproxies().get(scheme)
    if not url:
        return None
    if "://" not in url:
        url = "http://" + url  # botocore's _fix_proxy_url
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise StepAside(f"proxy {redact_url(url)} is not an http:// proxy")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    shown = f"http://{host_header(url)}"
    return Proxy(parts.hostname, parts.port or 80, shown, authorization)


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """The one TLS context of a lean client: boto3's trust (``verify`` as given to boto3)."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    path = botocore.httpsession.get_cert_path(verify)
    if path and os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)


class _Captured(Exception):
    def __init__(self, operation: str, url: str, headers: dict[str, str]) -> None:
        super().__init__(operation)
        self.operation = operation
        self.url = url
        self.headers = headers


def _capture(request: Any, event_name: str, **_: Any) -> None:
    headers = {
        k.lower(): v.decode("latin-1") if isinstance(v, bytes) else str(v) for k, v in request.headers.items()
    }
    raise _Captured(event_name.rpartition(".")[2], request.url, headers)


def prepare_probe_client(client: Any) -> Any:
    """Make ``client`` (a client of its own, never used for real requests) stop every request before sending."""
    client.meta.events.register_first("before-send.s3", _capture)
    return client


def probe(client: Any, bucket: str) -> tuple[str, str, dict[str, str]]:
    """(operation, URL, lower-cased headers) of the first request botocore would send to list the uploads of
    ``bucket`` on a probe client. Raises ``StepAside`` when botocore would send nothing or refuses the name."""
    try:
        client.list_multipart_uploads(Bucket=bucket)
    except _Captured as captured:
        return captured.operation, captured.url, captured.headers
    except Exception as exc:  # a name botocore refuses, an endpoint rule error
        raise StepAside(f"botocore would not address it ({type(exc).__name__})") from exc
    raise StepAside("botocore sent nothing to intercept")


def route_from_request(operation: str, url: str, headers: dict[str, str], bucket: str) -> Route:
    """The route of a probed ListMultipartUploads request; ``StepAside`` for anything the lean path cannot
    send exactly like it."""
    if operation != "ListMultipartUploads":
        raise StepAside(f"botocore sends {operation} first")
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 Credential="):
        raise StepAside(f"signed with {auth.split(' ', 1)[0] or 'no signature'}, not SigV4")
    if "x-amz-s3session-token" in headers:
        raise StepAside("S3 Express session authentication")
    credential = auth.split("Credential=", 1)[1].split(",", 1)[0]
    scope = credential.split("/")
    if len(scope) < 5 or scope[-1] != "aws4_request":
        raise StepAside("an unexpected signing scope")
    region, service = scope[-3], scope[-2]
    if service != "s3":
        raise StepAside(f"signing name {service}")
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise StepAside(f"a {parts.scheme or 'relative'} URL")
    if parts.query.split("&")[0] != "uploads":
        raise StepAside("an unexpected query")
    del bucket
    return Route(
        scheme=parts.scheme,
        host=parts.hostname,
        port=parts.port or _DEFAULT_PORTS[parts.scheme],
        host_header=host_header(url),
        prefix=parts.path.rstrip("/"),
        region=region,
        origin=f"{parts.scheme}://{parts.netloc}",
    )


class Router:
    """Routes of buckets, asked of botocore once per (bucket, region) and remembered; why not, for those that
    take boto3."""

    def __init__(
        self,
        *,
        probe_client: Callable[[str], Any],
        endpoint_url: Callable[[str], str],
        step_aside: str | None = None,
        log: Callable[[str], None] = lambda _: None,
    ) -> None:
        self._probe_client = probe_client
        self._endpoint_url = endpoint_url
        self._step_aside = step_aside
        self._log = log
        self._routes: dict[tuple[str, str], Route | str] = {}
        self._lock = threading.Lock()

    def route(self, bucket: str, region: str) -> Route:
        """The bucket's route, or ``StepAside`` (with the reason) when its calls take boto3."""
        found = self._routes.get((bucket, region))
        if found is None:
            found = self._resolve(bucket, region)
            with self._lock:
                if len(self._routes) > 8192:
                    self._routes.clear()
                self._routes[(bucket, region)] = found
            if isinstance(found, str):
                self._log(f"boto3 path for bucket {bucket!r} ({region}): {found}")
        if isinstance(found, str):
            raise StepAside(found)
        return found

    def _resolve(self, bucket: str, region: str) -> Route | str:
        if self._step_aside:
            return self._step_aside
        if bucket.startswith("arn:"):
            return "an ARN"
        try:
            with self._lock:  # the probe client is not shared with anything else, but its calls are serial
                operation, url, headers = probe(self._probe_client(region), bucket)
            found = route_from_request(operation, url, headers, bucket)
            proxy = proxy_for(self._endpoint_url(region), found.scheme)
        except StepAside as exc:
            return str(exc)
        return found if proxy is None else dataclasses.replace(found, proxy=proxy)
