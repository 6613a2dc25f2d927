"""One serving process of `maytrain serve --workers N`, started by `sidecar.workers`.

`python -m sidecar.worker_process IN OUT` reads its orders (its settings, its number, the
team's size) as the first line of the pipe IN, runs one `Sidecar`, and writes a line to
OUT when it has bound its listeners and every HEALTH_PERIOD after, saying whether it may
serve. The supervisor answers on IN with how many workers serve. When the supervisor's
pipe closes (it died), the worker stops as on SIGTERM: no orphan keeps serving a port.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from typing import IO, Any

from .settings import Settings

log = logging.getLogger("maytrain.workers")


def orders(settings: Settings, index: int, count: int) -> bytes:
    """The first line a worker reads: what to run, and its place in the team."""
    return json.dumps({"settings": asdict(settings), "worker": index,
                       "workers": count}).encode() + b"\n"


def settings_from(values: dict[str, Any]) -> Settings:
    """Settings from `orders`' JSON (lists back to tuples)."""
    known = {field.name for field in fields(Settings)}
    typed: dict[str, Any] = {name: tuple(value) if isinstance(value, list) else value
                             for name, value in values.items() if name in known}
    return Settings(**typed)


class SupervisorLink:
    """A worker's team (`runtime.Team`): its two pipes to the supervisor."""

    def __init__(self, commands: IO[bytes], reports: IO[bytes], index: int, count: int,
                 lost: Callable[[], None]) -> None:
        self.index, self.count = index, count
        self._commands, self._reports, self._lost = commands, reports, lost
        self._serving, self._peers = 0, dict[int, int]()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Listen to the supervisor on a thread of its own."""
        threading.Thread(target=self._listen, name="maytrain-supervisor", daemon=True).start()

    def report(self, ready: bool) -> None:
        self._send({"ready": ready})

    def bound(self, pid: int, metrics_port: int | None) -> None:
        """Say that this worker's listeners are bound (and where its metrics are)."""
        self._send({"bound": pid, "metrics": metrics_port})

    def serving(self) -> int:
        return self._serving

    def metrics_peers(self) -> dict[int, int]:
        return self._peers

    def _send(self, message: dict[str, Any]) -> None:
        try:
            with self._lock:
                self._reports.write(json.dumps(message).encode() + b"\n")
        except (BrokenPipeError, ValueError):  # the supervisor is gone, or we closed it
            self._lost()

    def _listen(self) -> None:
        for line in self._commands:
            message = json.loads(line)
            self._serving = int(message.get("serving", self._serving))
            peers = message.get("metrics_peers", {})
            self._peers = {int(worker): int(port) for worker, port in peers.items()}
        log.warning("worker %d: the supervisor is gone; stopping", self.index)
        self._lost()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one worker on the pipes named by `argv` (IN OUT); the CLI's exit codes."""
    from .cli import options

    commands_fd, reports_fd = (int(fd) for fd in (argv or sys.argv[1:]))
    commands = os.fdopen(commands_fd, "rb")
    reports = os.fdopen(reports_fd, "wb", buffering=0)
    order = json.loads(commands.readline())
    return options.run(lambda _: _serve(order, commands, reports), None)  # type: ignore[arg-type]


def _serve(order: dict[str, Any], commands: IO[bytes], reports: IO[bytes]) -> int:
    from .observability import logs
    from .policy_files import load_policy
    from .runtime import Sidecar

    settings, index = settings_from(order["settings"]), int(order["worker"])
    handler = logs.configure(settings.log_format, settings.log_level,
                             secrets=logs.known_secrets(settings.store))
    handler.addFilter(_WorkerTag(index, text=settings.log_format == "text"))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    link = SupervisorLink(commands, reports, index, int(order["workers"]), lost=stop.set)
    sidecar = Sidecar(settings, load_policy(settings.policy), team=link)
    link.start()
    sidecar.start()
    link.bound(os.getpid(), sidecar.observability.metrics_port)
    stop.wait()
    sidecar.stop()
    return 0


class _WorkerTag(logging.Filter):
    """Marks each log line with the worker that wrote it (a JSON field; in text, the name)."""

    def __init__(self, index: int, text: bool) -> None:
        super().__init__()
        self.index, self.text = index, text

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.index
        if self.text and not record.name.endswith("]"):
            record.name = f"{record.name}[worker {self.index}]"
        return True


if __name__ == "__main__":
    sys.exit(main())
