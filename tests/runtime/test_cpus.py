"""The default worker count: the cgroup CPU quota (v2 and v1), rounded up, within affinity."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.cpus import cfs_cores, cgroup_cores, cpu_max_cores, worker_count


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize("text, cores", [("max 100000\n", None), ("200000 100000\n", 2.0),
                                         ("150000 100000", 1.5), ("50000 100000", 0.5),
                                         ("max", None), ("", None), ("x 100000", None)])
def test_cpu_max_is_quota_over_period(text, cores) -> None:
    assert cpu_max_cores(text) == cores


def test_cfs_quota_minus_one_means_no_quota() -> None:
    assert cfs_cores("-1\n", "100000\n") is None
    assert cfs_cores("250000\n", "100000\n") == 2.5


@pytest.mark.parametrize("cores, affinity, workers", [(None, 8, 8), (1.5, 8, 2), (0.1, 8, 1),
                                                      (4.0, 2, 2), (2.0, 4, 2), (None, 1, 1)])
def test_workers_are_the_quota_rounded_up_within_affinity(cores, affinity, workers) -> None:
    assert worker_count(cores, affinity) == workers


def test_cgroup_v2_quota_of_the_container(tmp_path) -> None:
    root = write(tmp_path, {"proc/self/cgroup": "0::/\n",
                            "sys/fs/cgroup/cpu.max": "150000 100000\n"})
    assert cgroup_cores(root) == 1.5


def test_cgroup_v2_without_a_limit(tmp_path) -> None:
    root = write(tmp_path, {"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "max 100000\n"})
    assert cgroup_cores(root) is None


def test_cgroup_v2_an_enclosing_quota_binds_the_process(tmp_path) -> None:
    root = write(tmp_path, {"proc/self/cgroup": "0::/kubepods/pod1/c1\n",
                            "sys/fs/cgroup/kubepods/pod1/c1/cpu.max": "max 100000\n",
                            "sys/fs/cgroup/kubepods/pod1/cpu.max": "300000 100000\n",
                            "sys/fs/cgroup/kubepods/cpu.max": "800000 100000\n"})
    assert cgroup_cores(root) == 3.0


def test_cgroup_v1_cfs_quota(tmp_path) -> None:
    root = write(tmp_path, {"proc/self/cgroup": "4:memory:/\n2:cpu,cpuacct:/\n",
                            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "200000\n",
                            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n"})
    assert cgroup_cores(root) == 2.0


def test_cgroup_v1_without_a_namespace_reads_the_containers_own_root(tmp_path) -> None:
    # /proc/self/cgroup names the host's path, which the container's mount does not have.
    root = write(tmp_path, {"proc/self/cgroup": "3:cpu:/docker/0123abcd\n",
                            "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "50000\n",
                            "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"})
    assert cgroup_cores(root) == 0.5


def test_cgroup_v1_unlimited(tmp_path) -> None:
    root = write(tmp_path, {"proc/self/cgroup": "1:cpu:/\n",
                            "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
                            "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"})
    assert cgroup_cores(root) is None


def test_no_cgroup_files_mean_no_quota(tmp_path) -> None:
    assert cgroup_cores(tmp_path) is None
    assert cgroup_cores(write(tmp_path, {"proc/self/cgroup": "0::/\n"})) is None
