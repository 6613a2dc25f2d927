"""The observability settings: flags and MAYTRAIN_* variables, checked at start-up."""

from __future__ import annotations

import pytest

from sidecar.cli import build_parser
from sidecar.cli.options import settings as settings_of
from sidecar.core import InvalidValueError
from sidecar.settings import ENVIRONMENT, Settings, resolve


def test_everything_is_off_by_default():
    settings = Settings()
    assert (settings.metrics_listen, settings.receipts) == (None, None)
    assert (settings.log_format, settings.log_level, settings.receipts_sample) == ("text", "info",
                                                                                    1.0)


def test_each_setting_has_its_variable():
    assert ENVIRONMENT["metrics_listen"] == "MAYTRAIN_METRICS_LISTEN"
    assert ENVIRONMENT["receipts_sample"] == "MAYTRAIN_RECEIPTS_SAMPLE"
    settings = resolve({}, env={"MAYTRAIN_LOG_FORMAT": "JSON", "MAYTRAIN_RECEIPTS": "/spool",
                                "MAYTRAIN_RECEIPTS_MAX_BYTES": "512Mi"})
    assert (settings.log_format, settings.receipts) == ("json", "/spool")
    assert settings.receipts_max_bytes == 512 << 20


def test_serve_takes_the_flags():
    args = build_parser().parse_args([
        "serve", "--metrics-listen", ":9090", "--log-format", "json", "--receipts", "/r",
        "--receipts-sample", "0.5", "--receipts-file-bytes", "1M", "--receipts-queue", "10"])
    settings = settings_of(args)
    assert settings.metrics_listen == ":9090" and settings.receipts_sample == 0.5
    assert (settings.receipts_file_bytes, settings.receipts_queue) == (1_000_000, 10)


@pytest.mark.parametrize(("name", "value"), [
    ("log_format", "xml"), ("log_level", "chatty"), ("receipts_sample", "0"),
    ("receipts_sample", "1.5"), ("receipts_max_bytes", "lots"), ("receipts_file_bytes", "0"),
    ("receipts_queue", "-1")])
def test_a_bad_value_is_refused_naming_the_setting(name, value):
    with pytest.raises(InvalidValueError, match=name.replace("_", "-")):
        resolve({name: value}, env={})
