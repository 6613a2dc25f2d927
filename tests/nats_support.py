"""NATS JetStream for the tests: the shared server from MAYTRAIN_TEST_NATS_URL (streams
named per test, deleted after) and private `nats-server -js` processes for the tests that
stop and restart NATS, on a free port with their own store directory.

Without the variable (or without nats-py) the NATS tests are skipped, with the reason
shown; with MAYTRAIN_REQUIRE_NATS=1 (CI) they fail instead. Tests never stop the shared
server: a test that needs NATS gone starts a private one and stops that.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from running_sidecar import free_port

URL_ENV = "MAYTRAIN_TEST_NATS_URL"
REQUIRE_ENV = "MAYTRAIN_REQUIRE_NATS"
SERVER_PATHS = ("nats-server", "/usr/sbin/nats-server", "/usr/local/bin/nats-server")


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: NATS tests must run)", pytrace=False)
    pytest.skip(reason)


def _reachable(url: str) -> bool:
    host_port = url.split("://", 1)[-1].rsplit("@", 1)[-1]
    host, _, port = host_port.partition(":")
    with suppress(OSError), socket.create_connection((host, int(port or 4222)), timeout=2):
        return True
    return False


def shared_url() -> str:
    """The shared test server's URL; skips (or fails under MAYTRAIN_REQUIRE_NATS=1)."""
    try:
        import nats  # noqa: F401
    except ImportError:
        _unavailable("nats-py is not installed (pip install 'maytrain[nats]')")
    url = os.environ.get(URL_ENV, "")
    if not url:
        _unavailable(f"no NATS server for the tests: set {URL_ENV} (e.g. nats://127.0.0.1:4222)")
    if not _reachable(url):
        _unavailable(f"the NATS server at {URL_ENV} ({url}) does not answer")
    return url


def unique_stream(prefix: str = "t") -> str:
    return f"{prefix}-{os.getpid()}-{secrets.token_hex(4)}"


def delete_stream(url: str, stream: str) -> None:
    """Remove a test's stream and its snapshot bucket from the shared server."""
    import nats

    async def delete() -> None:
        nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=1)
        js = nc.jetstream()
        for name in (stream, f"OBJ_{stream}-snapshot"):
            with suppress(Exception):
                await js.delete_stream(name)
        await nc.close()

    asyncio.run(delete())


class PrivateNats:
    """A nats-server -js of the test's own, stopped and started again on the same port."""

    def __init__(self, directory: Path) -> None:
        binary = next((p for p in map(shutil.which, SERVER_PATHS) if p), None)
        if binary is None:
            _unavailable("no nats-server binary to start a private server")
        self.binary, self.directory, self.port = str(binary), directory, free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with (self.directory / "nats.log").open("a") as log:
            self.process = subprocess.Popen(
                [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port),
                 "-sd", str(self.directory / "jetstream")], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not _reachable(self.url):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"nats-server did not start: {self.directory / 'nats.log'}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextmanager
def private_nats(directory: Path) -> Iterator[PrivateNats]:
    """A private server, running; stopped at the end whatever happened."""
    try:
        import nats  # noqa: F401
    except ImportError:
        _unavailable("nats-py is not installed (pip install 'maytrain[nats]')")
    server = PrivateNats(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
