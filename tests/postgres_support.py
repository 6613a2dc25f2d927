"""PostgreSQL for the tests: the server from MAYTRAIN_TEST_POSTGRES_URL, throwaway databases
and schemas (dropped after, even on failure), and outages simulated per database.

Without the variable the PostgreSQL tests are skipped, with the reason shown; with
MAYTRAIN_REQUIRE_POSTGRES=1 (CI) a missing or unreachable server fails them instead.
The machine's server is shared: tests never stop it, they only refuse connections to
their own database for a while (`database_outage`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

URL_ENV = "MAYTRAIN_TEST_POSTGRES_URL"
REQUIRE_ENV = "MAYTRAIN_REQUIRE_POSTGRES"


def server_url() -> str:
    """The test server's URL; skips the test (fails it under MAYTRAIN_REQUIRE_POSTGRES=1)."""
    url = os.environ.get(URL_ENV, "")
    if not url:
        _unavailable(f"no PostgreSQL server for the tests: set {URL_ENV}")
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        _unavailable(f"the PostgreSQL server at {URL_ENV} does not answer: {exc}")
    return url


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: PostgreSQL tests must run)", pytrace=False)
    pytest.skip(reason)


def unique_name(prefix: str) -> str:
    """A database or schema name no other test run uses."""
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"


def admin(url: str) -> psycopg.Connection:
    """An autocommit connection to the server's own test database."""
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def with_database(url: str, dbname: str) -> str:
    """The URL with another database name (its query string kept)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{dbname}"))


def with_schema(url: str, schema: str) -> str:
    """The URL with the schema first on the search_path (where the store then lives)."""
    parts = urlsplit(url)
    option = "options=" + quote(f"-csearch_path={schema}", safe="")
    return urlunsplit(parts._replace(query="&".join(filter(None, [parts.query, option]))))


@contextmanager
def temporary_database(url: str, prefix: str = "maytrain_test") -> Iterator[str]:
    """A new empty database on the server; yields its URL, drops it (and its sessions) after."""
    name = unique_name(prefix)
    with admin(url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(url, name)
    finally:
        with admin(url) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def create_schema(database_url: str, prefix: str = "store") -> str:
    """A new empty schema in the database; the URL of a store that lives in it."""
    schema = unique_name(prefix)
    with admin(database_url) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return with_schema(database_url, schema)


@contextmanager
def database_outage(url: str, dbname: str) -> Iterator[None]:
    """The database refuses connections and its sessions are ended, until the block ends."""
    name = sql.Identifier(dbname)
    with admin(url) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        try:
            terminate_sessions(conn, dbname)
            yield
        finally:
            conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))


def terminate_sessions(conn: psycopg.Connection, dbname: str) -> int:
    """End every other session on the database; how many there were."""
    rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,)).fetchall()
    return len(rows)


def dbname_of(url: str) -> str:
    """The database name in a URL."""
    return urlsplit(url).path.lstrip("/")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The test server's URL (skips or fails when there is none, see module docstring)."""
    return server_url()


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> Iterator[str]:
    """One throwaway database for the session's store tests (a schema per store in it)."""
    with temporary_database(postgres_server) as url:
        yield url
