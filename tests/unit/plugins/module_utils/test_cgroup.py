# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the cgroup helpers: hierarchy detection from mounts files, unit and container names, OOM counters."""

from __future__ import annotations

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils._cgroup import (
    cgroup_dir,
    cgroup_version,
    container_from_cgroup,
    memory_v1_mount,
    oom_counters,
    unified_mount,
    unit_from_cgroup,
)

HEX = "4f0c2a9d8b7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"
POD = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
V1 = """sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
"""
V2 = """proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0
"""
HYBRID = V1 + "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n"


@pytest.mark.parametrize(
    ("mounts", "version", "unified", "memory"),
    [
        (V1, "1", None, "/sys/fs/cgroup/memory"),
        (V2, "2", "/sys/fs/cgroup", None),
        (HYBRID, "hybrid", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory"),
        ("cgroup2 /mnt/cg cgroup2 rw 0 0\n", "2", "/mnt/cg", None),
        ("proc /proc proc rw 0 0\nshort line\n", None, None, None),
    ],
)
def test_cgroup_version_from_mounts(tmp_path, mounts, version, unified, memory):
    path = tmp_path / "mounts"
    path.write_text(mounts)
    assert cgroup_version(str(path)) == version
    assert unified_mount(str(path)) == unified
    assert memory_v1_mount(str(path)) == memory


def test_cgroup_version_missing_file(tmp_path):
    assert cgroup_version(str(tmp_path / "nope")) is None


def test_cgroup_version_of_this_machine_matches_its_mounts():
    with open("/proc/self/mounts", encoding="utf-8") as handle:
        types = {line.split()[2] for line in handle if len(line.split()) > 2}
    expected = {(True, False): "1", (False, True): "2", (False, False): None}.get(
        ("cgroup" in types, "cgroup2" in types)
    )
    if expected is None and "cgroup" in types:
        expected = cgroup_version()  # both mounted: '2' (unified at the root) or 'hybrid'
        assert expected in ("2", "hybrid")
    assert cgroup_version() == expected


@pytest.mark.parametrize(
    ("path", "unit"),
    [
        ("/system.slice/worker.service", "worker.service"),
        ("/system.slice/worker.service/", "worker.service"),
        ("/user.slice/user-1001.slice/user@1001.service", "user@1001.service"),
        ("/user.slice/user-1001.slice/user@1001.service/app.slice/app-x-1.scope", "app-x-1.scope"),
        ("/user.slice/user-1001.slice/session-3.scope", "session-3.scope"),
        ("/system.slice/docker-%s.scope" % HEX, "docker-%s.scope" % HEX),
        ("/system.slice", None),
        ("/", None),
        ("", None),
        (None, None),
        ("/oomguard-test-4242ab", None),
    ],
)
def test_unit_from_cgroup(path, unit):
    assert unit_from_cgroup(path) == unit


@pytest.mark.parametrize(
    ("path", "container"),
    [
        ("/system.slice/docker-%s.scope" % HEX, {"runtime": "docker", "id": HEX}),
        ("/docker/%s" % HEX, {"runtime": "docker", "id": HEX}),
        (
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice/cri-containerd-%s.scope"
            % (POD.replace("-", "_"), HEX),
            {"runtime": "containerd", "id": HEX, "pod_uid": POD},
        ),
        ("/kubepods/burstable/pod%s/%s" % (POD, HEX), {"runtime": "kubepods", "id": HEX, "pod_uid": POD}),
        ("/kubepods.slice/kubepods-burstable.slice", {"runtime": "kubepods", "id": None, "pod_uid": None}),
        ("/machine.slice/libpod-%s.scope" % HEX, {"runtime": "podman", "id": HEX}),
        ("/lxc.payload.lab-ct01/system.slice/hog.service", {"runtime": "lxc", "id": "lab-ct01"}),
        ("/lxc/ct02", {"runtime": "lxc", "id": "ct02"}),
        ("/lxc.monitor.lab-ct01", None),
        ("/system.slice/worker.service", None),
        (None, None),
    ],
)
def test_container_from_cgroup(path, container):
    assert container_from_cgroup(path) == container


def test_cgroup_dir_stays_under_the_root():
    assert cgroup_dir("/sys/fs/cgroup", "/a/b") == "/sys/fs/cgroup/a/b"
    assert cgroup_dir("/sys/fs/cgroup", "/../../etc") == "/sys/fs/cgroup/etc"
    assert cgroup_dir("/sys/fs/cgroup", "/") == "/sys/fs/cgroup"
    assert cgroup_dir("/sys/fs/cgroup", None) == "/sys/fs/cgroup"


def test_oom_counters_v2_with_local(tmp_path):
    directory = tmp_path / "system.slice" / "worker.service"
    directory.mkdir(parents=True)
    (directory / "memory.events").write_text("low 0\nhigh 3\nmax 9\noom 2\noom_kill 2\noom_group_kill 1\nnew_key 5\n")
    (directory / "memory.events.local").write_text("low 0\nhigh 1\nmax 4\noom 1\noom_kill 1\n")
    counters = oom_counters("/system.slice/worker.service", "2", unified=str(tmp_path))
    assert counters == {
        "low": 0,
        "high": 3,
        "max": 9,
        "oom": 2,
        "oom_kill": 2,
        "oom_group_kill": 1,
        "new_key": 5,
        "hierarchy": "v2",
        "local": {"low": 0, "high": 1, "max": 4, "oom": 1, "oom_kill": 1},
    }


def test_oom_counters_v1_and_hybrid_fallback(tmp_path):
    v1 = tmp_path / "memory" / "oomguard-test-4242ab"
    v1.mkdir(parents=True)
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    expected = {"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 3, "hierarchy": "v1"}
    assert oom_counters("/oomguard-test-4242ab", "1", memory_v1=str(tmp_path / "memory")) == expected
    assert (
        oom_counters(
            "/oomguard-test-4242ab", "hybrid", unified=str(tmp_path / "unified"), memory_v1=str(tmp_path / "memory")
        )
        == expected
    )
    assert oom_counters("/gone", "1", memory_v1=str(tmp_path / "memory")) is None
    assert oom_counters("/oomguard-test-4242ab", None, memory_v1=str(tmp_path / "memory")) is None
