# SPDX-License-Identifier: GPL-3.0-or-later
"""systemd_memory and oom_score_adj on real services, on each VM (systemd 252 and 257, cgroup v2).

Converge started two services running molecule/default/files/oomtest-app.py, recorded their
`systemctl show` in /var/lib/oomtest/UNIT.before, then limited oomtest-app.service (MemoryMax=100M,
MemoryHigh=96M, OOMPolicy=kill) and protected oomtest-protected.service (MemoryMin=32M,
MemoryLow=64M, oom_score_adj -900 on its running process), all with apply=true and no restart.

These tests read the live state once (`live`), then make oomtest-app grow until the kernel kills it
at its MemoryMax (`oom`), then remove both drop-ins with state=absent and apply=true (`removed`).
Each fixture depends on the one before, so the tests may run in any order.
"""

from __future__ import annotations

import json
import shlex

import pytest

testinfra_hosts = ["ansible://vms"]

APP = "oomtest-app.service"
PROTECTED = "oomtest-protected.service"
CGROUP = "/sys/fs/cgroup/system.slice"
STATE_DIR = "/var/lib/oomtest"
APP_DROPIN = f"/etc/systemd/system/{APP}.d/50-oomguard-memory.conf"
PROTECTED_DROPIN = f"/etc/systemd/system/{PROTECTED}.d/50-oomguard-memory.conf"
MiB = 1 << 20
APP_DROPIN_TEXT = (
    "# Managed by Ansible (oomguard.memory.systemd_memory). Local changes will be overwritten.\n"
    "[Service]\n"
    "MemoryMax=100M\n"
    "MemoryHigh=96M\n"
    "OOMPolicy=kill\n"
)

# Properties of oomtest-app.service that may differ between the record taken before the first
# systemd_memory call and the state after state=absent, because the service was OOM-killed and
# started again in between (a new process and invocation, new times) or because they measure use.
VOLATILE = {
    # the new process of the restarted service
    "MainPID",
    "ExecMainPID",
    "ExecMainStartTimestamp",
    "ExecMainStartTimestampMonotonic",
    "ExecMainExitTimestamp",
    "ExecMainExitTimestampMonotonic",
    "ExecMainHandoffTimestamp",  # systemd 257
    "ExecMainHandoffTimestampMonotonic",
    "ExecMainCode",
    "ExecMainStatus",
    "ExecStart",  # embeds the pid and the start and stop times of the last run
    "ExecStartEx",
    "InvocationID",
    "ControlGroupId",  # the cgroup was removed with the killed service and made anew
    # times of the state changes (killed, started again)
    "ActiveEnterTimestamp",
    "ActiveEnterTimestampMonotonic",
    "ActiveExitTimestamp",
    "ActiveExitTimestampMonotonic",
    "InactiveEnterTimestamp",
    "InactiveEnterTimestampMonotonic",
    "InactiveExitTimestamp",
    "InactiveExitTimestampMonotonic",
    "StateChangeTimestamp",
    "StateChangeTimestampMonotonic",
    "ConditionTimestamp",
    "ConditionTimestampMonotonic",
    "AssertTimestamp",
    "AssertTimestampMonotonic",
    # use of the running process, different at every moment
    "MemoryCurrent",
    "MemoryPeak",
    "MemorySwapCurrent",
    "MemorySwapPeak",
    "MemoryZSwapCurrent",
    "MemoryAvailable",
    "CPUUsageNSec",
    "TasksCurrent",
    "IOReadBytes",
    "IOReadOperations",
    "IOWriteBytes",
    "IOWriteOperations",
    "IPIngressBytes",
    "IPIngressPackets",
    "IPEgressBytes",
    "IPEgressPackets",
    # systemd 257 counts the unit's OOM kills: the kill this test made
    "OOMKills",
}

LIVE = f"""
set -eu
for unit in {APP} {PROTECTED}; do
    systemctl show "$unit" > "/tmp/$unit.now"
done
pid=$(systemctl show -p MainPID --value {PROTECTED})
printf '{{"app_cgroup": {{"memory.max": "%s", "memory.high": "%s", "memory.oom.group": "%s"}}, ' \
    "$(cat {CGROUP}/{APP}/memory.max)" "$(cat {CGROUP}/{APP}/memory.high)" "$(cat {CGROUP}/{APP}/memory.oom.group)"
printf '"protected_cgroup": {{"memory.min": "%s", "memory.low": "%s"}}, "protected_oom_score_adj": %s}}\\n' \
    "$(cat {CGROUP}/{PROTECTED}/memory.min)" "$(cat {CGROUP}/{PROTECTED}/memory.low)" "$(cat /proc/$pid/oom_score_adj)"
"""

# Grows oomtest-app by 4 MiB every 50 ms until the kernel kills it (about 10-45 s under TCG).
GROW = f"""
set -eu
app_pid=$(systemctl show -p MainPID --value {APP})
protected_pid=$(systemctl show -p MainPID --value {PROTECTED})
touch /run/oomtest-app.grow
for _ in $(seq 480); do
    [ "$(systemctl show -p ActiveState --value {APP})" = active ] || break
    sleep 0.5
done
rm -f /run/oomtest-app.grow
sleep 1
printf '{{"app_pid": %s, "protected_pid": %s, "app": "%s", "protected": "%s", "protected_oom_score_adj": %s}}\\n' \
    "$app_pid" "$protected_pid" \
    "$(systemctl show -p ActiveState,Result,NRestarts,MainPID {APP} | tr '\\n' ' ')" \
    "$(systemctl show -p ActiveState,SubState,MainPID {PROTECTED} | tr '\\n' ' ')" \
    "$(cat /proc/$protected_pid/oom_score_adj)"
"""


# Unit lists that systemd prints in the order of an internal hash table, which a daemon-reload may change
UNORDERED = {"After", "Before", "Requires", "Wants", "WantedBy", "RequiredBy", "Conflicts", "ConflictedBy", "PartOf"}


def parse_show(text):
    properties = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    for name in UNORDERED & set(properties):
        properties[name] = " ".join(sorted(properties[name].split()))
    return properties


def props(line):
    return dict(item.split("=", 1) for item in line.split())


def show(host, unit):
    return parse_show(host.check_output(f"systemctl show {shlex.quote(unit)}"))


def module(host, name, args):
    result = host.ansible(name, args, check=False)
    assert not result.get("failed"), result
    return result


def cgroup_file(host, unit, name):
    return host.file(f"{CGROUP}/{unit}/{name}").content_string.strip()


@pytest.fixture(scope="module")
def live(host):
    """The state converge left, read before anything in verify changes it."""
    run = host.run("sh -c %s", LIVE)
    assert run.rc == 0, run.stderr
    state = json.loads(run.stdout)
    for unit in (APP, PROTECTED):
        state[unit] = parse_show(host.file(f"/tmp/{unit}.now").content_string)
        state[unit + ".before"] = parse_show(host.file(f"{STATE_DIR}/{unit}.before").content_string)
    return state


@pytest.fixture(scope="module")
def oom(host, live):
    """Let oomtest-app grow past its MemoryMax, then gather oom_facts from the journal."""
    run = host.run("sh -c %s", GROW)
    assert run.rc == 0, run.stderr
    kill = json.loads(run.stdout)
    facts = module(host, "oomguard.memory.oom_facts", "log_sources=journal")["ansible_facts"]["oom"]
    return kill, facts


@pytest.fixture(scope="module")
def removed(host, oom):
    """Start the app again (a fresh service), then remove both drop-ins with state=absent and apply=true."""
    host.run_expect([0], f"systemctl reset-failed {APP} && systemctl start {APP}")
    results = [
        module(host, "oomguard.memory.systemd_memory", f"unit={unit} state=absent apply=true")
        for unit in (APP, PROTECTED)
    ]
    again = module(host, "oomguard.memory.systemd_memory", f"unit={APP} state=absent apply=true")
    return results, again, show(host, APP), show(host, PROTECTED)


# -- the limits are in effect on the running service, without a restart ---------------------------------------


def test_app_limits_in_systemd(live):
    app, before = live[APP], live[APP + ".before"]
    assert app["MemoryMax"] == str(100 * MiB)
    assert app["MemoryHigh"] == str(96 * MiB)
    assert app["OOMPolicy"] == "kill"
    assert app["NeedDaemonReload"] == "no"
    assert (before["MemoryMax"], before["MemoryHigh"], before["OOMPolicy"]) == ("infinity", "infinity", "stop")


def test_app_limits_in_the_kernel(live):
    assert live["app_cgroup"] == {
        "memory.max": str(100 * MiB),
        "memory.high": str(96 * MiB),
        "memory.oom.group": "1",
    }


def test_app_was_not_restarted(live):
    app, before = live[APP], live[APP + ".before"]
    assert app["ActiveState"] == "active"
    assert int(app["MainPID"]) > 0
    assert app["MainPID"] == before["MainPID"]
    assert app["InvocationID"] == before["InvocationID"]
    assert app["NRestarts"] == "0"


def test_app_dropin(host, live):
    dropin = host.file(APP_DROPIN)
    assert dropin.content_string == APP_DROPIN_TEXT
    assert dropin.mode == 0o644
    assert dropin.user == "root"
    # systemctl show leaves DropInPaths= out when there are none (systemd 252 ships no drop-ins for
    # all services; 257 has /usr/lib/systemd/system/service.d/10-timeout-abort.conf)
    before = live[APP + ".before"].get("DropInPaths", "").split()
    assert APP_DROPIN not in before
    assert sorted(live[APP]["DropInPaths"].split()) == sorted([*before, APP_DROPIN])


def test_protected_service(live):
    protected, before = live[PROTECTED], live[PROTECTED + ".before"]
    assert protected["ActiveState"] == "active"
    assert protected["MainPID"] == before["MainPID"]
    assert protected["InvocationID"] == before["InvocationID"]
    assert (protected["MemoryMin"], protected["MemoryLow"]) == (str(32 * MiB), str(64 * MiB))
    assert live["protected_cgroup"] == {"memory.min": str(32 * MiB), "memory.low": str(64 * MiB)}
    # oom_score_adj changed the running process (root in the VM has CAP_SYS_RESOURCE); systemd's own
    # OOMScoreAdjust= of the unit is untouched
    assert live["protected_oom_score_adj"] == -900
    assert protected["OOMScoreAdjust"] == before["OOMScoreAdjust"] == "0"


# -- the app grows past MemoryMax: the kernel kills it, the protected service keeps running ----------------------


def test_app_killed_at_its_limit(oom):
    kill, facts = oom
    # OOMPolicy=kill: systemd ends the whole unit with Result=oom-kill; Restart=no keeps it down
    assert props(kill["app"]) == {"ActiveState": "failed", "Result": "oom-kill", "NRestarts": "0", "MainPID": "0"}
    unit = facts["units"][APP]
    assert (unit["Result"], unit["OOMPolicy"], unit["MemoryMax"]) == ("oom-kill", "kill", 100 * MiB)


def test_exactly_one_kill_of_the_app_in_oom_facts(oom):
    kill, facts = oom
    found = [k for k in facts["kills"] if k["pid"] == kill["app_pid"]]
    assert len(found) == 1, facts["kills"]
    (found,) = found
    assert found["killer"] == "kernel"
    assert found["comm"] == "python3"
    assert found["unit"] == APP
    assert found["constraint"] == "CONSTRAINT_MEMCG"
    assert found["oom_memcg"] == found["task_memcg"] == f"/system.slice/{APP}"
    assert found["source"] == "journal"
    assert found["oom_score_adj"] == 0
    # killed at the 100M limit, nowhere near the VM's 1 GiB
    assert 80 * 1024 < found["anon_rss_kb"] <= 100 * 1024


def test_protected_service_kept_running(oom):
    kill, facts = oom
    assert props(kill["protected"]) == {
        "ActiveState": "active",
        "SubState": "running",
        "MainPID": str(kill["protected_pid"]),
    }
    assert kill["protected_oom_score_adj"] == -900
    assert not [k for k in facts["kills"] if k["pid"] == kill["protected_pid"]]


# -- state=absent restores the units as they were before the first systemd_memory call ---------------------------


def test_absent_reports_the_removal(removed):
    results, again, _app, _protected = removed
    for result, path in zip(results, (APP_DROPIN, PROTECTED_DROPIN)):
        assert result["changed"] is True
        assert result["applied"] is True
        assert result["path"] == path
        assert result["settings"] == {}
    assert (again["changed"], again["applied"], again["synced"]) == (False, False, [])


def test_absent_removes_the_files(host, removed):
    assert not host.file(APP_DROPIN).exists
    assert not host.file(f"/etc/systemd/system/{APP}.d").exists
    assert not host.file(PROTECTED_DROPIN).exists
    assert not host.file(f"/etc/systemd/system/{PROTECTED}.d").exists


def test_absent_restores_every_property(live, removed):
    _results, _again, app, _protected = removed
    before = live[APP + ".before"]
    assert set(app) == set(before)
    differ = {name: (before[name], app[name]) for name in before if before[name] != app[name]}
    assert {name: values for name, values in differ.items() if name not in VOLATILE} == {}
    assert app["ActiveState"] == "active"


def test_absent_restores_the_protected_unit(live, removed):
    _results, _again, _app, protected = removed
    before = live[PROTECTED + ".before"]
    # not restarted: only the use of the running process may differ, and the start time and pid that
    # ExecStart= shows, which systemd forgets on every daemon-reload (systemd issue #12375)
    volatile = {name for name in VOLATILE if name.startswith(("Memory", "CPU", "Tasks", "IO", "IP"))}
    volatile |= {"ExecStart", "ExecStartEx"}
    differ = {name: (before[name], protected[name]) for name in before if before[name] != protected.get(name)}
    assert {name: values for name, values in differ.items() if name not in volatile} == {}


def test_absent_restores_the_kernel_values(host, removed):
    assert cgroup_file(host, APP, "memory.max") == "max"
    assert cgroup_file(host, APP, "memory.high") == "max"
    assert cgroup_file(host, APP, "memory.oom.group") == "0"
    # the protected service kept running all along: its protection is gone from the kernel too
    assert cgroup_file(host, PROTECTED, "memory.min") == "0"
    assert cgroup_file(host, PROTECTED, "memory.low") == "0"
