# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: oom_policy_violations
short_description: Every guard-rail violation of every host of a play, for one preflight
version_added: "1.0.0"
author: oomguard maintainers (@oomguard)
description:
  - Collects the C(violations) of the plans that P(oomguard.memory.oom_policy_resolve#filter) made for each host,
    as lines of the host name, a colon and the message, in the order of O(hosts).
  - A host without a plan (its facts failed or it was unreachable) is a violation too, so that a preflight never
    passes without having seen every host.
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  hosts:
    description: The hosts to check, usually C(ansible_play_hosts_all).
    type: list
    elements: str
    required: true
  plan_var:
    description: The host variable that holds each host's plan.
    type: str
    default: __oom_protect_plan
  key:
    description:
      - Which list of each plan to collect - V(violations) (every guard rail, before a policy is applied) or
        V(variable_errors) (only errors in the role's variables, before a rollback).
    type: str
    default: violations
    choices: [violations, variable_errors]
"""

EXAMPLES = r"""
- name: Fail the whole play before any host is changed
  ansible.builtin.fail:
    msg: "{{ violations }}"
  vars:
    violations: "{{ hostvars | oomguard.memory.oom_policy_violations(ansible_play_hosts_all) }}"
  when: violations | length > 0
  run_once: true
"""

RETURN = r"""
_value:
  description: One line per violation, the host name, a colon and the message; empty when every host passes.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.memory.plugins.plugin_utils._policy import collect_violations


def oom_policy_violations(hostvars, hosts, plan_var="__oom_protect_plan", key="violations"):
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("oom_policy_violations: hosts must be a list of host names")
    if key not in ("violations", "variable_errors"):
        raise AnsibleFilterError("oom_policy_violations: key must be violations or variable_errors, got %r" % (key,))
    return collect_violations(hostvars, list(hosts), plan_var, key)


class FilterModule:
    def filters(self):
        return {"oom_policy_violations": oom_policy_violations}
