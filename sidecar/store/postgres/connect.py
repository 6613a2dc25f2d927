"""Connecting to PostgreSQL for the consent store, and store errors free of credentials.

The password comes from the URL, else from the file named by MAYTRAIN_STORE_PASSWORD_FILE
(how Kubernetes mounts secrets; read at every connect, so a rotated secret is picked up),
else from libpq's own sources (PGPASSWORD, ~/.pgpass). Every message that leaves this
package has each known secret and the URL's userinfo replaced by ***: libpq and psycopg
messages can quote the connection string.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import errors as pg
from psycopg.conninfo import conninfo_to_dict

from ..errors import StoreError, StoreUnavailableError
from ..masking import PASSWORD_PARAM, mask_url

PASSWORD_FILE_ENV = "MAYTRAIN_STORE_PASSWORD_FILE"
# Server-side limits, unless the URL's `options` set them: no statement runs longer than
# 30 s, and no session sits in an open transaction (holding the version counter's lock,
# which every writer waits for) for longer than 60 s.
SERVER_LIMITS = {"statement_timeout": "30s", "idle_in_transaction_session_timeout": "60s"}
# Client-side limits, unless the URL sets them: a dead server or network is noticed within
# seconds, not after the kernel's TCP timeouts (minutes).
CLIENT_DEFAULTS = {"connect_timeout": "5", "application_name": "maytrain", "keepalives": "1",
                   "keepalives_idle": "10", "keepalives_interval": "3", "keepalives_count": "3",
                   "tcp_user_timeout": "15000"}


@dataclass(frozen=True)
class ConnectTarget:
    """Where and how to connect: the URL as given, extra libpq parameters, what to hide."""

    url: str
    params: Mapping[str, Any] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()

    @property
    def masked(self) -> str:
        """The URL as it may be shown: any password replaced by ***."""
        return mask_url(self.url)

    def scrub(self, message: str) -> str:
        """The message with the URL masked and every known secret replaced by ***."""
        text = PASSWORD_PARAM.sub(r"\1***", message.replace(self.url, self.masked))
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return " ".join(text.split())


def connect_target(url: str, env: Mapping[str, str] | None = None,
                   password_file: str | None = None) -> ConnectTarget:
    """The target for a postgresql:// URL; StoreError for a malformed one (never echoing it).

    The password comes from the URL, else `password_file` (the store_password_file
    setting), else $MAYTRAIN_STORE_PASSWORD_FILE for callers without settings, else libpq's
    own sources. `env` defaults to os.environ as it is at the call."""
    env = os.environ if env is None else env
    secrets = _url_secrets(url, env)
    try:
        given = conninfo_to_dict(url)
    except psycopg.Error as exc:
        target = ConnectTarget(url, secrets=secrets)
        raise StoreError(f"bad PostgreSQL store URL {target.masked}: "
                         f"{target.scrub(str(exc))}") from None
    params: dict[str, Any] = {k: v for k, v in CLIENT_DEFAULTS.items() if k not in given}
    params["options"] = _options(str(given.get("options") or ""))
    password_file = password_file or env.get(PASSWORD_FILE_ENV)
    if not given.get("password") and password_file:
        params["password"] = read_password_file(password_file)
        secrets += (params["password"],)
    return ConnectTarget(url, params, secrets)


def _options(given: str) -> str:
    """The URL's `options` with the server limits it does not set itself appended."""
    added = [f"-c {name}={value}" for name, value in SERVER_LIMITS.items() if name not in given]
    return " ".join(filter(None, [given, *added]))


def _url_secrets(url: str, env: Mapping[str, str]) -> tuple[str, ...]:
    """Every form in which a password of the URL or the environment could be quoted."""
    found = [m.group(1) for m in re.finditer(r"(?i)password=([^&\s]*)", url)]
    with suppress(ValueError):
        found.append(urlsplit(url).password or "")
    found.append(env.get("PGPASSWORD", ""))
    return tuple({form for raw in found if raw for form in (raw, unquote(raw))})


def read_password_file(path: str) -> str:
    """The password in the file (one trailing newline dropped); the file's content never shows."""
    try:
        with open(path, encoding="utf-8") as handle:
            password = handle.read().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise StoreUnavailableError(f"cannot read the store password file {path} "
                                    f"({PASSWORD_FILE_ENV}): {reason}") from None
    if not password:
        raise StoreUnavailableError(f"the store password file {path} ({PASSWORD_FILE_ENV}) "
                                    "is empty")
    return password


def connect(target: ConnectTarget) -> psycopg.Connection:
    """An autocommit connection (transactions are explicit); errors are store errors."""
    with pg_errors(target):
        return psycopg.connect(target.url, autocommit=True, **target.params)


def rollback(conn: psycopg.Connection) -> None:
    """End a failed transaction, if the connection still has one; a broken one is left as is."""
    if conn.closed or conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        return
    # A broken connection fails here: the server ends the transaction itself.
    with contextlib.suppress(psycopg.Error):
        conn.execute("ROLLBACK")


@contextmanager
def pg_errors(target: ConnectTarget, action: str = "failed") -> Iterator[None]:
    """Turn psycopg errors into store errors whose messages carry no credentials."""
    try:
        yield
    except (pg.IntegrityError, pg.RestrictViolation) as exc:
        raise StoreError(f"the consent store at {target.masked} refused a write: "
                         f"{_first_line(target, exc)}") from None
    except pg.QueryCanceled as exc:
        raise StoreUnavailableError(f"the consent store at {target.masked} timed out: "
                                    f"{_first_line(target, exc)}") from None
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise StoreUnavailableError(f"the consent store at {target.masked} is unavailable: "
                                    f"{target.scrub(str(exc))}") from None
    except psycopg.Error as exc:
        raise StoreError(f"the consent store at {target.masked} {action}: "
                         f"{target.scrub(str(exc))}") from None


def _first_line(target: ConnectTarget, exc: Exception) -> str:
    return target.scrub(str(exc).split("\n", 1)[0])

