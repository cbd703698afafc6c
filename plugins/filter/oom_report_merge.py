# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: oom_report_merge
short_description: Merge partial fleet OOM reports into one
version_added: "1.0.0"
author: oomguard maintainers (@oomguard)
description:
  - Merges the C(report.json) of separate oom_report runs (C(--limit) batches, Automation Controller job slices)
    into one fleet report, with the fleet summary, charts, findings counts and recommendations computed again over
    the union of the hosts.
  - A host in several partial reports is taken from the one with data, then from the newest gathering.
  - Every part is listed in the result's C(parts).
options:
  _input:
    description:
      - The partial reports, each a C(report.json) path or glob pattern (read on the controller, for example
        C(/srv/oom-report/slice-*/report.json)) or an already loaded dict.
      - A pattern that matches no file is an error.
    type: list
    elements: raw
    required: true
"""

EXAMPLES = r"""
- name: Merge the reports of three job slices
  ansible.builtin.set_fact:
    fleet_report: "{{ slices | oomguard.memory.oom_report_merge }}"
  vars:
    slices: [slice1/report.json, slice2/report.json, slice3/report.json]
"""

RETURN = r"""
_value:
  description: The merged report, in the same schema as each part, with C(merged_from) set to the number of parts.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.memory.plugins.plugin_utils._report import ReportError, merge_reports
from ansible_collections.oomguard.memory.plugins.plugin_utils._report_inputs import expand_paths, load_report_file


def oom_report_merge(parts):
    if not isinstance(parts, (list, tuple)):
        raise AnsibleFilterError("oom_report_merge: expects a list of report.json paths or reports")
    try:
        reports = [load_report_file(part) if isinstance(part, str) else part for part in expand_paths(parts)]
        return merge_reports(reports)
    except ReportError as exc:
        raise AnsibleFilterError(f"oom_report_merge: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"oom_report_merge": oom_report_merge}
