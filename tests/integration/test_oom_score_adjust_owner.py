# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""OOMScoreAdjust= has one owner: oom_score_adj (persist) and systemd_memory (oom_score_adjust, apply) agree.

Real processes in cgroups named like units (systemd does not run here, so both modules find a unit's processes by
its name in their cgroup paths, with the same code), drop-ins in a scratch unit directory, through ansible. The
values are raised, from 0 to 300, because root on these machines may not lower them (no CAP_SYS_RESOURCE).
"""

from __future__ import annotations

import os

import pytest
from unit_cgroups import UnitCgroup, systemd_hierarchy

pytestmark = pytest.mark.integration

SCORE_DROPIN = "50-oomguard-oom-score-adj.conf"
MEMORY_DROPIN = "50-oomguard-memory.conf"


@pytest.fixture
def units(lab):
    """new_unit() -> (unit name, [two hogs in it]); every cgroup removed afterwards."""
    hierarchy = systemd_hierarchy()
    if not hierarchy:
        pytest.skip("no systemd cgroup hierarchy to make a unit's cgroup in")
    made = []

    def new_unit():
        group = UnitCgroup(hierarchy)
        made.append(group)
        hogs = [lab.start_hog("ogo-%s-%d" % (group.unit[14:20], number), go=False) for number in range(2)]
        for hog in hogs:
            group.add(hog.pid)
        return group.unit, hogs

    yield new_unit
    for group in made:
        group.remove()


def values(hogs):
    return [hog.oom_score_adj() for hog in hogs]


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def test_both_paths_end_in_the_same_dropin_and_the_same_live_values(run_module, units, tmp_path):
    unit_dir = str(tmp_path)
    unit_a, hogs_a = units()
    unit_b, hogs_b = units()
    score_a = os.path.join(unit_dir, unit_a + ".d", SCORE_DROPIN)
    score_b = os.path.join(unit_dir, unit_b + ".d", SCORE_DROPIN)

    by_oom_score_adj = run_module(
        "oom_score_adj", {"unit": unit_a, "value": 300, "persist": True, "unit_dir": unit_dir}
    )
    by_systemd_memory = run_module(
        "systemd_memory", {"unit": unit_b, "oom_score_adjust": 300, "apply": True, "unit_dir": unit_dir}
    )
    assert by_oom_score_adj["changed"] and by_systemd_memory["changed"], (by_oom_score_adj, by_systemd_memory)
    assert by_oom_score_adj["dropin"] == score_a and by_systemd_memory["score_path"] == score_b
    assert read(score_a) == read(score_b)
    assert read(score_a).decode().splitlines()[1:] == ["[Service]", "OOMScoreAdjust=300"]
    assert values(hogs_a) == values(hogs_b) == [300, 300]
    assert sorted(entry["pid"] for entry in by_systemd_memory["processes"]) == sorted(hog.pid for hog in hogs_b)
    assert by_oom_score_adj["restart_required"] is False and by_systemd_memory["restart_required"] is False
    assert not os.path.exists(os.path.join(unit_dir, unit_b + ".d", MEMORY_DROPIN))  # OOMScoreAdjust= only

    # the other module on the same unit finds nothing to do: the same state
    again = run_module("systemd_memory", {"unit": unit_a, "oom_score_adjust": 300, "apply": True, "unit_dir": unit_dir})
    assert again["changed"] is False, again
    again = run_module("oom_score_adj", {"unit": unit_b, "value": 300, "persist": True, "unit_dir": unit_dir})
    assert again["changed"] is False, again


def test_neither_module_removes_the_others_settings(run_module, units, tmp_path):
    unit_dir = str(tmp_path)
    unit, hogs = units()
    score = os.path.join(unit_dir, unit + ".d", SCORE_DROPIN)
    memory = os.path.join(unit_dir, unit + ".d", MEMORY_DROPIN)

    run_module("oom_score_adj", {"unit": unit, "value": 300, "persist": True, "unit_dir": unit_dir})
    score_bytes = read(score)
    result = run_module("systemd_memory", {"unit": unit, "memory_max": "1G", "unit_dir": unit_dir})
    assert result["changed"] is True
    assert read(score) == score_bytes  # systemd_memory without oom_score_adjust leaves it alone
    memory_bytes = read(memory)
    assert b"OOMScoreAdjust" not in memory_bytes

    result = run_module("oom_score_adj", {"unit": unit, "value": 400, "persist": True, "unit_dir": unit_dir})
    assert result["changed"] is True
    assert read(memory) == memory_bytes  # oom_score_adj never touches the memory drop-in
    assert read(score).decode().splitlines()[-1] == "OOMScoreAdjust=400"
    assert values(hogs) == [400, 400]

    result = run_module("systemd_memory", {"unit": unit, "state": "absent", "unit_dir": unit_dir})
    assert result["changed"] is True
    assert not os.path.exists(os.path.dirname(score))  # both drop-ins, then the empty .d directory
    assert result["restart_required"] is True  # the running processes keep 400 until the unit next starts
