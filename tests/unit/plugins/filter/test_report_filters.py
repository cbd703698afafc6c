# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The report's filter plugins: names, arguments, and errors as AnsibleFilterError with a clear message."""

from __future__ import annotations

import importlib
import json
import types
from pathlib import Path

import pytest
from ansible.module_utils import _internal

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "report"
FILTERS = ("gce_machine_type", "gce_rightsize", "oom_fleet_report", "oom_report_html", "oom_report_markdown")
FILTERS += ("oom_report_merge", "oom_report_render")


@pytest.fixture(scope="module")
def filters():
    """The filter plugin modules, imported here rather than at collection time.

    Importing controller code (ansible.errors) switches ansible-core into controller mode for the whole process,
    which changes how module warnings are recorded; the module unit tests run in the same process and expect
    module mode, so the switch is undone when these tests are done.
    """
    was_controller = _internal.is_controller
    try:
        package = "ansible_collections.oomguard.memory.plugins.filter"
        loaded = {name: importlib.import_module(f"{package}.{name}") for name in FILTERS}
        errors = importlib.import_module("ansible.errors")
        yield types.SimpleNamespace(AnsibleFilterError=errors.AnsibleFilterError, **loaded)
    finally:
        _internal.is_controller = was_controller


def facts(name):
    return json.loads((FIXTURES / f"facts-{name}.json").read_text())


@pytest.mark.parametrize("name", FILTERS)
def test_each_file_exports_its_filter_and_documents_it(filters, name):
    module = getattr(filters, name)
    assert list(module.FilterModule().filters()) == [name]
    assert f"name: {name}\n" in module.DOCUMENTATION
    assert f"oomguard.memory.{name}" in module.EXAMPLES


def test_gce_machine_type_filter(filters):
    assert filters.gce_machine_type.gce_machine_type("e2-medium")["memory_mib"] == 4096
    table = {"m1-ultramem-40": {"vcpus": 40, "memory_mib": 984064}}
    assert filters.gce_machine_type.gce_machine_type("m1-ultramem-40", table=table)["vcpus"] == 40
    with pytest.raises(filters.AnsibleFilterError, match="gce_machine_type: unknown machine type 'zz-top-1'"):
        filters.gce_machine_type.gce_machine_type("zz-top-1")


def test_gce_rightsize_filter(filters):
    proposal = filters.gce_rightsize.gce_rightsize("e2-medium", peak_mib=3900, memtotal_mib=3920, oom_killed=True)
    assert proposal["action"] == "upsize"
    assert proposal["recommended"]["name"] == "e2-standard-2" and proposal["alternative"]["name"] == "e2-highmem-2"
    assert filters.gce_rightsize.gce_rightsize("e2-highmem-4", peak_mib=3000, downsize=True)["action"] == "downsize"
    with pytest.raises(filters.AnsibleFilterError, match="gce_rightsize: rightsize needs peak_used_mib or need_mib"):
        filters.gce_rightsize.gce_rightsize("e2-medium")


def test_fleet_report_merge_and_renderers_through_the_filters(filters, tmp_path):
    hostvars = {
        "web-1": {"__oom_report_facts_result": {"ansible_facts": {"oom": facts("global-oom")}}},
        "down-1": {"__oom_report_facts_result": {"unreachable": True, "msg": "timed out"}},
    }
    report = filters.oom_fleet_report.oom_fleet_report(hostvars, ["web-1", "down-1"], label="batch 1")
    assert report["summary"]["hosts_no_data"] == 1 and report["parts"][0]["label"] == "batch 1"
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    other = filters.oom_fleet_report.oom_fleet_report(
        {"db-2": {"ansible_facts": {"oom": facts("quiet-oversized")}}}, ["db-2"], facts_source="cache"
    )
    merged = filters.oom_report_merge.oom_report_merge([str(path), other])
    assert merged["summary"]["hosts"] == 3 and merged["merged_from"] == 2
    assert filters.oom_report_markdown.oom_report_markdown(merged).startswith("# Fleet OOM report")
    files = filters.oom_report_render.oom_report_render(merged)
    assert json.loads(files["json"]) == json.loads(json.dumps(merged))
    assert files["markdown"] == filters.oom_report_markdown.oom_report_markdown(merged)
    assert files["html"].startswith("<!DOCTYPE html>") and files["summary"]["hosts"] == 3
    assert filters.oom_report_html.oom_report_html(merged).startswith("<!DOCTYPE html>")


def test_filter_errors_are_clear(filters):
    with pytest.raises(filters.AnsibleFilterError, match="oom_fleet_report: no hosts to report on"):
        filters.oom_fleet_report.oom_fleet_report({}, [])
    missing = r"oom_report_merge: cannot read report /nonexistent/report\.json"
    with pytest.raises(filters.AnsibleFilterError, match=missing):
        filters.oom_report_merge.oom_report_merge(["/nonexistent/report.json"])
    with pytest.raises(filters.AnsibleFilterError, match="oom_report_merge: expects a list"):
        filters.oom_report_merge.oom_report_merge("report.json")
    with pytest.raises(filters.AnsibleFilterError, match="oom_report_render: expects the report"):
        filters.oom_report_render.oom_report_render([])
    with pytest.raises(filters.AnsibleFilterError, match="oom_report_html: expects the report"):
        filters.oom_report_html.oom_report_html({"hosts": []})
    with pytest.raises(filters.AnsibleFilterError, match="oom_report_markdown: the report lacks"):
        filters.oom_report_markdown.oom_report_markdown({"summary": {}, "hosts": []})
