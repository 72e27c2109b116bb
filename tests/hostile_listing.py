"""A hostile listing for safety tests: the real server behind the fault proxy, with one upload's key emptied."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from faultproxy import FaultProxy, Faults

VICTIM = "victim.bin"


def empty_key_proxy(server: Any, bucket: str) -> FaultProxy:
    """The server, but every ListMultipartUploads answer of ``bucket`` lists the victim's key as empty."""

    def rewrite(head: bytes, _rhead: bytes, body: bytes) -> bytes | None:
        line = head.split(b"\r\n", 1)[0]
        if line.startswith(b"GET ") and b"uploads" in line and bucket.encode() in line:
            return body.replace(f"<Key>{VICTIM}</Key>".encode(), b"<Key></Key>")
        return None

    parts = urlsplit(server.url)
    return FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80, Faults(), rewrite=rewrite).start()


def bucket_wide_deletes(proxy: FaultProxy, bucket: str) -> list[bytes]:
    """Request lines of DELETEs that name no key: ``DELETE /bucket?…`` or ``DELETE /bucket/?…``."""
    pattern = re.compile(rb"^DELETE /" + re.escape(bucket.encode()) + rb"/?(\?| )")
    return [line for line in proxy.request_lines if pattern.match(line)]
