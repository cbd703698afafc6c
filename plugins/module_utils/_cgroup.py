# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Cgroup helpers: hierarchy layout, unit and container names from cgroup paths, OOM counters.

PRIVATE to the oomguard.memory collection. No compatibility promise.
"""

from __future__ import annotations

import os
import re

from ansible_collections.oomguard.memory.plugins.module_utils._keyvalue import read_int_values

CGROUP_ROOT = "/sys/fs/cgroup"

_PROCESS_UNIT_SUFFIXES = (".service", ".scope", ".socket", ".mount", ".swap")

_HEX_ID = r"[0-9a-f]{12,64}"
_CONTAINER_PATTERNS = (
    ("docker", re.compile(r"(?:^|/)docker[-/](?P<id>" + _HEX_ID + r")(?:\.scope)?(?:/|$)")),
    ("containerd", re.compile(r"(?:^|/)cri-containerd[-:](?P<id>" + _HEX_ID + r")(?:\.scope)?(?:/|$)")),
    ("cri-o", re.compile(r"(?:^|/)crio-(?:conmon-)?(?P<id>" + _HEX_ID + r")(?:\.scope)?(?:/|$)")),
    ("podman", re.compile(r"(?:^|/)libpod-(?:conmon-)?(?P<id>" + _HEX_ID + r")(?:\.scope)?(?:/|$)")),
    ("lxc", re.compile(r"(?:^|/)lxc(?:\.payload)?[./](?!monitor\b)(?P<id>[^/]+)(?:/|$)")),
)
_KUBEPODS = re.compile(r"(?:^|/)kubepods\b")
_POD_UID = re.compile(r"pod(?P<uid>[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")
_BARE_CONTAINER_ID = re.compile(r"/(?P<id>[0-9a-f]{64})(?:/|$)")


def unit_from_cgroup(path):
    """Return the deepest systemd unit (service, scope, ...) named in a cgroup path, or None."""
    if not path:
        return None
    for component in reversed(path.strip("/").split("/")):
        if component.endswith(_PROCESS_UNIT_SUFFIXES) and not component.startswith("."):
            return component
    return None


def path_under(path, prefixes):
    """True when a cgroup path is one of C(prefixes) or lies below one."""
    return bool(path) and any(path == prefix or path.startswith(prefix.rstrip("/") + "/") for prefix in prefixes)


def is_kubepods(path):
    """True when a cgroup path belongs to pods that a kubelet manages."""
    return bool(path) and bool(_KUBEPODS.search(path))


def container_from_cgroup(path):
    """Describe the container a cgroup path belongs to as a dict, or return None.

    The dict has C(runtime) (docker, containerd, cri-o, podman, lxc or kubepods), C(id) and,
    for Kubernetes pods, C(pod_uid).
    """
    if not path:
        return None
    container = None
    for runtime, pattern in _CONTAINER_PATTERNS:
        match = pattern.search(path)
        if match:
            container = {"runtime": runtime, "id": match.group("id")}
            break
    if _KUBEPODS.search(path):
        if container is None:
            bare = _BARE_CONTAINER_ID.search(path)
            container = {"runtime": "kubepods", "id": bare.group("id") if bare else None}
        pod = _POD_UID.search(path)
        container["pod_uid"] = pod.group("uid").replace("_", "-") if pod else None
    return container


def cgroup_version(mounts_path="/proc/self/mounts"):
    """Return '1', '2' or 'hybrid' from the mounted cgroup file systems, or None when none is mounted."""
    has_v1 = has_v2 = False
    v2_at_root = False
    try:
        with open(mounts_path, encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                if fields[2] == "cgroup2":
                    has_v2 = True
                    v2_at_root = v2_at_root or fields[1] == CGROUP_ROOT
                elif fields[2] == "cgroup":
                    has_v1 = True
    except OSError:
        return None
    if has_v2 and (v2_at_root or not has_v1):
        return "2"
    if has_v1 and has_v2:
        return "hybrid"
    if has_v1:
        return "1"
    return None


def _cgroup_mounts(mounts_path):
    """Yield (mount point, file system type, options) of the mounted cgroup hierarchies."""
    try:
        with open(mounts_path, encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
                    yield fields[1], fields[2], fields[3].split(",")
    except OSError:
        return


def unified_mount(mounts_path="/proc/self/mounts"):
    """Return the mount point of the cgroup v2 hierarchy, or None."""
    return next((point for point, fstype, _options in _cgroup_mounts(mounts_path) if fstype == "cgroup2"), None)


def memory_v1_mount(mounts_path="/proc/self/mounts"):
    """Return the mount point of the cgroup v1 memory controller, or None."""
    return next(
        (point for point, fstype, options in _cgroup_mounts(mounts_path) if fstype == "cgroup" and "memory" in options),
        None,
    )


def read_flat_keyed(path):
    """Parse a flat 'key value' cgroup file (memory.events, memory.oom_control) into a dict of ints.

    Raises OSError when the file cannot be read.
    """
    values = read_int_values(path)
    if values is None:
        raise OSError("cannot read %s" % path)
    return values


def cgroup_dir(root, path):
    """Join a cgroup path as the kernel prints it ('/a/b') to a hierarchy mount point safely."""
    relative = os.path.normpath("/" + (path or "/")).lstrip("/")
    return os.path.join(root, relative) if relative else root


def oom_counters(path, version, unified=None, memory_v1=None):
    """Return the OOM counters of one cgroup (path as printed by the kernel) as a dict, or None.

    cgroup v2: the keys of memory.events (oom, oom_kill, oom_group_kill, ...) plus ``local``
    from memory.events.local where the kernel has it. cgroup v1: memory.oom_control
    (oom_kill_disable, under_oom, oom_kill).
    """
    if version in ("2", "hybrid") and unified:
        directory = cgroup_dir(unified, path)
        events = os.path.join(directory, "memory.events")
        if os.path.exists(events):
            counters = read_flat_keyed(events)
            counters["hierarchy"] = "v2"
            local = os.path.join(directory, "memory.events.local")
            if os.path.exists(local):
                counters["local"] = read_flat_keyed(local)
            return counters
    if version in ("1", "hybrid") and memory_v1:
        control = os.path.join(cgroup_dir(memory_v1, path), "memory.oom_control")
        if os.path.exists(control):
            counters = read_flat_keyed(control)
            counters["hierarchy"] = "v1"
            return counters
    return None
