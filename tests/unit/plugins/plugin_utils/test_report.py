# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fleet report: counts, "no data" rows, the JSON Schema, merging partial reports, leak suspects from history."""

from __future__ import annotations

import copy
import datetime
import json
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, GENERATED, fleet_inputs, host_entry, load_facts, report_of

from ansible_collections.oomguard.memory.plugins.modules import oom_facts
from ansible_collections.oomguard.memory.plugins.plugin_utils._report import (
    SCHEMA_VERSION,
    HostInput,
    ReportError,
    merge_reports,
    snapshots_from_report,
)
from ansible_collections.oomguard.memory.plugins.plugin_utils._report_inputs import host_inputs, load_history

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "modules"))
from return_docs import check_result

FACTS = FIXTURES.parent / "facts"


def test_fleet_counts():
    report = report_of(*fleet_inputs())
    summary = report["summary"]
    assert (summary["hosts"], summary["hosts_with_data"], summary["hosts_no_data"]) == (5, 4, 1)
    assert (summary["hosts_with_kills"], summary["hosts_without_kills"]) == (2, 2)
    assert summary["kills"] == 7
    assert summary["kills_by_category"] == {"global": 3, "memcg": 4, "systemd-oomd": 0, "earlyoom": 0, "other": 0}
    assert summary["gke_nodes"] == 1 and summary["panic_on_oom_hosts"] == 1 and summary["containers_unlimited"] == 2
    assert report["charts"]["top_commands"][0] == {"name": "python3", "kills": 4}
    assert report["charts"]["top_units"][0] == {"name": "batch.service", "kills": 4}
    assert report["charts"]["kills_per_host"] == [{"host": "worker-1", "kills": 4}, {"host": "web-1", "kills": 3}]
    # every day from the first kill to the last, zeros included
    days = report["charts"]["kills_by_day"]
    assert days[0] == {"date": "2026-11-20", "kills": 2} and days[-1] == {"date": "2026-11-28", "kills": 1}
    assert len(days) == 9 and sum(d["kills"] for d in days) == 7
    assert sum(summary["findings"].values()) == 4 * 12


def test_unreachable_hosts_are_no_data_rows_never_hosts_without_kills():
    report = report_of(*fleet_inputs())
    down = next(h for h in report["hosts"] if h["host"] == "down-1")
    assert down["status"] == "no_data"
    assert down["no_data_reason"].startswith("unreachable: ssh: connect to host down-1")
    assert report["summary"]["hosts_without_kills"] == 2  # web-1 and worker-1 had kills; down-1 is not counted
    only_down = report_of(HostInput("down-1", None, failure="unreachable"))
    assert only_down["summary"]["hosts_without_kills"] == 0 and only_down["summary"]["hosts_no_data"] == 1
    assert only_down["summary"]["kills"] == 0


def test_hosts_are_sorted_worst_first():
    names = [h["host"] for h in report_of(*fleet_inputs())["hosts"]]
    assert names[0] == "web-1" and names[1] == "down-1"


def test_an_empty_inventory_is_an_error():
    with pytest.raises(ReportError, match="an empty inventory is an error, never '0 VMs, 0 OOMs'"):
        report_of()


def test_bad_input_fails_clearly():
    with pytest.raises(ReportError, match="appears twice"):
        report_of(HostInput("a", None), HostInput("a", None))
    with pytest.raises(ReportError, match=r"ansible_facts\.oom is not a dict"):
        report_of(HostInput("a", "garbage"))
    with pytest.raises(ReportError, match="unknown report option 'headroom'"):
        report_of(HostInput("a", None), options={"headroom": 10})
    with pytest.raises(ReportError, match="critical_units must be a list of strings"):
        report_of(HostInput("a", None), options={"critical_units": "sshd.service"})
    with pytest.raises(ReportError, match="must be a dict"):
        report_of(HostInput("a", None), machine_table=["e2-medium"])


def test_report_json_validates_against_the_schema(schema_validator):
    report = json.loads(json.dumps(report_of(*fleet_inputs())))
    errors = sorted(schema_validator.iter_errors(report), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    assert report["schema_version"] == SCHEMA_VERSION


def test_the_schema_rejects_what_the_report_must_not_contain(schema_validator):
    report = json.loads(json.dumps(report_of(*fleet_inputs())))
    broken = copy.deepcopy(report)
    broken["hosts"][0]["findings"][0]["status"] = "PASS"
    assert not schema_validator.is_valid(broken)
    broken = copy.deepcopy(report)
    broken["hosts"][0]["findings"][0]["rule"] = "gce/WARN/2021_005"
    assert not schema_validator.is_valid(broken)
    broken = copy.deepcopy(report)
    broken["summary"]["hosts"] = 0
    assert not schema_validator.is_valid(broken)
    broken = copy.deepcopy(report)
    down = next(h for h in broken["hosts"] if h["status"] == "no_data")
    down["kills"] = {"total": 0}
    assert not schema_validator.is_valid(broken)
    broken = copy.deepcopy(report)
    del broken["schema_version"]
    assert not schema_validator.is_valid(broken)


def test_every_recommendation_names_its_evidence():
    report = report_of(*fleet_inputs())
    sizing = [r for r in report["recommendations"] if r["rule"] in ("oom/ERR/001", "oom/BP/002")]
    assert sizing
    for item in sizing:
        assert item["evidence_sources"] and item["evidence_days"] is not None
    web = next(r for r in sizing if r["host"] == "web-1")
    assert web["evidence_sources"] == ["current", "MemoryPeak", "VmHWM", "victims_rss"]
    db = next(r for r in sizing if r["host"] == "db-2")
    assert db["evidence_sources"][0] == "sysstat" and db["evidence_days"] == 8


def test_peak_sources_and_confidence():
    host = host_entry("w", load_facts("unit-limit"))
    assert host["confidence"] == "high"
    assert host["peak"]["source"] == "sysstat" and host["peak"]["used_kb"] == 9200000 and host["peak"]["days"] == 7
    host = host_entry("web-1", load_facts("global-oom"))
    assert host["confidence"] == "low"
    # in use now (MemTotal - MemAvailable) is above the unit's MemoryPeak: the highest lower bound wins
    assert host["peak"]["source"] == "current" and host["peak"]["used_kb"] == 4015000 - 250000
    assert {s["source"] for s in host["peak"]["sources"]} == {"current", "MemoryPeak", "VmHWM", "victims_rss"}


# the facts contract


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("facts-*.json")), ids=lambda path: path.name)
def test_the_synthetic_facts_are_what_oom_facts_returns(path):
    """The report's synthetic hosts hold every key oom_facts' RETURN documents, and nothing else, with its types."""
    oom = json.loads(path.read_text())
    assert oom["facts_version"] == oom_facts.FACTS_VERSION
    assert check_result(oom_facts.RETURN, {"ansible_facts": {"oom": oom}}) == []


@pytest.mark.parametrize("path", sorted(FACTS.glob("*.json")), ids=lambda path: path.name)
def test_recorded_oom_facts_results_make_a_valid_report(path, schema_validator):
    """Results of the real oom_facts (recorded by its tests) read as they landed: counts as the facts give them."""
    result = json.loads(path.read_text())
    oom = result["ansible_facts"]["oom"]
    host = report_of(HostInput("h", copy.deepcopy(oom)))["hosts"][0]
    assert host["status"] == "ok" and host["facts_version"] == oom["facts_version"]
    assert host["kills"]["total"] == oom["kill_count"]
    assert host["kills"]["host_scope"] == oom["host_scope_kill_count"]
    assert host["kills"]["untrusted"] == oom["untrusted_records"]
    by_kind = oom["kill_count_by_kind"]
    assert host["kills"]["global"] == by_kind["global"] + by_kind["allocating_task"]
    assert host["kills"]["memcg"] == by_kind["memcg"]
    assert host["kills"]["systemd-oomd"] == by_kind["systemd-oomd"]
    assert host["kills"]["earlyoom"] == by_kind["earlyoom"]
    assert [v["pid"] for v in host["victims"]] == [k["pid"] for k in reversed(oom["kills"]) if k["scope"] == "local"][
        : len(host["victims"])
    ]
    assert host["memory_history"]["available"] == oom["memory_history"]["available"]
    assert schema_validator.is_valid(json.loads(json.dumps(report_of(HostInput("h", oom)))))


def test_the_gce_metadata_of_the_facts_names_the_machine():
    result = json.loads((FACTS / "fake-gce-vm.json").read_text())
    host = host_entry("web-1", result["ansible_facts"]["oom"])
    gce = result["ansible_facts"]["oom"]["host"]["gce"]
    assert host["machine"]["source"] == "gce_metadata"
    assert (host["machine"]["type"], host["machine"]["zone"]) == (gce["machine_type"], gce["zone"])
    assert (host["machine"]["vcpus"], host["machine"]["memory_mib"]) == (2, 4096)


@pytest.mark.parametrize("version", ["1.0", None, "2.0", "1", "x.y", 1.1])
def test_facts_of_another_contract_are_no_data_never_zero_kills(version):
    oom = load_facts("global-oom")
    oom["facts_version"] = version
    if version is None:
        del oom["facts_version"]
    report = report_of(HostInput("old-cache", oom))
    host = report["hosts"][0]
    assert host["status"] == "no_data"
    assert host["no_data_reason"].startswith(f"oom_facts facts_version {version!r}: the report reads 1.1")
    assert report["summary"]["hosts_without_kills"] == 0 and report["summary"]["hosts_no_data"] == 1


def test_a_later_minor_version_of_the_facts_is_read():
    oom = load_facts("global-oom")
    oom["facts_version"] = "1.12"
    assert host_entry("web-1", oom)["kills"]["global"] == 3


# partial reports


def test_merge_partial_reports_equals_one_run_over_all_hosts(schema_validator):
    inputs = fleet_inputs()
    whole = report_of(*fleet_inputs())
    part_a = report_of(*inputs[:2], meta={"label": "slice 1"})
    part_b = report_of(*inputs[2:], meta={"label": "slice 2"})
    merged = merge_reports([part_a, part_b])
    assert merged["merged_from"] == 2
    assert [p["label"] for p in merged["parts"]] == ["slice 1", "slice 2"]
    compared = ("hosts", "hosts_with_data", "hosts_no_data", "hosts_with_kills", "kills", "kills_by_category")
    compared += ("findings",)
    for key in compared:
        assert merged["summary"][key] == whole["summary"][key], key
    assert [h["host"] for h in merged["hosts"]] == [h["host"] for h in whole["hosts"]]
    assert merged["charts"]["kills_by_day"] == whole["charts"]["kills_by_day"]
    assert schema_validator.is_valid(json.loads(json.dumps(merged)))


def test_merge_prefers_data_then_the_newest_gathering():
    old = load_facts("quiet-oversized")
    new = load_facts("quiet-oversized")
    new["window"]["until"] = "2026-12-01T06:00:00+00:00"
    new["memory"]["MemAvailable"] = 1000
    first = report_of(HostInput("db-2", old))
    second = report_of(HostInput("db-2", new))
    unreachable = report_of(HostInput("db-2", None, failure="unreachable"))
    merged = merge_reports([second, first, unreachable])
    assert merged["summary"]["hosts"] == 1
    assert merged["hosts"][0]["memory"]["available_kb"] == 1000
    merged = merge_reports([unreachable, first])
    assert merged["hosts"][0]["status"] == "ok"


def test_merge_rejects_what_is_not_a_report():
    with pytest.raises(ReportError, match="no partial reports"):
        merge_reports([])
    with pytest.raises(ReportError, match=r"partial report 2 is not an oom_report report\.json"):
        merge_reports([report_of(*fleet_inputs()), {"hosts": "x"}])
    with pytest.raises(ReportError, match=r"schema_version '2\.0'"):
        merge_reports([dict(report_of(*fleet_inputs()), schema_version="2.0")])


# history and leak suspects


def _run(at, unit_mib, python_kib, boot="b0a7d9e2-0000-4000-8000-000000000001"):
    oom = load_facts("unit-limit")
    oom["window"]["until"] = at.isoformat()
    oom["host"]["boot_id"] = boot
    oom["units"]["api.service"]["MemoryCurrent"] = unit_mib * 1048576
    oom["units"]["api.service"]["MemoryMax"] = 4096 * 1048576
    oom["processes"][0]["rss_kb"] = python_kib
    return oom


def _history(points, boot="b0a7d9e2-0000-4000-8000-000000000001"):
    runs = []
    for day, unit_mib, python_kib in points:
        at = GENERATED - datetime.timedelta(days=day)
        report = report_of(HostInput("w", _run(at, unit_mib, python_kib, boot)), generated=at)
        runs.append(snapshots_from_report(report))
    return runs


def test_a_steady_grower_is_a_leak_suspect_with_a_projection():
    history = _history([(3, 2000, 2000000), (2, 2400, 2500000), (1, 2800, 3000000)])
    report = report_of(HostInput("w", _run(GENERATED, 3200, 3500000)), history=history)
    host = report["hosts"][0]
    unit = next(leak for leak in host["leaks"] if leak["name"] == "api.service")
    assert unit["suspect"] and unit["points"] == 4
    assert unit["growth_mib_per_day"] == pytest.approx(400, abs=1)
    assert unit["limit_kind"] == "MemoryMax" and unit["eta_days"] == pytest.approx((4096 - 3200) / 400, abs=0.1)
    python = next(leak for leak in host["leaks"] if leak["kind"] == "python")
    assert python["suspect"] and python["limit_kind"] == "RAM" and "python3 -m api.server" in python["name"]
    # 500,000 kB a day against the 9,000,000 kB available now
    assert python["eta_days"] == pytest.approx(18.0, abs=0.1)
    finding = next(f for f in host["findings"] if f["rule"] == "oom/WARN/005")
    assert finding["status"] == "FAIL" and "api.service +400 MiB/day over 4 runs" in finding["message"]
    assert report["summary"]["leak_suspects"] >= 1 and report["leak_suspects"][0]["host"] == "w"


def test_no_suspect_when_flat_noisy_short_or_after_a_reboot():
    flat = _history([(3, 2000, 2000000), (2, 2001, 2000000), (1, 2000, 2000010)])
    host = report_of(HostInput("w", _run(GENERATED, 2002, 2000000)), history=flat)["hosts"][0]
    assert not any(leak["suspect"] for leak in host["leaks"])
    assert next(f for f in host["findings"] if f["rule"] == "oom/WARN/005")["status"] == "OK"
    noisy = _history([(3, 2000, 2000000), (2, 2600, 2000000), (1, 2100, 2000000)])
    host = report_of(HostInput("w", _run(GENERATED, 2900, 2000000)), history=noisy)["hosts"][0]
    assert not next(leak for leak in host["leaks"] if leak["name"] == "api.service")["suspect"]
    short = _history([(1, 2000, 2000000)])
    host = report_of(HostInput("w", _run(GENERATED, 3000, 2000000)), history=short)["hosts"][0]
    assert not any(leak["suspect"] for leak in host["leaks"])
    rebooted = _history([(3, 2000, 2000000), (2, 2400, 2300000), (1, 2800, 2600000)], boot="another-boot")
    host = report_of(HostInput("w", _run(GENERATED, 3200, 2900000)), history=rebooted)["hosts"][0]
    assert host["leaks"] == []
    assert next(f for f in host["findings"] if f["rule"] == "oom/WARN/005")["status"] == "OK"


def test_no_history_is_unknown_not_ok():
    host = report_of(HostInput("w", load_facts("unit-limit")))["hosts"][0]
    finding = next(f for f in host["findings"] if f["rule"] == "oom/WARN/005")
    assert finding["status"] == "UNKNOWN"


def test_history_files_are_read_oldest_first_and_bad_files_reported(tmp_path):
    history = _history([(2, 2000, 2000000), (1, 2400, 2300000)])
    paths = []
    for index, snapshots in enumerate(history):
        at = (GENERATED - datetime.timedelta(days=2 - index)).isoformat()
        path = tmp_path / f"report-{index}.json"
        hosts = [{"host": h, "status": "ok", "snapshot": s} for h, s in snapshots.items()]
        path.write_text(json.dumps({"generated_at": at, "hosts": hosts}))
        paths.append(str(path))
    (tmp_path / "broken.json").write_text("{not json")
    runs, errors = load_history([paths[1], str(tmp_path / "broken.json"), paths[0], str(tmp_path / "missing.json")])
    assert [run["w"]["units"]["api.service"]["current"] for run in runs] == [2000 * 1048576, 2400 * 1048576]
    assert len(errors) == 2 and "broken.json" in errors[0] and "missing.json" in errors[1]


# hostvars


def test_host_inputs_live_reads_the_registered_result_not_stale_cached_facts():
    facts = load_facts("quiet-oversized")
    hostvars = {
        "ok": {
            "__oom_report_facts_result": {"changed": False, "ansible_facts": {"oom": facts}},
            "machineType": "e2-medium",
        },
        "down": {
            "__oom_report_facts_result": {"unreachable": True, "msg": "ssh: connect to host down\n port 22: timed out"},
            "ansible_facts": {"oom": facts},  # stale, from the fact cache: must not be used
        },
        "failed": {"__oom_report_facts_result": {"failed": True, "msg": "This module requires Linux."}},
        "absent": {},
    }
    inputs = {i.name: i for i in host_inputs(hostvars, ["ok", "down", "failed", "absent"])}
    assert inputs["ok"].oom is facts and inputs["ok"].inventory == {"machineType": "e2-medium"}
    assert inputs["down"].oom is None
    assert inputs["down"].failure == "unreachable: ssh: connect to host down port 22: timed out"
    assert inputs["failed"].failure == "oom_facts failed: This module requires Linux."
    assert inputs["absent"].failure.startswith("no result from this run")


def test_host_inputs_cache_reads_ansible_facts_and_the_gcp_prefix():
    facts = load_facts("quiet-oversized")
    hostvars = {"a": {"ansible_facts": {"oom": facts}, "gcp_machineType": "n2-highmem-8"}, "b": {"ansible_facts": {}}}
    inputs = host_inputs(hostvars, ["a", "b"], facts_source="cache", gcp_vars_prefix="gcp_")
    assert inputs[0].oom is facts and inputs[0].inventory == {"machineType": "n2-highmem-8"}
    assert inputs[1].oom is None and "fact cache" in inputs[1].failure
    with pytest.raises(ReportError, match="facts_source must be live or cache"):
        host_inputs(hostvars, ["a"], facts_source="both")


def test_partial_report_patterns_expand_and_an_empty_pattern_fails(tmp_path):
    from ansible_collections.oomguard.memory.plugins.plugin_utils._report_inputs import expand_paths

    for name in ("slice-2", "slice-1"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text("{}")
    loaded = {"hosts": []}
    assert expand_paths([str(tmp_path / "slice-*" / "report.json"), loaded]) == [
        str(tmp_path / "slice-1" / "report.json"),
        str(tmp_path / "slice-2" / "report.json"),
        loaded,
    ]
    with pytest.raises(ReportError, match="no partial report matches"):
        expand_paths([str(tmp_path / "nothing-*.json")])


def test_top_commands_and_units_count_every_kill_record_not_only_the_newest_victims():
    oom = load_facts("unit-limit")
    template = oom["kills"][0]
    oom["kills"] = [dict(template, pid=100 + i, comm="old-worker", unit="old.service") for i in range(15)]
    oom["kills"] += [dict(template, pid=200 + i, comm="python3", unit="batch.service") for i in range(10)]
    oom["kill_count"] = 25
    oom["kill_count_by_unit"] = {"old.service": 15, "batch.service": 10}
    report = report_of(HostInput("w", oom))
    assert len(report["hosts"][0]["victims"]) == 10  # the newest only
    commands, units = report["charts"]["top_commands"], report["charts"]["top_units"]
    assert commands[:2] == [{"name": "old-worker", "kills": 15}, {"name": "python3", "kills": 10}]
    assert units[:2] == [{"name": "old.service", "kills": 15}, {"name": "batch.service", "kills": 10}]
