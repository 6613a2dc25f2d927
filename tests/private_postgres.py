"""A PostgreSQL server of the test's own, on a free port, for tests that stop or freeze it
(the machine's shared server is never touched). Needs Debian's server binaries."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from postgres_support import _unavailable
from running_sidecar import free_port


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """A running throwaway cluster: its URL, and the means to freeze and thaw it."""

    def __init__(self, bin_dir: Path, directory: Path, port: int) -> None:
        self.bin, self.dir, self.port = bin_dir, directory, port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def processes(self) -> list[int]:
        """The postmaster and every backend it started."""
        postmaster = int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        children = [int(stat.split()[0]) for stat in _stats() if int(stat.split()[3]) == postmaster]
        return [postmaster, *children]

    def freeze(self) -> None:
        """SIGSTOP the whole server: connections stay open and nothing answers."""
        for pid in self.processes():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.processes():
            os.kill(pid, signal.SIGCONT)


def _stats() -> Iterator[str]:
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        name_end = text.rindex(")")  # the command name may hold spaces
        yield text[:text.index(" ")] + " x" + text[name_end + 1:]


def _as_postgres(argv: list[str]) -> list[str]:
    return ["su", "postgres", "-c", " ".join(argv)] if os.geteuid() == 0 else argv


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """Start a cluster in a temporary directory; stopped and removed afterwards."""
    bin_dir = _binaries()
    if bin_dir is None:
        _unavailable("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin) for a private server")
        pytest.skip("unreachable")
    directory = Path(tempfile.mkdtemp(prefix="maytrain-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, pwd.getpwnam("postgres").pw_uid)
    server = PrivatePostgres(bin_dir, directory, free_port())
    data = directory / "data"
    subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-A", "trust", "-U", "postgres",
                                 "-D", str(data)]), check=True, capture_output=True, timeout=120)
    options = f"'-p {server.port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off'"
    subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l",
                                 str(directory / "log"), "-w", "-o", options, "start"]),
                   check=True, capture_output=True, timeout=120)
    try:
        yield server
    finally:
        with suppress(OSError, ValueError):
            server.thaw()
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m",
                                     "immediate", "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(directory, ignore_errors=True)
