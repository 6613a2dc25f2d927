"""Fixtures for the client tests: one real sidecar for the session (sample data), and
clients of both kinds (sync, async) on both listeners (tcp, uds) through one
parametrised fixture, `connect`, with ids such as `transport=sync,listener=uds`."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from client_kinds import EXAMPLES, KIND_IDS, KINDS, make_client
from running_sidecar import Launcher, RunningSidecar


@pytest.fixture(scope="session")
def sidecar(tmp_path_factory) -> Iterator[RunningSidecar]:
    """The session's sidecar. It syncs only every 30 s, so a test sees its own writes
    only by asking for their consent version (min_consent_version)."""
    launcher = Launcher(tmp_path_factory.mktemp("clients"))
    yield launcher("--sync-interval", "30", "--max-staleness", "3600", name="clients")
    launcher.stop_all()


@pytest.fixture(params=KINDS, ids=KIND_IDS)
def kind(request) -> tuple[str, str]:
    """(transport, listener) of the clients a test makes."""
    return request.param


@pytest.fixture
def connect(kind, sidecar) -> Iterator[Callable[..., Any]]:
    """Make clients of this test's kind, to `server` (default: the session's sidecar)."""
    transport, listener = kind
    made: list = []

    def connect(server: Any = sidecar, **options: Any) -> Any:
        target = options.pop("target", None) or server.target(listener)
        made.append(make_client(transport, target, **options))
        return made[-1]

    yield connect
    for client in made:
        client.close()


@pytest.fixture
def client(connect) -> Any:
    """A client of this test's kind, connected to the session's sidecar."""
    return connect()


@pytest.fixture(scope="session")
def examples() -> Callable[[str], ModuleType]:
    """Import a module of examples/ by name (the folder is put on sys.path, as when run)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))

    return importlib.import_module


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session (local[2]) for the whole test session: the JVM is slow to start.
    Spark needs Java 17+: without `java` the Spark tests are skipped, with the reason shown,
    unless MAYTRAIN_REQUIRE_JAVA=1 (CI) makes that a failure."""
    if shutil.which("java") is None:
        reason = "the Spark tests need Java 17+ and there is no `java` on PATH"
        if os.environ.get("MAYTRAIN_REQUIRE_JAVA") == "1":
            pytest.fail(reason + " (MAYTRAIN_REQUIRE_JAVA=1)")
        pytest.skip(reason)
    from pyspark.sql import SparkSession

    saved = {name: os.environ.get(name) for name in _SPARK_ENV}
    os.environ.update(_SPARK_ENV)
    session = (SparkSession.builder.master("local[2]").appName("maytrain-client-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.driver.host", "127.0.0.1")
               # A short-lived JVM: the quick compiler and a small collector start faster.
               .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


# Workers run this interpreter (with the client installed), and Spark stays on loopback.
_SPARK_ENV = {"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
              "SPARK_LOCAL_IP": "127.0.0.1"}
