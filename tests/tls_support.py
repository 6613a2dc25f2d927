"""Certificates for TLS tests, made with the openssl command: a CA, a server, a client."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Authority:
    """A CA and the server and client certificates it signed, as PEM files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def read(self, name: str) -> bytes:
        return Path(getattr(self, name)).read_bytes()


def make_authority(directory: Path, name: str = "test") -> Authority:
    """A fresh CA in `directory` with a server certificate for 127.0.0.1 and localhost."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", f"/CN=maytrain {name} CA")
    server = _signed(directory, "server", ca, ca_key,
                     "subjectAltName=IP:127.0.0.1,DNS:localhost")
    client = _signed(directory, "client", ca, ca_key, "extendedKeyUsage=clientAuth")
    return Authority(ca, *server, *client)


def _signed(directory: Path, name: str, ca: Path, ca_key: Path,
            extension: str) -> tuple[Path, Path]:
    cert, key, request = (directory / f"{name}.pem", directory / f"{name}.key",
                          directory / f"{name}.csr")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", request, "-subj", f"/CN=maytrain {name}")
    extensions = directory / f"{name}.ext"
    extensions.write_text(extension + "\n")
    _openssl("x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-out", cert, "-days", "2", "-extfile", extensions)
    return cert, key


def _openssl(*args: object) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=30)
