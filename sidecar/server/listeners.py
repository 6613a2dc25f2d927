"""Binding listen addresses: TCP `host:port` and `unix:/path`, failing clearly when taken;
and claiming TCP ports for the worker processes that share them (SO_REUSEPORT)."""

from __future__ import annotations

import contextlib
import errno
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


def claim_shared_port(address: str) -> tuple[str, socket.socket]:
    """Make sure no other process listens on the TCP `address`, then hold its port for the
    workers that will share it: returns the address with its port made concrete (port 0
    picks one) and a bound, not listening, SO_REUSEPORT socket to close once they bound it.

    Workers bind with SO_REUSEPORT, which another process of the same user could share as
    well; so the port is first bound without it, which fails if anyone else holds it."""
    host, port = split_host_port(address)
    infos = _addresses_of(address, host, port)
    if port:
        for family, kind, proto, _, where in infos:
            _probe_exclusive(address, family, kind, proto, where)
    family, kind, proto, _, where = infos[0]
    held = socket.socket(family, kind, proto)
    try:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        held.bind(where)
    except OSError as exc:
        held.close()
        raise ListenError(f"cannot listen on {address}: {exc.strerror or exc}") from None
    bound = held.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{bound}", held


def split_host_port(address: str) -> tuple[str, int]:
    """(host, port) of a checked TCP address (`check_address`); brackets removed."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _addresses_of(address: str, host: str, port: int) -> list:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {address}: {exc.strerror or exc}") from None
    if not infos:
        raise ListenError(f"cannot listen on {address}: the host has no address")
    return infos


def _probe_exclusive(address: str, family: int, kind: int, proto: int, where: tuple) -> None:
    """Bind without SO_REUSEPORT (with SO_REUSEADDR, as gRPC does, so connections of an
    earlier run in TIME_WAIT do not count): fails while any other socket listens there."""
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(where)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ListenError(f"cannot listen on {address}: address in use (is another "
                                  "sidecar using it?)") from None
            raise ListenError(f"cannot listen on {address}: {exc.strerror or exc}") from None


def release(held: list[socket.socket]) -> None:
    """Close the sockets `claim_shared_port` held (the workers have bound the ports)."""
    for sock in held:
        with contextlib.suppress(OSError):
            sock.close()
    held.clear()
