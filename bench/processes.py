"""What the benchmarks share about processes: a free loopback port, the maytrain command,
and the CPU time a server (with its workers) has used."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def maytrain() -> list[str]:
    """The installed `maytrain` script beside this Python, else `python -m sidecar.cli`."""
    script = Path(sys.executable).parent / "maytrain"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sidecar.cli"]


def workers_available() -> bool:
    """Whether this `maytrain serve` takes --workers."""
    shown = subprocess.run([*maytrain(), "serve", "--help"], capture_output=True, text=True)
    return "--workers" in shown.stdout


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time of a process and its live descendants so far (Linux; None
    elsewhere, or once the process is gone)."""
    try:
        return sum(_own_cpu(p) for p in (pid, *_descendants(pid)))
    except OSError:
        return None


def _own_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    """The pids below `pid` in the process tree (a serving process's workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found
