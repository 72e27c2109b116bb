"""Connection settings and thread-safe S3 clients shared by the TUI and the CLI.

Credentials come only from the boto3 chain (profiles, environment, SSO, instance roles); mputui stores none.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.exceptions as bexc

from mputui.formatting import redact_url, safe_text
from mputui.s3.errors import REDIRECT_CODES, MputuiError, describe, error_code, register_credentials
from mputui.s3.lean import LeanS3
from mputui.s3.lean_loop import LeanLoop
from mputui.s3.targets import DESTRUCTIVE_OPERATIONS, check_target

DEFAULT_CONCURRENCY = 32
DEFAULT_MAX_ATTEMPTS = 6
LEAN_PARAMS = {
    "list_parts": frozenset({"Key", "UploadId", "MaxParts", "PartNumberMarker"}),
    "abort_multipart_upload": frozenset({"Key", "UploadId"}),
    # HeadObject for size/ETag/last-modified only (the lean answer carries no metadata).
    "head_object_basic": frozenset({"Key"}),
    "list_multipart_uploads": frozenset({"MaxUploads", "Prefix", "KeyMarker", "UploadIdMarker"}),
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
        self._bucket_regions: dict[str, str] = {}
        self._lock = threading.Lock()
        self._requests = 0
        self._count_lock = threading.Lock()
        self.max_attempts = self._max_attempts()
        self._lean: LeanS3 | None = None
        self._lean_enabled = (
            settings.lean
            and os.environ.get("MPUTUI_LEAN", "1") != "0"
            and not any(
                str(self._session._session.get_config_variable(name) or "").lower() in ("true", "1")
                for name in ("use_fips_endpoint", "use_dualstack_endpoint")
            )
        )
        self._config = botocore.config.Config(
            max_pool_connections=max(settings.concurrency + 4, 10),
            retries={"mode": "standard", "max_attempts": self.max_attempts},
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            s3={"addressing_style": "path" if settings.path_style else "auto"},
            user_agent_extra="mputui",
            **self._checksum_settings(),
        )
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
        try:
            profile = self._session._session.get_scoped_config()
        except bexc.BotoCoreError:
            profile = {}
        if os.environ.get(f"AWS_{name.upper()}") or profile.get(name):
            return {}
        return {name: "when_required"}

    def _max_attempts(self) -> int:
        if self.settings.max_attempts is not None:
            return self.settings.max_attempts
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
                try:
                    client = self._session.client(
                        "s3", region_name=region, endpoint_url=self.settings.endpoint_url, config=self._config
                    )
                except bexc.InvalidRegionError as exc:
                    raise MputuiError(f"invalid region name {safe_text(region)!r}", exit_code=2) from exc
                except ValueError as exc:
                    raise MputuiError(f"invalid endpoint URL: {exc}", exit_code=2) from exc
                except _CONFIG_ERRORS as exc:
                    raise MputuiError(f"invalid configuration: {describe(exc)}", exit_code=2) from exc
                check_endpoint_url(str(client.meta.endpoint_url))
                client.meta.events.register("before-send.s3", self._count_request)
                # botocore resolved the credentials for the client: never show a message that contains them.
                register_credentials(self._session.get_credentials())
                self._clients[region] = client
        return client

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

        The inventory's two list calls take the lean path (``mputui.s3.lean``) when it is enabled.
        """
        if operation in DESTRUCTIVE_OPERATIONS:
            check_target(bucket, params.get("Key", ""), params.get("UploadId", ""))
        region = self.bucket_region(bucket)
        try:
            return self._method(operation, region, params)(bucket, **params)
        except bexc.ClientError as exc:
            new_region = self._redirect_region(bucket, exc)
            if new_region is None or new_region == region:
                raise
            self._bucket_regions[bucket] = new_region
            return self._method(operation, new_region, params)(bucket, **params)

    def _method(self, operation: str, region: str, params: dict[str, Any]) -> Callable[..., dict[str, Any]]:
        lean = self._lean_for(operation, params)
        if lean is not None:
            lean_call: Callable[..., dict[str, Any]] = getattr(lean, operation.removesuffix("_basic"))
            return lambda bucket, **p: lean_call(bucket, region, **p)
        boto_name = "head_object" if operation == "head_object_basic" else operation
        boto_call: Callable[..., dict[str, Any]] = getattr(self.client(region), boto_name)
        return lambda bucket, **p: boto_call(Bucket=bucket, **p)

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
                    self._lean = LeanS3(
                        credentials=credentials,
                        endpoint_for=lambda region: self.client(region).meta.endpoint_url,
                        path_style=self.settings.path_style,
                        max_attempts=self.max_attempts,
                        connect_timeout=self.settings.connect_timeout,
                        read_timeout=self.settings.read_timeout,
                        count=self._count_request,
                    )
        return self._lean

    def lean_loop(
        self, *, concurrency: int | None = None, cancelled: Callable[[], bool] = lambda: False
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
            cancelled=cancelled,
        )

    def list_bucket_names(self) -> list[str]:
        """Every bucket the credentials can list, by name."""
        response = self.client().list_buckets()
        return [b["Name"] for b in response.get("Buckets", [])]

    def _redirect_region(self, bucket: str, exc: bexc.ClientError) -> str | None:
        if error_code(exc) not in REDIRECT_CODES:
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
