"""An embedded demo S3 endpoint: moto's server on 127.0.0.1, seeded with a realistic mess of stale uploads.

``start_demo()`` seeds moto's in-process S3 backend directly (hundreds of uploads and a 1,000+ part upload
in well under a second; over HTTP it would take minutes) and then serves it on a free loopback port. Every
time in the seeded account is relative to ``now`` and every choice comes from a fixed random seed, so two
demos started with the same ``now`` hold the same buckets, keys, upload ids, sizes and times.

moto is an optional dependency (``pip install 'mputui[demo]'``); it is imported only when a demo starts. The
demo keys are fixed public test values, not secrets: moto accepts any key. Nothing here reads or changes
``os.environ``, and nothing reaches the network: the server listens on loopback only.
"""

from mputui.demo.account import demo_plan
from mputui.demo.foreground import run_foreground
from mputui.demo.moto_backend import DEMO_REGION, INSTALL_HINT, patch_moto
from mputui.demo.seed import SeededPart, SeededUpload, SeedSummary, seed_demo
from mputui.demo.server import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, DemoEndpoint, start_demo

__all__ = [
    "DEMO_ACCESS_KEY",
    "DEMO_REGION",
    "DEMO_SECRET_KEY",
    "INSTALL_HINT",
    "DemoEndpoint",
    "SeedSummary",
    "SeededPart",
    "SeededUpload",
    "demo_plan",
    "patch_moto",
    "run_foreground",
    "seed_demo",
    "start_demo",
]
