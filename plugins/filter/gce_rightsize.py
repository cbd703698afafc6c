# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: gce_rightsize
short_description: Propose a Compute Engine machine type from a VM's memory peak and OOM kills
version_added: "1.0.0"
author: oomguard maintainers (@oomguard)
description:
  - Computes the memory a VM needs, the peak plus O(headroom_pct), and after an OOM kill at least
    C(max(MemTotal * (1 + oom_bump_pct/100), MemTotal + oom_bump_min_mib)), then proposes a machine type of the same
    family.
  - Upsizing picks the smallest memory that fits with at least the current vCPU count, preferring the current vCPU
    count (C(e2-medium) -> C(e2-standard-2) -> C(e2-highmem-2) -> C(e2-highmem-4) ...), and names the highmem
    alternative when it is not the proposal itself.
  - Downsizing only with O(downsize=true) (the caller decides that the evidence is good enough); it keeps the vCPU
    count and never moves between a shared and a dedicated core.
  - Candidates are scaled by C(MemTotal / nominal memory), so the comparison uses what the kernel leaves usable.
  - Legacy shared-core C(f1)/C(g1) types get E2 proposals; custom types get a custom proposal.
options:
  _input:
    description: The current machine type (name or selfLink).
    type: str
    required: true
  peak_mib:
    description: The memory peak in use (MiB, C(MemTotal - MemAvailable) at its highest). Required unless O(need_mib).
    type: int
  memtotal_mib:
    description: The VM's C(MemTotal) in MiB. Defaults to the nominal memory of the current type.
    type: int
  oom_killed:
    description: Whether the VM had OOM kills (kernel global, systemd-oomd or earlyoom) in the window.
    type: bool
    default: false
  need_mib:
    description: The memory needed, in MiB, instead of computing it from O(peak_mib).
    type: int
  downsize:
    description: Propose a smaller type when one fits.
    type: bool
    default: false
  headroom_pct:
    description: Headroom over the peak, percent.
    type: int
    default: 15
  oom_bump_pct:
    description: After an OOM kill, need at least this much more than C(MemTotal), percent.
    type: int
    default: 20
  oom_bump_min_mib:
    description: After an OOM kill, need at least C(MemTotal) plus this, MiB.
    type: int
    default: 100
  allow_custom:
    description: Also propose a custom type with exactly the memory needed (rounded up to 256 MiB).
    type: bool
    default: false
  table:
    description:
      - "Machine types to choose from, C({name: {vcpus, memory_mib, shared_core}})."
      - Defaults to the shipped table.
    type: dict
"""

EXAMPLES = r"""
- name: e2-medium with 14 OOM kills
  ansible.builtin.debug:
    msg: "{{ 'e2-medium' | oomguard.memory.gce_rightsize(peak_mib=3900, memtotal_mib=3920, oom_killed=true) }}"
  # action upsize, recommended e2-standard-2, alternative e2-highmem-2

- name: A VM far below its RAM, with a week of sysstat history
  ansible.builtin.debug:
    msg: "{{ 'e2-highmem-4' | oomguard.memory.gce_rightsize(peak_mib=6000, downsize=true) }}"
"""

RETURN = r"""
_value:
  description: The proposal.
  type: dict
  contains:
    action:
      description: V(upsize), V(downsize), V(keep) or V(none_fits) (no type of the family is big enough).
      type: str
    need_mib:
      description: The memory needed, MiB.
      type: int
    usable_mib:
      description: The memory the current type leaves usable, MiB.
      type: int
    current:
      description: The current type, as P(oomguard.memory.gce_machine_type#filter) returns it.
      type: dict
    recommended:
      description: The proposed type, or null.
      type: dict
    alternative:
      description: The smallest highmem type that fits, when it is not the proposal, or null.
      type: dict
    custom:
      description: A custom type that fits, with O(allow_custom), or null.
      type: dict
    reason:
      description: One sentence with the figures.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.memory.plugins.plugin_utils._machine_types import MachineTypeError, MachineTypes


def gce_rightsize(
    machine_type,
    peak_mib=None,
    memtotal_mib=None,
    oom_killed=False,
    need_mib=None,
    downsize=False,
    headroom_pct=15,
    oom_bump_pct=20,
    oom_bump_min_mib=100,
    allow_custom=False,
    table=None,
):
    try:
        return MachineTypes(table).rightsize(
            machine_type,
            peak_used_mib=peak_mib,
            memtotal_mib=memtotal_mib,
            oom_killed=bool(oom_killed),
            need_mib=need_mib,
            downsize=bool(downsize),
            headroom_pct=headroom_pct,
            oom_bump_pct=oom_bump_pct,
            oom_bump_min_mib=oom_bump_min_mib,
            allow_custom=bool(allow_custom),
        )
    except MachineTypeError as exc:
        raise AnsibleFilterError(f"gce_rightsize: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"gce_rightsize": gce_rightsize}
