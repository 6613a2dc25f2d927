"""Listen addresses: a port is never guessed, a socket directory never created."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from running_sidecar import Launcher, maytrain_command


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launched = Launcher(tmp_path)
    yield launched
    launched.stop_all()


def test_a_unix_socket_directory_is_never_created(launcher, tmp_path) -> None:
    missing = tmp_path / "no-such-dir" / "m.sock"
    done = subprocess.run([*maytrain_command(), "serve", "--store", launcher.store,
                           "--listen", f"unix:{missing}"], cwd=launcher.workdir,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "does not exist" in done.stderr and not missing.parent.exists()


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1", "127.0.0.1:", "[::1]",
                                     "127.0.0.1:99999", "unix:"])
def test_an_address_without_a_port_is_refused(launcher, address) -> None:
    done = subprocess.run([*maytrain_command(), "serve", "--store", launcher.store,
                           "--listen", address], cwd=launcher.workdir,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "give host:port" in done.stderr and "Traceback" not in done.stderr
