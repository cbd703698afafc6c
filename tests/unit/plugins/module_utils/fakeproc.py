# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fake /proc tree for unit tests of process selection and oom_score_adj (invented processes)."""

from __future__ import annotations

import os

PF_KTHREAD = 0x00200000


def add_process(
    root,
    pid,
    comm,
    ppid=1,
    cmdline=None,
    memory="/",
    systemd="/",
    adj=0,
    kthread=False,
    v2=False,
    state="S",
    cgroup=None,
):
    """Create ROOT/PID with stat, comm, cmdline, cgroup and oom_score_adj files (state "Z" makes a zombie).

    C(cgroup) is the path in both the memory and the systemd hierarchy (else C(memory) and C(systemd)).
    """
    if cgroup is not None:
        memory = systemd = cgroup
    directory = os.path.join(str(root), str(pid))
    os.makedirs(directory)
    flags = PF_KTHREAD if kthread else 0x400100
    with open(os.path.join(directory, "stat"), "w") as handle:
        handle.write(
            "%d (%s) %s %d %d %d 0 -1 %d 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n" % (pid, comm, state, ppid, pid, pid, flags)
        )
    with open(os.path.join(directory, "comm"), "w") as handle:
        handle.write(comm + "\n")
    args = [] if kthread else (cmdline if cmdline is not None else [comm])
    with open(os.path.join(directory, "cmdline"), "wb") as handle:
        handle.write(b"".join(arg.encode() + b"\0" for arg in args))
    with open(os.path.join(directory, "cgroup"), "w") as handle:
        if v2:
            handle.write("0::%s\n" % systemd)
        else:
            handle.write("9:name=systemd:%s\n4:memory:%s\n1:cpu:/\n0::/\n" % (systemd, memory))
    with open(os.path.join(directory, "oom_score_adj"), "w") as handle:
        handle.write("%d\n" % adj)
    return directory


def read_adj(root, pid):
    with open(os.path.join(str(root), str(pid), "oom_score_adj")) as handle:
        return int(handle.read())
