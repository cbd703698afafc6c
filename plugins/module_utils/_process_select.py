# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Selecting running processes by pid, comm, command line, systemd unit or cgroup.

PRIVATE to the oomguard.memory collection. No compatibility promise.

C(snapshot()) reads every process once; the selection functions work on that snapshot only,
so they can be tested with invented data. Processes that exit while being read are skipped.

Command lines are attacker-controlled: only their first PATTERN_CMDLINE_MAX bytes are read, and
C(time_budget()) bounds the whole selection (a user's regular expression may backtrack for hours).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections import namedtuple

from ansible_collections.oomguard.memory.plugins.module_utils._cgroup import (
    CGROUP_ROOT,
    is_kubepods,
    memory_v1_mount,
    unified_mount,
)
from ansible_collections.oomguard.memory.plugins.module_utils._proc import (
    PF_KTHREAD,
    PROC,
    ProcessGone,
    ancestors,
    iter_pids,
    read_cgroups,
    read_cmdline,
    read_stat,
)
from ansible_collections.oomguard.memory.plugins.module_utils._systemd import show_units, systemd_booted
from ansible_collections.oomguard.memory.plugins.module_utils._unit_name import split_unit_name

ProcessInfo = namedtuple(
    "ProcessInfo", ("pid", "ppid", "comm", "kthread", "cmdline", "memory_cgroup", "systemd_cgroup", "state")
)
COMM_MAX = 15
PATTERN_CMDLINE_MAX = 4096
SELECTION_BUDGET = 10.0


class SelectionTimeout(Exception):
    """The selection did not finish within its time budget."""


def read_process(pid, proc=PROC, cmdline=False):
    """Return a ProcessInfo for one pid; raises ProcessGone when it exited."""
    comm, state, ppid, flags = read_stat(pid, proc)
    kthread = bool(flags & PF_KTHREAD)
    memory_cgroup = systemd_cgroup = None
    if not kthread:
        memory_cgroup, systemd_cgroup = read_cgroups(pid, proc)
    text = read_cmdline(pid, proc, limit=0, max_bytes=PATTERN_CMDLINE_MAX) if cmdline and not kthread else ""
    return ProcessInfo(pid, ppid, comm, kthread, text, memory_cgroup, systemd_cgroup, state)


def snapshot(proc=PROC, cmdline=False):
    """Return {pid: ProcessInfo} for every process that could be read; C(cmdline) also reads command lines."""
    processes = {}
    for pid in iter_pids(proc):
        try:
            processes[pid] = read_process(pid, proc, cmdline)
        except (ProcessGone, OSError, ValueError, IndexError):
            continue
    return processes


@contextlib.contextmanager
def time_budget(seconds):
    """Raise SelectionTimeout in the block once C(seconds) have passed.

    A SIGALRM handler runs between bytecodes, and the C regular expression engine checks for pending signals
    while it backtracks, so a runaway C(re.search) is stopped too. Needs the main thread (modules run there).
    """

    def expired(_signum, _frame):
        raise SelectionTimeout()

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def own_process_chain(proc=PROC):
    """The pids that run this module: its own process and every ancestor (the shell, sshd, ansible, ...)."""
    pid = os.getpid()
    return {pid} | ancestors(pid, proc)


def exclude_own_chain(pids, processes, own):
    """Split C(pids) into (kept, excluded): the processes in C(own) (see own_process_chain) are left alone.

    C(excluded) holds one dict per process left alone, with the reason, in pid order.
    """
    kept = []
    excluded = []
    for pid in pids:
        if pid not in own:
            kept.append(pid)
            continue
        reason = "runs this module" if pid == os.getpid() else "an ancestor of the process running this module"
        info = processes.get(pid)
        excluded.append({"pid": pid, "comm": info.comm if info else "", "reason": reason})
    return kept, excluded


def own_chain_warning(pids, processes):
    """The warning when a unit, cgroup or pid selection reached the module's own process or its ancestors."""
    return "left %s alone: the process running this module and its ancestors are never changed" % ", ".join(
        "%d (%s)" % (pid, processes[pid].comm) for pid in pids[:10]
    )


def own_chain_restart_reasons(pids, processes, value, unit):
    """One restart reason per ancestor of the module in a unit: it gets OOMScoreAdjust= only at the next start."""
    return [
        "pid %d (%s) gets OOMScoreAdjust=%d only when %s next starts; it was left alone because it runs this module"
        % (pid, processes[pid].comm, value, unit)
        for pid in pids
        if pid != os.getpid()
    ]


def in_cgroup(path, base):
    """True when cgroup C(path) is C(base) or below it (paths as in /proc/PID/cgroup)."""
    if path is None:
        return False
    base = "/" + base.strip("/")
    if base == "/":
        return True
    return path == base or path.startswith(base + "/")


def normalize_cgroup(path, mounts=None):
    """Turn a cgroup path or a /sys/fs/cgroup/... directory into the form /proc/PID/cgroup prints.

    C(mounts) lists the hierarchy mount points to strip (default: the v1 memory and the v2 mounts).
    """
    path = "/" + os.path.normpath("/" + path).strip("/")
    if mounts is None:
        mounts = [mount for mount in (memory_v1_mount(), unified_mount()) if mount]
    for mount in sorted(mounts, key=len, reverse=True):
        mount = mount.rstrip("/")
        if path == mount:
            return "/"
        if path.startswith(mount + "/"):
            return path[len(mount) :]
    if path == CGROUP_ROOT:
        return "/"
    return path


def unit_in_cgroup_path(path, unit):
    """True when a systemd cgroup path runs through C(unit); a template ('foo@.service') matches its instances."""
    if not path:
        return False
    stem, _dot, suffix = unit.rpartition(".")
    template = stem.endswith("@")
    for component in path.strip("/").split("/"):
        if component == unit:
            return True
        if template and component.startswith(stem) and component.endswith("." + suffix):
            return True
    return False


def descendants(processes, roots):
    """Return the pids of all descendants of C(roots) in a snapshot (children, grandchildren, ...)."""
    children = {}
    for info in processes.values():
        children.setdefault(info.ppid, []).append(info.pid)
    found = set()
    queue = list(roots)
    while queue:
        for child in children.get(queue.pop(), ()):
            if child not in found and child not in roots:
                found.add(child)
                queue.append(child)
    return found


def kubepods_managed(info):
    """True when the process lives in a cgroup that a kubelet manages."""
    return is_kubepods(info.memory_cgroup) or is_kubepods(info.systemd_cgroup)


def select_by_name(processes, name, exclude=()):
    return sorted(pid for pid, info in processes.items() if info.comm == name and pid not in exclude)


def select_by_pattern(processes, regex, exclude=()):
    return sorted(
        pid for pid, info in processes.items() if info.cmdline and regex.search(info.cmdline) and pid not in exclude
    )


def select_by_cgroup(processes, cgroup):
    """Processes whose memory cgroup (or, failing that, systemd cgroup) is C(cgroup) or below it."""
    return sorted(
        pid
        for pid, info in processes.items()
        if in_cgroup(info.memory_cgroup, cgroup) or in_cgroup(info.systemd_cgroup, cgroup)
    )


def select_by_unit(processes, unit, control_group=None):
    """Processes of a unit: below its ControlGroup when systemd told us, else those whose cgroup path names it."""
    if control_group:
        return sorted(pid for pid, info in processes.items() if in_cgroup(info.systemd_cgroup, control_group))
    return sorted(pid for pid, info in processes.items() if unit_in_cgroup_path(info.systemd_cgroup, unit))


def unit_control_group(module, unit):
    """Return the unit's ControlGroup from systemd, '' when it has none (inactive), None when unknown.

    None means "match cgroup paths by the unit name instead": a template, no running systemd, no systemctl,
    or a systemctl that failed (with a warning).
    """
    if split_unit_name(unit)[1] == "" or not systemd_booted():
        return None
    systemctl = module.get_bin_path("systemctl")
    if not systemctl:
        return None
    try:
        units = show_units(module.run_command, systemctl, [unit], ["ControlGroup"])
    except RuntimeError as exc:
        module.warn("cannot read the cgroup of %s from systemd (%s); matching cgroup paths instead" % (unit, exc))
        return None
    return units.get(unit, {}).get("ControlGroup") or ""


def unit_processes(module, unit, processes):
    """The pids of a unit in a snapshot: oom_score_adj (unit=) and systemd_memory (oom_score_adjust, apply=true)."""
    control_group = unit_control_group(module, unit)
    return [] if control_group == "" else select_by_unit(processes, unit, control_group)
