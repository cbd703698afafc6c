# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Each finding rule of the fleet report: FAIL, OK, SKIP and UNKNOWN cases over synthetic oom_facts 1.1 results."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import finding_of, host_entry, load_facts

from ansible_collections.oomguard.memory.plugins.module_utils._host import read_pressure
from ansible_collections.oomguard.memory.plugins.module_utils._sysstat import empty_history
from ansible_collections.oomguard.memory.plugins.plugin_utils._policy import resolve_policy

PROTECT_DEFAULTS = Path(__file__).resolve().parents[4] / "roles" / "oom_protect" / "defaults" / "main.yml"

GKE = {"labels": {"goog-gke-node": "", "goog-k8s-cluster-name": "prod", "goog-k8s-node-pool-name": "pool-1"}}


def status(oom, rule, inventory=None, **kwargs):
    finding = finding_of(host_entry("h", oom, inventory, **kwargs), rule)
    return finding["status"], finding


def quiet(history_days=8):
    """The quiet host without sysstat history: what oom_facts returns when it has none (or was not asked)."""
    oom = load_facts("quiet-oversized")
    reason = "sysstat is not installed (no sadf command)" if history_days else "not gathered (memory_history_days is 0)"
    oom["memory_history"] = empty_history(history_days, reason)
    return oom


def no_logs(oom):
    oom["sources"] = {
        "journal": {"status": "absent", "detail": "", "kills": 0, "format": None, "untrusted": 0},
        "kmsg": {"status": "unreadable", "detail": "EACCES", "kills": 0, "format": None, "untrusted": 0},
    }
    oom["sources_unavailable"] = ["journal", "kmsg"]
    return oom


def add_kill(oom, **fields):
    kill = dict.fromkeys(load_facts("global-oom")["kills"][0])
    kill.update(scope="local", python=False, timestamp="2026-11-29T10:00:00+00:00", pid=999, comm="x", rss_kb=1000)
    kill.update(fields)
    oom["kills"].append(kill)
    oom["kill_count"] += 1
    oom["kill_count_by_kind"][kill["kind"]] += 1
    oom["kill_count_by_killer"][kill["killer"]] += 1
    if kill["unit"]:
        oom["kill_count_by_unit"][kill["unit"]] = oom["kill_count_by_unit"].get(kill["unit"], 0) + 1
    return oom


# oom/ERR/001 VM out of memory


def test_err001_fails_on_global_kills_with_count_window_and_victims():
    state, finding = status(load_facts("global-oom"), "oom/ERR/001")
    assert state == "FAIL"
    assert finding["message"].startswith("3 VM-wide OOM kills in 30.0 days (kernel global 3,")
    assert [v["comm"] for v in finding["evidence"]["victims"]] == ["sshd", "php-fpm8.2", "php-fpm8.2"]
    assert "e2-standard-2" in finding["remediation"] and "e2-highmem-2" in finding["remediation"]
    assert finding["snippet"].startswith("gcloud compute instances stop web-1 --zone europe-west1-b")


def test_err001_counts_systemd_oomd_kills_as_vm_wide():
    oom = add_kill(quiet(), killer="systemd-oomd", kind="systemd-oomd", unit="batch.service", pid=None, comm=None)
    state, finding = status(oom, "oom/ERR/001")
    assert state == "FAIL" and "systemd-oomd 1" in finding["message"]


def test_err001_ok_without_kills_in_readable_logs():
    assert status(quiet(), "oom/ERR/001")[0] == "OK"


def test_err001_unknown_when_no_log_could_be_read():
    state, finding = status(no_logs(quiet()), "oom/ERR/001")
    assert state == "UNKNOWN"
    assert "unknown (not zero)" in finding["message"] and "kmsg unreadable" in finding["message"]


def test_err001_memcg_kills_are_not_vm_wide():
    assert status(load_facts("unit-limit"), "oom/ERR/001")[0] == "OK"


# oom/ERR/002 memory at RAM


def test_err002_fails_on_a_sysstat_peak_at_ram():
    oom = load_facts("quiet-oversized")
    oom["memory_history"]["peak_used_kb"] = int(oom["memory"]["MemTotal"] * 0.97)
    state, finding = status(oom, "oom/ERR/002", {"machineType": "n2-highmem-8"})
    assert state == "FAIL" and "peak 97 % of RAM (sysstat, 8 days)" in finding["message"]


def test_err002_fails_when_long_at_90_percent():
    oom = load_facts("quiet-oversized")
    oom["memory_history"].update(peak_used_kb=int(oom["memory"]["MemTotal"] * 0.92), share_ge_90_pct=14.0)
    state, finding = status(oom, "oom/ERR/002")
    assert state == "FAIL" and "at or above 90 % in 14 % of the sysstat samples" in finding["message"]


def test_err002_fails_on_a_current_use_at_ram_without_history():
    oom = quiet()
    oom["memory"]["MemAvailable"] = int(oom["memory"]["MemTotal"] * 0.03)
    assert status(oom, "oom/ERR/002")[0] == "FAIL"


def test_err002_ok_with_history_below():
    state, finding = status(load_facts("quiet-oversized"), "oom/ERR/002")
    assert state == "OK" and "over 8 days (sysstat)" in finding["message"]


def test_err002_unknown_without_history_never_ok():
    state, finding = status(quiet(), "oom/ERR/002")
    assert state == "UNKNOWN" and "no memory history" in finding["message"]


# oom/ERR/003 panic_on_oom


@pytest.mark.parametrize(
    ("panic_on_oom", "kernel_panic", "expected", "text"),
    [
        (1, 10, "FAIL", "a reboot 10 s after every OOM"),
        (2, 10, "FAIL", "a reboot 10 s after every OOM"),
        (1, 0, "FAIL", "a hang on every OOM"),
        (0, 10, "OK", "the OOM killer kills"),
        (None, 10, "UNKNOWN", "could not be read"),
    ],
)
def test_err003_panic_on_oom(panic_on_oom, kernel_panic, expected, text):
    oom = quiet()
    oom["sysctl"].update({"vm.panic_on_oom": panic_on_oom, "kernel.panic": kernel_panic})
    state, finding = status(oom, "oom/ERR/003")
    assert state == expected and text in finding["message"]


# oom/ERR/004 critical service killed


def test_err004_fails_for_a_listed_unit_with_an_oom_protect_snippet():
    state, finding = status(load_facts("global-oom"), "oom/ERR/004")
    assert state == "FAIL"
    assert "sshd (ssh.service, listed in oom_report_critical_units)" in finding["message"]
    assert finding["snippet"].splitlines() == [
        "# oom_protect policy (group_vars or the play's vars); preview the next victims first:",
        "#   ansible-playbook -i INVENTORY playbooks/protect.yml --check --diff --limit h",
        "oom_protect_services:",
        '  - name: "ssh.service"',
        "    class: critical",
    ]


def protect_plan(oom, snippet):
    """The oom_protect role's own resolution of a snippet's policy against the host's facts."""
    variables = yaml.safe_load(snippet)
    assert set(variables) <= set(yaml.safe_load(PROTECT_DEFAULTS.read_text())), "not oom_protect variables"
    policy = {name[len("oom_protect_") :]: value for name, value in variables.items()}
    # the fixture host also has vm.panic_on_oom=1, which oom/ERR/003 asks to turn off first (oom_protect refuses it)
    oom = dict(oom, sysctl=dict(oom["sysctl"], **{"vm.panic_on_oom": 0}))
    return resolve_policy(oom, policy, host="h")


def test_err004_snippet_is_a_policy_the_oom_protect_role_accepts():
    oom = add_kill(load_facts("global-oom"), killer="kernel", kind="global", unit=None, comm="python3")
    oom = add_kill(oom, killer="kernel", kind="global", unit=None, comm="etl-nightly-job")  # 15 characters
    _state, finding = status(oom, "oom/ERR/004", options={"critical_commands": ["python3", "etl-*"]})
    plan = protect_plan(oom, finding["snippet"])
    assert plan["violations"] == [] and [u["unit"] for u in plan["units"]] == ["ssh.service"]
    assert plan["units"][0]["settings"]["oom_score_adjust"] == -900
    patterns = {rule["pattern"]: rule["oom_score_adj"] for rule in plan["processes"]}
    assert set(patterns.values()) == {-900} and len(patterns) == 2
    python, etl = sorted(patterns, key=len)
    # oom_score_adj searches the pattern in the command line: the program, with or without its directory
    assert re.search(python, "/usr/bin/python3 /opt/etl.py") and re.search(python, "python3")
    assert not re.search(python, "/usr/bin/python3.11 x") and not re.search(python, "vi python3")
    # a name the kernel cut to 15 characters matches the longer program name
    assert re.search(etl, "/opt/bin/etl-nightly-job-runner --all")


def test_err004_snippet_leaves_out_what_oom_protect_never_touches():
    oom = add_kill(
        load_facts("global-oom"),
        killer="kernel",
        kind="global",
        unit="google-guest-agent.service",
        comm="google_guest_ag",
        oom_score_adj=-999,
    )
    _state, finding = status(oom, "oom/ERR/004")
    assert "# google-guest-agent.service: keeps the oom_score_adj its owner sets" in finding["snippet"]
    plan = protect_plan(oom, finding["snippet"])
    assert plan["violations"] == [] and [u["unit"] for u in plan["units"]] == ["ssh.service"]


def test_err004_snippet_of_hostile_names_is_still_one_yaml_string_each():
    comm = "x'\n- name: \"evil"
    oom = add_kill(load_facts("global-oom"), killer="kernel", kind="global", unit=None, comm=comm)
    _state, finding = status(oom, "oom/ERR/004", options={"critical_commands": ["x*"]})
    variables = yaml.safe_load(finding["snippet"])
    assert [entry["name"] for entry in variables["oom_protect_processes"]] == [comm]
    assert re.search(variables["oom_protect_processes"][0]["pattern"], comm + " --flag")


def test_err004_fails_for_a_victim_that_was_meant_to_be_spared():
    oom = add_kill(quiet(), killer="kernel", kind="global", unit="api.service", comm="api", oom_score_adj=-500)
    state, finding = status(oom, "oom/ERR/004")
    assert state == "FAIL" and "oom_score_adj -500" in finding["message"]


def test_err004_critical_commands_and_units_are_options():
    oom = add_kill(quiet(), killer="kernel", kind="global", unit=None, comm="postgres")
    assert status(oom, "oom/ERR/004")[0] == "OK"
    state, finding = status(oom, "oom/ERR/004", options={"critical_commands": ["postgres*"]})
    assert state == "FAIL" and "oom_protect_processes:" in finding["snippet"]


def test_err004_ok_skip_unknown():
    assert status(load_facts("unit-limit"), "oom/ERR/004")[0] == "OK"
    assert status(load_facts("global-oom"), "oom/ERR/004", GKE)[0] == "SKIP"
    assert status(no_logs(quiet()), "oom/ERR/004")[0] == "UNKNOWN"


# oom/WARN/001 unit killed at its own MemoryMax


def test_warn001_fails_for_a_unit_at_its_limit_and_says_not_the_vm():
    state, finding = status(load_facts("unit-limit"), "oom/WARN/001")
    assert state == "FAIL"
    assert finding["message"] == "batch.service: 4 kills at MemoryMax 1024 MiB (peak 1024 MiB)"
    assert "a bigger VM does not help" in finding["remediation"]


def test_warn001_ok_and_skip_without_systemd():
    assert status(load_facts("global-oom"), "oom/WARN/001")[0] == "OK"  # killed units there have no MemoryMax
    oom = quiet()
    oom["systemd_running"] = False
    oom["units"] = {}
    assert status(oom, "oom/WARN/001")[0] == "SKIP"


# oom/WARN/002 kills inside container/cgroup limits


def test_warn002_fails_for_a_container_limit_and_ok_for_unit_limits_alone():
    oom = add_kill(quiet(), killer="kernel", kind="memcg", unit=None, cgroup="/docker/3f2a9c4b1d7e", comm="java")
    state, finding = status(oom, "oom/WARN/002")
    assert state == "FAIL" and "/docker/3f2a9c4b1d7e" in finding["message"]
    assert status(load_facts("unit-limit"), "oom/WARN/002")[0] == "OK"


def test_warn002_names_the_limit_that_was_hit_not_the_victims_cgroup():
    # a unit without a limit of its own killed at its container's limit (the kernel's oom_memcg)
    oom = add_kill(
        quiet(),
        killer="kernel",
        kind="memcg",
        unit="ramhog.service",
        cgroup="/lxc.payload.ct01/system.slice/ramhog.service",
        task_memcg="/lxc.payload.ct01/system.slice/ramhog.service",
        oom_memcg="/lxc.payload.ct01",
        comm="python3",
    )
    state, finding = status(oom, "oom/WARN/002")
    assert state == "FAIL" and finding["evidence"]["cgroups"] == ["/lxc.payload.ct01"]


# oom/WARN/003 pressure without swap


def test_warn003_pressure_without_swap():
    state, finding = status(load_facts("global-oom"), "oom/WARN/003")
    assert state == "FAIL" and "some 22.5 % / full 4.2 %" in finding["message"]
    assert "swap file or zram" in finding["remediation"] and "systemd-oomd" in finding["remediation"]


def test_warn003_ok_with_swap_or_a_userspace_killer_or_low_pressure():
    oom = load_facts("global-oom")
    oom["memory"].update(SwapTotal=2097148, SwapFree=2000000)
    assert status(oom, "oom/WARN/003")[0] == "OK"
    oom = load_facts("global-oom")
    oom["userspace_killers"]["earlyoom"] = {"installed": True, "active": True}
    assert status(oom, "oom/WARN/003")[0] == "OK"
    assert status(quiet(), "oom/WARN/003")[0] == "OK"


def test_warn003_unknown_without_psi(tmp_path):
    oom = quiet()
    # what oom_facts reads on a kernel without /proc/pressure/memory: available false, zeros
    oom["pressure"] = read_pressure(root=str(tmp_path))
    assert oom["pressure"]["available"] is False and oom["pressure"]["some"]["avg300"] == 0.0
    assert status(oom, "oom/WARN/003")[0] == "UNKNOWN"


# oom/WARN/004 kills missing from the logs


def test_warn004_cases():
    oom = quiet()
    oom.update(kills_missing_from_logs=3, kills_missing_known=True)
    state, finding = status(oom, "oom/WARN/004")
    assert state == "FAIL" and "3 OOM kills since boot that no log read shows" in finding["message"]
    assert status(no_logs(quiet()), "oom/WARN/004")[0] == "UNKNOWN"
    oom = quiet()
    oom.update(kills_missing_from_logs=0, kills_missing_known=False)
    assert status(oom, "oom/WARN/004")[0] == "UNKNOWN"
    assert status(quiet(), "oom/WARN/004")[0] == "OK"


# oom/WARN/006 containers without a memory limit


def test_warn006_cases():
    state, finding = status(load_facts("unit-limit"), "oom/WARN/006")
    assert state == "FAIL" and "docker:3f2a9c4b1d7e" in finding["message"]
    assert status(load_facts("gke-node"), "oom/WARN/006", GKE)[0] == "SKIP"
    assert status(quiet(), "oom/WARN/006")[0] == "OK"


# oom/BP/001 sysstat


def test_bp001_no_sysstat_gives_the_debian_steps():
    state, finding = status(quiet(), "oom/BP/001")
    assert state == "FAIL"
    assert "systemctl enable --now sysstat sysstat-collect.timer sysstat-summary.timer" in finding["remediation"]
    assert "(sysstat is not installed (no sadf command))" in finding["message"]
    assert status(load_facts("quiet-oversized"), "oom/BP/001")[0] == "OK"
    assert status(quiet(), "oom/BP/001", GKE)[0] == "SKIP"


def test_bp001_history_not_gathered_is_unknown_not_a_missing_sysstat():
    state, finding = status(quiet(history_days=0), "oom/BP/001")
    assert state == "UNKNOWN"
    assert "oom_report_memory_history_days" in finding["message"] + finding["remediation"]


# oom/BP/002 smaller type


def test_bp002_downsizes_only_with_high_confidence():
    inventory = {"machineType": "n2-highmem-8", "zone": "europe-west1-c", "name": "db-2"}
    state, finding = status(load_facts("quiet-oversized"), "oom/BP/002", inventory)
    assert state == "FAIL" and finding["message"].startswith("n2-highmem-8 -> n2-standard-8")
    assert "set-machine-type db-2 --zone europe-west1-c --machine-type n2-standard-8" in finding["snippet"]
    medium = load_facts("quiet-oversized")
    medium["memory_history"].update(days=5, coverage_pct=99.0)
    state, finding = status(medium, "oom/BP/002", inventory)
    assert state == "SKIP" and "confidence is medium" in finding["message"]
    patchy = load_facts("quiet-oversized")
    patchy["memory_history"].update(coverage_pct=60.0)
    assert status(patchy, "oom/BP/002", inventory)[0] == "SKIP"
    assert status(quiet(), "oom/BP/002", inventory)[0] == "SKIP"


def test_bp002_no_downsize_after_kills_or_full_stalls():
    inventory = {"machineType": "n2-highmem-8"}
    oom = add_kill(load_facts("quiet-oversized"), killer="kernel", kind="memcg", unit="x.service")
    assert host_entry("h", oom, inventory)["rightsizing"]["action"] != "downsize"
    oom = load_facts("quiet-oversized")
    oom["pressure"]["full"]["avg300"] = 2.0
    assert host_entry("h", oom, inventory)["rightsizing"]["action"] != "downsize"


def test_bp002_ok_when_the_type_is_already_the_smallest_that_fits():
    oom = load_facts("quiet-oversized")
    oom["memory_history"]["peak_used_kb"] = int(oom["memory"]["MemTotal"] * 0.6)
    state, _finding = status(oom, "oom/BP/002", {"machineType": "n2-highmem-8"})
    assert state == "OK"


# machine type sources and GKE


def test_machine_type_from_gcp_compute_beats_the_metadata_server():
    host = host_entry("web-1", load_facts("global-oom"), {"machineType": "e2-standard-2", "zone": "us-east1-b"})
    assert host["machine"]["type"] == "e2-standard-2" and host["machine"]["source"] == "gcp_compute"
    host = host_entry("web-1", load_facts("global-oom"))
    assert host["machine"]["type"] == "e2-medium" and host["machine"]["source"] == "gce_metadata"
    host = host_entry("web-1", quiet())
    assert host["machine"]["type"] is None and host["machine"]["source"] == "unknown"


def test_unknown_machine_type_still_says_how_much_memory_is_needed():
    oom = load_facts("global-oom")
    oom["host"]["gce"] = None
    host = host_entry("web-1", oom)
    assert host["rightsizing"]["action"] == "upsize" and host["rightsizing"]["recommended"] is None
    assert "it needs about 4706 MiB" in finding_of(host, "oom/ERR/001")["remediation"]
    host = host_entry("web-1", oom, {"machineType": "m9-mega-1"})
    assert "unknown machine type 'm9-mega-1'" in host["machine"]["parse_error"]
    assert host["rightsizing"]["recommended"] is None


def test_gke_node_reports_kubelet_tiers_and_no_gcloud_snippet():
    host = host_entry("gke-pool-1-abcd", load_facts("gke-node"), GKE)
    assert host["gke"]["cluster"] == "prod" and host["gke"]["node_pool"] == "pool-1"
    assert host["gke"]["kubelet_tiers"] == {
        "kubelet_kube_proxy_-999": 2,
        "guaranteed_-997": 1,
        "burstable_2_999": 1,
        "besteffort_1000": 1,
    }
    oom = load_facts("global-oom")
    host = host_entry("gke-pool-1-abcd", oom, dict(GKE, machineType="e2-medium"))
    assert host["rightsizing"]["action"] == "upsize" and host["rightsizing"]["snippet"] is None
    assert "node pool" in finding_of(host, "oom/ERR/001")["remediation"]


def test_google_agents_at_minus_999_are_vendor_protected_not_flagged():
    host = host_entry("web-1", load_facts("global-oom"))
    assert host["protection"]["vendor"] == ["google-guest-agent.service"]
    assert all("google-guest-agent" not in f["message"] for f in host["findings"] if f["status"] != "OK")
