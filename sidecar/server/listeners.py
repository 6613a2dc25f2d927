"""Binding listen addresses: TCP `host:port` and `unix:/path`, failing clearly when taken."""

from __future__ import annotations

import os
import re
import socket
import stat
from pathlib import Path

import grpc

from ..core.errors import MaytrainError


class ListenError(MaytrainError):
    """An address the sidecar cannot listen on (taken, malformed, or not permitted)."""


def unix_path(address: str) -> str:
    """The filesystem path of a `unix:` address, or '' for a TCP address."""
    if address.startswith("unix://"):
        return address[len("unix://"):]
    return address[len("unix:"):] if address.startswith("unix:") else ""


def server_options(max_message_bytes: int, reuse_port: bool) -> list[tuple[str, int]]:
    """Channel options: no silent port sharing unless asked, room for large batches."""
    return [("grpc.so_reuseport", 1 if reuse_port else 0),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes)]


_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^:\[\]\s/]+):(\d{1,5})$")


def check_address(address: str) -> None:
    """Refuse an address that is neither `unix:/path` nor `host:port` with a port: gRPC
    would quietly pick one (443 for `localhost`)."""
    if unix_path(address):
        return
    match = _HOST_PORT.match(address)
    if match is None or not 0 <= int(match[2]) <= 65535:
        raise ListenError(f"cannot listen on {address!r}: give host:port (e.g. 127.0.0.1:50051, "
                          "[::1]:50051) or unix:/absolute/path.sock")


def bind(server: grpc.Server, address: str,
         credentials: grpc.ServerCredentials | None = None) -> int:
    """Add a port for `address` (TLS with `credentials` on TCP); returns the TCP port (0 for
    unix sockets, which are always plaintext: only this machine reaches them). The address
    was checked (`check_address`) when the transport was made."""
    path = unix_path(address)
    if path:
        _claim_socket_path(Path(path))
    try:
        if credentials is not None and not path:
            port = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise ListenError(f"cannot listen on {address}: {exc} (is another sidecar using it?)") from None
    if not path and port == 0:
        raise ListenError(f"cannot listen on {address}: address in use or not available")
    return port


def open_unix_socket(address: str) -> None:
    """Let the worker's group connect to a unix socket the sidecar created (mode 0660)."""
    path = unix_path(address)
    if path and os.path.exists(path):
        os.chmod(path, 0o660)


def _claim_socket_path(path: Path) -> None:
    """Refuse a socket another process listens on; remove one left by a dead process.

    The directory must exist: created here it would take the umask's mode (world-writable
    under umask 000), letting any local user replace the socket with their own."""
    if not path.is_absolute():
        raise ListenError(f"unix socket path {path} must be absolute (unix:/path/to.sock)")
    if not path.parent.is_dir():
        raise ListenError(f"cannot listen on unix:{path}: the directory {path.parent} does not "
                          "exist (create it, writable only by the sidecar's user and group)")
    if not path.exists():
        return
    if not stat.S_ISSOCK(path.stat().st_mode):
        raise ListenError(f"cannot listen on unix:{path}: a file that is not a socket is there")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()
            return
    raise ListenError(f"cannot listen on unix:{path}: another process is listening there")
