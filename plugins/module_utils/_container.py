# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Is this host a container, and which cgroups are its own in the kernel log it shares with its host?

PRIVATE to the oomguard.memory collection. No compatibility promise.

A container shares the kernel, and with it the kernel log, with its host: an OOM kill printed there is the
container's only when the killed task's memory cgroup is the container's. The kernel prints cgroup paths as the
host sees them (``/lxc.payload.web1/system.slice/app.service``), so the container's own prefix in host terms is
needed. It is taken, in this order, from:

1. the process's own cgroup paths (``/proc/self/cgroup``) when they are not namespaced;
2. the root of the cgroup mounts (``/proc/self/mountinfo``) when the runtime bind-mounted its subtree;
3. the names the runtime gives the container (the host name, the directory holding the root file system,
   Docker's and Podman's container ids), made into the runtime's cgroup layouts.

Whether this is a container at all is decided by the pid namespace: a process in the initial pid namespace reads
its own kernel's log, whatever marker files (a stale ``/.dockerenv`` in a VM image) say. Marker files and the
``container=`` variable of PID 1 (as systemd-detect-virt reads them) name the runtime.
"""

from __future__ import annotations

import os
import re

from ansible_collections.oomguard.memory.plugins.module_utils._cgroup_memory import container_in_path
from ansible_collections.oomguard.memory.plugins.module_utils._host import under
from ansible_collections.oomguard.memory.plugins.module_utils._keyvalue import read_value

# The inode number of the initial pid namespace (PROC_PID_INIT_INO in the kernel).
INITIAL_PID_NAMESPACE = "pid:[%d]" % 0xEFFFFFFC
RUNTIMES = ("lxc", "docker", "podman", "nspawn", "containerd", "other")
_RUNTIME_NAMES = {
    "lxc": "lxc",
    "lxc-libvirt": "lxc",
    "incus": "lxc",
    "lxd": "lxc",
    "docker": "docker",
    "podman": "podman",
    "systemd-nspawn": "nspawn",
    "nspawn": "nspawn",
    "containerd": "containerd",
    "kubepods": "containerd",
    "cri-o": "containerd",
}
READ_MAX = 65536
NAMES_MAX = 8
_DOCKER_ID_IN_MOUNT = re.compile(r"/containers/([0-9a-f]{64})/")
_CONTAINERENV_ID = re.compile(r"^id=\"?([0-9a-f]{64})\"?$", re.MULTILINE)
_UNIT_SAFE = re.compile(r"[A-Za-z0-9:_.]")


def runtime_name(text):
    """Map a runtime's name as markers spell it to one of RUNTIMES (None for empty text)."""
    text = (text or "").strip().strip('"').lower()
    if not text:
        return None
    return _RUNTIME_NAMES.get(text, "other")


def pid_namespace_is_initial(root="/"):
    """True in the initial pid namespace, False in a child one, None when it cannot be told."""
    try:
        return os.readlink(under(root, "/proc/self/ns/pid")) == INITIAL_PID_NAMESPACE
    except OSError:
        return None


def _read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read(READ_MAX)
    except OSError:
        return None


def own_cgroup_paths(root="/"):
    """The cgroup paths of this process, one per hierarchy, from /proc/self/cgroup."""
    raw = _read_bytes(under(root, "/proc/self/cgroup")) or b""
    paths = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[2] not in paths:
            paths.append(parts[2])
    return paths


def _unescape_mountinfo(text):
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def mountinfo(root="/"):
    """Yield (root, mount point, file system type, super options) of every mount in /proc/self/mountinfo."""
    raw = _read_bytes(under(root, "/proc/self/mountinfo")) or b""
    for line in raw.decode("utf-8", errors="replace").splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        tail = right.split()
        if not sep or len(fields) < 5 or not tail:
            continue
        yield (
            _unescape_mountinfo(fields[3]),
            _unescape_mountinfo(fields[4]),
            tail[0],
            tail[2] if len(tail) > 2 else "",
        )


def runtime_hint(root="/"):
    """The runtime that marker files and variables name (one of RUNTIMES), or None."""
    for path in ("/run/systemd/container", "/run/host/container-manager"):
        name = runtime_name(read_value(under(root, path)))
        if name:
            return name
    environ = _read_bytes(under(root, "/proc/1/environ")) or b""
    for variable in environ.split(b"\0"):
        if variable.startswith(b"container="):
            name = runtime_name(variable[len(b"container=") :].decode("utf-8", errors="replace"))
            if name:
                return name
    if os.path.exists(under(root, "/run/.containerenv")):
        return "podman"
    if os.path.exists(under(root, "/.dockerenv")):
        return "docker"
    for path in own_cgroup_paths(root):
        found = container_in_path(path)
        if found:
            return runtime_name(found[0])
    return None


def detect_container(root="/"):
    """Return ``{detected: bool, runtime: one of RUNTIMES or None}`` for the managed host."""
    initial = pid_namespace_is_initial(root)
    if initial:
        return {"detected": False, "runtime": None}
    hint = runtime_hint(root)
    if initial is False:
        return {"detected": True, "runtime": hint or "other"}
    return {"detected": hint is not None, "runtime": hint}


def _unit_escape(name):
    """Escape a name for use in a systemd unit name (as systemd-escape does)."""
    return "".join(char if _UNIT_SAFE.match(char) else ("-" if char == "/" else "\\x%02x" % ord(char)) for char in name)


def _rootfs_names(root):
    """Names the runtime gave the directory holding this container's root file system (LXC, LXD)."""
    names = []
    for mount_root, point, _fstype, options in mountinfo(root):
        if point != "/":
            continue
        paths = [mount_root]
        for option in options.split(","):
            key, _sep, value = option.partition("=")
            if key in ("upperdir", "workdir", "lowerdir"):
                paths.extend(value.split(":"))
        for path in paths:
            parts = [part for part in path.split("/") if part]
            for index in range(1, len(parts)):
                if parts[index] in ("rootfs", "delta0") and parts[index - 1] not in names:
                    names.append(parts[index - 1])
    return names


def _container_ids(root, runtime):
    ids = []
    if runtime == "docker":
        for mount_root, _point, _fstype, _options in mountinfo(root):
            match = _DOCKER_ID_IN_MOUNT.search(mount_root + "/")
            if match and match.group(1) not in ids:
                ids.append(match.group(1))
    if runtime == "podman":
        raw = _read_bytes(under(root, "/run/.containerenv")) or b""
        ids.extend(_CONTAINERENV_ID.findall(raw.decode("utf-8", errors="replace")))
    return ids


def own_cgroup_prefixes(root="/", runtime=None, hostname=None):
    """The container's own cgroup path prefixes as the host's kernel prints them; [] when none can be found."""
    found = []
    for path in own_cgroup_paths(root):
        container = container_in_path(path)
        if container and container[2] not in found:
            found.append(container[2])
    for mount_root, _point, fstype, _options in mountinfo(root):
        if fstype in ("cgroup", "cgroup2") and mount_root not in ("/", "") and not mount_root.startswith("/.."):
            container = container_in_path(mount_root)
            prefix = container[2] if container else mount_root.rstrip("/")
            if prefix not in found:
                found.append(prefix)
    if found:
        return found
    names = []
    for name in [hostname, *_rootfs_names(root)]:
        if name and "/" not in name and name not in names:
            names.append(name)
    names = names[:NAMES_MAX]
    prefixes = []
    if runtime == "lxc":
        for name in names:
            prefixes.extend(("/lxc.payload." + name, "/lxc/" + name))
    elif runtime == "nspawn":
        for name in names:
            escaped = _unit_escape(name)
            prefixes.extend(
                (
                    "/machine.slice/systemd-nspawn@%s.service" % escaped,
                    "/machine.slice/machine-%s.scope" % escaped,
                )
            )
    for container_id in _container_ids(root, runtime):
        if runtime == "docker":
            prefixes.extend(("/docker/" + container_id, "/system.slice/docker-%s.scope" % container_id))
        else:
            prefixes.extend(
                ("/machine.slice/libpod-%s.scope" % container_id, "/libpod_parent/libpod-%s" % container_id)
            )
    return prefixes
