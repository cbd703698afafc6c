# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


"""Memory cgroups for real kernel OOM kills: the hierarchy with the memory controller, groups this lab creates.

``MemoryCgroup.create(limit_bytes)`` makes ``oomguard-test-<random>`` directly below the root of the memory
hierarchy (cgroup v1 on a hybrid host, v2 on a pure v2 host), with swap disabled for it, and ``remove()`` kills
whatever is still inside and removes it. Only groups created here are ever touched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

CGROUP_PREFIX = "oomguard-test-"


class LabUnavailable(RuntimeError):
    """This machine cannot host real OOM kills (not root, no writable memory cgroup, ...). str() is the reason."""


class MemoryHierarchy:
    """The cgroup hierarchy that carries the memory controller: ``version`` (1 or 2) and its ``mount`` path."""

    def __init__(self, version: int, mount: Path):
        self.version = version
        self.mount = Path(mount)

    def __repr__(self):
        return f"MemoryHierarchy(version={self.version}, mount={str(self.mount)!r})"


def find_memory_hierarchy(mounts: str = "/proc/self/mounts") -> MemoryHierarchy:
    """Return the hierarchy with the memory controller; raise ``LabUnavailable`` when there is none.

    A controller is bound to one hierarchy only: a v1 mount with the ``memory`` option wins; otherwise a cgroup2
    mount whose ``cgroup.controllers`` lists ``memory`` (and that lets children use it) is taken.
    """
    v2_mounts = []
    try:
        with open(mounts) as handle:
            entries = [line.split() for line in handle]
    except OSError as exc:
        raise LabUnavailable(f"cannot read {mounts}: {exc}") from exc
    for fields in entries:
        if len(fields) < 4:
            continue
        fstype, mount, options = fields[2], fields[1], fields[3].split(",")
        if fstype == "cgroup" and "memory" in options:
            return MemoryHierarchy(1, Path(mount))
        if fstype == "cgroup2":
            v2_mounts.append(Path(mount))
    for mount in v2_mounts:
        try:
            controllers = (mount / "cgroup.controllers").read_text().split()
            subtree = (mount / "cgroup.subtree_control").read_text().split()
        except OSError:
            continue
        if "memory" in controllers and "memory" in subtree:
            return MemoryHierarchy(2, mount)
    raise LabUnavailable("no cgroup hierarchy with the memory controller enabled for child groups")


def lab_unavailable_reason() -> Optional[str]:
    """Why real OOM kills cannot be made here, or None when they can (root and a writable memory hierarchy)."""
    if not sys.platform.startswith("linux"):
        return "real OOM kills need Linux"
    if os.geteuid() != 0:
        return "real OOM kills need root (to create a memory cgroup and move processes into it)"
    try:
        hierarchy = find_memory_hierarchy()
    except LabUnavailable as exc:
        return str(exc)
    if not os.access(str(hierarchy.mount), os.W_OK):
        return f"memory cgroup hierarchy {hierarchy.mount} is not writable"
    return None


CAP_SYS_RESOURCE = 24


def has_capability(cap: int) -> bool:
    """Whether this process has capability number ``cap`` in its effective set."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> cap & 1)
    return False


def oom_score_adj_lowering_reason(value: int = -1000) -> Optional[str]:
    """None when this process can lower a child's oom_score_adj to ``value``, else why not.

    Without CAP_SYS_RESOURCE the kernel lets a process go down only to the ``oom_score_adj_min`` it inherited
    (set by the last privileged writer up the process tree), so the answer depends on how the test was started.
    Tests that need a protected (negative) hog should skip with this reason.
    """
    child = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        with open(f"/proc/{child.pid}/oom_score_adj", "w") as handle:
            handle.write(str(value))
    except PermissionError:
        missing = "" if has_capability(CAP_SYS_RESOURCE) else "no CAP_SYS_RESOURCE and "
        return f"cannot lower oom_score_adj to {value} here: {missing}an inherited oom_score_adj_min above it"
    finally:
        child.kill()
        child.wait()
    return None


def read_vmstat(key: str = "oom_kill") -> Optional[int]:
    """A counter from /proc/vmstat (``oom_kill`` by default), or None when the kernel has no such counter."""
    with open("/proc/vmstat") as handle:
        for line in handle:
            name, _sep, value = line.partition(" ")
            if name == key:
                return int(value)
    return None


def _read_flat_keyed(path: Path) -> Dict[str, int]:
    result = {}
    for line in path.read_text().splitlines():
        key, _sep, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            result[key] = int(value)
    return result


class MemoryCgroup:
    """A memory cgroup this lab created. Use ``create()``; always ``remove()`` it (or use it as a context manager).

    Attributes: ``name`` (``oomguard-test-<random>``), ``path`` (its directory), ``version`` (1 or 2) and
    ``kernel_path``, the path as the kernel prints it in ``oom_memcg=``/``task_memcg=`` (``/<name>``).
    """

    def __init__(self, hierarchy: MemoryHierarchy, name: str):
        if not name.startswith(CGROUP_PREFIX) or "/" in name:
            raise ValueError(f"lab cgroups are named {CGROUP_PREFIX}<something>, got {name!r}")
        self.hierarchy = hierarchy
        self.version = hierarchy.version
        self.name = name
        self.path = hierarchy.mount / name
        self.kernel_path = "/" + name
        self.removed = False

    @classmethod
    def create(
        cls,
        limit_bytes: int,
        *,
        name: Optional[str] = None,
        hierarchy: Optional[MemoryHierarchy] = None,
        oom_group: bool = False,
    ) -> MemoryCgroup:
        """Create a group limited to ``limit_bytes`` of memory and no swap.

        ``name`` defaults to ``oomguard-test-<random>`` and must carry that prefix. ``oom_group`` (v2 only) sets
        ``memory.oom.group`` so that an OOM kills every task of the group.
        """
        hierarchy = hierarchy or find_memory_hierarchy()
        group = cls(hierarchy, name or CGROUP_PREFIX + secrets.token_hex(4))
        group.path.mkdir()
        try:
            group.set_limit(limit_bytes)
            if oom_group:
                if group.version != 2:
                    raise LabUnavailable("memory.oom.group needs cgroup v2")
                group._write("memory.oom.group", "1")
        except BaseException:
            group.remove()
            raise
        return group

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.remove()

    def __repr__(self):
        return f"MemoryCgroup({str(self.path)!r}, v{self.version})"

    def _write(self, filename: str, value) -> None:
        with open(str(self.path / filename), "w") as handle:
            handle.write(str(value))

    def _read(self, filename: str) -> str:
        return (self.path / filename).read_text()

    def set_limit(self, limit_bytes: int) -> None:
        """Set the memory limit and forbid swap (v1: memsw = limit; v2: memory.swap.max = 0)."""
        if self.version == 1:
            self._write("memory.limit_in_bytes", limit_bytes)
            if (self.path / "memory.memsw.limit_in_bytes").exists():
                self._write("memory.memsw.limit_in_bytes", limit_bytes)
        else:
            self._write("memory.max", limit_bytes)
            if (self.path / "memory.swap.max").exists():
                self._write("memory.swap.max", 0)

    def limit_bytes(self) -> int:
        text = self._read("memory.limit_in_bytes" if self.version == 1 else "memory.max").strip()
        return -1 if text == "max" else int(text)

    def usage_bytes(self) -> int:
        return int(self._read("memory.usage_in_bytes" if self.version == 1 else "memory.current"))

    def add(self, pid: int) -> None:
        """Move a process (all its threads) into the group."""
        self._write("cgroup.procs", pid)

    def pids(self) -> List[int]:
        try:
            return [int(line) for line in self._read("cgroup.procs").split()]
        except FileNotFoundError:
            return []

    def oom_counters(self) -> Dict[str, int]:
        """The group's own OOM counters.

        v1: ``memory.oom_control`` (``oom_kill_disable``, ``under_oom``, ``oom_kill``); v2: ``memory.events``
        (``low``, ``high``, ``max``, ``oom``, ``oom_kill``, ``oom_group_kill``).
        """
        return _read_flat_keyed(self.path / ("memory.oom_control" if self.version == 1 else "memory.events"))

    def oom_kill_count(self) -> int:
        """How many processes the kernel OOM-killed in this group (``oom_kill`` of ``oom_counters()``)."""
        return self.oom_counters().get("oom_kill", 0)

    def kill_all(self, timeout: float = 10.0) -> None:
        """SIGKILL every task in the group and wait until the group is empty."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return
            if self.version == 2 and (self.path / "cgroup.kill").exists():
                self._write("cgroup.kill", 1)
            else:
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                raise RuntimeError(f"tasks {pids} survive in {self.path}")
            time.sleep(0.02)

    def remove(self, timeout: float = 10.0) -> None:
        """Kill leftover tasks, then rmdir the group (retrying while the kernel still has it busy). Idempotent."""
        if self.removed:
            return
        deadline = time.monotonic() + timeout
        try:
            self.kill_all(timeout)
        finally:
            while True:
                try:
                    self.path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            self.removed = True
