# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: oom_report_html
short_description: Render a fleet OOM report as one self-contained HTML page
version_added: "1.0.0"
author: oomguard maintainers (@oomguard)
description:
  - Renders the report of P(oomguard.memory.oom_fleet_report#filter) as one HTML file with no external asset (a
    Content-Security-Policy forbids any load), inline SVG charts (kills per host, kills per day, memory in use against
    RAM, top killed commands and units), the recommendations and a sortable, filterable host table that shows 50 rows at
    a time, so that it stays light at thousands of hosts.
  - Every value that comes from a host (names, commands, units) is escaped.
options:
  _input:
    description: The report.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Write report.html
  ansible.builtin.copy:
    content: "{{ fleet_report | oomguard.memory.oom_report_html }}"
    dest: /tmp/oom-report/report.html
    mode: "0644"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description: The report.html text.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.memory.plugins.plugin_utils._render_html import render


def oom_report_html(report):
    if not isinstance(report, dict) or "summary" not in report or "hosts" not in report:
        raise AnsibleFilterError("oom_report_html: expects the report of oomguard.memory.oom_fleet_report")
    try:
        return render(report)
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError(
            f"oom_report_html: the report lacks {exc} (a report of another schema version?)"
        ) from exc


class FilterModule:
    def filters(self):
        return {"oom_report_html": oom_report_html}
