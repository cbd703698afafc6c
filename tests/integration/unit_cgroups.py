# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A cgroup named like a systemd unit, for tests of the unit selector on a host where systemd does not run.

Without a running systemd, oom_score_adj and systemd_memory find a unit's processes by the unit name in the
systemd cgroup path of each process (/proc/PID/cgroup): the name=systemd hierarchy on v1 and hybrid hosts, the
cgroup2 hierarchy otherwise. ``UnitCgroup`` makes ``oomguard-test-XXXX.service`` there and removes it again,
moving whatever is left back to the root first.
"""

from __future__ import annotations

import contextlib
import os
import secrets


def systemd_hierarchy():
    """The mount of the hierarchy that /proc/PID/cgroup names for systemd, or None."""
    found = None
    with open("/proc/self/mounts") as handle:
        for line in handle:
            fields = line.split()
            if fields[2] == "cgroup" and "name=systemd" in fields[3].split(","):
                return fields[1]
            if fields[2] == "cgroup2" and found is None:
                found = fields[1]
    return found


class UnitCgroup:
    def __init__(self, hierarchy, prefix="oomguard-test"):
        self.hierarchy = hierarchy
        self.unit = "%s-%s.service" % (prefix, secrets.token_hex(3))
        self.path = os.path.join(hierarchy, self.unit)
        self.procs = os.path.join(self.path, "cgroup.procs")
        os.mkdir(self.path)

    def add(self, pid):
        with open(self.procs, "w") as handle:
            handle.write(str(pid))

    def remove(self):
        with open(self.procs) as handle:
            leftovers = handle.read().split()
        for pid in leftovers:
            with contextlib.suppress(OSError), open(os.path.join(self.hierarchy, "cgroup.procs"), "w") as handle:
                handle.write(pid)
        os.rmdir(self.path)
