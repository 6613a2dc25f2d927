"""The sidecar's settings: one typed object, from flags, then MAYTRAIN_* variables, then
defaults; printed at start with credentials masked."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from .core.errors import InvalidValueError
from .store.masking import mask_url

__all__ = ["ServeSettings", "mask_url", "resolve"]

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_STORE_URL = "sqlite:///maytrain.db"


@dataclass(frozen=True)
class ServeSettings:
    """Everything `maytrain serve` needs to know before it starts."""

    store: str = DEFAULT_STORE_URL
    policy: str | None = None
    listen: tuple[str, ...] = (DEFAULT_LISTEN,)
    health_listen: str | None = None
    max_staleness: float | None = None
    sync_interval: float = 1.0
    snapshot_file: str | None = None
    max_batch: int = 10_000
    shutdown_grace: float = 10.0
    reuse_port: bool = False

    def described(self) -> str:
        """One line per setting, credentials masked, for the start-up log."""
        values = asdict(self)
        values["store"] = mask_url(self.store)
        return ", ".join(f"{k}={v}" for k, v in values.items())


_ENV = {
    "store": "MAYTRAIN_STORE", "policy": "MAYTRAIN_POLICY", "listen": "MAYTRAIN_LISTEN",
    "health_listen": "MAYTRAIN_HEALTH_LISTEN", "max_staleness": "MAYTRAIN_MAX_STALENESS",
    "sync_interval": "MAYTRAIN_SYNC_INTERVAL", "snapshot_file": "MAYTRAIN_SNAPSHOT_FILE",
    "max_batch": "MAYTRAIN_MAX_BATCH", "shutdown_grace": "MAYTRAIN_SHUTDOWN_GRACE",
    "reuse_port": "MAYTRAIN_REUSE_PORT",
}


def resolve(flags: Mapping[str, object], env: Mapping[str, str] = os.environ) -> ServeSettings:
    """Settings from flags (None = not given), then the environment, then defaults."""
    values: dict[str, object] = {}
    for name, var in _ENV.items():
        flag = flags.get(name)
        if flag is not None and flag != [] and flag is not False:
            values[name] = flag
        elif env.get(var):
            values[name] = env[var]
    return _typed(values)


def _typed(values: dict[str, object]) -> ServeSettings:
    listen = values.get("listen")
    if isinstance(listen, str):
        values["listen"] = tuple(a.strip() for a in listen.split(",") if a.strip())
    elif listen is not None:
        values["listen"] = tuple(listen)  # type: ignore[arg-type]
    for name in ("max_staleness", "sync_interval", "shutdown_grace"):
        if name in values:
            values[name] = _positive(name, values[name], float)
    if "max_batch" in values:
        values["max_batch"] = int(_positive("max_batch", values["max_batch"], int))
    if isinstance(values.get("reuse_port"), str):
        values["reuse_port"] = str(values["reuse_port"]).lower() in ("1", "true", "yes")
    return ServeSettings(**values)  # type: ignore[arg-type]


def _positive(name: str, value: object, kind: type) -> float:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise InvalidValueError(f"{name.replace('_', '-')} must be a number, not {value!r}") from None
    if number <= 0:
        raise InvalidValueError(f"{name.replace('_', '-')} must be positive, not {value!r}")
    return number
