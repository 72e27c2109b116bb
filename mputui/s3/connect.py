"""Connection settings and thread-safe S3 clients shared by the TUI and the CLI.

Credentials come only from the boto3 chain (profiles, environment, SSO, instance roles); mputui stores none.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.exceptions as bexc

from mputui import __version__
from mputui.formatting import redact_url, safe_text
from mputui.s3 import wirelog
from mputui.s3.cancel import CancelToken
from mputui.s3.errors import (
    MputuiError,
    describe,
    error_code,
    is_redirect,
    note_request,
    register_credentials,
)
from mputui.s3.lean import LeanS3, MalformedAnswerError, tolerate_raw_markers
from mputui.s3.lean_loop import LeanLoop
from mputui.s3.routes import Router, StepAside, prepare_probe_client
from mputui.s3.targets import DESTRUCTIVE_OPERATIONS, check_target

DEFAULT_CONCURRENCY = 32
DEFAULT_MAX_ATTEMPTS = 6
RETRY_MODES = ("legacy", "standard", "adaptive")
# Failures only the hand-signed path can have (its transport, TLS set-up, parser): the call is made once more
# through boto3 before it counts as failed.
LEAN_ONLY_FAILURES = (bexc.ConnectionError, bexc.HTTPClientError, MalformedAnswerError)
LEAN_PARAMS = {
    "list_parts": frozenset({"Key", "UploadId", "MaxParts", "PartNumberMarker"}),
    "abort_multipart_upload": frozenset({"Key", "UploadId"}),
    # HeadObject for size/ETag/last-modified only (the lean answer carries no metadata).
    "head_object_basic": frozenset({"Key"}),
    "list_multipart_uploads": frozenset(
        {"MaxUploads", "Prefix", "KeyMarker", "UploadIdMarker", "EncodingType"}
    ),
}
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
# What botocore raises for a bad setting in the environment or the profile when a client is made.
_CONFIG_ERRORS = (
    bexc.InvalidChecksumConfigError,
    bexc.InvalidConfigError,
    bexc.InvalidRetryConfigurationError,
    bexc.InvalidS3AddressingStyleError,
    bexc.InvalidDefaultsMode,
    bexc.InvalidEndpointConfigurationError,
    bexc.ConfigParseError,
    bexc.InvalidRegionError,
)


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Where and how to talk to S3. ``None`` means: let the boto3 chain decide."""

    profile: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    path_style: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    # None: AWS_MAX_ATTEMPTS, else the profile's max_attempts, else DEFAULT_MAX_ATTEMPTS.
    max_attempts: int | None = None
    # The hand-signed path for the inventory's list calls (see mputui.s3.lean).
    lean: bool = True
    # TLS: False skips certificate checks (--no-verify-ssl); a CA bundle file or directory (--ca-bundle)
    # wins over AWS_CA_BUNDLE and the profile's ca_bundle.
    verify_ssl: bool = True
    ca_bundle: str | None = None
    # "requester": the caller pays for requests to a Requester Pays bucket (--request-payer requester).
    request_payer: str | None = None
    # Only the embedded demo endpoint sets these: its keys are public, fixed test values.
    demo_credentials: tuple[str, str] | None = None

    def validate(self) -> None:
        """Raise ``MputuiError`` (exit 2) for values that can never work."""
        if self.endpoint_url is not None:
            check_endpoint_url(self.endpoint_url)
        if self.region is not None and not _REGION.fullmatch(self.region):
            raise MputuiError(f"invalid region name {self.region!r}", exit_code=2)
        if not 1 <= self.concurrency <= 1024:
            raise MputuiError(
                f"--concurrency must be between 1 and 1024, not {self.concurrency}", exit_code=2
            )
        if self.ca_bundle is not None and not os.path.exists(self.ca_bundle):
            raise MputuiError(f"CA bundle {safe_text(self.ca_bundle)!r} does not exist", exit_code=2)
        if self.request_payer not in (None, "requester"):
            raise MputuiError(
                f"--request-payer must be 'requester', not {safe_text(str(self.request_payer))!r}",
                exit_code=2,
            )


def check_endpoint_url(url: str) -> None:
    """Refuse an endpoint URL that is not ``http(s)://host[:port][/path]``."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a non-numeric port
    except ValueError:
        raise MputuiError(f"invalid endpoint URL {safe_text(redact_url(url))!r}", exit_code=2) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MputuiError(
            f"invalid endpoint URL {safe_text(redact_url(url))!r} (expected http://HOST[:PORT] or https://HOST[:PORT])",
            exit_code=2,
        )
    del port


class S3Connection:
    """Thread-safe access to S3: one client per region, bucket regions learned from redirects.

    Every HTTP attempt (retries included) is counted in ``requests``.
    """

    def __init__(self, settings: ConnectionSettings) -> None:
        settings.validate()
        self.settings = settings
        try:
            if settings.demo_credentials is not None:
                key, secret = settings.demo_credentials
                self._session = boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret)
            else:
                self._session = boto3.Session(profile_name=settings.profile)
        except bexc.ProfileNotFound as exc:
            raise MputuiError(describe(exc), exit_code=2) from exc
        self.default_region = settings.region or self._session.region_name or "us-east-1"
        if not _REGION.fullmatch(self.default_region):
            raise MputuiError(
                f"invalid region name {safe_text(self.default_region)!r} (from AWS_DEFAULT_REGION or the profile)",
                exit_code=2,
            )
        self._clients: dict[str, Any] = {}
        self._probe_clients: dict[str, Any] = {}
        self._bucket_regions: dict[str, str] = {}
        self._lock = threading.Lock()
        self._requests = 0
        self._count_lock = threading.Lock()
        self.max_attempts = self._max_attempts()
        self.retry_mode = self._retry_mode()
        self.verify = self._verify()
        self._lean: LeanS3 | None = None
        self._lean_enabled = settings.lean and os.environ.get("MPUTUI_LEAN", "1") != "0"
        # The profile's s3 settings (addressing_style, accelerate, ...) apply unless --path-style says path.
        self._s3_config = {"addressing_style": "path"} if settings.path_style else None
        self._config = botocore.config.Config(
            max_pool_connections=max(settings.concurrency + 4, 10),
            retries={"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            s3=self._s3_config,
            user_agent_extra=f"mputui/{__version__}",
            **self._checksum_settings(),
        )
        if self.verify is False:
            # One warning on stderr (the command line's), not urllib3's on every request.
            warnings.filterwarnings("ignore", message="Unverified HTTPS request")
        # Every configuration error surfaces here, as one line with exit code 2, not at the first request
        # (in a scan worker, as a run-time failure): the default client resolves the environment and profile.
        self.client()

    def _checksum_settings(self) -> dict[str, str]:
        """Checksums on requests only where S3 requires them, unless the user's environment or profile says.

        Since botocore 1.36 every upload carries a CRC32 by default ("when_supported"). mputui sends Content-MD5
        with every part and object it writes, which the server checks, so the CRC costs a pass over every byte
        and adds nothing — and several S3-compatible servers reject its headers (boto3#4392).
        """
        name = "request_checksum_calculation"
        if os.environ.get(f"AWS_{name.upper()}") or self._profile().get(name):
            return {}
        return {name: "when_required"}

    def _profile(self) -> dict[str, Any]:
        """The profile's settings (empty when it cannot be read: creating the client then says why)."""
        try:
            return dict(self._session._session.get_scoped_config())
        except bexc.BotoCoreError:
            return {}

    def _retry_mode(self) -> str:
        """AWS_RETRY_MODE, else the profile's retry_mode, else standard (botocore's own default is legacy)."""
        mode = os.environ.get("AWS_RETRY_MODE") or self._profile().get("retry_mode") or "standard"
        if mode not in RETRY_MODES:
            raise MputuiError(
                f"invalid retry_mode {safe_text(str(mode))!r} (AWS_RETRY_MODE or the profile; expected "
                "legacy, standard or adaptive)",
                exit_code=2,
            )
        return str(mode)

    def _verify(self) -> bool | str:
        """TLS verification as boto3 is given it: False, a CA bundle, or True (certifi)."""
        if not self.settings.verify_ssl:
            return False
        bundle = self.settings.ca_bundle or self._session._session.get_config_variable("ca_bundle")
        if bundle and not os.path.exists(str(bundle)):
            raise MputuiError(
                f"CA bundle {safe_text(str(bundle))!r} does not exist (AWS_CA_BUNDLE or the profile's ca_bundle)",
                exit_code=2,
            )
        return str(bundle) if bundle else True

    def _max_attempts(self) -> int:
        if self.settings.max_attempts is not None:
            return max(1, self.settings.max_attempts)
        configured = os.environ.get("AWS_MAX_ATTEMPTS")
        try:
            if not configured:
                # botocore converts the profile's value itself: "abc" raises ValueError here.
                configured = self._session._session.get_config_variable("max_attempts")
            return max(1, int(configured)) if configured else DEFAULT_MAX_ATTEMPTS
        except ValueError:
            shown = configured or self._session._session.get_scoped_config().get("max_attempts")
            raise MputuiError(
                f"invalid max_attempts setting {safe_text(str(shown))!r} (AWS_MAX_ATTEMPTS or the profile)",
                exit_code=2,
            ) from None

    # -- clients -------------------------------------------------------------------------------------

    def client(self, region: str | None = None) -> Any:
        """The shared client for ``region`` (default region if ``None``)."""
        region = region or self.default_region
        client = self._clients.get(region)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                client = self._new_client(region, self._config)
                check_endpoint_url(str(client.meta.endpoint_url))
                client.meta.events.register("before-send.s3", self._count_request)
                client.meta.events.register("needs-retry.s3", wirelog.boto3_attempt)
                client.meta.events.register("before-parse.s3.ListMultipartUploads", _tolerant_listing)
                if self.settings.request_payer:
                    client.meta.events.register("before-parameter-build.s3", self._add_request_payer)
                # botocore resolved the credentials for the client: never show a message that contains them.
                register_credentials(self._session.get_credentials())
                self._clients[region] = client
        return client

    def _new_client(self, region: str, config: botocore.config.Config) -> Any:
        try:
            return self._session.client(
                "s3",
                region_name=region,
                endpoint_url=self.settings.endpoint_url,
                verify=self.verify,
                config=config,
            )
        except bexc.InvalidRegionError as exc:
            raise MputuiError(f"invalid region name {safe_text(region)!r}", exit_code=2) from exc
        except ValueError as exc:
            raise MputuiError(f"invalid endpoint URL: {exc}", exit_code=2) from exc
        except _CONFIG_ERRORS as exc:
            raise MputuiError(f"invalid configuration: {describe(exc)}", exit_code=2) from exc

    def _probe_client(self, region: str) -> Any:
        """A client of the same settings that only ever tells where a request would go (``routes.probe``)."""
        client = self._probe_clients.get(region)
        if client is None:
            # Session auth of S3 Express would send CreateSession first: sign plainly, the probe sees its
            # signing name (s3express) and the lean path steps aside.
            s3 = {**(self._s3_config or {}), "disable_s3_express_session_auth": True}
            config = self._config.merge(botocore.config.Config(s3=s3, retries={"total_max_attempts": 1}))
            client = self._probe_clients[region] = prepare_probe_client(self._new_client(region, config))
        return client

    def _add_request_payer(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if "RequestPayer" in model.input_shape.members:
            params.setdefault("RequestPayer", self.settings.request_payer)

    @property
    def endpoint_url(self) -> str:
        """The endpoint actually used (explicit, from the environment/profile, or AWS's)."""
        return str(self.client().meta.endpoint_url)

    @property
    def requests(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._requests

    def _count_request(self, **_: Any) -> None:
        with self._count_lock:
            self._requests += 1

    # -- calls ---------------------------------------------------------------------------------------

    def bucket_region(self, bucket: str) -> str:
        """The region to use for ``bucket`` (learned from redirects, else the default)."""
        return self._bucket_regions.get(bucket, self.default_region)

    def call(self, bucket: str, operation: str, **params: Any) -> dict[str, Any]:
        """Call ``operation`` (a client method name) for ``bucket``, following a region redirect once.

        The hot calls take the lean path (``mputui.s3.lean``) when it can send them exactly as botocore would;
        a failure only it can have (transport, TLS, an unreadable answer) is tried once more on boto3.
        """
        if operation in DESTRUCTIVE_OPERATIONS:
            check_target(bucket, params.get("Key", ""), params.get("UploadId", ""))
        region = self.bucket_region(bucket)
        try:
            try:
                return self._call_in(region, bucket, operation, params)
            except bexc.ClientError as exc:
                new_region = self._redirect_region(bucket, exc)
                if new_region is None or new_region == region:
                    raise
                self._bucket_regions[bucket] = new_region
                return self._call_in(new_region, bucket, operation, params)
        except bexc.ClientError as exc:
            note_request(
                exc, bucket, params, self.bucket_region(bucket)
            )  # which permission a denial is about
            raise

    def _call_in(self, region: str, bucket: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        lean = self._lean_for(operation, params)
        lean_failure: BaseException | None = None
        if lean is not None:
            try:
                lean_call: Callable[..., dict[str, Any]] = getattr(lean, operation.removesuffix("_basic"))
                return lean_call(bucket, region, **params)
            except StepAside:
                pass  # the router logged why, once per bucket
            except bexc.ClientError as exc:
                if not is_redirect(exc):
                    raise
                new_region = region_from_error(exc)
                if new_region and new_region != region:
                    raise  # call() moves the bucket to its region: the lean path again, there
                wirelog.note(f"{operation} on {bucket!r}: a redirect within {region}; boto3 follows it")
            except LEAN_ONLY_FAILURES as exc:
                wirelog.note(f"lean {operation} on {bucket!r} failed ({describe(exc)}); once more on boto3")
                lean_failure = exc
        boto_name = "head_object" if operation == "head_object_basic" else operation
        boto_call: Callable[..., dict[str, Any]] = getattr(self.client(region), boto_name)
        try:
            return boto_call(Bucket=bucket, **params)
        except bexc.ClientError as exc:
            # botocore reports an answer it could not parse as a bare HTTP 500: the lean path's own account
            # ("could not be read", "connection dropped") says what happened.
            if lean_failure is not None and (error_code(exc) or "").isdigit():
                raise lean_failure from exc
            raise

    def _lean_for(self, operation: str, params: dict[str, Any]) -> LeanS3 | None:
        if (
            operation not in LEAN_PARAMS
            or not set(params) <= LEAN_PARAMS[operation]
            or not self._lean_enabled
        ):
            return None
        return self._lean_client()

    def _lean_client(self) -> LeanS3:
        if self._lean is None:
            with self._lock:
                if self._lean is None:
                    credentials = self._session.get_credentials()
                    if credentials is None:
                        raise bexc.NoCredentialsError()
                    register_credentials(credentials)
                    step_aside = None
                    if self.retry_mode == "adaptive":
                        step_aside = "retry_mode adaptive (botocore's client-side rate limiter)"
                    router = Router(
                        probe_client=self._probe_client,
                        endpoint_url=lambda region: str(self.client(region).meta.endpoint_url),
                        step_aside=step_aside,
                        log=wirelog.note,
                    )
                    self._lean = LeanS3(
                        credentials=credentials,
                        router=router,
                        verify=self.verify,
                        max_attempts=self.max_attempts,
                        connect_timeout=self.settings.connect_timeout,
                        read_timeout=self.settings.read_timeout,
                        count=self._count_request,
                        user_agent=self._lean_user_agent(),
                        extra_headers=(
                            {"x-amz-request-payer": self.settings.request_payer}
                            if self.settings.request_payer
                            else None
                        ),
                        log=wirelog.request,
                    )
        return self._lean

    def _lean_user_agent(self) -> str:
        agent = f"mputui/{__version__} md/lean"
        app_id = self._session._session.get_config_variable("user_agent_appid")
        if app_id:
            # botocore's rule for the app id: printable ASCII without spaces, at most 50 characters.
            cleaned = "".join(
                ch if ch.isascii() and ch.isprintable() and ch != " " else "-" for ch in str(app_id)
            )
            agent += f" app/{cleaned[:50]}"
        return agent

    def lean_loop(
        self, *, concurrency: int | None = None, cancel: CancelToken | None = None
    ) -> LeanLoop | None:
        """An event loop sending many lean calls at once, at most ``concurrency`` (default: the settings')
        in flight (close it after use), or ``None`` when the lean path is off. Callers redo on the threaded
        path (``call``) whatever it does not answer with success."""
        if not self._lean_enabled:
            return None
        return LeanLoop(
            self._lean_client(),
            concurrency=concurrency or self.settings.concurrency,
            connect_timeout=self.settings.connect_timeout,
            read_timeout=self.settings.read_timeout,
            cancel=cancel,
        )

    def list_bucket_names(self) -> list[str]:
        """Every bucket the credentials can list, by name."""
        response = self.client().list_buckets()
        return [b["Name"] for b in response.get("Buckets", [])]

    def _redirect_region(self, bucket: str, exc: bexc.ClientError) -> str | None:
        if not is_redirect(exc):
            return None
        region = region_from_error(exc)
        if region:
            return region
        try:
            head = self.client().head_bucket(Bucket=bucket)
        except bexc.ClientError as head_exc:
            return region_from_error(head_exc)
        headers = head.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        return headers.get("x-amz-bucket-region")


def region_from_error(exc: bexc.ClientError) -> str | None:
    """The bucket's real region as a redirect error tells it (header or error body), if it does."""
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
    region = headers.get("x-amz-bucket-region") or exc.response.get("Error", {}).get("Region")
    return str(region) if region else None


def _tolerant_listing(response_dict: dict[str, Any], **_: Any) -> None:
    """boto3's side of ``tolerate_raw_markers``: the same ListMultipartUploads answers parse on both paths.

    Ceph RGW 16 answers boto3's request (not mputui's own) for a page whose last key has a control character
    with status 500 *and* the whole listing: a complete result document is the answer it is."""
    body = response_dict.get("body")
    if not isinstance(body, bytes) or b"&#" not in body:
        return
    body = tolerate_raw_markers(body)
    response_dict["body"] = body
    if response_dict.get("status_code") == 500 and body.rstrip().endswith(b"</ListMultipartUploadsResult>"):
        response_dict["status_code"] = 200
