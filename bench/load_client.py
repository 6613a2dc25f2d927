"""One load-generator process of workers_bench.py: a pre-serialized request sent over many
connections with many calls in flight, replies left as bytes, so its own CPU stays small.

    python bench/load_client.py ADDRESS RPC PAYLOAD_FILE --records N [--channels C] [--depth D]

It connects (one TCP connection per channel, so the kernel can spread them over the
server's processes), warms up, prints `ready` and the worker each connection reached, then
reads a start time (time.time()) and a duration from stdin, and prints one JSON line: the
calls and records completed in that window and the CPU seconds this process spent in it.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import grpc

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc

SERVICE = "maytrain.v1.ConsentCheckService"


def connect(address: str, rpc: str, channels: int) -> tuple[list[grpc.Channel], list]:
    """`channels` channels with a connection each, and the raw method on each."""
    opened = [grpc.insecure_channel(address, options=[
        ("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20),
        ("grpc.use_local_subchannel_pool", 1)]) for _ in range(channels)]
    methods = [c.unary_unary(f"/{SERVICE}/{rpc}", request_serializer=None,
                             response_deserializer=None) for c in opened]
    return opened, methods


def drive(methods: list, payload: bytes, depth: int, start: float, end: float) -> dict:
    """Keep depth calls per channel in flight until `end`; count those done in [start, end]."""
    slots, lock = threading.Semaphore(depth * len(methods)), threading.Lock()
    counts = {"calls": 0, "failed": 0}

    def finished(future: grpc.Future) -> None:
        now = time.time()
        with lock:
            if future.code() != grpc.StatusCode.OK:
                counts["failed"] += 1
            elif start <= now <= end:
                counts["calls"] += 1
        slots.release()

    while time.time() < start:
        time.sleep(min(0.01, max(0.0, start - time.time())))
    cpu, sent = time.process_time(), 0
    while time.time() < end:
        slots.acquire()
        methods[sent % len(methods)].future(payload, timeout=60).add_done_callback(finished)
        sent += 1
    cpu = time.process_time() - cpu
    for _ in range(depth * len(methods)):
        slots.acquire()
    return {**counts, "cpu_s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address")
    parser.add_argument("rpc")
    parser.add_argument("payload_file")
    parser.add_argument("--records", type=int, required=True, help="records per request")
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--depth", type=int, default=2, help="calls in flight per channel")
    args = parser.parse_args()
    payload = Path(args.payload_file).read_bytes()
    channels, methods = connect(args.address, args.rpc, args.channels)
    for _ in range(3):
        for method in methods:
            method(payload, timeout=60)
    workers = [pb_grpc.ConsentCheckServiceStub(c).GetStatus(pb.GetStatusRequest(), timeout=5).worker
               for c in channels]
    print("ready", json.dumps(workers), flush=True)
    for line in sys.stdin:
        start, seconds = map(float, line.split())
        result = drive(methods, payload, args.depth, start, start + seconds)
        print(json.dumps({**result, "records": result["calls"] * args.records}), flush=True)
    for channel in channels:
        channel.close()


if __name__ == "__main__":
    main()
