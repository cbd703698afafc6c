# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The module's own process chain: the processes that exist only because Ansible runs this module.

PRIVATE to the oomguard.memory collection. No compatibility promise.

A module runs in an AnsiballZ Python process, started by a shell, under sudo/su when it becomes another user,
and that under an SSH session (``sshd: root@notty``) or, on a local connection, under ``ansible-playbook``
itself. None of them is a process worth protecting or a "next victim" to report: the facts leave them out.
"""

from __future__ import annotations

import os

from ansible_collections.oomguard.memory.plugins.module_utils._proc import (
    PROC,
    ProcessGone,
    parent_chain,
    read_comm,
)

CHAIN_MAX = 64
ARGV_READ_MAX = 4096
# What may sit between the module and the session when no Ansible or SSH process marks the chain.
WRAPPER_COMMS = ("sh", "bash", "dash", "zsh", "sudo", "su", "doas", "runuser", "timeout")


def _argv(pid, proc):
    try:
        with open(os.path.join(proc, str(pid), "cmdline"), "rb") as handle:
            raw = handle.read(ARGV_READ_MAX)
    except OSError:
        return []
    return raw.rstrip(b"\0").decode("utf-8", errors="replace").split("\0")


def is_ansible_process(comm, argv):
    """True for ansible, ansible-playbook and friends, and for AnsiballZ module wrappers."""
    if (comm or "").startswith("ansible"):
        return True
    names = [os.path.basename(argument) for argument in argv[:2]]
    if any(name.startswith("ansible") for name in names):
        return True
    return any("AnsiballZ_" in argument for argument in argv[:3])


def is_ssh_session(comm, argv):
    """True for the per-connection sshd processes (``sshd: root@notty``, ``sshd: root [priv]``), not the listener."""
    if not (comm or "").startswith("sshd"):
        return False
    title = argv[0] if argv else ""
    return "@" in title or "[priv]" in title


def own_process_chain(pid=None, proc=PROC):
    """Return the set of pids that run this module: itself, its wrappers, its become and SSH session.

    The chain goes up from C(pid) to the farthest Ansible or SSH-session process. Without one (the module run
    by hand or by a test), it holds C(pid) and the shells and sudo right above it.
    """
    pid = os.getpid() if pid is None else pid
    chain = [member for member in parent_chain(pid, proc, CHAIN_MAX - 1) if member > 1]
    described = []
    for member in chain:
        try:
            comm = read_comm(member, proc)
        except (ProcessGone, OSError):
            comm = ""
        described.append((member, comm, _argv(member, proc)))
    marked = [
        index
        for index, (_pid, comm, argv) in enumerate(described)
        if is_ansible_process(comm, argv) or is_ssh_session(comm, argv)
    ]
    if marked:
        return set(chain[: max(marked) + 1])
    last = 0
    for index, (_pid, comm, _argv_unused) in enumerate(described[1:], start=1):
        if comm not in WRAPPER_COMMS:
            break
        last = index
    return set(chain[: last + 1])
