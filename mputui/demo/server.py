"""The demo endpoint: moto's server on 127.0.0.1, seeded, with fixed public demo keys."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mputui.demo.moto_backend import (
    DEMO_HOST,
    DEMO_REGION,
    discard_demo_data,
    import_moto_server,
    patch_moto,
    quiet_werkzeug,
)
from mputui.demo.seed import SeedSummary, seed_demo
from mputui.s3.connect import ConnectionSettings
from mputui.s3.errors import MputuiError

DEMO_ACCESS_KEY = "DEMOACCESSKEY0000000"  # fixed, public, not secret
DEMO_SECRET_KEY = "demo-secret-key-not-a-secret-000000000000"
_READY_TIMEOUT = 10.0
LOOPBACK_HOSTS = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class DemoEndpoint:
    """A running demo endpoint. ``stop()`` shuts it down and discards its data."""

    url: str
    access_key: str
    secret_key: str
    region: str
    seeded: SeedSummary = field(default_factory=SeedSummary, compare=False)
    _server: Any = field(default=None, repr=False, compare=False)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def settings(self, **overrides: Any) -> ConnectionSettings:
        """mputui connection settings for this endpoint (``overrides`` win)."""
        values: dict[str, Any] = {
            "endpoint_url": self.url,
            "region": self.region,
            "path_style": True,
            "demo_credentials": (self.access_key, self.secret_key),
        }
        values.update(overrides)
        return ConnectionSettings(**values)

    def stop(self) -> None:
        """Stop serving, close the port and drop the demo's data. Safe to call twice."""
        if self._server is not None:
            self._server.stop_and_close()


def start_demo(
    *, seed: bool = True, port: int = 0, now: datetime | None = None, host: str = DEMO_HOST
) -> DemoEndpoint:
    """Seed moto's in-process S3 backend (unless ``seed`` is false) and serve it on ``host:port``.

    ``host`` is a loopback address: ``127.0.0.1`` (default) or ``::1``.
    ``port`` 0 picks a free port. Returns once the server answers HTTP. One demo at a time per process (its
    data lives in moto's process-global backend, which ``stop()`` empties). Raises ``MputuiError`` when moto is
    missing, the port cannot be bound or a demo is already running here.
    """
    global _running
    if not 0 <= port <= 65535:
        raise MputuiError(f"invalid port {port} (expected 0-65535)", exit_code=2)
    if host not in LOOPBACK_HOSTS:
        raise MputuiError(
            f"the demo endpoint serves loopback only ({', '.join(LOOPBACK_HOSTS)}), not {host!r}", exit_code=2
        )
    moto_server = import_moto_server()
    patch_moto()
    quiet_werkzeug()
    server = _DemoServer(moto_server.ThreadedMotoServer, port, host)
    with _running_lock:
        if _running is not None:
            raise MputuiError("a demo endpoint is already running in this process (stop it first)")
        _running = server
    try:
        summary = seed_demo(now=now) if seed else SeedSummary()
        url = server.start()
    except BaseException:
        server.stop_and_close()
        raise
    return DemoEndpoint(
        url=url,
        access_key=DEMO_ACCESS_KEY,
        secret_key=DEMO_SECRET_KEY,
        region=DEMO_REGION,
        seeded=summary,
        _server=server,
    )


class _DemoServer:
    """moto's ``ThreadedMotoServer`` plus what it lacks: start-up errors surface, the port really closes."""

    def __init__(self, server_class: type, port: int, host: str) -> None:
        class Server(server_class):
            start_error: BaseException | None = None

            def _server_entry(self) -> None:
                # Upstream dies silently in its thread when the port is taken, and start() then waits forever.
                try:
                    super()._server_entry()
                except BaseException as exc:
                    self.start_error = exc
                    self._server_ready_event.set()

        self._server = Server(ip_address=host, port=port, verbose=False)
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False

    def start(self) -> str:
        if self._port:
            _check_port_free(self._host, self._port)  # werkzeug would print its own complaint and exit
        self._server.start()
        self._started = True
        error = self._server.start_error
        if error is not None:
            reason = "port in use?" if isinstance(error, SystemExit) else str(error)
            raise MputuiError(f"cannot start the demo endpoint on {self._host}:{self._port} ({reason})")
        host, port = self._server.get_host_and_port()
        url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        _wait_until_answering(host, port)
        return url

    def stop_and_close(self) -> None:
        global _running
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        try:
            if self._started:
                self._server.stop()
                inner = getattr(self._server, "_server", None)
                if inner is not None:
                    inner.server_close()  # upstream stop() leaves the socket listening
            discard_demo_data()
        finally:
            with _running_lock:
                if _running is self:
                    _running = None


# One demo per process: its data lives in moto's process-global backend, which stop() empties.
_running_lock = threading.Lock()
_running: _DemoServer | None = None


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise MputuiError(
                f"cannot start the demo endpoint on {host}:{port}: {exc.strerror or exc}"
            ) from exc


def _wait_until_answering(host: str, port: int, timeout: float = _READY_TIMEOUT) -> None:
    """Block until the server answers an HTTP request (which also warms moto's S3 routes)."""
    deadline = time.monotonic() + timeout
    while True:
        conn = http.client.HTTPConnection(host, port, timeout=2)
        try:
            conn.request("HEAD", "/")
            conn.getresponse().read()
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise MputuiError(f"the demo endpoint on {host}:{port} did not answer: {exc}") from exc
            time.sleep(0.05)
        finally:
            conn.close()
