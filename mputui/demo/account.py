"""The demo account as data: buckets, stale uploads and objects, deterministic for a given ``now``."""

from __future__ import annotations

import base64
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DEMO_RANDOM_SEED = 20240501
KIB = 1024
MIB = 1024 * KIB


# --- the seeded account ---------------------------------------------------------------------------------


@dataclass
class _PlannedUpload:
    bucket: str
    key: str
    storage: str
    initiated: datetime
    parts: list[tuple[int, int, datetime]]  # (part number, size, last modified)


@dataclass
class _PlannedObject:
    bucket: str
    key: str
    size: int
    last_modified: datetime
    storage: str = "STANDARD"


@dataclass
class _Plan:
    buckets: list[tuple[str, datetime]] = field(default_factory=list)
    uploads: list[_PlannedUpload] = field(default_factory=list)
    objects: list[_PlannedObject] = field(default_factory=list)


MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR


class _Planner:
    """Builds the demo account deterministically from ``now`` and a fixed random seed."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.rng = random.Random(DEMO_RANDOM_SEED)
        self.plan = _Plan()

    # -- building blocks --

    def ago(self, seconds: float) -> datetime:
        return self.now - timedelta(seconds=int(seconds))

    def log_uniform(self, low: float, high: float) -> float:
        return math.exp(self.rng.uniform(math.log(low), math.log(high)))

    def age(self) -> float:
        """A stale upload's age: mostly days to months, some hours, a few minutes."""
        r = self.rng.random()
        if r < 0.08:
            return self.rng.uniform(5 * MINUTE, 55 * MINUTE)
        if r < 0.25:
            return self.rng.uniform(1 * HOUR, 23 * HOUR)
        if r < 0.60:
            return self.rng.uniform(1 * DAY, 21 * DAY)
        return self.log_uniform(21 * DAY, 420 * DAY)

    def small(self, low: int = 1 * KIB, high: int = 2 * MIB) -> int:
        return int(self.log_uniform(low, high))

    def bucket(self, name: str, age_days: float) -> str:
        self.plan.buckets.append((name, self.ago(age_days * DAY)))
        return name

    def upload(
        self,
        bucket: str,
        key: str,
        sizes: list[int],
        *,
        age: float | None = None,
        active: bool = False,
        numbers: list[int] | None = None,
        storage: str = "STANDARD",
    ) -> _PlannedUpload:
        """An upload initiated ``age`` seconds ago whose parts arrived after it: the newest one minutes ago
        when ``active``, else within the first hours of its life (then it was abandoned)."""
        if active:
            age = age if age is not None else self.rng.uniform(20 * MINUTE, 6 * HOUR)
            initiated = self.ago(age)
            last = self.ago(self.rng.uniform(1 * MINUTE, 12 * MINUTE))
        else:
            age = age if age is not None else self.age()
            initiated = self.ago(age)
            window = min(age - 2 * MINUTE, self.log_uniform(20, 4 * HOUR))
            last = initiated + timedelta(seconds=int(max(window, len(sizes))))
        numbers = numbers or list(range(1, len(sizes) + 1))
        span = (last - initiated).total_seconds()
        parts = []
        for i, (number, size) in enumerate(zip(numbers, sizes, strict=True)):
            at = initiated + timedelta(seconds=max(1, int(span * (i + 1) / len(sizes))))
            parts.append((number, size, at))
        planned = _PlannedUpload(bucket, key, storage, initiated, parts)
        self.plan.uploads.append(planned)
        return planned

    def obj(self, bucket: str, key: str, size: int, age: float, storage: str = "STANDARD") -> None:
        self.plan.objects.append(_PlannedObject(bucket, key, size, self.ago(age), storage))

    def date(self, age: float) -> str:
        return self.ago(age).strftime("%Y-%m-%d")

    def hexid(self, n: int = 8) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    # -- the account --

    def build(self) -> _Plan:
        self.backups()
        self.media()
        self.logs()
        self.data_lake()
        self.ci_artifacts()
        self.ml_checkpoints()
        return self.plan

    def backups(self) -> None:
        b = self.bucket("acme-prod-backups", 1100)
        # The 1,000+ part upload: a base backup streamed in tiny 8 KiB parts, abandoned after a while.
        age = 9 * DAY + 3 * HOUR
        sizes = [8 * KIB] * 1099 + [3 * KIB + 123]
        key = f"postgres/orders-primary/{self.date(age)}/base.tar.zst"
        self.upload(b, key, sizes, age=age, storage="STANDARD_IA")
        # Nightly dumps in realistic 8 MiB parts; one with a short non-last part, one with a gap (1, 2, 4).
        for days, sizes8, numbers, storage in (
            (2.3, [8 * MIB, 8 * MIB], None, "STANDARD_IA"),
            (16.1, [8 * MIB, 3 * MIB + 517, 8 * MIB], None, "STANDARD_IA"),
            (45.6, [8 * MIB, 8 * MIB, 8 * MIB], [1, 2, 4], "GLACIER"),
            (133.2, [8 * MIB], None, "DEEP_ARCHIVE"),
            (301.9, [8 * MIB, 5 * MIB + 77 * KIB], None, "GLACIER"),
        ):
            age = days * DAY
            self.upload(
                b,
                f"mysql/crm/{self.date(age)}/full.xbstream",
                sizes8,
                age=age,
                numbers=numbers,
                storage=storage,
            )
        # Still running right now: newest 8 MiB part minutes old.
        self.upload(
            b,
            f"mysql/crm/{self.date(0)}/full.xbstream",
            [8 * MIB, 8 * MIB],
            active=True,
            age=35 * MINUTE,
            storage="STANDARD_IA",
        )
        for i in range(14):
            age = self.age()
            host = self.rng.choice(["cache-01", "cache-02", "sessions-01"])
            self.upload(
                b,
                f"redis/{host}/{self.date(age)}/dump-{i:02d}.rdb",
                [self.small(32 * KIB, 1 * MIB)],
                age=age,
                storage=self.rng.choice(["STANDARD", "STANDARD_IA"]),
            )
        for i in range(3):
            age = self.age()
            self.upload(b, f"etcd/snapshots/{self.date(age)}T{i:02d}.db", [], age=age)
        self.obj(b, "README.txt", 1 * KIB + 212, 1090 * DAY)
        for days in (1, 2, 3):
            self.obj(
                b,
                f"postgres/orders-primary/{self.date(days * DAY)}/base.tar.zst",
                self.small(64 * KIB, 256 * KIB),
                days * DAY - 2 * HOUR,
                "STANDARD_IA",
            )

    def media(self) -> None:
        b = self.bucket("acme-media-uploads", 700)
        tricky = [
            "uploads/[b]x[/b]",
            "uploads/[link=http://x]y[/link]",
            "uploads/[bold red]URGENT[/bold red] final cut.mov",
            "uploads/[/] closing tag only.jpg",
            "uploads/\\[escaped] brackets.png",
            "photos/2024/été à Paris/IMG_0042.HEIC",
            "photos/東京/夜景 №7.jpg",
            "música/canción de cuna ñ.flac",
            "documents/Отчёт за квартал.pdf",
            "documents/مرحبا بالعالم.txt",
            "party 🎉/video 😀.mp4",
            "weird/  two leading spaces and trailing ",
            "weird/percent %20 plus + amp & hash # question ?.bin",
            "weird/" + "very-long-directory-name/" * 10 + "file.dat",
        ]
        for key in tricky:
            n = self.rng.choice([1, 1, 2])
            self.upload(
                b, key, [self.small(2 * KIB, 1 * MIB) for _ in range(n)], active=self.rng.random() < 0.15
            )
        for i in range(44):
            user = self.rng.randint(1000, 9999)
            n = self.rng.choice([1, 1, 1, 2, 3, 4])
            sizes = [self.small(32 * KIB, 512 * KIB) for _ in range(n)]
            numbers = None
            if n >= 3 and i % 4 == 0:
                numbers = [*range(1, n), n + 1]  # a gap before the last part
            ext = self.rng.choice(["mp4", "mov", "jpg", "png", "webm"])
            self.upload(
                b,
                f"users/{user}/media/{self.hexid(12)}.{ext}",
                sizes,
                numbers=numbers,
                active=self.rng.random() < 0.06,
            )
        # The same key twice: the app retried the upload without aborting the first attempt.
        dup = "users/1042/videos/wedding-final.mov"
        self.upload(b, dup, [8 * MIB], age=6 * DAY + 4 * HOUR)
        self.upload(b, dup, [self.small(512 * KIB, 2 * MIB)], age=6 * DAY + 1 * HOUR)
        for _ in range(2):
            self.upload(b, f"users/{self.rng.randint(1000, 9999)}/avatar/{self.hexid(12)}.png", [])
        self.obj(b, "users/1042/videos/wedding-teaser.mov", 187 * KIB, 6 * DAY)
        self.obj(b, "photos/2024/été à Paris/IMG_0041.HEIC", 92 * KIB, 200 * DAY)
        self.obj(b, "uploads/[b]x[/b]", 3 * KIB, 30 * DAY)

    def logs(self) -> None:
        b = self.bucket("acme-app-logs", 900)
        services = ["api", "web", "worker", "billing", "auth"]
        for i in range(96):
            age = self.age()
            active = i % 19 == 0
            if active:
                age = self.rng.uniform(15 * MINUTE, 50 * MINUTE)
            t = self.ago(age)
            svc = self.rng.choice(services)
            host = f"ip-10-0-{self.rng.randint(0, 9)}-{self.rng.randint(2, 254)}"
            key = f"{svc}/{t:%Y/%m/%d}/{host}-{t:%H}.log.gz"
            n = 1 if self.rng.random() < 0.8 else self.rng.randint(2, 3)
            self.upload(b, key, [self.small(1 * KIB, 512 * KIB) for _ in range(n)], age=age, active=active)
        for _ in range(3):
            age = self.age()
            self.upload(b, f"audit/{self.date(age)}/events-{self.hexid()}.jsonl.gz", [], age=age)
        for days in (1, 2):
            self.obj(b, f"api/{self.ago(days * DAY):%Y/%m/%d}/ip-10-0-3-17-00.log.gz", 41 * KIB, days * DAY)

    def data_lake(self) -> None:
        b = self.bucket("acme-data-lake", 600)
        tables = ["events", "orders", "clicks", "sessions"]
        for i in range(72):
            age = self.age()
            table = self.rng.choice(tables)
            n = self.rng.choice([1, 1, 2, 3, 4])
            sizes = [self.small(16 * KIB, 256 * KIB) for _ in range(n)]
            numbers = None
            if n >= 3 and i % 3 == 0:
                numbers = [1, 2, *range(4, n + 2)]  # parts 1, 2, 4...: part 3 never arrived
            storage = "INTELLIGENT_TIERING" if table == "clicks" else "STANDARD"
            key = f"raw/{table}/dt={self.date(age)}/part-{i:05d}-{self.hexid(8)}.snappy.parquet"
            self.upload(b, key, sizes, age=age, numbers=numbers, storage=storage, active=i % 25 == 7)
        # A compaction job's output in minimum-size (5 MiB) parts.
        age = 3 * DAY + 5 * HOUR
        self.upload(b, f"curated/orders/dt={self.date(age)}/compacted-000.parquet", [5 * MIB] * 3, age=age)
        self.obj(b, "raw/_SUCCESS", 0, 12 * HOUR)
        self.obj(b, f"curated/orders/dt={self.date(4 * DAY)}/compacted-000.parquet", 211 * KIB, 4 * DAY)

    def ci_artifacts(self) -> None:
        b = self.bucket("acme-ci-artifacts", 400)
        branches = ["main", "release/2.4", "feature/faster-builds", "dependabot/pip/boto3-1.35"]
        for _ in range(30):
            age = self.age()
            branch = self.rng.choice(branches)
            version = f"{self.rng.randint(1, 4)}.{self.rng.randint(0, 30)}"
            key = f"builds/{branch}/{self.hexid(10)}/app-{version}.tar.gz"
            n = self.rng.choice([1, 1, 2])
            self.upload(
                b,
                key,
                [self.small(8 * KIB, 1 * MIB) for _ in range(n)],
                age=age,
                active=self.rng.random() < 0.05,
            )
        # Three concurrent CI jobs racing on the same key.
        for minutes in (50, 48, 47):
            self.upload(
                b, "builds/main/latest/app.tar.gz", [self.small(256 * KIB, 1 * MIB)], age=minutes * MINUTE
            )
        self.obj(b, "builds/main/latest/app.tar.gz", 733 * KIB, 2 * HOUR)
        self.obj(b, "index.html", 2 * KIB + 11, 90 * DAY)

    def ml_checkpoints(self) -> None:
        b = self.bucket("acme-ml-checkpoints", 250)
        runs = ["llama-ft-0412", "vit-base-sweep-7", "ranker-v3"]
        for run, days, sizes in (
            (runs[0], 20.4, [8 * MIB, 8 * MIB]),
            (runs[0], 19.9, [8 * MIB, 2 * MIB + 5]),
            (runs[1], 58.0, [8 * MIB]),
            (runs[2], 0.9, [8 * MIB]),
        ):
            age = days * DAY
            step = self.rng.randint(1, 90) * 1000
            self.upload(
                b,
                f"runs/{run}/checkpoints/step-{step:06d}.safetensors",
                sizes,
                age=age,
                storage="INTELLIGENT_TIERING",
            )
        for _ in range(8):
            run = self.rng.choice(runs)
            self.upload(b, f"runs/{run}/events/{self.hexid(16)}.tfevents", [self.small(4 * KIB, 256 * KIB)])
        self.obj(b, f"runs/{runs[2]}/config.yaml", 3 * KIB + 300, 2 * DAY)


def demo_plan(now: datetime) -> _Plan:
    """The demo account as data (nothing touched yet): deterministic for a given ``now``."""
    return _Planner(normalise_now(now)).build()


def normalise_now(now: datetime | None) -> datetime:
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).replace(microsecond=0)


def naive_utc(value: datetime) -> datetime:
    """moto keeps naive UTC datetimes."""
    return value.astimezone(UTC).replace(tzinfo=None)


def make_upload_id(rng: random.Random) -> str:
    raw = base64.b64encode(rng.randbytes(42)).decode("ascii")
    return "".join(c for c in raw if c.isalnum())
