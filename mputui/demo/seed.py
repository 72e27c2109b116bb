"""Seeding moto's in-process S3 backend with the demo account (fast: no HTTP)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mputui.demo.account import DEMO_RANDOM_SEED, demo_plan, make_upload_id, naive_utc, normalise_now
from mputui.demo.moto_backend import DEMO_REGION, demo_backend, import_moto_server, patch_moto
from mputui.s3.errors import MputuiError

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True, slots=True)
class SeededPart:
    """One part the seeding uploaded (``last_modified`` is UTC, whole seconds)."""

    number: int
    size: int
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class SeededUpload:
    """One in-progress upload the seeding created, as the server reports it."""

    bucket: str
    key: str
    upload_id: str
    initiated: datetime
    storage_class: str
    parts: tuple[SeededPart, ...]

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def last_modified(self) -> datetime | None:
        return max((p.last_modified for p in self.parts), default=None)


@dataclass(frozen=True, slots=True)
class SeedSummary:
    """What ``seed_demo`` put into the account, and how long it took."""

    buckets: int = 0
    uploads: int = 0
    parts: int = 0
    total_bytes: int = 0
    objects: int = 0
    object_bytes: int = 0
    seconds: float = 0.0
    bucket_names: tuple[str, ...] = ()
    seeded_uploads: tuple[SeededUpload, ...] = field(default=(), repr=False)

    def counts(self) -> dict[str, int]:
        """The counts, for the ``--json`` line and status output."""
        return {
            "buckets": self.buckets,
            "uploads": self.uploads,
            "parts": self.parts,
            "bytes": self.total_bytes,
            "objects": self.objects,
            "object_bytes": self.object_bytes,
        }


def seed_demo(*, now: datetime | None = None, backend: Any = None) -> SeedSummary:
    """Create the demo account in moto's in-process S3 ``backend`` (default: the one the demo server serves).

    Parts hold real bytes (slices of one random buffer, so their ETags differ). Raises ``MputuiError`` if a
    demo bucket already exists there.
    """
    import_moto_server()
    patch_moto()
    from requests.structures import CaseInsensitiveDict

    t0 = time.monotonic()
    backend = backend if backend is not None else demo_backend()
    plan = demo_plan(normalise_now(now))
    existing = set(backend.buckets)
    clash = [name for name, _ in plan.buckets if name in existing]
    if clash:
        raise MputuiError(
            f"demo bucket {clash[0]} already exists (is a demo already running in this process?)"
        )

    rng = random.Random(DEMO_RANDOM_SEED + 1)
    largest = max([s for u in plan.uploads for _, s, _ in u.parts] + [o.size for o in plan.objects] + [1])
    pool = rng.randbytes(largest + 256 * KIB)

    def data(size: int) -> bytes:
        offset = rng.randrange(0, len(pool) - size)
        return pool[offset : offset + size]

    for name, created in plan.buckets:
        bucket = backend.create_bucket(name, DEMO_REGION)
        bucket.creation_date = created
    seeded: list[SeededUpload] = []
    for up in plan.uploads:
        created = backend.create_multipart_upload(
            up.bucket, up.key, CaseInsensitiveDict(), up.storage, {}, None, None, None
        )
        multiparts = backend.get_bucket(up.bucket).multiparts
        mp = multiparts[created] if isinstance(created, str) else created  # moto < 5.2 returns the id
        # Deterministic upload ids (stable screenshots); dict.pop: MultipartDict.__delitem__ would dispose.
        multiparts.pop(mp.id)
        mp.id = make_upload_id(rng)
        multiparts[mp.id] = mp
        mp.initiated = naive_utc(up.initiated)
        for number, size, at in up.parts:
            part = backend.upload_part(up.bucket, mp.id, number, data(size))
            part.last_modified = naive_utc(at)
        seeded.append(
            SeededUpload(
                bucket=up.bucket,
                key=up.key,
                upload_id=mp.id,
                initiated=up.initiated,
                storage_class=up.storage,
                parts=tuple(SeededPart(n, s, at) for n, s, at in up.parts),
            )
        )
    for o in plan.objects:
        key = backend.put_object(o.bucket, o.key, data(o.size), storage=o.storage)
        key.last_modified = naive_utc(o.last_modified)
    return SeedSummary(
        buckets=len(plan.buckets),
        uploads=len(seeded),
        parts=sum(len(u.parts) for u in seeded),
        total_bytes=sum(u.size for u in seeded),
        objects=len(plan.objects),
        object_bytes=sum(o.size for o in plan.objects),
        seconds=time.monotonic() - t0,
        bucket_names=tuple(name for name, _ in plan.buckets),
        seeded_uploads=tuple(seeded),
    )
