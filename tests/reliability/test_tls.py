"""Transport security: TLS and mutual TLS on TCP, rotated without a restart, and no
plaintext beyond loopback unless the operator says so."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from running_sidecar import Launcher, free_port, maytrain_command
from tls_support import Authority, make_authority

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from sidecar.server.tls import TlsError, is_loopback, tls_files


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> Authority:
    return make_authority(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launched = Launcher(tmp_path)
    yield launched
    launched.stop_all()


def status(target: str, credentials: grpc.ChannelCredentials | None) -> pb.GetStatusResponse:
    options = [("grpc.ssl_target_name_override", "localhost")]
    channel = (grpc.secure_channel(target, credentials, options) if credentials
               else grpc.insecure_channel(target))
    with channel:
        return pb_grpc.ConsentCheckServiceStub(channel).GetStatus(pb.GetStatusRequest(),
                                                                  timeout=3)


def trusting(authority: Authority, *, client: bool = False) -> grpc.ChannelCredentials:
    if not client:
        return grpc.ssl_channel_credentials(authority.read("ca"))
    return grpc.ssl_channel_credentials(authority.read("ca"), authority.read("client_key"),
                                        authority.read("client_cert"))


def tls_args(authority: Authority, *, mutual: bool = False) -> list[str]:
    args = ["--tls-cert", str(authority.server_cert), "--tls-key", str(authority.server_key)]
    return args + (["--tls-client-ca", str(authority.ca)] if mutual else [])


def test_tls_answers_trusting_clients_and_refuses_plaintext(launcher, authority) -> None:
    sidecar = launcher(*tls_args(authority))
    assert status(sidecar.tcp, trusting(authority)).consent_version > 0
    with pytest.raises(grpc.RpcError) as raised:
        status(sidecar.tcp, None)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_refuses_a_client_without_a_certificate(launcher, authority) -> None:
    sidecar = launcher(*tls_args(authority, mutual=True))
    assert status(sidecar.tcp, trusting(authority, client=True)).consent_version > 0
    with pytest.raises(grpc.RpcError):
        status(sidecar.tcp, trusting(authority))


def test_rotated_certificates_are_served_without_a_restart(launcher, authority,
                                                           tmp_path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    for name in ("server_cert", "server_key"):
        shutil.copy(getattr(authority, name), live / name)
    sidecar = launcher("--tls-cert", str(live / "server_cert"),
                       "--tls-key", str(live / "server_key"))
    assert status(sidecar.tcp, trusting(authority)).consent_version > 0
    rotated = make_authority(tmp_path / "rotated", "rotated")
    for name in ("server_key", "server_cert"):  # as a Secret update swaps the files
        shutil.copy(getattr(rotated, name), live / f".{name}.new")
        (live / f".{name}.new").replace(live / name)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            assert status(sidecar.tcp, trusting(rotated)).consent_version > 0
            break
        except grpc.RpcError:
            time.sleep(0.2)
    else:
        pytest.fail("the rotated certificate was never served")
    with pytest.raises(grpc.RpcError):
        status(sidecar.tcp, trusting(authority))


def serve_on_every_interface(workdir: Path, store: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*maytrain_command(), "serve", "--store", store, "--listen", f"0.0.0.0:{free_port()}",
         *extra], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_plaintext_beyond_loopback_is_refused_at_start(launcher) -> None:
    process = serve_on_every_interface(launcher.workdir, launcher.store)
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "refusing to serve plaintext on 0.0.0.0" in output
    assert "--insecure-listen" in output and "Traceback" not in output


def test_insecure_listen_serves_plaintext_with_a_warning(launcher) -> None:
    process = serve_on_every_interface(launcher.workdir, launcher.store, "--insecure-listen")
    try:
        line = ""
        deadline = time.monotonic() + 20
        while "serving on" not in line and time.monotonic() < deadline:
            line = process.stdout.readline() if process.stdout else ""
            if "--insecure-listen" in line:
                assert "WARNING" in line
                break
        assert "--insecure-listen" in line
    finally:
        process.terminate()
        process.communicate(timeout=20)


@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1:1", True), ("127.8.0.1:1", True), ("[::1]:1", True), ("localhost:1", True),
    ("unix:/run/m.sock", True), ("0.0.0.0:1", False), ("[::]:1", False),
    ("10.0.0.4:1", False), ("maytrain.example:1", False)])
def test_only_this_machine_reaches_a_loopback_address(address, loopback) -> None:
    assert is_loopback(address) is loopback


def test_half_a_tls_configuration_is_refused(authority) -> None:
    with pytest.raises(TlsError, match="both --tls-cert and --tls-key"):
        tls_files(str(authority.server_cert), None, None)
    with pytest.raises(TlsError, match="needs --tls-cert"):
        tls_files(None, None, str(authority.ca))
    with pytest.raises(TlsError, match="cannot read"):
        tls_files("/nonexistent.pem", str(authority.server_key), None)

