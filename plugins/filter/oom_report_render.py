# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: oom_report_render
short_description: Render a fleet OOM report as report.json, report.md and report.html text at once
version_added: "1.0.0"
author: oomguard maintainers (@oomguard)
description:
  - Returns the three texts of the report of P(oomguard.memory.oom_fleet_report#filter) or
    P(oomguard.memory.oom_report_merge#filter), and its summary, in one dict.
  - The oom_report role chains it after the report filter in one expression, so that Ansible carries four strings and
    a small summary from task to task instead of the report's data structure, which costs far less at thousands of
    hosts.
options:
  _input:
    description: The report.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Build and render the report once, on the controller
  ansible.builtin.set_fact:
    fleet_report_files: "{{ hostvars | oomguard.memory.oom_fleet_report(hosts=ansible_play_hosts_all)
      | oomguard.memory.oom_report_render }}"
  run_once: true
  delegate_to: localhost

- name: Write report.html
  ansible.builtin.copy:
    content: "{{ fleet_report_files.html }}"
    dest: /tmp/oom-report/report.html
    mode: "0644"
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
_value:
  description: The texts and the summary.
  type: dict
  contains:
    json:
      description: The report as compact JSON (C(report.json)).
      type: str
    markdown:
      description: C(report.md).
      type: str
    html:
      description: C(report.html).
      type: str
    summary:
      description: The report's C(summary) (hosts, hosts without data, kills by category, findings counts).
      type: dict
    generated_at:
      description: When the report was built, ISO 8601.
      type: str
"""

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.memory.plugins.plugin_utils import _render_html, _render_markdown


def oom_report_render(report):
    if not isinstance(report, dict) or "summary" not in report or "hosts" not in report:
        raise AnsibleFilterError("oom_report_render: expects the report of oomguard.memory.oom_fleet_report")
    try:
        return {
            "json": json.dumps(report, separators=(",", ":")),
            "markdown": _render_markdown.render(report),
            "html": _render_html.render(report),
            "summary": report["summary"],
            "generated_at": report["generated_at"],
        }
    except (KeyError, TypeError) as exc:
        message = f"oom_report_render: the report lacks {exc} (a report of another schema version?)"
        raise AnsibleFilterError(message) from exc


class FilterModule:
    def filters(self):
        return {"oom_report_render": oom_report_render}
