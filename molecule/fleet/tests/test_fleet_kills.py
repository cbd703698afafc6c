# SPDX-License-Identifier: GPL-3.0-or-later
"""Exact kill counts per host of the fleet, and a container's own kills told from its host's.

side_effect.yml made real kernel OOM kills: ct01 one at the container's memory limit (its RAM), ct02 one,
ct03 two and ct04 three at their units' MemoryMax=, and one on the machine that runs the containers. Every
container reads that machine's kernel log (dmesg), so every one of these kills is in every container's log:
oom_facts must count on each host exactly the kills of that host (kill_count, kill_count_by_unit) and the
others only as host-scope kills (host_scope_kill_count), never in kill_count.
"""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path

import pytest
from fleetlab import HOSTS, ansible, facts_of, shell

testinfra_hosts = ["local://"]

# The plan of side_effect.yml: the units whose process the kernel killed, per host.
RAMHOG = "oomtest-fleet-ramhog.service"
UNITS = {
    "ct01": [RAMHOG],
    "ct02": ["oomtest-fleet-hog0.service"],
    "ct03": ["oomtest-fleet-hog0.service", "oomtest-fleet-hog1.service"],
    "ct04": ["oomtest-fleet-hog0.service", "oomtest-fleet-hog1.service", "oomtest-fleet-hog2.service"],
}
HOST_KILLS = 1  # on the machine that runs the containers, outside all of them
ALL_KILLS = sum(len(units) for units in UNITS.values()) + HOST_KILLS
UNIT_LIMIT_KIB = 48 * 1024


@pytest.fixture(scope="module")
def records():
    """What side_effect.yml did on each host (the window's start, the units killed)."""
    return {
        host: json.loads(text) for host, text in shell("containers", "cat /var/lib/oomtest/fleet-kills.json").items()
    }


@pytest.fixture(scope="module")
def host_kill():
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "fleet-host-kill.json"
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def units_shown():
    """host -> unit -> `systemctl show` of the scenario's transient units that ran on it."""
    text = shell("containers", "systemctl show -p Id,Result,ExecMainCode,ExecMainStatus 'oomtest-fleet-*' --all; true")
    shown = {}
    for host, output in text.items():
        blocks = [dict(line.split("=", 1) for line in block.splitlines()) for block in output.split("\n\n") if block]
        shown[host] = {block["Id"]: block for block in blocks}
    return shown


@pytest.fixture(scope="module")
def facts(records):
    (since,) = {record["since"] for record in records.values()}
    return facts_of(ansible("containers", "oomguard.memory.oom_facts", f"since={since} top_processes=0"))


def local_kills(facts):
    return [kill for kill in facts["kills"] if kill["scope"] == "local"]


@pytest.mark.parametrize("name", HOSTS)
def test_side_effect_did_what_the_plan_says(name, records):
    assert records[name]["units"] == UNITS.get(name, [])


@pytest.mark.parametrize("name", HOSTS)
def test_systemd_saw_each_unit_killed(name, units_shown):
    assert sorted(units_shown[name]) == sorted(UNITS.get(name, []))
    for unit, shown in units_shown[name].items():
        # cgroup v1 in the containers: systemd reports the SIGKILL (Result=signal), not oom-kill
        assert shown["Result"] in ("signal", "oom-kill"), (unit, shown)
        assert (shown["ExecMainCode"], shown["ExecMainStatus"]) == ("2", "9"), (unit, shown)


@pytest.mark.parametrize("name", HOSTS)
def test_kill_count_is_exact(name, facts):
    assert facts[name]["kill_count"] == len(UNITS.get(name, [])), facts[name]["kills"]


@pytest.mark.parametrize("name", HOSTS)
def test_own_kills_by_unit(name, facts):
    assert facts[name]["kill_count_by_unit"] == dict(collections.Counter(UNITS.get(name, [])))
    kills = local_kills(facts[name])
    assert sorted(kill["unit"] for kill in kills) == sorted(UNITS.get(name, []))
    assert {kill["comm"] for kill in kills} <= {"python3"}
    assert {kill["killer"] for kill in kills} <= {"kernel"}


@pytest.mark.parametrize("name", HOSTS)
def test_unit_kills_at_the_unit_limit(name, facts):
    for kill in local_kills(facts[name]):
        if kill["unit"] != RAMHOG:
            assert kill["constraint"] == "CONSTRAINT_MEMCG"
            assert kill["oom_memcg"] == kill["task_memcg"]
            assert kill["oom_memcg"].endswith("/system.slice/" + kill["unit"])
            # anonymous memory is charged to the unit's cgroup; file pages (python3 and its libraries, read from
            # the shared image) may be charged to whoever read them first, so rss_kb can pass the limit
            assert UNIT_LIMIT_KIB * 0.7 < kill["anon_rss_kb"] <= UNIT_LIMIT_KIB, kill
            assert kill["rss_kb"] == kill["anon_rss_kb"] + kill["file_rss_kb"] + kill["shmem_rss_kb"]


def test_container_limit_kill_at_the_container_ram(facts, lab_hostvars):
    (kill,) = [k for k in local_kills(facts["ct01"]) if k["unit"] == RAMHOG]
    ram_kib = lab_hostvars["ct01"]["lab_memory_mib"] * 1024
    # the OOM was the container's: its whole cgroup, above the unit's own cgroup
    assert kill["task_memcg"].endswith("/system.slice/" + RAMHOG)
    assert kill["task_memcg"].startswith(kill["oom_memcg"].rstrip("/") + "/")
    assert ram_kib * 0.7 < kill["anon_rss_kb"] <= ram_kib, kill


@pytest.mark.parametrize("name", HOSTS)
def test_other_kills_are_host_scope(name, facts, host_kill):
    assert facts[name]["host_scope_kill_count"] >= ALL_KILLS - len(UNITS.get(name, []))
    assert not [kill for kill in local_kills(facts[name]) if kill["comm"] == host_kill["comm"]]
    for kill in facts[name]["kills"]:
        if kill["comm"] == host_kill["comm"]:
            assert kill["scope"] == "host", kill


@pytest.mark.parametrize("name", HOSTS)
def test_container_detected(name, facts):
    assert facts[name]["facts_version"] == "1.1"
    container = facts[name]["host"]["container"]
    assert (container["detected"], container["runtime"]) == (True, "lxc")
    # the container's own cgroup as the machine's kernel prints it: its kills are the ones below it
    assert any(prefix.startswith("/lxc.payload.") and prefix.endswith(name) for prefix in container["cgroup_prefixes"])
