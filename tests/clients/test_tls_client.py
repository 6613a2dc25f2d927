"""The client over TLS and mutual TLS to a real sidecar (`serve --tls-cert --tls-key
[--tls-client-ca]`), sync and async: trusted sidecars answer, anything else fails closed;
TLS options that make no coherent setup are refused before a call is made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from client_kinds import make_client
from running_sidecar import Launcher, RunningSidecar
from sample_cases import ALLOWED, DENIED
from tls_support import Authority, make_authority

from maytrain.client import ConsentClient, Reason, RetryPolicy, SidecarUnavailable
from maytrain.client._config import channel_options, make_config

TRANSPORTS = ["sync", "async"]
QUICK = {"timeout": 0.5, "retry": RetryPolicy(max_attempts=2, initial_backoff=0.01,
                                              max_backoff=0.01)}


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> Authority:
    return make_authority(tmp_path_factory.mktemp("client-tls"))


@pytest.fixture(scope="module")
def stranger(tmp_path_factory) -> Authority:
    """A CA the sidecars know nothing of, with its own client certificate."""
    return make_authority(tmp_path_factory.mktemp("stranger-tls"), "stranger")


@pytest.fixture(scope="module")
def sidecars(tmp_path_factory, authority) -> Iterator[dict[str, RunningSidecar]]:
    """A TLS sidecar and a mutual-TLS one, on one sample store."""
    launcher = Launcher(tmp_path_factory.mktemp("tls-sidecars"))
    files = ["--tls-cert", str(authority.server_cert), "--tls-key", str(authority.server_key)]
    yield {"tls": launcher(*files, name="tls"),
           "mtls": launcher(*files, "--tls-client-ca", str(authority.ca), name="mtls")}
    launcher.stop_all()


@pytest.fixture(params=TRANSPORTS, ids=[f"transport={t}" for t in TRANSPORTS])
def connect(request) -> Iterator:
    made: list = []

    def connect(sidecar: RunningSidecar, **options):
        made.append(make_client(request.param, sidecar.tcp, **options))
        return made[-1]

    yield connect
    for client in made:
        client.close()


def client_pair(authority: Authority) -> dict[str, str]:
    return {"tls_cert": str(authority.client_cert), "tls_key": str(authority.client_key)}


def test_a_client_trusting_the_ca_is_answered_over_tls(connect, sidecars, authority) -> None:
    client = connect(sidecars["tls"], tls_ca=str(authority.ca))
    assert client.check(ALLOWED).reason is Reason.ALLOWED_BY_TERMS
    assert [d.reason for d in client.check_many([ALLOWED, DENIED])] == [
        Reason.ALLOWED_BY_TERMS, Reason.DENIED_BY_POLICY]
    assert list(client.filter([ALLOWED, DENIED])) == [ALLOWED]


def test_the_name_checked_may_be_set(connect, sidecars, authority) -> None:
    trusted = connect(sidecars["tls"], tls_ca=str(authority.ca), tls_server_name="localhost")
    assert trusted.check(ALLOWED).allowed
    wrong = connect(sidecars["tls"], tls_ca=str(authority.ca),
                    tls_server_name="elsewhere.example", **QUICK)
    assert wrong.check(ALLOWED).reason is Reason.DENIED_UNAVAILABLE


def test_mutual_tls_answers_a_client_with_its_certificate(connect, sidecars, authority) -> None:
    client = connect(sidecars["mtls"], tls_ca=str(authority.ca), **client_pair(authority))
    assert client.check(ALLOWED).reason is Reason.ALLOWED_BY_TERMS
    assert list(client.filter([DENIED, ALLOWED])) == [ALLOWED]


@pytest.mark.parametrize("certificate", ["none", "stranger's"])
def test_mutual_tls_denies_for_a_client_without_a_trusted_certificate(
        connect, sidecars, authority, stranger, certificate) -> None:
    pair = client_pair(stranger) if certificate == "stranger's" else {}
    client = connect(sidecars["mtls"], tls_ca=str(authority.ca), **pair, **QUICK)
    decision = client.check(ALLOWED)
    assert decision.reason is Reason.DENIED_UNAVAILABLE and not decision.allowed
    assert list(client.filter([ALLOWED])) == []


def test_a_sidecar_signed_by_another_ca_fails_closed(connect, sidecars, stranger) -> None:
    client = connect(sidecars["tls"], tls_ca=str(stranger.ca), **QUICK)
    assert client.check(ALLOWED).reason is Reason.DENIED_UNAVAILABLE
    assert [d.reason for d in client.check_many([ALLOWED])] == [Reason.DENIED_UNAVAILABLE]
    raising = connect(sidecars["tls"], tls_ca=str(stranger.ca), on_unavailable="raise", **QUICK)
    with pytest.raises(SidecarUnavailable):
        raising.check(ALLOWED)


def test_a_plaintext_client_gets_no_answer_from_a_tls_sidecar(connect, sidecars) -> None:
    assert connect(sidecars["tls"], **QUICK).check(ALLOWED).reason is Reason.DENIED_UNAVAILABLE


def test_tls_files_come_from_the_environment(connect, sidecars, authority, monkeypatch) -> None:
    monkeypatch.setenv("MAYTRAIN_TLS_CA", str(authority.ca))
    monkeypatch.setenv("MAYTRAIN_TLS_CERT", str(authority.client_cert))
    monkeypatch.setenv("MAYTRAIN_TLS_KEY", str(authority.client_key))
    client = connect(sidecars["mtls"])
    assert (client.config.tls_ca, client.config.tls_key) == (str(authority.ca),
                                                             str(authority.client_key))
    assert client.check(ALLOWED).allowed


# Options that make no coherent setup ------------------------------------------------------


@pytest.mark.parametrize("options, message", [
    ({"tls_ca": "ca.pem"}, "is a unix socket, which TLS does not cover"),
    ({"tls_cert": "c.pem", "tls_key": "k.pem"}, "drop tls_cert, tls_key"),
])
def test_tls_on_a_unix_socket_target_is_refused(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        ConsentClient("unix:/run/maytrain.sock", **options)


def test_tls_from_the_environment_on_a_unix_target_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("MAYTRAIN_TLS_CA", "/etc/ca.pem")
    with pytest.raises(ValueError, match=r"\$MAYTRAIN_TLS_"):
        ConsentClient("unix:/run/maytrain.sock")
    with ConsentClient("unix:/run/maytrain.sock", tls_ca="") as plain:  # "" opts out
        assert plain.config.uses_tls is False


@pytest.mark.parametrize("options, message", [
    ({"tls_ca": "ca.pem", "tls_cert": "c.pem"}, "tls_cert and tls_key go together"),
    ({"tls_ca": "ca.pem", "tls_key": "k.pem"}, "tls_cert and tls_key go together"),
    ({"tls_cert": "c.pem", "tls_key": "k.pem"}, "tls_cert needs tls_ca"),
    ({"tls_server_name": "localhost"}, "tls_server_name needs tls_ca"),
])
def test_half_a_tls_setup_is_refused(options, message, monkeypatch) -> None:
    for variable in ("MAYTRAIN_TLS_CA", "MAYTRAIN_TLS_CERT", "MAYTRAIN_TLS_KEY"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ValueError, match=message):
        ConsentClient("127.0.0.1:1", **options)


def test_an_unreadable_ca_file_is_refused_naming_the_option(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tls_ca .*missing.pem: cannot read it"):
        ConsentClient("127.0.0.1:1", tls_ca=str(tmp_path / "missing.pem"))


def test_the_server_name_is_a_channel_option_only_with_tls(monkeypatch) -> None:
    monkeypatch.delenv("MAYTRAIN_TLS_CA", raising=False)
    options = dict(channel_options(make_config("127.0.0.1:1", tls_ca="ca.pem",
                                               tls_server_name="sidecar.internal")))
    assert options["grpc.ssl_target_name_override"] == "sidecar.internal"
    assert "grpc.ssl_target_name_override" not in dict(channel_options(make_config("h:1")))
