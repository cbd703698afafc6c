# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Setting oom_score_adj of running processes: checked for every process first, then written.

PRIVATE to the oomguard.memory collection. No compatibility promise.

Shared by oom_score_adj and by systemd_memory (oom_score_adjust with apply=true), so both end in the same
state. C(LiveScores.plan()) reads every process and refuses, before anything is written, what the kernel
certainly refuses: lowering a value below 0 without CAP_SYS_RESOURCE, and writing another user's process. The
same checks run in check mode, so check mode predicts the failure instead of a change.

Without CAP_SYS_RESOURCE the kernel lets a process go down only to a floor it inherited (C(oom_score_adj_min),
0 unless a privileged ancestor set it, and not readable from /proc). Lowering to 0 or above is therefore tried,
and when the kernel refuses one write, every value already written is put back (raising never needs the
capability) before the error is raised, so nothing is half-applied. Processes that exited (gone, or zombies)
are reported as vanished, never as changed.
"""

from __future__ import annotations

import errno
import os

from ansible_collections.oomguard.memory.plugins.module_utils._proc import (
    CAP_SYS_RESOURCE,
    PROC,
    ZOMBIE_STATES,
    ProcessGone,
    has_capability,
    is_exited,
    read_oom_score_adj,
    read_stat,
    write_oom_score_adj,
)


class ScoreError(Exception):
    """A value cannot be set; the message names the processes and the reason."""


def _listed(entries, limit=10):
    text = ", ".join(entries[:limit])
    if len(entries) > limit:
        text += " and %d more" % (len(entries) - limit)
    return text


def lowering_refusal(euid):
    """The end of the message when this process may not lower oom_score_adj."""
    if euid == 0:
        return "needs CAP_SYS_RESOURCE, which this process lacks (root in a container or a restricted VM)"
    return "needs CAP_SYS_RESOURCE, which this process lacks: run the task as root (become: true)"


class LiveScores:
    """Plan, then write, one oom_score_adj value for a list of pids."""

    def __init__(self, value, proc=PROC, check_mode=False, can_lower=None, euid=None):
        self.value = value
        self.proc = proc
        self.check_mode = check_mode
        self.can_lower = has_capability(CAP_SYS_RESOURCE) if can_lower is None else can_lower
        self.euid = os.geteuid() if euid is None else euid
        self.planned = []
        self.processes = []
        self.vanished = []

    @property
    def changed(self):
        return any(entry["before"] != entry["after"] for entry in self.processes)

    def diff(self, what):
        """The diff of the values, one line per process; C(what) names them in the headers."""

        def lines(key):
            return "".join(
                "%d (%s): oom_score_adj=%d\n" % (entry["pid"], entry["comm"], entry[key]) for entry in self.processes
            )

        return {
            "before": lines("before"),
            "after": lines("after"),
            "before_header": "%s (before)" % what,
            "after_header": "%s (after)" % what,
        }

    def _path(self, pid):
        return os.path.join(self.proc, str(pid), "oom_score_adj")

    def plan(self, pids, comms):
        """Read every process; raise ScoreError when any of them cannot be given the value. Writes nothing."""
        lowering = []
        foreign = []
        for pid in pids:
            comm = comms.get(pid, "")
            try:
                if read_stat(pid, self.proc)[1] in ZOMBIE_STATES:
                    self.vanished.append({"pid": pid, "comm": comm})
                    continue
                before = read_oom_score_adj(pid, self.proc)
            except (ProcessGone, ValueError, IndexError):
                self.vanished.append({"pid": pid, "comm": comm})
                continue
            except OSError as exc:
                raise ScoreError(
                    "cannot read oom_score_adj of pid %d (%s): %s (errno %d)" % (pid, comm, exc.strerror, exc.errno)
                ) from None
            if before != self.value:
                described = "%d (%s) from %d" % (pid, comm, before)
                if self.value < before and self.value < 0 and not self.can_lower:
                    lowering.append(described)
                elif not os.access(self._path(pid), os.W_OK):
                    foreign.append(described)
            self.planned.append((pid, comm, before))
        if lowering:
            raise ScoreError(
                "cannot lower oom_score_adj to %d for %s: that %s; nothing was changed"
                % (self.value, _listed(lowering), lowering_refusal(self.euid))
            )
        if foreign:
            raise ScoreError(
                "cannot set oom_score_adj to %d for %s: they belong to another user and this module runs as uid %d; "
                "run the task as root (become: true); nothing was changed" % (self.value, _listed(foreign), self.euid)
            )

    def commit(self):
        """Write the planned values (not in check mode). Raises ScoreError on a failure, after undoing the writes."""
        for pid, comm, before in self.planned:
            if before != self.value and not self.check_mode:
                try:
                    write_oom_score_adj(pid, self.value, self.proc)
                except ProcessGone:
                    self.vanished.append({"pid": pid, "comm": comm})
                    continue
                except OSError as exc:
                    self._undo()
                    reason = "%s (errno %d)" % (exc.strerror, exc.errno)
                    if exc.errno in (errno.EACCES, errno.EPERM) and self.value < before and not self.can_lower:
                        reason = "the kernel refused it (below the floor the process inherited); going lower " + (
                            lowering_refusal(self.euid)
                        )
                    raise ScoreError(
                        "cannot set oom_score_adj of pid %d (%s) from %d to %d: %s; nothing was changed"
                        % (pid, comm, before, self.value, reason)
                    ) from None
                if is_exited(pid, self.proc):
                    self.vanished.append({"pid": pid, "comm": comm})
                    continue
            self.processes.append({"pid": pid, "comm": comm, "before": before, "after": self.value})

    def _undo(self):
        """Put back the values written so far; raising a value never needs a capability."""
        for entry in self.processes:
            if entry["before"] != entry["after"]:
                try:
                    write_oom_score_adj(entry["pid"], entry["before"], self.proc)
                except (ProcessGone, OSError):
                    continue
        self.processes = []
