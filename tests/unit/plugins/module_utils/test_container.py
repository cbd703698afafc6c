# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Container detection and the container's own cgroup prefixes, in fake trees (invented ids and names)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils._cgroup import path_under
from ansible_collections.oomguard.memory.plugins.module_utils._cgroup_memory import (
    MemoryHierarchy,
    container_in_path,
    memory_peak,
    own_oom_kill_count,
    unlimited_containers,
)
from ansible_collections.oomguard.memory.plugins.module_utils._container import (
    detect_container,
    own_cgroup_prefixes,
    pid_namespace_is_initial,
    runtime_name,
)

DOCKER_ID = "4c0ffee" + "0" * 57
PODMAN_ID = "5c0ffee" + "1" * 57


def tree(tmp_path, initial=False, files=None, environ=None):
    link = tmp_path / "proc" / "self" / "ns" / "pid"
    link.parent.mkdir(parents=True)
    os.symlink("pid:[4026531836]" if initial else "pid:[4026532999]", str(link))
    for path, text in (files or {}).items():
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    if environ is not None:
        (tmp_path / "proc" / "1").mkdir(parents=True)
        (tmp_path / "proc" / "1" / "environ").write_bytes(b"\0".join(environ) + b"\0")
    return str(tmp_path)


@pytest.mark.parametrize(
    ("files", "environ", "runtime"),
    [
        ({"/run/systemd/container": "lxc\n"}, None, "lxc"),
        ({"/run/systemd/container": "systemd-nspawn\n"}, None, "nspawn"),
        ({}, [b"PATH=/bin", b"container=podman"], "podman"),
        ({"/run/.containerenv": ""}, None, "podman"),
        ({"/.dockerenv": ""}, None, "docker"),
        ({"/proc/self/cgroup": "0::/kubepods/besteffort/pod1/" + DOCKER_ID + "\n"}, None, "containerd"),
        ({"/run/systemd/container": "wsl\n"}, None, "other"),
        ({}, None, "other"),
    ],
)
def test_runtimes_in_a_child_pid_namespace(tmp_path, files, environ, runtime):
    assert detect_container(tree(tmp_path, files=files, environ=environ)) == {"detected": True, "runtime": runtime}


def test_marker_files_in_the_initial_pid_namespace_are_no_container(tmp_path):
    root = tree(tmp_path, initial=True, files={"/.dockerenv": "", "/run/systemd/container": "docker\n"})
    assert pid_namespace_is_initial(root) is True
    assert detect_container(root) == {"detected": False, "runtime": None}


def test_without_a_pid_namespace_link_the_markers_decide(tmp_path):
    (tmp_path / "run").mkdir()
    assert pid_namespace_is_initial(str(tmp_path)) is None
    assert detect_container(str(tmp_path)) == {"detected": False, "runtime": None}
    (tmp_path / ".dockerenv").write_text("")
    assert detect_container(str(tmp_path)) == {"detected": True, "runtime": "docker"}


def test_runtime_names():
    assert [runtime_name(name) for name in ("LXC", '"docker"', "incus", "", None, "rkt")] == [
        "lxc",
        "docker",
        "lxc",
        None,
        None,
        "other",
    ]


def test_prefix_from_an_unnamespaced_cgroup_path(tmp_path):
    root = tree(tmp_path, files={"/proc/self/cgroup": "4:memory:/lxc.payload.web1/system.slice/ssh.service\n"})
    assert own_cgroup_prefixes(root, "lxc", "web1") == ["/lxc.payload.web1"]


def test_prefix_from_a_bind_mounted_cgroup_subtree(tmp_path):
    mountinfo = "35 31 0:32 /docker/%s /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n" % DOCKER_ID
    root = tree(tmp_path, files={"/proc/self/cgroup": "4:memory:/\n", "/proc/self/mountinfo": mountinfo})
    assert own_cgroup_prefixes(root, "docker", "4c0ffee00000") == ["/docker/" + DOCKER_ID]


def test_prefixes_from_names(tmp_path):
    mountinfo = (
        "20 1 0:40 /var/lib/lxc/web1/rootfs / rw - ext4 /dev/sda1 rw\n"
        "30 20 8:1 /var/lib/docker/containers/%s/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n" % DOCKER_ID
    )
    root = tree(tmp_path, files={"/proc/self/cgroup": "0::/\n", "/proc/self/mountinfo": mountinfo})
    assert own_cgroup_prefixes(root, "lxc", "ct-web") == [
        "/lxc.payload.ct-web",
        "/lxc/ct-web",
        "/lxc.payload.web1",
        "/lxc/web1",
    ]
    assert own_cgroup_prefixes(root, "docker", "4c0ffee00000") == [
        "/docker/" + DOCKER_ID,
        "/system.slice/docker-%s.scope" % DOCKER_ID,
    ]
    assert own_cgroup_prefixes(root, "nspawn", "my-box") == [
        "/machine.slice/systemd-nspawn@my\\x2dbox.service",
        "/machine.slice/machine-my\\x2dbox.scope",
        "/machine.slice/systemd-nspawn@web1.service",
        "/machine.slice/machine-web1.scope",
    ]
    podman = tree(tmp_path / "podman", files={"/run/.containerenv": 'engine="podman-4.3.1"\nid="%s"\n' % PODMAN_ID})
    assert own_cgroup_prefixes(podman, "podman", None) == [
        "/machine.slice/libpod-%s.scope" % PODMAN_ID,
        "/libpod_parent/libpod-%s" % PODMAN_ID,
    ]
    assert own_cgroup_prefixes(tree(tmp_path / "other"), "other", "box") == []


def test_path_under():
    prefixes = ["/lxc.payload.web1", "/lxc/web1/"]
    assert path_under("/lxc.payload.web1", prefixes)
    assert path_under("/lxc.payload.web1/system.slice/a.service", prefixes)
    assert path_under("/lxc/web1/init.scope", prefixes)
    assert not path_under("/lxc.payload.web10/system.slice", prefixes)
    assert not path_under(None, prefixes)
    assert not path_under("/system.slice", [])


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/lxc.payload.web1/system.slice/a.service", ("lxc", "web1", "/lxc.payload.web1")),
        ("/lxc/web1/init.scope", ("lxc", "web1", "/lxc/web1")),
        ("/lxc.monitor.web1", None),
        ("/docker/" + DOCKER_ID, ("docker", DOCKER_ID, "/docker/" + DOCKER_ID)),
        (
            "/system.slice/docker-%s.scope" % DOCKER_ID,
            ("docker", DOCKER_ID, "/system.slice/docker-%s.scope" % DOCKER_ID),
        ),
        ("/machine.slice/libpod-conmon-%s.scope" % PODMAN_ID, None),
        (
            "/machine.slice/libpod-%s.scope/container" % PODMAN_ID,
            ("podman", PODMAN_ID, "/machine.slice/libpod-%s.scope" % PODMAN_ID),
        ),
        ("/kubepods/burstable/pod1/" + DOCKER_ID, ("containerd", DOCKER_ID, "/kubepods/burstable/pod1/" + DOCKER_ID)),
        (
            "/kubepods.slice/kubepods-pod1.slice/cri-containerd-%s.scope" % DOCKER_ID,
            ("containerd", DOCKER_ID, "/kubepods.slice/kubepods-pod1.slice/cri-containerd-%s.scope" % DOCKER_ID),
        ),
        (
            "/machine.slice/systemd-nspawn@box.service/payload",
            ("nspawn", "box", "/machine.slice/systemd-nspawn@box.service"),
        ),
        ("/system.slice/nginx.service", None),
        ("", None),
    ],
)
def test_container_in_path(path, expected):
    assert container_in_path(path) == expected


def make(root, path, **files):
    directory = root / path.strip("/")
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name.replace("__", ".")).write_text(text)


def test_v2_unlimited_containers_and_peaks(tmp_path):
    make(tmp_path, "system.slice/docker-%s.scope" % DOCKER_ID, memory__max="max\n", memory__current="300\n")
    make(tmp_path, "system.slice/docker-%s.scope" % ("e" * 64), memory__max="1048576\n", memory__current="900\n")
    make(tmp_path, "system.slice/worker.service", memory__peak="4096\n", memory__max="max\n")
    make(tmp_path, "machine.slice/libpod-%s.scope" % PODMAN_ID, memory__max="max\n", memory__current="700\n")
    make(tmp_path, "machine.slice/libpod-%s.scope/container" % PODMAN_ID, memory__max="max\n")
    hierarchy = MemoryHierarchy(2, str(tmp_path))
    assert unlimited_containers(hierarchy) == [
        {
            "runtime": "podman",
            "id": PODMAN_ID,
            "cgroup": "/machine.slice/libpod-%s.scope" % PODMAN_ID,
            "memory_current": 700,
            "pod_uid": None,
        },
        {
            "runtime": "docker",
            "id": DOCKER_ID,
            "cgroup": "/system.slice/docker-%s.scope" % DOCKER_ID,
            "memory_current": 300,
            "pod_uid": None,
        },
    ]
    assert memory_peak(hierarchy, "/system.slice/worker.service") == 4096
    assert memory_peak(hierarchy, "/system.slice/gone.service") is None
    assert memory_peak(hierarchy, "/") is None
    assert memory_peak(None, "/system.slice/worker.service") is None


def test_own_oom_kill_count(tmp_path):
    v2 = tmp_path / "v2"
    make(v2, "", memory__events="oom 4\noom_kill 3\n")
    assert own_oom_kill_count(MemoryHierarchy(2, str(v2))) == (3, True)
    assert own_oom_kill_count(MemoryHierarchy(2, str(tmp_path / "absent"))) == (0, False)
    v1 = tmp_path / "v1"
    make(v1, "", memory__oom_control="oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    make(v1, "system.slice/a.service", memory__oom_control="oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    make(v1, "system.slice/b.service")
    assert own_oom_kill_count(MemoryHierarchy(1, str(v1))) == (3, False)
    assert own_oom_kill_count(None) == (0, False)
