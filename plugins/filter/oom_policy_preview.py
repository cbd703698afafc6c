# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: oom_policy_preview
short_description: The kernel OOM killer's next victims before and after a policy, and the units it caps
version_added: "1.0.0"
author: oomguard maintainers (@oomguard)
description:
  - Starts from the kernel's own C(oom_score) of each process in C(ansible_facts.oom.processes) and shifts it by
    the change of its C(oom_score_adj) that the plan makes (by unit or by process rule) - by two thirds of the
    change on Linux 5.9 and later (scores 0..2000), by the whole change before (0..1000). The highest score is the
    kernel's first victim of a global OOM.
  - Lists the units whose C(MemoryMax=), C(MemoryHigh=) or C(MemorySwapMax=) the plan changes, with the unit's
    memory in use now.
  - Only the processes in the facts are ranked; ask M(oomguard.memory.oom_facts) for enough with C(top_processes).
options:
  _input:
    description: The host's C(ansible_facts.oom) (oom_facts 1.1).
    type: dict
    required: true
  plan:
    description: The plan from P(oomguard.memory.oom_policy_resolve#filter).
    type: dict
    required: true
  top:
    description: How many victims to list before and after.
    type: int
    default: 5
"""

EXAMPLES = r"""
- name: Show who the kernel would kill first, before and after the policy
  ansible.builtin.debug:
    msg: "{{ preview.first_victim_before.comm }} -> {{ preview.first_victim_after.comm }}"
  vars:
    preview: "{{ ansible_facts['oom'] | oomguard.memory.oom_policy_preview(plan) }}"
"""

RETURN = r"""
_value:
  description: The preview.
  type: dict
  contains:
    before:
      description: The next victims now, highest C(oom_score) first (pid, comm, unit, rss_kb, oom_score, oom_score_adj).
      type: list
      elements: dict
    after:
      description: The same after the plan, with predicted scores (C(estimated) for a process at -1000 now).
      type: list
      elements: dict
    first_victim_before:
      description: The kernel's first victim now, or null.
      type: dict
    first_victim_after:
      description: The predicted first victim after the plan, or null.
      type: dict
    changed:
      description: Every process whose C(oom_score_adj) changes, with old and new adjustment and score.
      type: list
      elements: dict
    caps:
      description:
        - Units whose limits change - C(unit), C(setting), C(limit), C(previous), C(in_use), C(headroom)
          and C(text).
      type: list
      elements: dict
    score_model:
      description: How scores were shifted for this host's kernel.
      type: str
    processes_seen:
      description: How many processes the facts held.
      type: int
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.memory.plugins.plugin_utils._policy_preview import preview


def oom_policy_preview(facts, plan, top=5):
    if not isinstance(plan, dict):
        raise AnsibleFilterError("oom_policy_preview: plan must be the dict from oom_policy_resolve")
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise AnsibleFilterError("oom_policy_preview: top must be a non-negative integer")
    return preview(facts if isinstance(facts, dict) else {}, plan, top)


class FilterModule:
    def filters(self):
        return {"oom_policy_preview": oom_policy_preview}
