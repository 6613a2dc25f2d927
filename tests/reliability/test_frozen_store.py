"""A store that stops answering (PostgreSQL frozen by SIGSTOP) holds no call past its deadline:
calls waiting for a consent version end on time, and plain checks keep answering."""

from __future__ import annotations

import subprocess
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from private_postgres import private_postgres
from running_sidecar import free_port, maytrain, maytrain_command

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2

pytestmark = pytest.mark.postgres

RECORD = consent_pb2.Record(account_id="sample-terms", data_category="service_generated.usage",
                            purpose="ai.training")
RECORD.collected_at.FromSeconds(1_740_787_200)


def test_a_frozen_store_holds_no_call_past_its_deadline(tmp_path: Path) -> None:
    with private_postgres() as server:
        maytrain("store", "init", "--sample", "--store", server.url, cwd=tmp_path)
        target = f"127.0.0.1:{free_port()}"
        log = (tmp_path / "serve.log").open("w")
        process = subprocess.Popen([*maytrain_command(), "serve", "--store", server.url,
                                    "--listen", target, "--sync-interval", "0.2"],
                                   cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        try:
            with grpc.insecure_channel(target) as channel:
                stub = pb_grpc.ConsentCheckServiceStub(channel)
                version = stub.Check(pb.CheckRequest(record=RECORD), timeout=15,
                                     wait_for_ready=True).consent_version
                server.freeze()
                waiting = pb.CheckRequest(record=RECORD, min_consent_version=version + 1)
                with futures.ThreadPoolExecutor(max_workers=70) as pool:
                    started = time.monotonic()
                    calls = [pool.submit(stub.Check, waiting, timeout=2) for _ in range(70)]
                    answers = [_answer(call) for call in calls]
                    elapsed = time.monotonic() - started
                assert elapsed < 4, f"calls waiting for a version took {elapsed:.1f}s"
                assert all(a in ("DEADLINE_EXCEEDED", "REASON_DENIED_STALE_CACHE")
                           for a in answers), set(answers)
                plain = stub.Check(pb.CheckRequest(record=RECORD), timeout=2)
                assert plain.decision.verdict == consent_pb2.VERDICT_ALLOW
        finally:
            server.thaw()
            process.terminate()
            process.wait(timeout=30)
            log.close()


def _answer(call: futures.Future) -> str:
    try:
        return consent_pb2.Reason.Name(call.result().decision.reason)
    except grpc.RpcError as exc:
        return exc.code().name
