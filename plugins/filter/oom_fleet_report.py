# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: oom_fleet_report
short_description: Build the fleet OOM report from every host's oom_facts
version_added: "1.0.0"
author: oomguard maintainers (@oomguard)
description:
  - Builds the data structure of the oom_report role's C(report.json), C(report.md) and C(report.html) from the
    C(ansible_facts.oom) of every host (oom_facts contract 1.1).
  - Per host, machine type and zone (C(google.cloud.gcp_compute) host vars, else the facts' GCE metadata, else
    V(unknown)), RAM, kills split global, memcg, systemd-oomd and earlyoom, the victims, pressure, swap, the sysctls
    that matter, the protection of its units, containers without a memory limit, the memory peak and where it comes
    from, a right-sizing proposal and the findings (rule C(oom/<ERR|WARN|BP>/<nnn>), V(FAIL), V(OK), V(SKIP) or
    V(UNKNOWN)).
  - A host of O(hosts) without facts (unreachable, failed, not in the fact cache) is a row marked V(no_data), never a
    host without OOM kills. An empty O(hosts) is an error.
  - Runs on the controller; O(history_paths) are read there.
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  hosts:
    description: The hosts to report on, normally C(ansible_play_hosts_all).
    type: list
    elements: str
    required: true
  facts_source:
    description:
      - V(live) reads the result registered by this run's oom_facts task (O(result_var)).
      - V(cache) reads C(ansible_facts.oom) from Ansible's fact cache, without contacting the hosts.
    type: str
    choices: [live, cache]
    default: live
  result_var:
    description: The name of the variable that registered the oom_facts result of each host (V(live)).
    type: str
    default: __oom_report_facts_result
  gcp_vars_prefix:
    description: The C(vars_prefix) of the C(google.cloud.gcp_compute) inventory.
    type: str
    default: ""
  machine_types:
    description: "The machine-type table, C({name: {vcpus, memory_mib, shared_core}}); defaults to the shipped one."
    type: dict
  options:
    description:
      - Thresholds and lists of the rules, see the oom_report role's C(oom_report_*) variables. Keys
        C(headroom_pct), C(oom_bump_pct), C(oom_bump_min_mib), C(allow_custom), C(pressure_some_pct),
        C(pressure_full_pct), C(critical_units), C(critical_commands), C(leak_min_points), C(leak_min_growth_mib),
        C(leak_min_growth_pct), C(leak_horizon_days), C(max_victims).
    type: dict
  history_paths:
    description: Earlier C(report.json) files, for the growth of units and Python processes between runs.
    type: list
    elements: path
  label:
    description: A label for this part of a fleet report (a C(--limit) batch or a job slice).
    type: str
"""

EXAMPLES = r"""
- name: Build the report once, on the controller
  ansible.builtin.set_fact:
    fleet_report: "{{ hostvars | oomguard.memory.oom_fleet_report(hosts=ansible_play_hosts_all) }}"
  run_once: true
  delegate_to: localhost

- name: From the fact cache, without contacting the hosts
  ansible.builtin.set_fact:
    fleet_report: "{{ hostvars | oomguard.memory.oom_fleet_report(hosts=groups['all'], facts_source='cache') }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The report, as documented by C(roles/oom_report/files/report.schema.json) (C(schema_version) 1.0).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.memory.plugins.plugin_utils._report import ReportError, build_report
from ansible_collections.oomguard.memory.plugins.plugin_utils._report_inputs import host_inputs, load_history


def oom_fleet_report(
    hostvars,
    hosts,
    facts_source="live",
    result_var="__oom_report_facts_result",
    gcp_vars_prefix="",
    machine_types=None,
    options=None,
    history_paths=None,
    label=None,
):
    try:
        inputs = host_inputs(hostvars, hosts, facts_source, result_var, gcp_vars_prefix)
        history, history_errors = load_history(history_paths)
        meta = {"facts_source": facts_source, "history_errors": history_errors}
        if label:
            meta["label"] = label
        return build_report(inputs, machine_table=machine_types, options=options, history=history, meta=meta)
    except ReportError as exc:
        raise AnsibleFilterError(f"oom_fleet_report: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"oom_fleet_report": oom_fleet_report}
