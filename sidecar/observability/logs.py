"""Log output for `maytrain serve`: plain text or JSON (one object a line), scrubbed.

A JSON line holds `time`, `level`, `logger`, `event` (the message) and the fields a call
passed with `extra=`; an exception adds `exception`. Before any line is written, every
secret the process knows (the store URL's password, PGPASSWORD, the password file's
content) and any URL userinfo or `password=` parameter is replaced by ***. Log calls
name account and user ids only at debug level.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import IO
from urllib.parse import unquote, urlsplit

from ..store.masking import PASSWORD_PARAM

FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:@/\s]*):[^@\s]*@")
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}


class Scrubber:
    """Replaces known secrets, URL passwords and password= parameters in text by ***."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = PASSWORD_PARAM.sub(r"\1***", _USERINFO.sub(r"\1:***@", text))
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def __init__(self, scrub: Scrubber) -> None:
        super().__init__()
        self.scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": _time(record.created), "level": record.levelname.lower(),
                "logger": record.name, "event": record.getMessage()}
        line.update({key: _plain(value) for key, value in vars(record).items()
                     if key not in _STANDARD and not key.startswith("_")})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # Scrubbed before encoding (a secret JSON would escape) and after (one it split).
        clean = {key: self.scrub(value) if isinstance(value, str) else value
                 for key, value in line.items()}
        return self.scrub(json.dumps(clean, ensure_ascii=False, separators=(",", ":")))


class TextFormatter(logging.Formatter):
    """The classic line, scrubbed."""

    def __init__(self, scrub: Scrubber) -> None:
        super().__init__(TEXT_FORMAT)
        self.scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        return self.scrub(super().format(record))


def configure(log_format: str = "text", level: str = "info", *, secrets: Iterable[str] = (),
              stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record (maytrain's, gRPC's, ...) to `stream` (stderr) in `log_format`."""
    scrub = Scrubber(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(scrub) if log_format == "json" else TextFormatter(scrub))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    chosen = logging.getLevelName(level.upper())
    root.setLevel(max(logging.INFO, chosen))  # debug is for maytrain's own loggers only
    logging.getLogger("maytrain").setLevel(chosen)
    return handler


def known_secrets(store_url: str, env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret this process may come to print: the URL's password (as written and
    decoded), PGPASSWORD, and the content of MAYTRAIN_STORE_PASSWORD_FILE."""
    env = os.environ if env is None else env
    found = [env.get("PGPASSWORD", "")]
    with contextlib.suppress(ValueError):
        password = urlsplit(store_url).password or ""
        found += [password, unquote(password)]
    found += re.findall(r"(?i)password=([^&\s]+)", store_url)
    path = env.get("MAYTRAIN_STORE_PASSWORD_FILE")
    if path:
        with contextlib.suppress(OSError, UnicodeDecodeError), open(path, encoding="utf-8") as f:
            found.append(f.read().strip())
    return [secret for secret in found if secret]


def _time(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _plain(value: object) -> object:
    """A field as JSON can hold it."""
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)
