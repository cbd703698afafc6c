# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: oom_policy_restore
short_description: What a memory-protection rollback puts back, from the host's state file
version_added: "1.0.0"
author: oomguard maintainers (@oomguard)
description:
  - Reads the rollback record that the C(oomguard.memory.oom_protect) role keeps on each host and returns the units
    to restore (with the C(OOMScoreAdjust=) their running processes go back to), the processes to restore grouped
    by their earlier C(oom_score_adj), and the userspace killer's earlier state.
  - A recorded pid is restored only while a process rule still matches it (O(probes)), so a pid the kernel has
    given to another process since is left alone.
options:
  _input:
    description: The parsed state file (an empty dict when there is none).
    type: dict
    required: true
  probes:
    description:
      - The registered C(results) of a check-mode M(oomguard.memory.oom_score_adj) loop over the recorded
        patterns.
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Work out what to put back
  ansible.builtin.set_fact:
    restore: "{{ state | oomguard.memory.oom_policy_restore(probes=probe.results) }}"
"""

RETURN = r"""
_value:
  description: The rollback.
  type: dict
  contains:
    units:
      description: C(unit) and C(oom_score_adjust), the value systemd had before (null when unknown).
      type: list
      elements: dict
    process_groups:
      description: C(value) and C(pids) - the pids to put back to that C(oom_score_adj).
      type: list
      elements: dict
    patterns:
      description: The process rules' patterns recorded in the state.
      type: list
      elements: str
    killer:
      description: The userspace killer before the role configured it, or null.
      type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.memory.plugins.plugin_utils._policy import restore_plan


def oom_policy_restore(state, probes=None):
    if state is not None and not isinstance(state, dict):
        raise AnsibleFilterError("oom_policy_restore: the state must be a dict")
    if probes is not None and not isinstance(probes, list):
        raise AnsibleFilterError("oom_policy_restore: probes must be a list of results")
    return restore_plan(state or {}, probes)


class FilterModule:
    def filters(self):
        return {"oom_policy_restore": oom_policy_restore}
