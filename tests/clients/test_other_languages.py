"""The Go and Java stubs: the language options of the protos, the committed Go stubs against
`buf generate`, and each language's example making Check and CheckBatch calls against a real
sidecar. Without a toolchain a test is skipped with the reason shown; MAYTRAIN_REQUIRE_GO=1
and MAYTRAIN_REQUIRE_JAVA=1 (CI) make that a failure."""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from running_sidecar import Launcher, RunningSidecar
from test_buf_lint import find_buf

REPO = Path(__file__).resolve().parents[2]
GO = REPO / "clients" / "go"
JAVA = REPO / "clients" / "java"
PROTOS = sorted((REPO / "protos" / "maytrain" / "v1").glob("*.proto"))
GO_STUBS = GO / "maytrain" / "v1"
GOCODE = Path("/usr/share/gocode/src")  # Debian's golang-*-dev packages, in GOPATH layout
MAVEN_REPO = Path("/usr/share/maven-repo")  # Debian's Java packages, as a Maven repository
JAVA_PLUGIN = "/usr/bin/grpc_java_plugin"
# grpc-go of Debian 12 also takes the old golang/protobuf 1.3, whose registry.go is missing
# and which panics on these stubs at run time: the 1.5 package must be the one installed.
GO_TOOLS = ("go", "protoc", "protoc-gen-go", "protoc-gen-go-grpc", str(GOCODE / "google.golang.org/grpc"),
            str(GOCODE / "github.com/golang/protobuf/proto/registry.go"))
JAVA_TOOLS = ("java", "javac", "mvn", "protoc", JAVA_PLUGIN, str(MAVEN_REPO / "io/grpc/grpc-netty"))
# The language options every proto file carries; buf breaking leaves them to this test.
LANGUAGE_OPTIONS = {
    "go_package": "github.com/maytrain/maytrain/clients/go/maytrain/v1;maytrainv1",
    "java_package": "io.maytrain.v1",
    "java_multiple_files": "true",
    "csharp_namespace": "Maytrain.V1",
    "objc_class_prefix": "MXX",
    "php_namespace": "Maytrain\\\\V1",
    "ruby_package": "Maytrain::V1",
}
# What both examples print: one Check, then a CheckBatch of two records.
EXPECTED = [
    r"Check one VERDICT_ALLOW REASON_ALLOWED_BY_TERMS consent_version=\d+",
    r"CheckBatch opted-out VERDICT_DENY REASON_DENIED_OPTED_OUT consent_version=\d+",
    r"CheckBatch billing VERDICT_DENY REASON_DENIED_BY_POLICY consent_version=\d+",
]


def require(tools: tuple[str, ...], flag: str, install: str) -> None:
    """Skip the test (fail it when `flag` is 1) unless every tool or path is there."""
    missing = [t for t in tools if not (Path(t).exists() if t.startswith("/") else shutil.which(t))]
    if not missing:
        return
    reason = f"missing {', '.join(missing)}: apt-get install {install} (as .ci/run does)"
    if os.environ.get(flag) == "1":
        pytest.fail(f"{reason} ({flag}=1)")
    pytest.skip(f"{reason}; set {flag}=1 to make this a failure")


def run(command: list[str], **options) -> str:
    """Run a build or example command to completion; return its standard output."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, **options)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def assert_checks(output: str) -> None:
    lines = output.splitlines()
    assert len(lines) == len(EXPECTED), output
    for line, pattern in zip(lines, EXPECTED, strict=True):
        assert re.fullmatch(pattern, line), line


@pytest.fixture(scope="module")
def own_sidecar(tmp_path_factory) -> Iterator[RunningSidecar]:
    """A sidecar on a store of its own: other tests write consent to the session's."""
    launcher = Launcher(tmp_path_factory.mktemp("other-languages"))
    yield launcher(name="other-languages")
    launcher.stop_all()


@pytest.mark.parametrize("proto", PROTOS, ids=lambda p: p.name)
def test_protos_carry_the_language_options_the_clients_are_built_with(proto):
    found = dict(re.findall(r'^option (\w+) = "?(.*?)"?;$', proto.read_text(), re.MULTILINE))
    module = re.search(r"^module (\S+)$", (GO / "go.mod").read_text(), re.MULTILINE)

    assert {name: found.get(name) for name in LANGUAGE_OPTIONS} == LANGUAGE_OPTIONS
    assert module and LANGUAGE_OPTIONS["go_package"].startswith(module.group(1) + "/maytrain/v1;")
    assert "<groupId>io.maytrain</groupId>" in (JAVA / "pom.xml").read_text()


def test_committed_go_stubs_are_what_buf_generate_makes(tmp_path):
    require((*GO_TOOLS, JAVA_PLUGIN), "MAYTRAIN_REQUIRE_GO",
            "protobuf-compiler protoc-gen-go protoc-gen-go-grpc protobuf-compiler-grpc-java-plugin")
    run([find_buf(), "generate", "--output", str(tmp_path)], cwd=REPO)
    made = tmp_path / "clients" / "go" / "maytrain" / "v1"
    names = sorted(p.name for p in made.iterdir())

    assert names == sorted(p.name for p in GO_STUBS.glob("*.go")), "run `buf generate`"
    _, drifted, _ = filecmp.cmpfiles(made, GO_STUBS, names, shallow=False)
    assert not drifted, f"{drifted} drifted from the protos: run `buf generate` and commit"
    java = tmp_path / "clients" / "java" / "target" / "generated-sources" / "protobuf"
    assert (java / "io" / "maytrain" / "v1" / "ConsentCheckServiceGrpc.java").exists()


def test_go_example_makes_check_and_check_batch_calls(own_sidecar, tmp_path):
    require(GO_TOOLS, "MAYTRAIN_REQUIRE_GO",
            "golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev (see .ci/run)")
    # GOPATH mode against Debian's sources, offline: the module's own path is the tree's.
    gopath = tmp_path / "gopath"
    shutil.copytree(GO, gopath / "src" / "github.com" / "maytrain" / "maytrain" / "clients" / "go")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": f"{gopath}:{GOCODE.parent}",
           "GOFLAGS": "", "GOPROXY": "off"}
    binary = tmp_path / "check"
    run(["go", "build", "-o", str(binary), "github.com/maytrain/maytrain/clients/go/examples/check"],
        cwd=gopath, env=env)
    run(["go", "vet", "github.com/maytrain/maytrain/clients/go/..."], cwd=gopath, env=env)

    assert_checks(run([str(binary), "-target", own_sidecar.tcp]))


def test_java_example_makes_check_and_check_batch_calls(own_sidecar, tmp_path):
    require(JAVA_TOOLS, "MAYTRAIN_REQUIRE_JAVA",
            "maven protobuf-compiler protobuf-compiler-grpc-java-plugin libgrpc-java (see .ci/run)")
    build = tmp_path / "build"
    # Debian's packages, a local folder, are the only repository, so this needs no network
    # (and -o would refuse even that folder). Their copies are kept between runs, apart
    # from ~/.m2/repository, as they carry Debian's own poms.
    cache = Path.home() / ".cache" / "maytrain" / "m2-debian"
    run(["mvn", "-B", "-q", "-s", str(JAVA / "debian-settings.xml"), f"-Dmaven.repo.local={cache}",
         f"-Dmaytrain.build.dir={build}", "-f", str(JAVA / "pom.xml"), "package"])
    classpath = f"{next(build.glob('maytrain-grpc-*.jar'))}:{build / 'lib'}/*"
    # A short-lived JVM: the quick compiler and a small collector start faster.
    java = ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", classpath]

    assert_checks(run([*java, "io.maytrain.examples.CheckExample", own_sidecar.tcp]))
