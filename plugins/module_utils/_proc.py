# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading processes from /proc: identity, cgroups, OOM scores.

PRIVATE to the oomguard.memory collection. No compatibility promise.

Every per-process read races with the process exiting: ProcessGone is raised for
ENOENT/ESRCH so that callers can skip the process instead of failing.
"""

from __future__ import annotations

import errno
import os
import re

from ansible_collections.oomguard.memory.plugins.module_utils._cgroup import unit_from_cgroup
from ansible_collections.oomguard.memory.plugins.module_utils._redact import redact_cmdline

PROC = "/proc"
PF_KTHREAD = 0x00200000
CMDLINE_MAX = 256
CMDLINE_READ_MAX = 4096
_PYTHON_NAME = re.compile(r"^(?:python|pypy)(?:\d+(?:\.\d+)*)?[dmu]?$", re.IGNORECASE)
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024 if hasattr(os, "sysconf") else 4


ZOMBIE_STATES = ("Z", "X")
SELF_STATUS = "/proc/self/status"
CAP_SYS_RESOURCE = 24


class ProcessGone(Exception):
    """The process exited while it was being read."""


def _read(pid, name, proc=PROC, binary=False, max_bytes=-1):
    path = os.path.join(proc, str(pid), name)
    try:
        if binary:
            with open(path, "rb") as handle:
                return handle.read(max_bytes)
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ESRCH):
            raise ProcessGone(pid) from None
        raise


def iter_pids(proc=PROC):
    """Yield the pid of every process (not thread) currently in /proc."""
    for entry in os.listdir(proc):
        if entry.isdigit():
            yield int(entry)


def read_stat(pid, proc=PROC):
    """Return (comm, state, ppid, flags) from /proc/PID/stat; comm may hold spaces and parentheses."""
    raw = _read(pid, "stat", proc)
    open_paren = raw.find("(")
    close_paren = raw.rfind(")")
    comm = raw[open_paren + 1 : close_paren]
    fields = raw[close_paren + 2 :].split()
    return comm, fields[0], int(fields[1]), int(fields[6])


def is_exited(pid, proc=PROC):
    """True when the process has exited: gone, or a zombie that its parent has not reaped yet."""
    try:
        return read_stat(pid, proc)[1] in ZOMBIE_STATES
    except (ProcessGone, ValueError, IndexError):
        return True


def has_capability(cap, status_path=SELF_STATUS):
    """True when this process has capability number C(cap) in its effective set (CapEff of /proc/self/status)."""
    try:
        with open(status_path, encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> cap & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def is_kernel_thread(pid, proc=PROC):
    """True for kernel threads (PF_KTHREAD), which have no user memory to protect."""
    return bool(read_stat(pid, proc)[3] & PF_KTHREAD)


def read_comm(pid, proc=PROC):
    return _read(pid, "comm", proc).rstrip("\n")


def read_cmdline(pid, proc=PROC, limit=CMDLINE_MAX, max_bytes=-1):
    """Return the command line joined by spaces and cut to C(limit) characters ('' for kernel threads).

    C(max_bytes) bounds what is read at all: a command line can be megabytes long.
    """
    raw = _read(pid, "cmdline", proc, binary=True, max_bytes=max_bytes)
    text = raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", errors="replace")
    if limit and len(text) > limit:
        return text[: limit - 3] + "..."
    return text


def read_argv0(pid, proc=PROC):
    raw = _read(pid, "cmdline", proc, binary=True)
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def read_int(pid, name, proc=PROC):
    return int(_read(pid, name, proc).strip())


def read_oom_score(pid, proc=PROC):
    return read_int(pid, "oom_score", proc)


def read_oom_score_adj(pid, proc=PROC):
    return read_int(pid, "oom_score_adj", proc)


def read_status(pid, proc=PROC, keys=("Uid", "VmRSS", "PPid", "Tgid")):
    """Return the selected lines of /proc/PID/status as strings."""
    wanted = set(keys)
    found = {}
    for line in _read(pid, "status", proc).splitlines():
        key, _sep, value = line.partition(":")
        if key in wanted:
            found[key] = value.strip()
            if len(found) == len(wanted):
                break
    return found


def read_rss_kb(pid, proc=PROC):
    """Resident set size in kB from /proc/PID/statm (cheaper than status)."""
    fields = _read(pid, "statm", proc).split()
    return int(fields[1]) * _PAGE_KB


def read_uid(pid, proc=PROC):
    uid = read_status(pid, proc, keys=("Uid",)).get("Uid")
    return int(uid.split()[0]) if uid else None


def read_cgroups(pid, proc=PROC):
    """Return (memory_cgroup, systemd_cgroup) paths of a process.

    On cgroup v2 both are the unified path. On v1 or hybrid hosts the memory cgroup is the
    v1 memory controller's path and the systemd one is the name=systemd or unified path.
    """
    unified = v1_memory = named_systemd = None
    for line in _read(pid, "cgroup", proc).splitlines():
        hierarchy_id, _sep, rest = line.partition(":")
        controllers, _sep, path = rest.partition(":")
        if hierarchy_id == "0" and controllers == "":
            unified = path
        elif "memory" in controllers.split(","):
            v1_memory = path
        elif controllers == "name=systemd":
            named_systemd = path
    memory = v1_memory or unified
    systemd = named_systemd or unified or v1_memory
    return memory, systemd


def is_python(comm, argv0):
    """True for Python interpreters, judged by comm or the basename of argv[0]."""
    return bool(_PYTHON_NAME.match(comm or "") or _PYTHON_NAME.match(os.path.basename(argv0 or "")))


def _status_kb(value):
    """'123 kB' from /proc/PID/status as an int (0 when absent, as for zombies)."""
    try:
        return int(value.split()[0]) if value else 0
    except ValueError:
        return 0


def describe(pid, proc=PROC, cmdline_limit=CMDLINE_MAX):
    """Return the public description of one process as used by the facts module.

    The command line is read up to CMDLINE_READ_MAX bytes, redacted (see _redact) and cut to C(cmdline_limit).
    """
    comm = read_comm(pid, proc)
    path = os.path.join(proc, str(pid), "cmdline")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(CMDLINE_READ_MAX)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ESRCH):
            raise ProcessGone(pid) from None
        raise
    argv0 = raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")
    memory_cgroup, systemd_cgroup = read_cgroups(pid, proc)
    status = read_status(pid, proc, keys=("Uid", "VmRSS", "VmHWM", "VmSwap"))
    uid = status.get("Uid")
    return {
        "pid": pid,
        "comm": comm,
        "cmdline": redact_cmdline(raw, cmdline_limit),
        "oom_score": read_oom_score(pid, proc),
        "oom_score_adj": read_oom_score_adj(pid, proc),
        "rss_kb": _status_kb(status.get("VmRSS")),
        "hwm_kb": _status_kb(status.get("VmHWM")),
        "swap_kb": _status_kb(status.get("VmSwap")),
        "uid": int(uid.split()[0]) if uid else None,
        "unit": unit_from_cgroup(systemd_cgroup),
        "cgroup": memory_cgroup,
        "python": is_python(comm, argv0),
    }


def top_by_oom_score(count, proc=PROC, seen_comms=None, exclude=()):
    """Return descriptions of the C(count) user processes with the highest oom_score, highest first.

    Scores are read for every process first (one small read each); full descriptions only for the winners.
    When C(seen_comms) is a set, the comm of every user process is added to it. Pids in C(exclude) (the
    module's own process chain) are never listed, nor processes that exit before their description is read
    (gone, or zombies: the next highest takes their place).
    """
    scored = []
    for pid in iter_pids(proc):
        try:
            comm, state, _ppid, flags = read_stat(pid, proc)
            if flags & PF_KTHREAD or state in ZOMBIE_STATES:
                continue
            if seen_comms is not None:
                seen_comms.add(comm)
            if count > 0 and pid not in exclude:
                scored.append((read_oom_score(pid, proc), pid))
        except (ProcessGone, OSError, ValueError, IndexError):
            continue
    scored.sort(key=lambda item: (-item[0], item[1]))
    result = []
    for _score, pid in scored:
        if len(result) >= count:
            break
        try:
            described = describe(pid, proc)
        except (ProcessGone, OSError, ValueError, IndexError):
            continue
        if not is_exited(pid, proc):
            result.append(described)
    return result


# Added for oom_score_adj: writing the score and walking the process tree.


def write_oom_score_adj(pid, value, proc=PROC):
    """Write /proc/PID/oom_score_adj. Raises ProcessGone when the process exited, OSError otherwise.

    Lowering the value below what the process had needs CAP_SYS_RESOURCE (EACCES/EPERM without it).
    """
    path = os.path.join(proc, str(pid), "oom_score_adj")
    try:
        with open(path, "w", encoding="ascii") as handle:
            handle.write("%d\n" % value)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ESRCH):
            raise ProcessGone(pid) from None
        raise


def parent_chain(pid, proc=PROC, limit=4096):
    """Return [pid, its parent, its grandparent, ...] up to pid 1 (included) or the first process that cannot be
    read, at most C(limit) processes above C(pid)."""
    chain = [pid]
    current = pid
    while current > 1 and len(chain) <= limit:
        try:
            parent = read_stat(current, proc)[2]
        except (ProcessGone, OSError, ValueError, IndexError):
            break
        if parent <= 0 or parent in chain:
            break
        chain.append(parent)
        current = parent
    return chain


def ancestors(pid, proc=PROC, limit=4096):
    """Return the set of pids above C(pid) in the process tree (its parent, grandparent, ... up to pid 1)."""
    return set(parent_chain(pid, proc, limit)[1:])
