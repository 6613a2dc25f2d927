"""The channel to the sidecar: TLS credentials read once from the config's PEM files."""

from __future__ import annotations

from pathlib import Path

import grpc

from ._config import ClientConfig


def channel_credentials(config: ClientConfig) -> grpc.ChannelCredentials | None:
    """Credentials trusting `tls_ca` (with the client certificate, if set), or None for a
    plaintext channel; ValueError naming the option if a file cannot be read."""
    if not config.uses_tls:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=_pem("tls_ca", config.tls_ca),
        private_key=_pem("tls_key", config.tls_key) if config.tls_key else None,
        certificate_chain=_pem("tls_cert", config.tls_cert) if config.tls_cert else None)


def _pem(option: str, path: str | None) -> bytes:
    try:
        return Path(str(path)).read_bytes()
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot read it ({exc.strerror or exc})") from None
