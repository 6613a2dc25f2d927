"""PostgreSQL backend: where the password comes from, that it never shows in a message,
and the limits every connection carries (timeouts, application name)."""

from __future__ import annotations

import threading

import psycopg
import pytest

from sidecar.policy_files import load_policy
from sidecar.store import StoreError, StoreUnavailableError, open_store
from sidecar.store.masking import mask_url as mask
from sidecar.store.postgres.connect import PASSWORD_FILE_ENV, connect_target

POLICY = load_policy()

SECRET = "s3cret-Pa55word"


@pytest.fixture
def backend() -> str:
    """These tests are about the PostgreSQL backend only."""
    return "postgres"


@pytest.fixture
def clean_env(monkeypatch):
    """No password from the test runner's environment."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv(PASSWORD_FILE_ENV, raising=False)
    return monkeypatch


def _with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    userinfo, at, hostpart = rest.rpartition("@")
    user = userinfo.split(":", 1)[0] if at else "postgres"
    return f"{scheme}://{user}:{password}@{hostpart}"


def _password_file(tmp_path, text: str) -> str:
    path = tmp_path / "password"
    path.write_text(text)
    return str(path)


def test_the_password_may_come_from_a_file(clean_env, store_url, store, tmp_path):
    """MAYTRAIN_STORE_PASSWORD_FILE (a mounted secret) is read; one trailing newline dropped."""
    clean_env.setenv(PASSWORD_FILE_ENV, _password_file(tmp_path, SECRET + "\n"))
    with open_store(store_url, policy=POLICY) as opened:
        assert opened.connection_info.password == SECRET
        assert SECRET not in opened.url


def test_the_password_may_come_from_pgpassword(clean_env, store_url, store):
    """libpq's own PGPASSWORD works when neither the URL nor a file gives one."""
    clean_env.setenv("PGPASSWORD", SECRET)
    with open_store(store_url, policy=POLICY) as opened:
        assert opened.connection_info.password == SECRET


def test_a_password_in_the_url_wins_and_is_masked(clean_env, store_url, store, tmp_path):
    """The URL's own password is used over the file's, and `url` never shows it."""
    clean_env.setenv(PASSWORD_FILE_ENV, _password_file(tmp_path, "from-the-file"))
    with open_store(_with_password(store_url, SECRET), policy=POLICY) as opened:
        assert opened.connection_info.password == SECRET
        assert SECRET not in opened.url and ":***@" in opened.url


@pytest.mark.parametrize("content, problem", [("", "is empty"), (None, "No such file")])
def test_an_unusable_password_file_is_named_not_shown(clean_env, store_url, store, tmp_path,
                                                      content, problem):
    """An empty or missing file is an error naming the file and the variable."""
    path = _password_file(tmp_path, content) if content is not None else str(tmp_path / "no")
    clean_env.setenv(PASSWORD_FILE_ENV, path)
    with pytest.raises(StoreUnavailableError, match=f"{PASSWORD_FILE_ENV}.*{problem}|"
                                                    f"{problem}.*") as raised:
        open_store(store_url, policy=POLICY)
    assert path in str(raised.value)


def test_a_password_libpq_quotes_in_its_error_is_scrubbed(clean_env, postgres_server):
    """libpq echoes a badly encoded password back; the store error must not."""
    url = _with_password(postgres_server, "se%ZZ" + SECRET)
    with pytest.raises(StoreError) as raised:
        open_store(url, policy=POLICY)
    assert "percent-encoded" in str(raised.value)
    assert SECRET not in str(raised.value)


def test_connection_failures_never_show_the_password(clean_env, postgres_server, tmp_path):
    """A failed connection names the store with its password masked, wherever it came from."""
    missing = postgres_server.rsplit("/", 1)[0] + "/maytrain_missing_db"
    with pytest.raises(StoreUnavailableError) as from_url:
        open_store(_with_password(missing, SECRET), policy=POLICY)
    clean_env.setenv(PASSWORD_FILE_ENV, _password_file(tmp_path, SECRET))
    with pytest.raises(StoreUnavailableError) as from_file:
        open_store(missing, policy=POLICY)
    for raised in (from_url, from_file):
        assert "maytrain_missing_db" in str(raised.value)
        assert SECRET not in str(raised.value)


def test_an_error_message_that_quotes_the_password_is_scrubbed(clean_env, tmp_path):
    """Whatever a server or driver message quotes, each password it knows becomes ***."""
    url = _with_password("postgresql://h/db", SECRET)
    message = connect_target(url).scrub(f"failed for {url}: password={SECRET} ({SECRET})")
    assert SECRET not in message and message.count("***") == 3
    clean_env.setenv(PASSWORD_FILE_ENV, _password_file(tmp_path, "file-" + SECRET))
    from_file = connect_target("postgresql://u@h/db").scrub(f"auth file-{SECRET} failed")
    assert from_file == "auth *** failed"


def test_mask_hides_userinfo_and_parameter_passwords():
    """Both places a URL can carry a password are masked."""
    assert mask("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert mask("postgresql://h/db?user=u&password=pw&x=1") == \
        "postgresql://h/db?user=u&password=***&x=1"
    assert mask("postgresql://u:p/w@d@h:5432/db?a=b@c") == "postgresql://u:***@h:5432/db?a=b@c"
    assert mask("postgresql://h:5432/db") == "postgresql://h:5432/db"


def test_every_connection_carries_timeouts_and_a_name(store_url, store, postgres_server):
    """statement and idle-in-transaction timeouts, a connect timeout, application_name."""
    params = store.connection_info.get_parameters()
    assert "statement_timeout=30s" in params["options"]
    assert "idle_in_transaction_session_timeout=60s" in params["options"]
    assert params["connect_timeout"] == "5"
    with psycopg.connect(postgres_server) as conn:
        (name,) = conn.execute("SELECT application_name FROM pg_stat_activity WHERE pid = %s",
                               (store.connection_info.backend_pid,)).fetchone()
    assert name == "maytrain"


def test_a_writer_stuck_behind_the_counter_lock_times_out(store_url, store, account):
    """A statement timeout set in the URL is kept; a write that waits past it is refused."""
    holder = psycopg.connect(store_url)
    holder.execute("UPDATE consent_version SET version = version WHERE id = 1")
    try:
        url = store_url + "%20-cstatement_timeout%3D200"
        with open_store(url, policy=POLICY) as impatient:
            assert "statement_timeout=30s" not in impatient.connection_info.get_parameters()[
                "options"]
            with pytest.raises(StoreUnavailableError, match="timed out"):
                impatient.add_account("late", actor="t")
    finally:
        holder.rollback()
        holder.close()
    assert store.add_account("late", actor="t").version == 2


def test_threads_may_share_one_store(store, account):
    """The connection is locked per transaction: concurrent readers and writers interleave."""
    errors: list[Exception] = []

    def work(i: int) -> None:
        try:
            for _ in range(10):
                store.add_account(f"t{i}-{store.version()}-{threading.get_ident()}", actor="t")
                store.snapshot()
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == [] and store.version() == 41


def test_the_password_file_setting_reaches_the_store(clean_env, store_url, store, tmp_path):
    """Settings.store_password_file is handed to open_store; no variable needs to be set."""
    path = _password_file(tmp_path, SECRET)
    with open_store(store_url, policy=POLICY, password_file=path) as opened:
        assert opened.connection_info.password == SECRET


def test_a_file_store_ignores_the_password_file_setting(tmp_path):
    url = f"sqlite:///{tmp_path / 'consent.db'}"
    with open_store(url, create=True, policy=POLICY, password_file="/nonexistent") as opened:
        assert opened.version() == 0
