# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The check-mode preview: the kernel's next victims before and after a policy, and the units it caps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.oomguard.memory.plugins.plugin_utils._policy import resolve_policy
from ansible_collections.oomguard.memory.plugins.plugin_utils._policy_preview import (
    kernel_scale,
    predict_victims,
    preview,
    shift_score,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "protect"
GiB = 1024**3


def load(name):
    return json.loads((FIXTURES / name).read_text())


def proc(pid, score, adj, comm="p", unit=None, rss_kb=1000):
    return {"pid": pid, "comm": comm, "unit": unit, "oom_score": score, "oom_score_adj": adj, "rss_kb": rss_kb}


@pytest.mark.parametrize(
    "release, scale",
    [
        ("6.1.0-28-cloud-amd64", (2 / 3, 2000)),
        ("5.9.0", (2 / 3, 2000)),
        ("5.8.18-100.fc31.x86_64", (1.0, 1000)),
        ("4.19.0-27-amd64", (1.0, 1000)),
        (None, (2 / 3, 2000)),
        ("garbage", (2 / 3, 2000)),
    ],
)
def test_kernel_scale(release, scale):
    assert kernel_scale(release) == scale


def test_shift_matches_the_kernel_formula():
    # 5.9+: score = (1000 + points_permille + adj) * 2 / 3; a process using 30% of memory at adj 0 scores 866.
    # The kernel rounds down, so the prediction may be one point off (1200 here).
    assert shift_score(866, 0, 500, "6.1") == (1199, False)
    assert shift_score(866, 0, -900, "6.1") == (266, False)
    assert shift_score(866, 0, 1000, "6.1") == (1533, False)
    assert shift_score(1990, 0, 1000, "6.1") == (2000, False)  # clamped
    assert shift_score(10, 0, -900, "6.1") == (0, False)
    # older kernels: 0..1000 and the whole change
    assert shift_score(300, 0, 500, "5.4.0") == (800, False)
    assert shift_score(300, 0, 900, "5.4.0") == (1000, False)
    # -1000: never chosen; from -1000 the base is rebuilt from memory (30% of 1000 MiB)
    assert shift_score(866, 0, -1000, "6.1") == (0, False)
    assert shift_score(0, -1000, 0, "6.1", rss_kb=300 * 1024, total_kb=1000 * 1024) == (866, True)


def test_victims_order_before_and_after():
    processes = [proc(1, 900, 0, "java"), proc(2, 800, 0, "etl"), proc(3, 700, 0, "web"), proc(4, 0, -1000, "sshd")]
    result = predict_victims(processes, {1: -900, 2: 500}, "6.1", total_kb=4 * 1024 * 1024, top=3)
    assert [row["pid"] for row in result["before"]] == [1, 2, 3]
    assert [row["pid"] for row in result["after"]] == [2, 3, 1]
    assert result["first_victim_before"]["comm"] == "java"
    assert result["first_victim_after"]["comm"] == "etl"
    assert result["after"][0]["oom_score"] == 1133
    assert result["changed"] == [
        {
            "pid": 1,
            "comm": "java",
            "unit": None,
            "oom_score_adj": [0, -900],
            "oom_score": [900, 300],
            "estimated": False,
        },
        {
            "pid": 2,
            "comm": "etl",
            "unit": None,
            "oom_score_adj": [0, 500],
            "oom_score": [800, 1133],
            "estimated": False,
        },
    ]
    # an unkillable process is never a victim, before or after
    assert 4 not in [row["pid"] for row in result["before"] + result["after"]]


def test_ties_break_by_pid_and_empty_lists():
    result = predict_victims([proc(9, 500, 0), proc(3, 500, 0)], {}, "6.1")
    assert [row["pid"] for row in result["before"]] == [3, 9]
    assert predict_victims([], {}, None) == {
        "before": [],
        "after": [],
        "first_victim_before": None,
        "first_victim_after": None,
        "changed": [],
    }


def test_preview_of_a_policy_on_the_web_host():
    web = load("protect-web-e2-small.json")
    policy = {
        "services": [
            {"name": "web.service", "class": "critical", "memory_max": "60%"},
            {"name": "nginx.service", "class": "important", "memory_high": "256M"},
        ],
        "processes": [{"pattern": "nightly_etl", "class": "expendable"}],
        "max_critical": 3,
        "max_protected_percent": 50,
    }
    probes = [{"item": {"pattern": "nightly_etl"}, "processes": [{"pid": 1201, "comm": "python3", "before": 0}]}]
    plan = resolve_policy(web, policy, "web-1", probes=probes)
    assert plan["violations"] == []
    result = preview(web, plan, top=3)
    # the ETL job was already the first victim; now it is further ahead, and gunicorn dropped out of the top
    assert result["first_victim_before"]["pid"] == 1201
    assert result["first_victim_after"]["pid"] == 1201
    assert result["first_victim_after"]["oom_score"] == 870 + 333
    assert [row["comm"] for row in result["after"]] == ["python3", "nginx", "gunicorn"]
    assert [row["oom_score"] for row in result["after"]] == [1203, 357, 190]
    # processes of units get the unit's OOMScoreAdjust= (applied live)
    changed = {row["pid"]: row for row in result["changed"]}
    assert changed[980]["oom_score_adj"] == [0, -900] and changed[700]["oom_score_adj"] == [0, -500]
    assert (
        result["score_model"] == "kernel 6.1.0-28-cloud-amd64: score moves by 2/3 of the oom_score_adj change, 0..2000"
    )
    assert [cap["text"] for cap in result["caps"]] == [
        "nginx.service MemoryHigh: infinity -> 256 MiB (in use 64 MiB)",
        "web.service MemoryMax: infinity -> 1.1 GiB (in use 720 MiB)",
    ]
    web_cap = result["caps"][1]
    assert web_cap["limit"] == plan["units"][1]["settings"]["memory_max"]
    assert web_cap["headroom"] == web_cap["limit"] - 720 * 1024 * 1024
    assert result["processes_seen"] == 6


def test_preview_on_an_old_kernel():
    db = load("protect-db-n2-highmem-8.json")
    plan = resolve_policy(db, {"services": [{"name": "reports.service", "class": "sacrificial"}]})
    result = preview(db, plan)
    assert result["first_victim_before"]["comm"] == "postgres"
    assert result["first_victim_after"] == {
        "pid": 3000,
        "comm": "python3",
        "unit": "reports.service",
        "rss_kb": 5000000,
        "oom_score": 1000,
        "oom_score_adj": 1000,
        "estimated": False,
    }
    assert result["caps"] == []


def test_unchanged_limit_is_not_a_cap():
    db = load("protect-db-n2-highmem-8.json")
    db["units"]["reports.service"]["MemoryMax"] = 8 * GiB
    plan = resolve_policy(db, {"services": [{"name": "reports.service", "class": "standard", "memory_max": "8G"}]})
    assert preview(db, plan)["caps"] == []
