"""TLS for TCP listeners: server credentials that follow their files, and the loopback rule.

Kubernetes rotates a mounted Secret by swapping the files under the mount, so the
credentials are re-read whenever a file changes (checked at each new connection's
handshake); connections already open keep the certificate they were made with. With a
client CA, every client must present a certificate signed by it (mutual TLS).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass

import grpc

from ..core.errors import MaytrainError

log = logging.getLogger("maytrain.server")


class TlsError(MaytrainError):
    """TLS settings the sidecar cannot serve with (a missing file, a key without a cert)."""


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of a TLS listener; `client_ca` set means clients must present a cert."""

    cert: str
    key: str
    client_ca: str | None = None

    def paths(self) -> tuple[str, ...]:
        """Every file whose change means new credentials."""
        return (self.cert, self.key) + ((self.client_ca,) if self.client_ca else ())


def tls_files(cert: str | None, key: str | None, client_ca: str | None) -> TlsFiles | None:
    """The TLS files from settings; None for plaintext; TlsError for half a configuration."""
    if not cert and not key:
        if client_ca:
            raise TlsError("--tls-client-ca needs --tls-cert and --tls-key as well")
        return None
    if not cert or not key:
        raise TlsError("TLS needs both --tls-cert and --tls-key")
    files = TlsFiles(cert, key, client_ca or None)
    _read_configuration(files)  # unreadable or malformed files fail at start, not per call
    return files


class ReloadingCredentials:
    """Server credentials that re-read their files whenever one changes."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self._seen = _identity(files)
        self.credentials = grpc.dynamic_ssl_server_credentials(
            _read_configuration(files), self._fetch,
            require_client_authentication=files.client_ca is not None)

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """New credentials if a file changed since the last look, else None (keep)."""
        seen = _identity(self.files)
        if seen == self._seen:
            return None
        try:
            configuration = _read_configuration(self.files)
        except TlsError as exc:  # half-rotated files: keep serving the last good pair
            log.warning("TLS files changed but cannot be used yet: %s", exc)
            return None
        self._seen = seen
        log.info("TLS files changed: new connections use the new certificate")
        return configuration


def _identity(files: TlsFiles) -> tuple[tuple[int, int, int], ...]:
    """What changes when a file is replaced: inode, size and modification time."""
    found = []
    for path in files.paths():
        try:
            stat = os.stat(path)
        except OSError:
            found.append((0, 0, 0))
            continue
        found.append((stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def _read_configuration(files: TlsFiles) -> grpc.ServerCertificateConfiguration:
    cert, key = _read(files.cert, "certificate"), _read(files.key, "private key")
    if b"-----BEGIN" not in cert or b"-----BEGIN" not in key:
        raise TlsError(f"{files.cert} and {files.key} must be PEM files")
    client_ca = _read(files.client_ca, "client CA") if files.client_ca else None
    return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=client_ca)


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise TlsError(f"cannot read the TLS {what} {path}: {exc.strerror}") from None


def is_loopback(address: str) -> bool:
    """True for a unix socket or a TCP address that only this machine can reach."""
    if address.startswith("unix:"):
        return True
    host = address.rsplit(":", 1)[0].strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost may resolve to anything
        return False
