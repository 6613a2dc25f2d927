"""Every command's settings: one typed object, resolved in one place.

Precedence, for each setting: the flag, then its MAYTRAIN_* variable, then the policy (for
`max_staleness`), then the default. `resolve()` applies the first two and the defaults;
`Settings.under(policy)` fills in what the policy decides. Printed at start, masked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .core.errors import InvalidValueError
from .core.policy import Policy
from .store.masking import mask_url

__all__ = ["DEFAULT_LISTEN", "DEFAULT_STORE_URL", "DEFAULT_TARGET", "ENVIRONMENT", "Settings",
           "resolve"]

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_STORE_URL = "sqlite:///maytrain.db"
DEFAULT_TARGET = DEFAULT_LISTEN


@dataclass(frozen=True)
class Settings:
    """What any `maytrain` command needs to know before it starts."""

    store: str = DEFAULT_STORE_URL
    store_password_file: str | None = None
    policy: str | None = None
    target: str = DEFAULT_TARGET
    listen: tuple[str, ...] = (DEFAULT_LISTEN,)
    health_listen: str | None = None
    max_staleness: float | None = None
    """Seconds before the cache is stale; None until `under(policy)` fills in the policy's."""
    sync_interval: float = 1.0
    snapshot_file: str | None = None
    snapshot_key_file: str | None = None
    """A file holding the key that authenticates the snapshot file (HMAC-SHA256)."""
    max_batch: int = 10_000
    max_streams: int = 32
    """Streams served at once; each holds one of the 64 server threads while it is open."""
    shutdown_grace: float = 10.0
    reuse_port: bool = False
    workers: int | None = None
    """Serving processes; None: the cores the cgroup's CPU quota allows (see `sidecar.cpus`)."""
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    insecure_listen: bool = False
    metrics_listen: str | None = None
    """host:port of the Prometheus endpoint; None: no metrics served."""
    log_format: str = "text"
    log_level: str = "info"
    receipts: str | None = None
    """Directory of the decision receipt spool; None: no receipts."""
    receipts_sample: float = 1.0
    receipts_queue: int = 100_000
    """Receipts held in memory for the writer; past that they are dropped, and counted."""
    receipts_file_bytes: int = 64 << 20
    receipts_file_seconds: float = 3600.0
    receipts_max_bytes: int = 1 << 30
    follow: str | None = None
    """nats://host:port: follow a relay's stream (`serve`) instead of the store."""
    nats: str | None = None
    """nats://host:port the relay publishes to (`relay`)."""
    stream: str = "maytrain-changes"
    retention: float = 7 * 86_400.0
    """Seconds the relay's stream keeps each change (7 days)."""
    heartbeat: float = 1.0
    """Seconds between the relay's heartbeats."""
    snapshot_changes: int = 10_000
    snapshot_seconds: float = 300.0
    """The relay puts a snapshot after this many changes, or this long after a change."""
    round_gap: float = 0.02
    """Seconds from one relay round's start to the next at least (0: none)."""

    def under(self, policy: Policy) -> Settings:
        """These settings with what was left to the policy taken from it."""
        if self.max_staleness is not None:
            return self
        return replace(self, max_staleness=policy.max_staleness_seconds)

    @property
    def staleness_limit(self) -> float:
        """The effective max_staleness, in seconds (only after `under(policy)`)."""
        if self.max_staleness is None:
            raise RuntimeError("max_staleness is the policy's: resolve with under(policy)")
        return self.max_staleness

    def described(self) -> str:
        """Every setting on one line, credentials masked, for the start-up log."""
        values = asdict(self)
        values["store"] = mask_url(self.store)
        values["follow"], values["nats"] = (mask_url(u) if u else u for u in (self.follow, self.nats))
        values["policy"] = self.policy or "built-in"
        return ", ".join(f"{k}={v}" for k, v in values.items())


ENVIRONMENT = {field.name: f"MAYTRAIN_{field.name.upper()}" for field in fields(Settings)}
"""The variable each setting falls back to (MAYTRAIN_LISTEN is comma-separated)."""


def resolve(flags: Mapping[str, object], env: Mapping[str, str] | None = None) -> Settings:
    """Settings from flags (None, [] or False = not given), then the environment (read at
    the call: a library may rebind os.environ), then the defaults; a malformed value
    raises InvalidValueError naming the setting."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for name, variable in ENVIRONMENT.items():
        flag = flags.get(name)
        if flag is not None and flag != [] and flag is not False:
            values[name] = flag
        elif env.get(variable):
            values[name] = env[variable]
    return Settings(**{name: _typed(name, value) for name, value in values.items()})


def _typed(name: str, value: object) -> Any:
    convert = _CONVERSIONS.get(name)
    return value if convert is None else convert(name, value)


def _addresses(name: str, value: object) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise InvalidValueError(f"{_flag(name)} must be a list of addresses, not {value!r}")
    return tuple(str(a).strip() for a in items if str(a).strip())


def _positive_float(name: str, value: object) -> float:
    return float(_positive(name, value, float))


def _non_negative_float(name: str, value: object) -> float:
    return float(_positive(name, value, float, zero=True))


def _positive_int(name: str, value: object) -> int:
    return int(_positive(name, value, int))


def _boolean(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("1", "true", "yes", "0", "false", "no"):
        raise InvalidValueError(f"{_flag(name)} must be true or false, not {value!r}")
    return text in ("1", "true", "yes")


def _positive(name: str, value: object, kind: Callable[[Any], float], *,
              zero: bool = False) -> float:
    """A finite number above 0 (or 0 itself, where `zero` allows it)."""
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise InvalidValueError(f"{_flag(name)} must be a number, not {value!r}") from None
    # NaN compares false with everything
    if not (number > 0 or (zero and number == 0)) or number == float("inf"):
        wanted = "zero or a positive number" if zero else "a positive number"
        raise InvalidValueError(f"{_flag(name)} must be {wanted}, not {value!r}")
    return number


def _choice(*allowed: str) -> Callable[[str, object], str]:
    def convert(name: str, value: object) -> str:
        text = str(value).strip().lower()
        if text not in allowed:
            raise InvalidValueError(f"{_flag(name)} must be one of {', '.join(allowed)}, "
                                    f"not {value!r}")
        return text

    return convert


def _fraction(name: str, value: object) -> float:
    number = _positive_float(name, value)
    if not 0 < number <= 1:  # written so that nan is refused too
        raise InvalidValueError(f"{_flag(name)} must be a share in (0, 1], not {value!r}")
    return number


_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30}


def _bytes(name: str, value: object) -> int:
    """A size: a number of bytes, or with a unit (k, M, G; Ki, Mi, Gi), e.g. 512Mi."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmg]i?)?b?\s*", str(value), re.IGNORECASE)
    if match is None or int(match[1]) <= 0:
        raise InvalidValueError(f"{_flag(name)} must be a positive size such as 1073741824 "
                                f"or 1Gi, not {value!r}")
    return int(match[1]) * _UNITS[(match[2] or "").lower()]


def _seconds(name: str, value: object) -> float:
    """A duration: seconds, or a number with a unit (s, m, h, d), e.g. 7d."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([smhd]?)\s*", str(value), re.IGNORECASE)
    factor = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}
    number = _positive_float(name, match[1] if match else value)
    return number * factor[match[2].lower() if match else ""]


def _flag(name: str) -> str:
    return name.replace("_", "-")


_CONVERSIONS: dict[str, Callable[[str, object], Any]] = {
    "listen": _addresses, "max_staleness": _positive_float, "sync_interval": _positive_float,
    "shutdown_grace": _positive_float, "max_batch": _positive_int,
    "max_streams": _positive_int, "reuse_port": _boolean, "workers": _positive_int,
    "insecure_listen": _boolean, "log_format": _choice("text", "json"),
    "log_level": _choice("debug", "info", "warning", "error"), "receipts_sample": _fraction,
    "receipts_queue": _positive_int, "receipts_file_bytes": _bytes,
    "receipts_file_seconds": _positive_float, "receipts_max_bytes": _bytes,
    "retention": _seconds, "heartbeat": _positive_float, "snapshot_changes": _positive_int,
    "snapshot_seconds": _seconds, "round_gap": _non_negative_float,
}
