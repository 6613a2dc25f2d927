"""What the benchmarks share to start processes: a free loopback port, the maytrain command."""

from __future__ import annotations

import socket
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
