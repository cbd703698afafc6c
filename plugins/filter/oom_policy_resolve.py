# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: oom_policy_resolve
short_description: Resolve a memory-protection policy against one host's OOM facts
version_added: "1.0.0"
author: oomguard maintainers (@oomguard)
description:
  - Turns the policy of the C(oomguard.memory.oom_protect) role (classes, services, processes, userspace killer)
    into the plan for one host, from that host's C(ansible_facts.oom) as M(oomguard.memory.oom_facts) returns it.
  - Unit names and globs are matched against the units in the facts; percentages are resolved against the host's
    C(MemTotal) to bytes (whole pages); every guard rail the host breaks is listed in RV(_value.violations) instead
    of stopping at the first.
  - The controller never runs the policy's regular expressions on command lines; the matches of the process rules
    come from check-mode runs of M(oomguard.memory.oom_score_adj) on the host, passed as O(probes).
options:
  _input:
    description: The host's C(ansible_facts.oom) (oom_facts 1.1).
    type: dict
    required: true
  policy:
    description:
      - The policy, with the role variables' names without the C(oom_protect_) prefix - C(classes), C(services),
        C(processes), C(userspace_killer), C(allow_unkillable), C(max_critical), C(max_protected_percent),
        C(skip_gke_nodes), C(never_touch), C(oomd_pressure_slices), C(oomd_pressure_limit), C(earlyoom_args).
    type: dict
    required: true
  host:
    description: The inventory name of the host, for messages.
    type: str
    default: ""
  labels:
    description: The VM's labels (the C(labels) host variable of the C(google.cloud.gcp_compute) inventory).
    type: dict
  probes:
    description: The registered C(results) of a check-mode M(oomguard.memory.oom_score_adj) loop over the process rules.
    type: list
    elements: dict
  previous_state:
    description: The host's rollback state file from an earlier run, parsed; its records win over new ones.
    type: dict
  killer_probe:
    description:
      - What the role found of the userspace killer before configuring it - C(package_installed), C(enabled),
        C(active) and C(earlyoom_default) (the base64 content of C(/etc/default/earlyoom), or null).
    type: dict
  unit_probes:
    description:
      - The registered C(results) of a check-mode M(oomguard.memory.systemd_memory) loop over the units and slices
        of a first plan (each item carrying its C(unit)). A failed run and every setting in its
        RV(oomguard.memory.systemd_memory#module:unsupported) (a key this host's systemd does not know) become
        violations.
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Resolve the policy for this host
  ansible.builtin.set_fact:
    plan: >-
      {{ ansible_facts['oom'] | oomguard.memory.oom_policy_resolve(
           policy={'services': [{'name': 'postgresql.service', 'class': 'critical', 'memory_min': '10%'}]},
           host=inventory_hostname) }}
"""

RETURN = r"""
_value:
  description: The plan for the host.
  type: dict
  contains:
    skip:
      description: Why the host is left alone (a GKE node), or null.
      type: str
    ram_bytes:
      description: The host's RAM (C(MemTotal)) in bytes.
      type: int
    units:
      description:
        - One item per unit the policy claims - C(unit), C(class), C(entry) (index in the services list),
          C(killer_preference) and C(settings), the options for M(oomguard.memory.systemd_memory) with sizes in bytes.
      type: list
      elements: dict
    processes:
      description:
        - One item per process rule - C(pattern), C(class), C(oom_score_adj) and C(matched) (pid, comm,
          before).
      type: list
      elements: dict
    killer:
      description:
        - The userspace killer - C(name), C(slices) (systemd-oomd settings per slice) and C(earlyoom)
          (arguments and file).
      type: dict
    violations:
      description: Every guard rail the host breaks, one sentence each.
      type: list
      elements: str
    variable_errors:
      description:
        - The part of RV(_value.violations) about the role's variables themselves (a wrong type, a value out of
          range), which stop a rollback too.
      type: list
      elements: str
    warnings:
      description: Things worth knowing that do not stop the play (an entry that matches no unit here).
      type: list
      elements: str
    excluded:
      description: Units a glob matched but the policy leaves alone, with the reason.
      type: list
      elements: dict
    state:
      description: The rollback record to keep on the host before anything changes.
      type: dict
    state_with_stale:
      description: RV(_value.state) plus the records of RV(_value.stale_units), written before they are put back.
      type: dict
    stale_units:
      description: Units of an earlier run that the policy no longer claims; their drop-ins are removed.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.memory.plugins.plugin_utils._policy import resolve_policy


def oom_policy_resolve(
    facts, policy, host="", labels=None, probes=None, previous_state=None, killer_probe=None, unit_probes=None
):
    if not isinstance(policy, dict):
        raise AnsibleFilterError("oom_policy_resolve: policy must be a dict, got %s" % type(policy).__name__)
    for name, value in (("probes", probes), ("unit_probes", unit_probes)):
        if value is not None and not isinstance(value, list):
            raise AnsibleFilterError("oom_policy_resolve: %s must be a list of results" % name)
    return resolve_policy(facts, policy, host, labels, probes, previous_state, killer_probe, unit_probes)


class FilterModule:
    def filters(self):
        return {"oom_policy_resolve": oom_policy_resolve}
