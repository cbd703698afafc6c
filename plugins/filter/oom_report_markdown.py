# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: oom_report_markdown
short_description: Render a fleet OOM report as Markdown
version_added: "1.0.0"
author: oomguard maintainers (@oomguard)
description:
  - "Renders the report of P(oomguard.memory.oom_fleet_report#filter) as Markdown for a terminal and a pull request: the
    counts, the top victims, the rules, the recommendations with their evidence and snippets, leak suspects and the
    hosts (the first 200; every host is in C(report.json))."
  - Every value that comes from a host (names, commands, units) is escaped.
options:
  _input:
    description: The report.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Write report.md
  ansible.builtin.copy:
    content: "{{ fleet_report | oomguard.memory.oom_report_markdown }}"
    dest: /tmp/oom-report/report.md
    mode: "0644"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description: The report.md text.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.memory.plugins.plugin_utils._render_markdown import render


def oom_report_markdown(report):
    if not isinstance(report, dict) or "summary" not in report or "hosts" not in report:
        raise AnsibleFilterError("oom_report_markdown: expects the report of oomguard.memory.oom_fleet_report")
    try:
        return render(report)
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError(
            f"oom_report_markdown: the report lacks {exc} (a report of another schema version?)"
        ) from exc


class FilterModule:
    def filters(self):
        return {"oom_report_markdown": oom_report_markdown}
