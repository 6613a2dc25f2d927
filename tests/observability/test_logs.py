"""Logs: one JSON object a line; never a credential; account and user ids only at debug."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess

import grpc
import pytest
from observed_sidecar import BY_REASON, cycle
from running_sidecar import Launcher, free_port, maytrain_command

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from sidecar.observability.logs import Scrubber, configure, known_secrets

URL_PASSWORD, PG_PASSWORD, FILE_PASSWORD = "url-s3cret-7", "pg-s3cret-8", "file-s3cret-9"


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    maytrain_level = logging.getLogger("maytrain").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("maytrain").setLevel(maytrain_level)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_carry_time_level_event_and_fields(restore_logging):
    out = io.StringIO()
    configure("json", "info", stream=out)
    logging.getLogger("maytrain.test").warning("dropped %d receipts", 3, extra={"dropped": 3})
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("maytrain.test").exception("it failed")

    first, second = json_lines(out.getvalue())
    assert first["event"] == "dropped 3 receipts" and first["dropped"] == 3
    assert (first["level"], first["logger"]) == ("warning", "maytrain.test")
    assert first["time"].endswith("Z")
    assert "ValueError: boom" in second["exception"]


def test_debug_is_for_maytrain_only_and_only_when_asked(restore_logging):
    out = io.StringIO()
    configure("text", "info", stream=out)
    logging.getLogger("maytrain.sync").debug("account acme")
    configure("text", "debug", stream=out)
    logging.getLogger("maytrain.sync").debug("user bob")
    logging.getLogger("grpc").debug("noise")

    assert "acme" not in out.getvalue() and "user bob" in out.getvalue()
    assert "noise" not in out.getvalue()


def test_scrubbing_hides_urls_parameters_and_known_secrets():
    scrub = Scrubber(["hunter22"])

    text = scrub("failed: postgresql://app:pa55@db/x?password=zz then hunter22 and hunter22")

    assert text == "failed: postgresql://app:***@db/x?password=*** then *** and ***"


def test_known_secrets_come_from_the_url_pgpassword_and_the_password_file(tmp_path):
    secret_file = tmp_path / "password"
    secret_file.write_text(FILE_PASSWORD + "\n")
    env = {"PGPASSWORD": PG_PASSWORD, "MAYTRAIN_STORE_PASSWORD_FILE": str(secret_file)}

    found = known_secrets(f"postgresql://app:{URL_PASSWORD}@db/x", env)

    assert {URL_PASSWORD, PG_PASSWORD, FILE_PASSWORD} <= set(found)


def test_a_served_sidecar_never_logs_a_credential(tmp_path):
    secret_file = tmp_path / "password"
    secret_file.write_text(FILE_PASSWORD)
    store = f"postgresql://maytrain:{URL_PASSWORD}@127.0.0.1:{free_port()}/consent"
    env = {**os.environ, "PGPASSWORD": PG_PASSWORD, "PYTHONUNBUFFERED": "1",
           "MAYTRAIN_STORE_PASSWORD_FILE": str(secret_file)}
    process = subprocess.Popen(
        [*maytrain_command(), "serve", "--store", store, "--listen", f"127.0.0.1:{free_port()}",
         "--log-format", "json", "--sync-interval", "0.1", "--max-staleness", "1"],
        env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        first = process.stderr.readline()
        while "serving on" not in first and first:
            first += process.stderr.readline()
    finally:
        process.send_signal(signal.SIGTERM)
        rest = process.communicate(timeout=30)[1]
    text = first + rest

    assert "consent store sync failed" in text, text
    assert "maytrain:***@127.0.0.1" in text  # the settings line names the store, masked
    for secret in (URL_PASSWORD, PG_PASSWORD, FILE_PASSWORD):
        assert secret not in text
    assert all(isinstance(line, dict) for line in json_lines(text))


def test_no_id_is_logged_at_info_level(tmp_path):
    launcher = Launcher(tmp_path)
    sidecar = launcher("--log-format", "json", "--receipts", str(tmp_path / "receipts"),
                       "--metrics-listen", f"127.0.0.1:{free_port()}", "--receipts-queue", "5")
    try:
        with grpc.insecure_channel(sidecar.tcp) as channel:
            stub = pb_grpc.ConsentCheckServiceStub(channel)
            sidecar.wait_health("", 1)
            stub.CheckBatch(pb.CheckBatchRequest(records=cycle(40, prefix="rid-x")), timeout=5)
    finally:
        assert sidecar.stop() == 0
    text = sidecar.log.read_text()

    lines = json_lines(text)
    assert any("receipt queue full" in line["event"] for line in lines)
    ids = {account for account, *_ in BY_REASON.values()} | {
        user for _, user, *_ in BY_REASON.values() if user}
    assert [i for i in ids if f'"{i}"' in text or f" {i}" in text] == []
    assert "rid-x" not in text
