# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A small lab for tests that need REAL kernel OOM kills, and a way to run modules through ansible.

Everything here works on the machine itself (root, a writable memory cgroup); nothing is mocked.

Cgroups
    ``find_memory_hierarchy()`` picks the hierarchy that carries the memory controller: cgroup v1
    (``/sys/fs/cgroup/memory`` on a hybrid host) or cgroup v2 (pure v2 host, or a hybrid host whose memory
    controller sits on the unified mount). ``MemoryCgroup.create(limit_bytes)`` makes a fresh group named
    ``oomguard-test-<random>`` directly below that hierarchy's root, with swap disabled for it so that the limit
    produces an OOM kill instead of swapping. ``MemoryCgroup.remove()`` SIGKILLs whatever is still inside and
    rmdirs it. The lab only ever touches groups it created.

Hogs
    ``start_hog()`` runs ``oomlab_hog.py`` (standard library only) under a chosen comm and argv[0]. The hog
    stops before allocating, so the test can set its ``oom_score_adj`` and move it into a cgroup; it then
    allocates and touches memory in steps until it is killed (or holds at ``max_bytes``). The returned ``Hog``
    watches the process with psutil and tells how it died (``wait_for_death()``, ``exit_signal``).

Kernel log
    ``KmsgCursor`` reads ``/dev/kmsg`` from "now" on, so a test sees exactly the kernel records printed after it
    opened the cursor (``killed_processes()`` extracts the ``Killed process`` lines).

Ansible
    ``run_module(module, args, check=False)`` runs ``ansible localhost -c local -m <fqcn> -a <json>`` with the
    JSON results on stdout and returns the host's result dict. Module code is never imported.

``Lab`` owns cgroups and hogs and cleans all of them up, also on failure. Typical use (the pytest fixtures in
``tests/integration/conftest.py`` wrap exactly this)::

    with Lab() as lab:
        group = lab.memory_cgroup(64 * MiB)
        victim = lab.start_hog("oomguard-victim", cgroup=group)             # allocates until killed
        keeper = lab.start_hog("oomguard-keeper", cgroup=group, oom_score_adj=-1000, max_bytes=24 * MiB, go=False)
        keeper.go(); keeper.wait_holding()
        victim.go()
        assert victim.wait_for_death() == -signal.SIGKILL
        assert keeper.is_alive() and group.oom_kill_count() >= 1

To compare two hogs (e.g. "protect one, the kernel kills the other"), start both with ``go=False``, let the
one that must hold its memory reach ``max_bytes`` first (``wait_holding()``), then release the other.

Sizing: besides its ``max_bytes``, each hog charges a few MiB of its own to the group (page tables, Python
heap after the move; its start-up memory stays charged to the group it came from). After the kernel killed
the victim, the survivors plus ~8 MiB must fit under the limit, or the kernel goes on killing (a bounded
trigger hog that keeps allocating is the usual culprit). A negative ``oom_score_adj`` needs CAP_SYS_RESOURCE or
a low inherited minimum: check ``oom_score_adj_lowering_reason()`` first and skip with it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import psutil

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

REPO_ROOT = Path(__file__).resolve().parents[2]
HOG_SCRIPT = Path(__file__).resolve().with_name("oomlab_hog.py")
COLLECTION_NAMESPACE = "oomguard.memory"
CGROUP_PREFIX = "oomguard-test-"
COMM_MAX = 15  # TASK_COMM_LEN - 1
DEFAULT_INTERPRETER = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


class LabUnavailable(RuntimeError):
    """This machine cannot host real OOM kills (not root, no writable memory cgroup, ...). str() is the reason."""


class AnsibleRunError(RuntimeError):
    """ansible did not produce a parsable result (as opposed to a module that returned failed=True)."""


# --------------------------------------------------------------------------------------------------------------
# cgroups


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


# --------------------------------------------------------------------------------------------------------------
# hogs


class Hog:
    """A running ``oomlab_hog.py``. Created by ``start_hog()``.

    ``pid``, ``comm``, ``popen`` (the subprocess.Popen) and ``process`` (its psutil.Process) are public. The
    hog's progress lines are in ``lines``; ``allocated_bytes`` is the last size it reported.
    """

    def __init__(self, popen: subprocess.Popen, comm: str):
        self.popen = popen
        self.pid = popen.pid
        self.comm = comm
        self.process = psutil.Process(popen.pid)
        self.lines: List[str] = []
        self.allocated_bytes = 0
        self.holding = False
        self._ready = threading.Event()
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read_stdout, name=f"hog-{self.pid}", daemon=True)
        self._reader.start()

    def __repr__(self):
        return f"Hog(pid={self.pid}, comm={self.comm!r}, returncode={self.popen.returncode!r})"

    def _read_stdout(self):
        for raw in self.popen.stdout:
            line = raw.decode("utf-8", "replace").strip()
            with self._changed:
                self.lines.append(line)
                word, _sep, value = line.partition(" ")
                if word == "ready":
                    self._ready.set()
                elif word in ("allocated", "holding", "cap"):
                    self.allocated_bytes = int(value)
                    self.holding = word == "holding"
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_ready(self, timeout: float = 10.0) -> None:
        if not self._ready.wait(timeout):
            raise TimeoutError(f"hog {self.pid} did not get ready within {timeout}s (lines: {self.lines})")

    def _send(self, text: str) -> None:
        try:
            self.popen.stdin.write(text.encode() + b"\n")
            self.popen.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def go(self) -> None:
        """Let the hog start allocating."""
        self._send("go")

    def release(self) -> None:
        """Make a waiting or holding hog exit 0 (closes its stdin)."""
        with contextlib.suppress(BrokenPipeError, OSError):
            self.popen.stdin.close()

    def set_oom_score_adj(self, value: int) -> None:
        """Write /proc/<pid>/oom_score_adj (-1000..1000).

        Lowering it below the minimum the process inherited needs CAP_SYS_RESOURCE: that raises
        ``LabUnavailable`` (see ``oom_score_adj_lowering_reason()``).
        """
        try:
            with open(f"/proc/{self.pid}/oom_score_adj", "w") as handle:
                handle.write(str(value))
        except PermissionError:
            raise LabUnavailable(
                f"cannot lower oom_score_adj of pid {self.pid} to {value}: needs CAP_SYS_RESOURCE, which this "
                f"process {'has' if has_capability(CAP_SYS_RESOURCE) else 'lacks'}, or an inherited "
                "oom_score_adj_min at or below the value"
            ) from None

    def oom_score_adj(self) -> int:
        with open(f"/proc/{self.pid}/oom_score_adj") as handle:
            return int(handle.read())

    def oom_score(self) -> int:
        with open(f"/proc/{self.pid}/oom_score") as handle:
            return int(handle.read())

    def rss_bytes(self) -> int:
        return self.process.memory_info().rss

    def _wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                if self.popen.poll() is not None:
                    raise RuntimeError(f"hog {self.pid} exited ({self.popen.returncode}) before {what}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"hog {self.pid}: no {what} within {timeout}s")
                self._changed.wait(min(remaining, 0.1))

    def wait_allocated(self, nbytes: int, timeout: float = 30.0) -> None:
        """Wait until the hog reported at least ``nbytes`` allocated."""
        self._wait_for(lambda: self.allocated_bytes >= nbytes, timeout, f"{nbytes} bytes allocated")

    def wait_holding(self, timeout: float = 30.0) -> None:
        """Wait until the hog reached ``max_bytes`` and holds it."""
        self._wait_for(lambda: self.holding, timeout, "holding state")

    def is_alive(self) -> bool:
        """True while the process runs (a zombie counts as dead)."""
        if self.popen.poll() is not None:
            return False
        try:
            return self.process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def wait_for_death(self, timeout: float = 60.0) -> int:
        """Wait for the hog to exit and return its returncode (``-signal.SIGKILL`` after an OOM kill).

        Raises TimeoutError (and leaves the hog alone) if it still lives after ``timeout`` seconds.
        """
        try:
            returncode = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"hog {self.pid} ({self.comm}) still alive after {timeout}s; allocated {self.allocated_bytes} bytes"
            ) from None
        self._reader.join(5)
        return returncode

    @property
    def returncode(self) -> Optional[int]:
        return self.popen.poll()

    @property
    def exit_signal(self) -> Optional[int]:
        """The signal that ended the hog (``signal.SIGKILL`` after an OOM kill), None if it exited or still runs."""
        code = self.popen.poll()
        return -code if code is not None and code < 0 else None

    @property
    def was_sigkilled(self) -> bool:
        return self.exit_signal == signal.SIGKILL

    def kill(self) -> None:
        """SIGKILL the hog if it still runs, and reap it."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        for stream in (self.popen.stdin, self.popen.stdout):
            with contextlib.suppress(OSError, ValueError):
                stream.close()


def start_hog(
    comm: str = "oomguard-hog",
    *,
    cgroup: Optional[MemoryCgroup] = None,
    oom_score_adj: Optional[int] = None,
    go: bool = True,
    step_bytes: int = 1 * MiB,
    interval: float = 0.005,
    max_bytes: Optional[int] = None,
    cap_bytes: int = 2 * GiB,
    argv0: Optional[str] = None,
    extra_args: Sequence[str] = (),
    python: Optional[str] = None,
    ready_timeout: float = 10.0,
) -> Hog:
    """Start a memory hog and return its ``Hog``. Prefer ``Lab.start_hog()``, which also cleans it up.

    ``comm``: the process name the kernel shows (``/proc/<pid>/comm``, the OOM report), at most 15 characters.
    ``argv0``: what ``ps``/``/proc/<pid>/cmdline`` show first (default: ``comm``); ``extra_args`` are appended
    after ``--tag`` so a test can recognise its hogs by command line. ``python`` defaults to this interpreter.

    Order of events: start -> ready (comm set) -> ``oom_score_adj`` written -> moved into ``cgroup`` -> ``go``
    (unless ``go=False``: then call ``hog.go()`` yourself). The hog allocates ``step_bytes`` every ``interval``
    seconds, touching each page, until it is killed, or until ``max_bytes`` (then it holds). Without
    ``max_bytes`` and without a cgroup, ``cap_bytes`` stops it with exit status 3.
    """
    if len(comm.encode()) > COMM_MAX:
        raise ValueError(f"comm {comm!r} is longer than {COMM_MAX} bytes; the kernel would cut it")
    argv = [
        argv0 or comm,
        str(HOG_SCRIPT),
        "--comm",
        comm,
        "--parent-pid",
        str(os.getpid()),
        "--step-bytes",
        str(step_bytes),
        "--interval",
        str(interval),
        "--max-bytes",
        str(max_bytes or 0),
        "--cap-bytes",
        str(cap_bytes),
    ]
    if extra_args:
        argv += ["--tag", " ".join(extra_args)]
    popen = subprocess.Popen(
        argv,
        executable=python or sys.executable,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
    )
    hog = Hog(popen, comm)
    try:
        hog.wait_ready(ready_timeout)
        if oom_score_adj is not None:
            hog.set_oom_score_adj(oom_score_adj)
        if cgroup is not None:
            cgroup.add(hog.pid)
        if go:
            hog.go()
    except BaseException:
        hog.kill()
        raise
    return hog


# --------------------------------------------------------------------------------------------------------------
# kernel log


class KmsgRecord:
    """One /dev/kmsg record: ``level`` (0-7), ``facility``, ``seq``, ``usec`` (since boot) and ``message``."""

    def __init__(self, prio: int, seq: int, usec: int, message: str):
        self.level = prio & 7
        self.facility = prio >> 3
        self.seq = seq
        self.usec = usec
        self.message = message

    def __repr__(self):
        return f"KmsgRecord(seq={self.seq}, level={self.level}, {self.message!r})"


KILLED_PROCESS = re.compile(r"(?:(?P<context>[^:]*): )?Killed process (?P<pid>\d+) \((?P<comm>.*?)\)(?P<rest>.*)$")


class KmsgCursor:
    """Reads the kernel log records printed after the cursor was opened (needs CAP_SYSLOG, i.e. root).

    Use as a context manager, or call ``close()``. ``read()`` returns the records since the last ``read()``;
    ``wait_for(predicate, timeout)`` polls until a record matches.
    """

    def __init__(self, path: str = "/dev/kmsg"):
        self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self._fd, 0, os.SEEK_END)
        self.records: List[KmsgRecord] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def read(self) -> List[KmsgRecord]:
        new = []
        while True:
            try:
                raw = os.read(self._fd, 16384)
            except BlockingIOError:
                break
            except BrokenPipeError:  # records were overwritten before we read them; go on with the next one
                continue
            header, _sep, body = raw.decode("utf-8", "replace").partition(";")
            fields = header.split(",")
            message = body.split("\n", 1)[0]
            new.append(KmsgRecord(int(fields[0]), int(fields[1]), int(fields[2]), message))
        self.records.extend(new)
        return new

    def wait_for(self, predicate, timeout: float = 10.0) -> Optional[KmsgRecord]:
        """Poll until a record (seen before or new) satisfies ``predicate``; return it, or None on timeout."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            self.read()
            for record in self.records[seen:]:
                if predicate(record):
                    return record
            seen = len(self.records)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def killed_processes(self) -> List[Dict[str, object]]:
        """The ``Killed process`` records seen so far: dicts with pid, comm, context, message."""
        self.read()
        kills = []
        for record in self.records:
            match = KILLED_PROCESS.search(record.message)
            if match:
                kills.append(
                    {
                        "pid": int(match.group("pid")),
                        "comm": match.group("comm"),
                        "context": match.group("context"),
                        "message": record.message,
                    }
                )
        return kills


# --------------------------------------------------------------------------------------------------------------
# lab


class Lab:
    """Owns the cgroups and hogs a test creates; ``close()`` (or leaving the ``with`` block) kills the hogs and
    removes the cgroups, also when the test failed."""

    def __init__(self):
        reason = lab_unavailable_reason()
        if reason:
            raise LabUnavailable(reason)
        self.hierarchy = find_memory_hierarchy()
        self.cgroups: List[MemoryCgroup] = []
        self.hogs: List[Hog] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def memory_cgroup(self, limit_bytes: int = 64 * MiB, **kwargs) -> MemoryCgroup:
        """``MemoryCgroup.create(limit_bytes, **kwargs)``, removed by ``close()``."""
        group = MemoryCgroup.create(limit_bytes, hierarchy=self.hierarchy, **kwargs)
        self.cgroups.append(group)
        return group

    def start_hog(self, comm: str = "oomguard-hog", **kwargs) -> Hog:
        """``start_hog(comm, **kwargs)``, killed by ``close()``."""
        hog = start_hog(comm, **kwargs)
        self.hogs.append(hog)
        return hog

    def close(self) -> None:
        errors = []
        for hog in self.hogs:
            try:
                hog.kill()
            except Exception as exc:
                errors.append(exc)
        for group in reversed(self.cgroups):
            try:
                group.remove()
            except Exception as exc:
                errors.append(exc)
        self.hogs, self.cgroups = [], []
        if errors:
            raise RuntimeError(f"lab cleanup failed: {errors}")


def oom_kill_once(
    lab: Lab, comm: str = "oomguard-hog", limit_bytes: int = 64 * MiB, timeout: float = 60.0, **hog_kwargs
):
    """Make one real memcg OOM kill: a hog named ``comm`` in a fresh group of ``limit_bytes``.

    Returns ``(group, hog)`` after the hog died; the group is left in place (the lab removes it) so that its
    counters can still be read.
    """
    group = lab.memory_cgroup(limit_bytes)
    hog = lab.start_hog(comm, cgroup=group, **hog_kwargs)
    hog.wait_for_death(timeout)
    return group, hog


# --------------------------------------------------------------------------------------------------------------
# ansible


def fqcn(module: str) -> str:
    """``oom_facts`` -> ``oomguard.memory.oom_facts``; names that contain a dot are taken as they are."""
    return module if "." in module else f"{COLLECTION_NAMESPACE}.{module}"


_collections_dir: Optional[Path] = None


def collections_path() -> Path:
    """A directory in which ``ansible_collections/oomguard/memory`` is this checkout.

    That is ``.cache/collections`` when ``tests/setup-env.sh`` made it; otherwise a private temporary one.
    """
    global _collections_dir
    if _collections_dir is None:
        standard = REPO_ROOT / ".cache" / "collections"
        link = standard / "ansible_collections" / "oomguard" / "memory"
        if link.exists() and link.resolve() == REPO_ROOT:
            _collections_dir = standard
        else:
            temporary = Path(tempfile.mkdtemp(prefix="oomlab-collections-"))
            (temporary / "ansible_collections" / "oomguard").mkdir(parents=True)
            (temporary / "ansible_collections" / "oomguard" / "memory").symlink_to(REPO_ROOT)
            _collections_dir = temporary
    return _collections_dir


def ansible_executable(name: str = "ansible") -> str:
    """The ansible command next to the running python (the venv), else the one on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise AnsibleRunError(f"{name} not found (activate the venv: . .venv/bin/activate)")
    return found


def ansible_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment for ansible runs: the repo's ansible.cfg, JSON results on stdout, no colour or warnings.

    The stdout callback is ansible-core's ``minimal`` with ``callback_result_format=json``: it prints
    ``localhost | SUCCESS => {json}``. (The ``json`` callback lives in ansible.posix, which is not a test
    requirement.)
    """
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(collections_path()),
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.minimal",
            "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
        }
    )
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    if extra:
        env.update(extra)
    return env


_RESULT_START = re.compile(r"^localhost \| (?P<status>[A-Z]+)!? => ", re.MULTILINE)


def run_module(
    module: str,
    args: Optional[Dict[str, object]] = None,
    check: bool = False,
    *,
    diff: bool = False,
    interpreter: Optional[str] = None,
    extra_vars: Optional[Dict[str, object]] = None,
    env: Optional[Dict[str, str]] = None,
    timeout: float = 600.0,
) -> Dict[str, object]:
    """Run a module on localhost THROUGH ANSIBLE and return its result dict.

    ``module``: ``oom_facts`` (this collection) or a FQCN such as ``ansible.builtin.ping``. ``args``: the module
    options, passed as JSON. ``check``/``diff``: ``--check``/``--diff``. ``interpreter`` sets
    ``ansible_python_interpreter``; the default is ``DEFAULT_INTERPRETER`` (the system python3, as on a managed
    host), not interpreter discovery, which may pick a broken pyenv shim on developer machines.

    A module failure is returned as a dict with ``failed: true``. The keys ``_ansible_status`` (SUCCESS,
    CHANGED, FAILED, ...) and ``_ansible_rc`` (the ansible command's exit status) are added. An ansible run that
    produced no parsable result raises ``AnsibleRunError`` (so do command-style modules such as
    ansible.builtin.command, which the minimal callback prints as text).
    """
    command = [ansible_executable(), "localhost", "-i", "localhost,", "-c", "local", "-m", fqcn(module)]
    if args:
        command += ["-a", json.dumps(args)]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    variables = dict(extra_vars or {})
    variables["ansible_python_interpreter"] = interpreter or DEFAULT_INTERPRETER
    command += ["-e", json.dumps(variables)]
    completed = subprocess.run(
        command,
        cwd=str(REPO_ROOT),
        env=ansible_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    stdout = completed.stdout.decode("utf-8", "replace")
    try:
        match = _RESULT_START.search(stdout)
        if not match:
            raise ValueError("no 'localhost | STATUS => ' line")
        result = json.loads(stdout[match.end() :])
        if not isinstance(result, dict):
            raise ValueError("result is not a dict")
    except ValueError as exc:
        stderr = completed.stderr.decode("utf-8", "replace")
        raise AnsibleRunError(
            f"no result from {' '.join(command)} (rc={completed.returncode})\n"
            f"stdout: {stdout[-4000:]}\nstderr: {stderr[-4000:]}"
        ) from exc
    status = match.group("status")
    if status in ("FAILED", "UNREACHABLE"):  # the minimal callback prints the status, not the flag
        result.setdefault("failed", True)
    result["_ansible_status"] = status
    result["_ansible_rc"] = completed.returncode
    return result


RUSAGE_WRAPPER = """#!{python}
# Written by oomlab.rusage_interpreter(): runs the real interpreter, then appends one JSON line to {report!r}:
# the peak RSS (KiB) and CPU time of everything it waited for, and the wall time of the run.
import json
import resource
import subprocess
import sys
import time

start = time.perf_counter()
returncode = subprocess.call([{python!r}] + sys.argv[1:])
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open({report!r}, "a") as handle:
    record = {{"maxrss_kib": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall}}
    handle.write(json.dumps(record) + "\\n")
sys.exit(returncode)
"""


def rusage_interpreter(directory: Path, python: str = DEFAULT_INTERPRETER) -> Tuple[Path, Path]:
    """Write an interpreter wrapper for ``ansible_python_interpreter`` that measures the module process.

    Returns ``(wrapper, report)``. After each module run through the wrapper, ``report`` gets one JSON line:
    ``maxrss_kib``, the peak RSS of the real interpreter process (``getrusage(RUSAGE_CHILDREN).ru_maxrss``:
    exact, no sampling; commands the module ran count too, as the max), ``cpu_s`` (user + system) and
    ``wall_s``, the time the module process ran (without ansible's own start-up on the controller).
    Read it with ``read_rusage_reports(report)`` or ``read_peak_rss_kib(report)``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / (f"rusage-python-{secrets.token_hex(3)}")
    report = wrapper.with_suffix(".rusage")
    wrapper.write_text(RUSAGE_WRAPPER.format(python=python, report=str(report)))
    wrapper.chmod(0o755)
    return wrapper, report


def read_rusage_reports(report: Path) -> List[Dict[str, float]]:
    """The records a ``rusage_interpreter`` wrapper wrote, one dict per module run (oldest first)."""
    try:
        return [json.loads(line) for line in Path(report).read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def read_peak_rss_kib(report: Path) -> List[int]:
    """The peak RSS values (KiB) a ``rusage_interpreter`` wrapper reported, one per module run."""
    return [int(record["maxrss_kib"]) for record in read_rusage_reports(report)]
