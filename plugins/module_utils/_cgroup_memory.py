# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Memory cgroups for the facts: peaks, limits, container cgroups without a limit, a container's own OOM count.

PRIVATE to the oomguard.memory collection. No compatibility promise.

Read only: ``memory.peak`` and ``memory.max_usage_in_bytes`` are never written (a write resets them).
Paths are cgroup paths as the kernel prints them (``/system.slice/x.service``), joined below the mount point of
the hierarchy that carries the memory controller: cgroup v1 ``memory`` when it is mounted (v1 and hybrid hosts),
else the unified hierarchy.
"""

from __future__ import annotations

import collections
import os
import re

from ansible_collections.oomguard.memory.plugins.module_utils._cgroup import cgroup_dir
from ansible_collections.oomguard.memory.plugins.module_utils._keyvalue import read_int, read_int_values, read_value

# cgroup v1 reports "no limit" as PAGE_COUNTER_MAX pages (0x7FFFFFFFFFFFF000 with 4 KiB pages); anything this
# large is no limit.
V1_UNLIMITED = 1 << 60
SCAN_MAX_DIRS = 20000
SCAN_MAX_DEPTH = 8
UNLIMITED_MAX = 256

_HEX64 = r"[0-9a-f]{64}"
# A container's own cgroup, by the name of one path component (the outermost that matches wins).
_CONTAINER_COMPONENTS = (
    ("lxc", re.compile(r"^lxc\.payload\.(?P<id>.+)$")),
    ("docker", re.compile(r"^docker-(?P<id>" + _HEX64 + r")\.scope$")),
    ("podman", re.compile(r"^libpod-(?P<id>" + _HEX64 + r")(?:\.scope)?$")),
    ("containerd", re.compile(r"^cri-containerd-(?P<id>" + _HEX64 + r")\.scope$")),
    ("cri-o", re.compile(r"^crio-(?P<id>" + _HEX64 + r")\.scope$")),
    ("nspawn", re.compile(r"^systemd-nspawn@(?P<id>.+)\.service$")),
)
_BARE_ID = re.compile(r"^(?P<id>" + _HEX64 + r")$")
_POD = re.compile(r"pod(?P<uid>[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")


class MemoryHierarchy:
    """The mounted hierarchy that carries the memory controller: ``version`` (1 or 2) and ``mount``."""

    def __init__(self, version, mount):
        self.version = version
        self.mount = mount

    def directory(self, path):
        return cgroup_dir(self.mount, path)


def memory_hierarchy(memory_v1, unified):
    """The MemoryHierarchy of a host from its v1 memory mount and its unified mount, or None."""
    if memory_v1:
        return MemoryHierarchy(1, memory_v1)
    if unified:
        return MemoryHierarchy(2, unified)
    return None


def container_in_path(path):
    """Find the container a cgroup path belongs to: ``(runtime, id, prefix)`` or None.

    ``prefix`` is the path down to the container's own cgroup. Docker's and Kubernetes' cgroupfs layouts
    (``/docker/<id>``, ``/kubepods/burstable/pod<uid>/<id>``) are recognised by the parent's name.
    """
    if not path:
        return None
    components = [part for part in path.split("/") if part]
    for index, component in enumerate(components):
        for runtime, pattern in _CONTAINER_COMPONENTS:
            match = pattern.match(component)
            if match:
                return runtime, match.group("id"), "/" + "/".join(components[: index + 1])
        if index == 0:
            continue
        parent = components[index - 1]
        if parent == "lxc" and not component.startswith("lxc."):
            return "lxc", component, "/" + "/".join(components[: index + 1])
        if _BARE_ID.match(component) and (parent == "docker" or "kubepods" in path):
            runtime = "docker" if parent == "docker" else "containerd"
            return runtime, component, "/" + "/".join(components[: index + 1])
    return None


def _limit(hierarchy, directory):
    """The memory limit of one cgroup directory in bytes, or None when it has none (or no such file)."""
    if hierarchy.version == 2:
        text = read_value(os.path.join(directory, "memory.max"))
        if text is None or text == "max":
            return None
        try:
            return int(text)
        except ValueError:
            return None
    value = read_int(os.path.join(directory, "memory.limit_in_bytes"))
    return value if value is not None and value < V1_UNLIMITED else None


def memory_current(hierarchy, path):
    """Memory in use by a cgroup (and its descendants) in bytes; 0 when it cannot be read."""
    name = "memory.current" if hierarchy.version == 2 else "memory.usage_in_bytes"
    return read_int(os.path.join(hierarchy.directory(path), name)) or 0


def memory_peak(hierarchy, path):
    """The highest memory use of a cgroup since it was created, in bytes, or None where the kernel has no such file.

    cgroup v2 ``memory.peak`` (Linux 5.19+); cgroup v1 ``memory.max_usage_in_bytes``. Never written.
    """
    if hierarchy is None or not path or path == "/":
        return None
    name = "memory.peak" if hierarchy.version == 2 else "memory.max_usage_in_bytes"
    return read_int(os.path.join(hierarchy.directory(path), name))


def _walk(hierarchy):
    """Yield (cgroup path, directory) of every cgroup below the mount, breadth first, bounded."""
    queue = collections.deque([("", hierarchy.mount, 0)])
    seen = 0
    while queue and seen < SCAN_MAX_DIRS:
        relative, directory, depth = queue.popleft()
        seen += 1
        yield "/" + relative if relative else "/", directory
        if depth >= SCAN_MAX_DEPTH:
            continue
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    child = relative + "/" + entry.name if relative else entry.name
                    queue.append((child, entry.path, depth + 1))
            except OSError:
                continue


def unlimited_containers(hierarchy):
    """Containers (docker, containerd, Kubernetes pods, podman, LXC, nspawn) whose cgroup has no memory limit.

    A Kubernetes container counts as limited when its pod's cgroup has a limit. Returns at most UNLIMITED_MAX
    dicts ``{runtime, id, cgroup, memory_current, pod_uid}``, the largest memory use first.
    """
    if hierarchy is None:
        return []
    found = []
    inside = set()
    for path, directory in _walk(hierarchy):
        if any(path.startswith(prefix + "/") for prefix in inside):
            continue
        container = container_in_path(path)
        if container is None or container[2] != path:
            continue
        inside.add(path)
        if _limit(hierarchy, directory) is not None:
            continue
        pod = _POD.search(path)
        if pod and _limit(hierarchy, os.path.dirname(directory)) is not None:
            continue
        found.append(
            {
                "runtime": container[0],
                "id": container[1],
                "cgroup": path,
                "memory_current": memory_current(hierarchy, path),
                "pod_uid": pod.group("uid").replace("_", "-") if pod else None,
            }
        )
    found.sort(key=lambda item: (-item["memory_current"], item["cgroup"]))
    return found[:UNLIMITED_MAX]


def own_oom_kill_count(hierarchy):
    """OOM kills the kernel counted in the cgroup tree visible here (a container's own): ``(count, exact)``.

    cgroup v2: ``oom_kill`` of ``memory.events`` at the top of the visible tree, which counts its descendants
    (exact; absent at the real root, where it is ``(0, False)``). cgroup v1 counts per cgroup only: the sum over
    the cgroups that still exist is a lower bound (``exact`` False).
    """
    if hierarchy is None:
        return 0, False
    if hierarchy.version == 2:
        values = read_int_values(os.path.join(hierarchy.mount, "memory.events"), ("oom_kill",))
        if values and "oom_kill" in values:
            return values["oom_kill"], True
        return 0, False
    total = 0
    for _path, directory in _walk(hierarchy):
        values = read_int_values(os.path.join(directory, "memory.oom_control"), ("oom_kill",)) or {}
        total += values.get("oom_kill", 0)
    return total, False
