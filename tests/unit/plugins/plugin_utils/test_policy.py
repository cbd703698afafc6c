# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Policy resolution as plain functions: classes, globs, percentages, conflicts, every guard rail, rollback state.

The facts are synthetic hosts of the oom_facts 1.1 shape (tests/unit/fixtures/protect/*.json): an e2-small
web server (2 GiB, kernel 6.1) and an n2-highmem-8 database (64 GiB, kernel 5.4, swap).
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest

from ansible_collections.oomguard.memory.plugins.plugin_utils import _policy
from ansible_collections.oomguard.memory.plugins.plugin_utils._policy import (
    DEFAULT_CLASSES,
    PolicyError,
    collect_violations,
    ere_alternation,
    merge_classes,
    render_earlyoom_default,
    resolve_policy,
    restore_plan,
    validate_policy,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "protect"
GiB = 1024**3
MiB = 1024**2


def load(name):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def web():
    return load("protect-web-e2-small.json")


@pytest.fixture
def db():
    return load("protect-db-n2-highmem-8.json")


def policy(**extra):
    base = {"classes": {}, "services": [], "processes": [], "userspace_killer": "none", "max_critical": 5}
    base["max_protected_percent"] = 50
    base.update(extra)
    return base


# the smallest policy that is not empty
STANDARD_WEB = [{"name": "web.service", "class": "standard"}]


def unit_plan(plan, name):
    (found,) = [unit for unit in plan["units"] if unit["unit"] == name]
    return found


def probe(pattern, processes=(), failed=False, msg=None):
    result = {"item": {"pattern": pattern}, "changed": bool(processes), "processes": list(processes)}
    if failed:
        result.update(failed=True, msg=msg)
    return result


# -- classes ----------------------------------------------------------------------------------------------------


def test_builtin_classes_match_the_issue():
    classes = merge_classes({})
    assert {name: c["oom_score_adj"] for name, c in classes.items()} == {
        "critical": -900,
        "important": -500,
        "standard": 0,
        "expendable": 500,
        "sacrificial": 1000,
    }
    assert classes["critical"]["killer_preference"] == "avoid"
    assert classes["expendable"]["killer_preference"] == "prefer"
    assert classes["sacrificial"]["killer_preference"] == "prefer"


def test_override_one_key_of_a_class_keeps_the_others():
    classes = merge_classes({"critical": {"memory_min": "5%"}, "batch": {"oom_score_adj": 300}})
    assert classes["critical"] == {"oom_score_adj": -900, "killer_preference": "avoid", "memory_min": "5%"}
    assert classes["batch"] == {"oom_score_adj": 300, "killer_preference": "none"}
    assert DEFAULT_CLASSES["critical"] == {"oom_score_adj": -900, "killer_preference": "avoid"}


@pytest.mark.parametrize(
    "classes, message",
    [
        ({"new": {"memory_max": "1G"}}, "class new needs oom_score_adj"),
        ({"critical": {"oom_score_adj": 1001}}, "from -1000 to 1000"),
        ({"critical": {"oom_score_adj": True}}, "from -1000 to 1000"),
        ({"critical": {"colour": "red"}}, "unknown keys colour"),
        ({"critical": {"memory_min": "lots"}}, "memory_min"),
        ({"critical": {"memory_max": "101%"}}, "cannot exceed 100%"),
        ({"critical": {"oom_policy": "panic"}}, "oom_policy must be one of"),
        ({"critical": {"killer_preference": "omit"}}, "killer_preference must be one of"),
        ({"bad name!": {"oom_score_adj": 1}}, "class name"),
    ],
)
def test_bad_classes_are_refused(classes, message):
    with pytest.raises(PolicyError, match=message):
        validate_policy(policy(classes=classes))


@pytest.mark.parametrize(
    "services, message",
    [
        ([{"class": "critical"}], "needs a name"),
        ([{"name": "web", "class": "critical"}], "did you mean 'web.service'"),
        ([{"name": "web.service", "class": "vip"}], "class 'vip' is not defined"),
        ([{"name": "web.service", "class": "critical", "memory_maxx": "1G"}], "unknown keys memory_maxx"),
        ([{"name": "w/*.service", "class": "critical"}], "unit glob"),
        ([{"name": "web.service", "class": "critical", "process_names": "gunicorn"}], "process_names"),
        ("web.service", "must be a list"),
    ],
)
def test_bad_services_are_refused(services, message):
    with pytest.raises(PolicyError, match=message):
        validate_policy(policy(services=services))


@pytest.mark.parametrize(
    "processes, message",
    [
        ([{"class": "expendable"}], "needs a pattern"),
        ([{"pattern": "etl(", "class": "expendable"}], "not a valid regular expression"),
        ([{"pattern": "x" * 1025, "class": "expendable"}], "longer than 1024"),
        ([{"pattern": "etl", "class": "nope"}], "class 'nope'"),
    ],
)
def test_bad_process_rules_are_refused(processes, message):
    with pytest.raises(PolicyError, match=message):
        validate_policy(policy(processes=processes))


def test_a_policy_error_becomes_one_violation_on_every_host(web):
    plan = resolve_policy(web, policy(services=[{"name": "web.service", "class": "vip"}]), "web-1")
    assert len(plan["violations"]) == 1
    assert plan["violations"][0].startswith("policy: oom_protect_services[0] (web.service): class 'vip'")
    assert plan["state"] is None


# -- services: names, globs, percentages --------------------------------------------------------------------------


def test_exact_name_and_class_defaults(web):
    plan = resolve_policy(web, policy(services=[{"name": "nginx.service", "class": "important"}]), "web-1")
    assert plan["violations"] == []
    nginx = unit_plan(plan, "nginx.service")
    assert nginx["settings"] == {"oom_score_adjust": -500}
    assert (nginx["class"], nginx["entry"], nginx["killer_preference"]) == ("important", 0, "none")


def test_glob_matches_loaded_units_only(web):
    plan = resolve_policy(web, policy(services=[{"name": "worker@*.service", "class": "expendable"}]))
    assert [unit["unit"] for unit in plan["units"]] == ["worker@1.service", "worker@2.service"]
    assert all(unit["settings"]["oom_score_adjust"] == 500 for unit in plan["units"])


def test_entry_matching_nothing_is_a_warning_not_a_violation(web):
    plan = resolve_policy(web, policy(services=[{"name": "postgresql.service", "class": "critical"}]))
    assert plan["violations"] == []
    assert plan["units"] == []
    assert plan["warnings"] == ["oom_protect_services[0] (postgresql.service) matches no loaded unit on this host"]


def test_percentages_resolve_against_each_hosts_ram(web, db):
    services = [
        {"name": "web.service", "class": "standard", "memory_max": "75%", "memory_high": "70%"},
        {"name": "postgresql.service", "class": "critical", "memory_min": "25%", "memory_low": "40%"},
    ]
    web_plan = resolve_policy(web, policy(services=services))
    db_plan = resolve_policy(db, policy(services=services))
    ram_web, ram_db = web["memory"]["MemTotal"] * 1024, db["memory"]["MemTotal"] * 1024
    web_max = unit_plan(web_plan, "web.service")["settings"]["memory_max"]
    assert web_max == ram_web * 3 // 4 - (ram_web * 3 // 4) % 4096
    assert web_max % 4096 == 0
    pg = unit_plan(db_plan, "postgresql.service")["settings"]
    assert pg["memory_min"] == ram_db // 4 - (ram_db // 4) % 4096
    assert pg["memory_low"] == int(ram_db * 0.4) - int(ram_db * 0.4) % 4096
    assert web_plan["ram_bytes"] == ram_web and db_plan["ram_bytes"] == ram_db


def test_bytes_and_infinity_pass_through(web):
    plan = resolve_policy(
        web, policy(services=[{"name": "web.service", "class": "standard", "memory_max": "1G", "memory_swap_max": 0}])
    )
    assert unit_plan(plan, "web.service")["settings"] == {
        "memory_max": GiB,
        "memory_swap_max": 0,
        "oom_score_adjust": 0,
    }
    plan = resolve_policy(
        web, policy(services=[{"name": "web.service", "class": "standard", "memory_max": "infinity"}])
    )
    assert unit_plan(plan, "web.service")["settings"]["memory_max"] == "infinity"


def test_entry_overrides_its_class(web):
    classes = {"critical": {"oom_policy": "continue", "memory_min": "64M"}}
    services = [{"name": "web.service", "class": "critical", "oom_score_adj": -700, "memory_min": "128M"}]
    settings = unit_plan(resolve_policy(web, policy(classes=classes, services=services)), "web.service")["settings"]
    assert settings == {"memory_min": 128 * MiB, "oom_score_adjust": -700, "oom_policy": "continue"}


def test_slice_gets_memory_but_no_score(web):
    plan = resolve_policy(web, policy(services=[{"name": "system.slice", "class": "standard", "memory_high": "90%"}]))
    assert plan["violations"] == []
    assert set(unit_plan(plan, "system.slice")["settings"]) == {"memory_high"}
    plan = resolve_policy(web, policy(services=[{"name": "system.slice", "class": "standard", "oom_score_adj": 5}]))
    assert plan["violations"] == [
        "system.slice (oom_protect_services[0], class standard): OOMScoreAdjust= applies to .service, .socket, "
        ".mount, .swap units only"
    ]


# -- conflicts and guard rails -------------------------------------------------------------------------------------


def test_two_entries_claiming_one_unit(web):
    services = [{"name": "worker@*.service", "class": "expendable"}, {"name": "worker@2.service", "class": "critical"}]
    plan = resolve_policy(web, policy(services=services))
    assert plan["violations"] == [
        "worker@2.service is claimed by more than one entry: oom_protect_services[0] (worker@*.service), "
        "oom_protect_services[1] (worker@2.service)"
    ]
    assert [unit["unit"] for unit in plan["units"]] == ["worker@1.service"]


def test_unkillable_needs_allow_unkillable(web):
    services = [{"name": "web.service", "class": "critical", "oom_score_adj": -1000}]
    plan = resolve_policy(web, policy(services=services))
    assert any("oom_score_adj -1000 makes processes unkillable" in v for v in plan["violations"])
    assert resolve_policy(web, policy(services=services, allow_unkillable=True))["violations"] == []
    plan = resolve_policy(web, policy(classes={"critical": {"oom_score_adj": -1000}}, services=STANDARD_WEB))
    assert plan["violations"] == [
        "class critical: oom_score_adj -1000 makes processes unkillable by the OOM killer; set "
        "oom_protect_allow_unkillable to allow it, or use -999"
    ]


def test_more_critical_units_than_allowed(web):
    services = [{"name": "*.service", "class": "critical"}]
    plan = resolve_policy(web, policy(services=services, max_critical=2))
    (violation,) = plan["violations"]
    assert violation.startswith(
        "critical units on this host: 6 (cron.service, nginx.service, ssh.service, web.service, "
    )
    assert "more than oom_protect_max_critical=2" in violation
    assert resolve_policy(web, policy(services=services, max_critical=6))["violations"] == []


def test_protection_share_of_ram(web):
    services = [
        {"name": "web.service", "class": "critical", "memory_min": "20%", "memory_low": "30%"},
        {"name": "nginx.service", "class": "important", "memory_low": "25%"},
    ]
    plan = resolve_policy(web, policy(services=services, max_protected_percent=50))
    (violation,) = plan["violations"]
    assert "more than oom_protect_max_protected_percent=50% of the host's RAM (1.9 GiB)" in violation
    # MemoryLow covers MemoryMin: 30% + 25% is counted, not 20% + 30% + 25%
    assert resolve_policy(web, policy(services=services, max_protected_percent=56))["violations"] == []
    assert resolve_policy(web, policy(services=services, max_protected_percent=54))["violations"] != []


def test_limit_larger_than_ram_and_below_current_use(web, db):
    services = [{"name": "web.service", "class": "standard", "memory_max": "4G"}]
    plan = resolve_policy(web, policy(services=services))
    assert plan["violations"] == [
        "web.service (oom_protect_services[0], class standard): memory_max 4 GiB is larger than the host's RAM "
        "(1.9 GiB)"
    ]
    assert resolve_policy(db, policy(services=[{"name": "reports.service", "class": "standard", "memory_max": "4G"}]))[
        "violations"
    ] == [
        "reports.service (oom_protect_services[0], class standard): memory_max 4 GiB is below the unit's current use "
        "(5 GiB): the kernel would reclaim or kill at once"
    ]


def test_size_order(web):
    services = [{"name": "web.service", "class": "standard", "memory_max": "1G", "memory_high": "1200M"}]
    (violation,) = resolve_policy(web, policy(services=services))["violations"]
    assert violation.endswith("memory_high (1.2 GiB) must not exceed memory_max (1 GiB)")


def test_oom_policy_only_for_services_and_scopes(web):
    services = [{"name": "system.slice", "class": "standard", "oom_policy": "kill"}]
    (violation,) = resolve_policy(web, policy(services=services))["violations"]
    assert "OOMPolicy= applies to .service and .scope units only" in violation


def test_google_agents_never_touched(web):
    plan = resolve_policy(web, policy(services=[{"name": "google-guest-agent.service", "class": "critical"}]))
    assert plan["violations"] == [
        "google-guest-agent.service is never touched by a policy (Google's guest agents keep their own -999, the "
        "kubelet owns its values); remove it from oom_protect_services"
    ]
    plan = resolve_policy(web, policy(services=[{"name": "google-*.service", "class": "critical"}]))
    assert plan["violations"] == [] and plan["units"] == []
    assert plan["excluded"] == [
        {"unit": "google-guest-agent.service", "reason": "never touched (oom_protect_never_touch)"}
    ]


def test_process_rule_matching_an_agent_is_a_violation(web):
    rules = [{"pattern": "google", "class": "important"}]
    probes = [probe("google", [{"pid": 650, "comm": "google_guest_ag", "before": -999, "after": -500}])]
    plan = resolve_policy(web, policy(processes=rules), probes=probes)
    assert plan["violations"] == [
        "oom_protect_processes[0] (google, class important) matches pid 650 (google_guest_ag), an agent that keeps "
        "its own oom_score_adj; narrow the pattern"
    ]


def test_panic_on_oom_is_a_violation(web):
    web["sysctl"]["vm.panic_on_oom"] = 1
    (violation,) = resolve_policy(web, policy(services=STANDARD_WEB))["violations"]
    assert violation.startswith("vm.panic_on_oom=1: every OOM panics the kernel (a reboot after kernel.panic=10 s")


def test_gke_nodes_are_skipped_by_default(web):
    plan = resolve_policy(
        web, policy(services=[{"name": "web.service", "class": "critical"}]), labels={"goog-gke-node": ""}
    )
    assert plan["skip"].startswith("GKE node")
    assert plan["units"] == [] and plan["violations"] == []
    gke = copy.deepcopy(web)
    gke["processes"].append({**gke["processes"][0], "pid": 42, "comm": "kubelet"})
    assert resolve_policy(gke, policy())["skip"].startswith("GKE node")


def test_gke_node_without_skip_refuses_kubepods_processes(web):
    message = "refusing to change oom_score_adj of 1 process(es) in kubelet-managed cgroups (kubepods): 77 (java)"
    probes = [probe("java", failed=True, msg=message)]
    plan = resolve_policy(
        web,
        policy(processes=[{"pattern": "java", "class": "important"}], skip_gke_nodes=False),
        labels={"goog-gke-node": ""},
        probes=probes,
    )
    assert plan["skip"] is None
    assert plan["violations"] == ["oom_protect_processes[0] (java, class important): " + message]


def test_two_process_rules_matching_one_pid(web):
    rules = [{"pattern": "etl", "class": "expendable"}, {"pattern": "python3", "class": "sacrificial"}]
    found = {"pid": 1201, "comm": "python3", "before": 0, "after": 500}
    plan = resolve_policy(web, policy(processes=rules), probes=[probe("etl", [found]), probe("python3", [found])])
    assert plan["violations"] == [
        "pid 1201 is matched by more than one entry: oom_protect_processes[0], oom_protect_processes[1]"
    ]


def test_missing_facts_is_a_violation():
    plan = resolve_policy(None, policy(services=STANDARD_WEB), "web-9")
    assert plan["violations"] == ["no oom_facts from this host: the policy cannot be checked against it"]


def test_every_violation_of_every_host_at_once(web, db):
    web["sysctl"]["vm.panic_on_oom"] = 2
    services = [
        {"name": "web.service", "class": "critical", "memory_max": "4G"},
        {"name": "reports.service", "class": "standard", "memory_max": "1G"},
    ]
    hostvars = {
        "web-1": {"__oom_protect_plan": resolve_policy(web, policy(services=services), "web-1")},
        "db-1": {"__oom_protect_plan": resolve_policy(db, policy(services=services), "db-1")},
        "gone-1": {},
    }
    lines = collect_violations(hostvars, ["web-1", "db-1", "gone-1"])
    assert [line.split(":")[0] for line in lines] == ["web-1", "web-1", "db-1", "gone-1"]
    assert "memory_max 4 GiB is larger than the host's RAM" in lines[0]
    assert "vm.panic_on_oom=2" in lines[1]
    assert "below the unit's current use" in lines[2]
    assert lines[3].startswith("gone-1: no policy plan (its variables were refused, its facts could not be gathered")


# -- userspace killers --------------------------------------------------------------------------------------------


def test_systemd_oomd_slices_and_preferences(web, db):
    services = [
        {"name": "web.service", "class": "critical"},
        {"name": "worker@*.service", "class": "expendable"},
    ]
    plan = resolve_policy(web, policy(services=services, userspace_killer="systemd-oomd", oomd_pressure_limit="40%"))
    assert plan["violations"] == []
    assert plan["killer"]["slices"] == [
        {
            "unit": "system.slice",
            "settings": {"managed_oom_memory_pressure": "kill", "managed_oom_memory_pressure_limit": "40%"},
        }
    ]
    assert unit_plan(plan, "web.service")["settings"]["managed_oom_preference"] == "avoid"
    # systemd-oomd has no "prefer": expendable units stay at none, which oomd picks before avoid
    assert "managed_oom_preference" not in unit_plan(plan, "worker@1.service")["settings"]
    # with swap, the root slice is watched for swap use too
    db_plan = resolve_policy(db, policy(userspace_killer="systemd-oomd"))
    assert {"unit": "-.slice", "settings": {"managed_oom_swap": "kill"}} in db_plan["killer"]["slices"]
    assert set(db_plan["state"]["units"]) == {"system.slice", "-.slice"}


def test_systemd_oomd_needs_cgroup_v2_and_systemd(web):
    web["cgroup_version"] = "hybrid"
    web["systemd_running"] = False
    assert resolve_policy(web, policy(userspace_killer="systemd-oomd"))["violations"] == [
        "oom_protect_userspace_killer=systemd-oomd needs systemd as the init system; this host has none",
        "systemd-oomd needs the unified cgroup v2 hierarchy; this host has cgroup hybrid",
    ]


def test_slice_in_services_and_watched_by_oomd(web):
    plan = resolve_policy(
        web, policy(services=[{"name": "system.slice", "class": "standard"}], userspace_killer="systemd-oomd")
    )
    assert plan["violations"] == [
        "system.slice is both in oom_protect_services and a slice that systemd-oomd watches; keep it in one place"
    ]


def test_earlyoom_avoid_and_prefer_from_the_classes(web):
    services = [
        {"name": "web.service", "class": "critical"},
        {"name": "nginx.service", "class": "important", "process_names": ["nginx"]},
        {"name": "cron.service", "class": "expendable", "process_names": ["cron"]},
    ]
    rules = [{"pattern": "nightly_etl", "class": "sacrificial"}]
    probes = [probe("nightly_etl", [{"pid": 1201, "comm": "python3", "before": 0, "after": 1000}])]
    plan = resolve_policy(web, policy(services=services, processes=rules, userspace_killer="earlyoom"), probes=probes)
    earlyoom = plan["killer"]["earlyoom"]
    assert earlyoom["avoid"] == ["gunicorn"]  # important is "none": nginx is neither avoided nor preferred
    assert earlyoom["prefer"] == ["cron", "python3"]
    assert earlyoom["args"] == "-r 3600 --avoid '^(gunicorn)$' --prefer '^(cron|python3)$'"
    assert (
        earlyoom["content"].splitlines()[-1]
        == "EARLYOOM_ARGS=\"-r 3600 --avoid '^(gunicorn)$' --prefer '^(cron|python3)$'\""
    )


def test_earlyoom_name_in_both_lists_gets_neither(web):
    services = [
        {"name": "web.service", "class": "critical"},
        {"name": "worker@*.service", "class": "expendable", "process_names": ["gunicorn", "bad name", "x'y"]},
    ]
    plan = resolve_policy(web, policy(services=services, userspace_killer="earlyoom"))
    assert plan["killer"]["earlyoom"]["avoid"] == [] and plan["killer"]["earlyoom"]["prefer"] == []
    assert any("gunicorn are in both an avoid and a prefer class" in w for w in plan["warnings"])
    assert any("'bad name' cannot go into --prefer" in w for w in plan["warnings"])


def test_earlyoom_regex_needs_no_quoting():
    assert ere_alternation(["php-fpm8.2", "c++"]) == "^(php-fpm8[.]2|c[+][+])$"
    text = render_earlyoom_default("-r 60", ["a"], [])
    assert text.startswith("# Managed by Ansible (oomguard.memory.oom_protect).")
    assert "\\" not in text


# -- rollback state -----------------------------------------------------------------------------------------------


def test_state_records_what_was_there_before(web):
    services = [{"name": "web.service", "class": "critical"}, {"name": "ssh.service", "class": "important"}]
    rules = [{"pattern": "nightly_etl", "class": "expendable"}]
    probes = [probe("nightly_etl", [{"pid": 1201, "comm": "python3", "before": 0, "after": 500}])]
    killer_probe = {"package_installed": True, "enabled": "disabled", "active": False, "earlyoom_default": None}
    plan = resolve_policy(
        web,
        policy(services=services, processes=rules, userspace_killer="earlyoom"),
        probes=probes,
        killer_probe=killer_probe,
    )
    assert plan["state"] == {
        "version": 1,
        "units": {"ssh.service": {"oom_score_adjust": -1000}, "web.service": {"oom_score_adjust": 0}},
        "processes": {"1201": {"comm": "python3", "pattern": "nightly_etl", "before": 0}},
        "killer": {
            "name": "earlyoom",
            "package_installed": True,
            "enabled": "disabled",
            "active": False,
            "earlyoom_default": None,
        },
    }


def test_earliest_record_wins_on_a_second_run(web):
    rules = [{"pattern": "nightly_etl", "class": "expendable"}]
    first = resolve_policy(
        web,
        policy(services=[{"name": "web.service", "class": "critical"}], processes=rules),
        probes=[probe("nightly_etl", [{"pid": 1201, "comm": "python3", "before": 0, "after": 500}])],
    )
    after = copy.deepcopy(web)
    after["units"]["web.service"]["OOMScoreAdjust"] = -900
    second = resolve_policy(
        after,
        policy(services=[{"name": "nginx.service", "class": "critical"}], processes=rules),
        probes=[
            probe(
                "nightly_etl",
                [
                    {"pid": 1201, "comm": "python3", "before": 500, "after": 500},
                    {"pid": 1300, "comm": "python3", "before": 0, "after": 500},
                ],
            )
        ],
        previous_state=first["state"],
    )
    assert second["state"]["units"]["nginx.service"] == {"oom_score_adjust": 0}
    assert second["state"]["processes"]["1201"]["before"] == 0
    assert second["state"]["processes"]["1300"]["before"] == 0
    assert second["stale_units"] == ["web.service"]
    # web.service's record stays until the role has put it back, then it goes
    assert second["state_with_stale"]["units"]["web.service"] == {"oom_score_adjust": 0}
    assert "web.service" not in second["state"]["units"]
    assert second["state_with_stale"]["processes"] == second["state"]["processes"]


def test_restore_only_pids_a_rule_still_matches():
    state = {
        "units": {"web.service": {"oom_score_adjust": 0}, "system.slice": {"oom_score_adjust": None}},
        "processes": {
            "1201": {"comm": "python3", "pattern": "etl", "before": 0},
            "1300": {"comm": "python3", "pattern": "etl", "before": 0},
            "1400": {"comm": "java", "pattern": "java", "before": 200},
            "1500": {"comm": "java", "pattern": "java", "before": 200},
        },
        "killer": {"name": "earlyoom", "earlyoom_default": base64.b64encode(b"EARLYOOM_ARGS=\n").decode()},
    }
    probes = [
        probe("etl", [{"pid": 1201, "comm": "python3", "before": 500, "after": 500}]),
        probe("java", [{"pid": 1400, "comm": "java", "before": -500, "after": -500}]),
    ]
    restore = restore_plan(state, probes)
    assert restore["process_groups"] == [{"value": 0, "pids": [1201]}, {"value": 200, "pids": [1400]}]
    assert restore["units"] == [
        {"unit": "system.slice", "oom_score_adjust": None},
        {"unit": "web.service", "oom_score_adjust": 0},
    ]
    assert restore["patterns"] == ["etl", "java"]
    assert restore["killer"]["name"] == "earlyoom"
    assert restore_plan({}, None) == {"units": [], "process_groups": [], "patterns": [], "killer": None}


def test_probe_messages_are_made_printable(web):
    probes = [probe("x", failed=True, msg="bad\x1b[31m\nline" + "y" * 300)]
    plan = resolve_policy(web, policy(processes=[{"pattern": "x", "class": "standard"}]), probes=probes)
    (violation,) = plan["violations"]
    assert "\x1b" not in violation and "\n" not in violation
    assert len(violation) < 300


def test_module_has_no_host_side_regex_on_command_lines():
    # The controller must not run policy patterns on command lines: nothing in the resolver uses re.search/match
    source = Path(_policy.__file__).read_text()
    assert "re.search(" not in source
    assert ".search(" not in source


def test_switching_killers_needs_a_rollback_first(web):
    previous = {"units": {}, "processes": {}, "killer": {"name": "earlyoom", "earlyoom_default": None}}
    plan = resolve_policy(web, policy(userspace_killer="systemd-oomd"), previous_state=previous)
    assert plan["violations"] == [
        "the userspace killer was earlyoom on an earlier run and is systemd-oomd now; run with "
        "oom_protect_state=absent first, so that the rollback record stays exact"
    ]
    assert resolve_policy(web, policy(userspace_killer="earlyoom"), previous_state=previous)["violations"] == []
    assert resolve_policy(web, policy(services=STANDARD_WEB), previous_state=previous)["violations"] == []


# -- the role's other variables, the empty policy, what the host's systemd_memory refuses -----------------------


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"max_critical": "many"}, "oom_protect_max_critical must be a whole number, got a str ('many')"),
        ({"max_critical": -5}, "oom_protect_max_critical must be 0 or more, got -5"),
        ({"max_protected_percent": 101}, "oom_protect_max_protected_percent must be from 0 to 100, got 101"),
        ({"preview_top": 2.5}, "oom_protect_preview_top must be a whole number, got a float (2.5)"),
        ({"restart_ok": "maybe"}, "oom_protect_restart_ok must be true or false, got a str ('maybe')"),
        ({"state": "gone"}, "oom_protect_state must be present or absent, got 'gone'"),
        ({"state_file": "state.json"}, "oom_protect_state_file must be the absolute path of a file, got a str"),
        ({"never_touch": "a,b"}, "oom_protect_never_touch must be a list of unit names, got a str"),
        ({"oomd_pressure_slices": ["web.service"]}, "oom_protect_oomd_pressure_slices: web.service is not a slice"),
        ({"oomd_pressure_limit": "20"}, "oom_protect_oomd_pressure_limit must be a percentage with up to two"),
        ({"earlyoom_args": "-r 60; reboot"}, "oom_protect_earlyoom_args '-r 60; reboot': use options and values"),
        ({"earlyoom_args": ["-r", "60"]}, "oom_protect_earlyoom_args must be a str, got a list"),
    ],
)
def test_wrong_role_variables_are_variable_errors(web, variables, message):
    plan = resolve_policy(web, policy(services=STANDARD_WEB, **variables))
    (error,) = plan["variable_errors"]
    assert error.startswith(message), error
    assert plan["violations"] == [error]
    # nothing is resolved from wrong variables
    assert plan["units"] == [] and plan["state"] is None


def test_role_variables_given_as_text_are_converted(web):
    plan = resolve_policy(web, policy(services=STANDARD_WEB, max_critical="0", allow_unkillable="no"))
    assert plan["variable_errors"] == []
    assert plan["violations"] == []
    plan = resolve_policy(web, policy(services=[{"name": "web.service", "class": "critical"}], max_critical="0"))
    assert [v for v in plan["violations"] if "more than oom_protect_max_critical=0" in v]


def test_an_empty_policy_is_a_violation(web):
    (violation,) = resolve_policy(web, policy())["violations"]
    assert violation.startswith("the policy is empty: oom_protect_services and oom_protect_processes are empty")
    assert resolve_policy(web, policy(userspace_killer="earlyoom"))["violations"] == []


def test_what_the_hosts_systemd_memory_refuses_is_a_violation(web):
    unit_probes = [
        {
            "item": {"unit": "web.service"},
            "changed": True,
            "unsupported": [
                {"option": "managed_oom_preference", "directive": "ManagedOOMPreference", "needs": 248, "systemd": 245}
            ],
        },
        {"item": {"unit": "system.slice"}, "failed": True, "msg": "a foreign file holds the drop-in's place"},
        {"item": {"unit": "ok.service"}, "changed": False, "unsupported": []},
    ]
    plan = resolve_policy(web, policy(services=STANDARD_WEB), unit_probes=unit_probes)
    assert plan["violations"] == [
        "web.service: ManagedOOMPreference= needs systemd 248 or later for .service units; this host runs systemd "
        "245, which would ignore it",
        "system.slice: a foreign file holds the drop-in's place",
    ]
    assert plan["variable_errors"] == []


def test_collect_variable_errors_only(web):
    hostvars = {
        "web-1": {"__oom_protect_plan": resolve_policy(web, policy(services=STANDARD_WEB, max_critical="x"))},
        "web-2": {"__oom_protect_plan": resolve_policy(web, policy(services=[{"name": "web.service", "class": "x"}]))},
    }
    lines = collect_violations(hostvars, ["web-1", "web-2"], key="variable_errors")
    assert lines == ["web-1: oom_protect_max_critical must be a whole number, got a str ('x')"]
    assert len(collect_violations(hostvars, ["web-1", "web-2"])) == 2
