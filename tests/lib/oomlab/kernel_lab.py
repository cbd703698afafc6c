# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


"""``KernelLab``: owns the memory cgroups and hogs a test creates on this machine and removes them, pass or fail."""

from __future__ import annotations

from typing import List

from .cgroups import LabUnavailable, MemoryCgroup, MiB, find_memory_hierarchy, lab_unavailable_reason
from .hogs import Hog, start_hog


class KernelLab:
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
    lab: KernelLab, comm: str = "oomguard-hog", limit_bytes: int = 64 * MiB, timeout: float = 60.0, **hog_kwargs
):
    """Make one real memcg OOM kill: a hog named ``comm`` in a fresh group of ``limit_bytes``.

    Returns ``(group, hog)`` after the hog died; the group is left in place (the lab removes it) so that its
    counters can still be read.
    """
    group = lab.memory_cgroup(limit_bytes)
    hog = lab.start_hog(comm, cgroup=group, **hog_kwargs)
    hog.wait_for_death(timeout)
    return group, hog
