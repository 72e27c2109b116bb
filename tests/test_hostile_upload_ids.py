"""Upload ids come from the server like keys do: a listed id with a bidi override or an 8-bit CSI is shown
through the same safe text in every line that prints one (the abort target list, the commit plan)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from faultproxy import FaultProxy, Faults
from test_inventory import make_uploads

from conftest import BucketFactory, S3Server, run_cli

HOSTILE = "\u202eevil\u009b31m"


def test_listed_upload_ids_are_shown_safely(moto_server: S3Server, bucket_factory: BucketFactory) -> None:
    bucket = bucket_factory()
    (upload_id,) = make_uploads(moto_server.client(), bucket, ["k"], parts=1)

    def rewrite(head: bytes, _rhead: bytes, body: bytes) -> bytes | None:
        if head.startswith(b"GET ") and b"?uploads" in head.split(b"\r\n", 1)[0]:
            return body.replace(upload_id.encode(), (upload_id + HOSTILE).encode())
        return None

    def unmap(head: bytes) -> bytes:
        return head.replace(quote(upload_id + HOSTILE, safe="").encode(), upload_id.encode())

    parts = urlsplit(moto_server.url)
    proxy = FaultProxy(
        parts.hostname or "127.0.0.1", parts.port or 80, Faults(), rewrite=rewrite, rewrite_request=unmap
    ).start()
    env = {**moto_server.env(), "AWS_ENDPOINT_URL": proxy.url}
    try:
        out = run_cli(None, "abort", f"s3://{bucket}/", "--all", "--dry-run", env=env)
    finally:
        proxy.stop()
    assert out.returncode == 0, out.stderr
    assert upload_id in out.stdout
    assert "\u202e" not in out.stdout and "\u009b" not in out.stdout
    assert "⟨U+202E⟩" in out.stdout
