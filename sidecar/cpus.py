"""How many cores this process may use: the cgroup CPU quota, rounded up, within affinity.

The quota is what Kubernetes' CPU limit becomes: cgroup v2 `cpu.max` ("quota period", or
"max period" for none), cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` (-1 for none).
A quota on an enclosing cgroup binds too, so the smallest one on the way up counts. The
parsers take the files' text, so tests feed them real files from a temporary root.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

__all__ = ["cfs_cores", "cgroup_cores", "cpu_max_cores", "usable_cores", "worker_count"]


def cpu_max_cores(text: str) -> float | None:
    """Cores allowed by a cgroup v2 `cpu.max` ("200000 100000" is 2.0); None: no quota."""
    parts = text.split()
    if len(parts) not in (1, 2) or parts[0] == "max":
        return None
    period = parts[1] if len(parts) == 2 else "100000"
    return _ratio(parts[0], period)


def cfs_cores(quota: str, period: str) -> float | None:
    """Cores allowed by cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`; None: none."""
    return _ratio(quota.strip(), period.strip())


def worker_count(cores: float | None, affinity: int) -> int:
    """Serving processes for `cores` (None: no quota): rounded up, at least 1, at most the
    CPUs this process may run on."""
    wanted = affinity if cores is None else math.ceil(cores)
    return max(1, min(wanted, affinity))


def cgroup_cores(root: Path = Path("/")) -> float | None:
    """The smallest CPU quota over this process's cgroup and its ancestors (v2, else v1),
    in cores; None when no quota is set or the files cannot be read."""
    try:
        memberships = (root / "proc/self/cgroup").read_text()
    except OSError:
        return None
    found = [cores for cores in _quotas(root / "sys/fs/cgroup", memberships) if cores]
    return min(found) if found else None


def usable_cores(root: Path = Path("/")) -> int:
    """The default number of workers: the cgroup's quota within this process's affinity."""
    return worker_count(cgroup_cores(root), _affinity())


def _quotas(mount: Path, memberships: str) -> list[float | None]:
    quotas: list[float | None] = []
    for line in memberships.splitlines():
        ident, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if ident == "0" and controllers == "":
            quotas += [cpu_max_cores(texts[0])
                       for texts in _read_up(mount, path, ("cpu.max",))]
        elif "cpu" in controllers.split(","):
            names = ("cpu.cfs_quota_us", "cpu.cfs_period_us")
            quotas += [cfs_cores(*texts)
                       for texts in _read_up(_v1_mount(mount, controllers), path, names)]
    return quotas


def _v1_mount(mount: Path, controllers: str) -> Path:
    """Where a v1 hierarchy is mounted: `cpu`, or the joint `cpu,cpuacct` name."""
    for name in (controllers, "cpu,cpuacct", "cpu"):
        if (mount / name).is_dir():
            return mount / name
    return mount / "cpu"


def _read_up(mount: Path, path: str, names: tuple[str, ...]) -> list[list[str]]:
    """The files `names` of the process's cgroup directory and of each ancestor inside
    `mount`, where all of them can be read.

    Without a cgroup namespace the path is the host's, which the container's mount does not
    have: then the mount's own root (the container's cgroup) is read."""
    directory = mount / path.strip("/")
    if not directory.is_dir():
        directory = mount
    found = []
    while True:
        with contextlib.suppress(OSError):
            found.append([(directory / name).read_text() for name in names])
        if directory == mount or mount not in directory.parents:
            return found
        directory = directory.parent


def _ratio(quota: str, period: str) -> float | None:
    try:
        allowed, length = int(quota), int(period)
    except ValueError:
        return None
    if allowed <= 0 or length <= 0:
        return None
    return allowed / length


def _affinity() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
