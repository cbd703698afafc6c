# SPDX-License-Identifier: GPL-3.0-or-later
"""oom_protect on real systemd VMs: real global OOMs, three killers, the preview, and an exact rollback.

Converge started oomtest-critical.service and oomtest-hog.service (molecule/protect/files/oomtest-grow.py, comm
oomtest-crit / oomtest-hog), recorded `systemctl show` of them, of system.slice and of both killers' services,
and applied the policy: critical -900 with MemoryMin=32M, hog expendable (+500, no limit). Molecule's check and
idempotence steps cover "check mode changes nothing" and "a second converge changes nothing".

The fixtures below run one after the other on each VM (each depends on the one before):

1. ``converged``: the settings are live without a restart; the preview predicts the hog as the first victim.
2. ``kernel``: the hog grows fast (no limit): a real global OOM; the kernel kills exactly the hog, the process the
   preview named; the critical service keeps its PID.
3. ``earlyoom``: converge again with oom_protect_userspace_killer=earlyoom; the hog, restarted, grows slowly;
   earlyoom (with --avoid oomtest-crit, --prefer oomtest-hog) kills it; the kill record's killer is earlyoom.
4. ``oomd``: unprotect (switching killers needs a rollback), converge with systemd-oomd (system.slice at 20%
   pressure); the hog makes memory pressure; systemd-oomd kills it; the kill record's killer is systemd-oomd.
5. ``removed``: playbooks/unprotect.yml; `systemctl show` of every touched unit equals the record from before the
   role ran, apart from the VOLATILE properties; killers' services and earlyoom's file as before; no drop-in,
   no rollback record left.

Runs playbooks with ansible-playbook against Molecule's inventory, limited to the VM under test.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

testinfra_hosts = ["ansible://vms"]

REPO = Path(__file__).resolve().parents[3]
CONVERGE = REPO / "molecule" / "protect" / "converge.yml"
UNPROTECT = REPO / "playbooks" / "unprotect.yml"
CRITICAL = "oomtest-critical.service"
HOG = "oomtest-hog.service"
STATE_DIR = "/var/lib/oomtest"
UNIT_DIR = "/etc/systemd/system"
STATE_FILE = "/var/lib/oomguard/oom_protect.json"

# Properties that change by themselves: use counters, and for the hog (killed and started again three times) its
# process, invocation and times. The critical service is never restarted: only use counters and ExecStart=
# (systemd forgets the start time and pid it embeds at every daemon-reload, systemd issue #12375) may differ.
USAGE = {
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
    "ExecStart",
    "ExecStartEx",
}
RESTARTED = USAGE | {
    "MainPID",
    "ExecMainPID",
    "ExecMainStartTimestamp",
    "ExecMainStartTimestampMonotonic",
    "ExecMainExitTimestamp",
    "ExecMainExitTimestampMonotonic",
    "ExecMainHandoffTimestamp",
    "ExecMainHandoffTimestampMonotonic",
    "ExecMainCode",
    "ExecMainStatus",
    "InvocationID",
    "ControlGroupId",
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
    "OOMKills",
    "ManagedOOMKills",
    "NRestarts",
}
# systemd prints these unit lists in hash-table order, which a daemon-reload may change
UNORDERED = {"After", "Before", "Requires", "Wants", "WantedBy", "RequiredBy", "Conflicts", "ConflictedBy", "PartOf"}


def parse_show(text):
    properties = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    for name in UNORDERED & set(properties):
        properties[name] = " ".join(sorted(properties[name].split()))
    return properties


def show(host, unit):
    return parse_show(host.check_output("systemctl show %s" % shlex.quote(unit)))


def main_pid(host, unit):
    return int(host.check_output("systemctl show -p MainPID --value %s" % unit))


def playbook(host, path, **extra_vars):
    """Run a playbook against Molecule's inventory, limited to this VM; fail the test with its output."""
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--limit", host.backend.host, str(path)]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False, cwd=str(REPO))
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-2000:]
    return completed.stdout


def facts(host):
    result = host.ansible("oomguard.memory.oom_facts", "log_sources=journal top_processes=0", check=False)
    assert not result.get("failed"), result
    return result["ansible_facts"]["oom"]


def restart_hog(host):
    host.run_expect([0], "rm -f /run/oomtest-hog.grow; systemctl reset-failed %s; systemctl restart %s" % (HOG, HOG))
    time.sleep(2)
    return main_pid(host, HOG)


def grow_until_gone(host, mode, timeout):
    """Tell the hog to grow; return when its unit is no longer active (or fail after timeout seconds)."""
    pid = main_pid(host, HOG)
    host.run_expect([0], "echo %s > /run/oomtest-hog.grow" % mode)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host.run("systemctl is-active --quiet %s" % HOG).rc != 0:
            break
        time.sleep(2)
    host.run("rm -f /run/oomtest-hog.grow")
    assert host.run("systemctl is-active --quiet %s" % HOG).rc != 0, "the hog was not killed in %d s" % timeout
    return pid


def kills_of(oom, pid):
    return [kill for kill in oom["kills"] if kill["pid"] == pid]


@pytest.fixture(scope="module")
def converged(host):
    preview = json.loads(host.file("%s/preview-kernel.json" % STATE_DIR).content_string)
    state = {
        "preview": preview,
        "critical": show(host, CRITICAL),
        "hog": show(host, HOG),
        "critical_before": parse_show(host.file("%s/%s.before" % (STATE_DIR, CRITICAL)).content_string),
        "critical_adj": int(host.file("/proc/%d/oom_score_adj" % main_pid(host, CRITICAL)).content_string),
        "hog_adj": int(host.file("/proc/%d/oom_score_adj" % main_pid(host, HOG)).content_string),
    }
    return state


@pytest.fixture(scope="module")
def kernel(host, converged):
    critical_pid = main_pid(host, CRITICAL)
    hog_pid = grow_until_gone(host, "fast", 300)
    return {"hog_pid": hog_pid, "critical_pid": critical_pid, "facts": facts(host)}


@pytest.fixture(scope="module")
def earlyoom(host, kernel):
    hog_pid = restart_hog(host)
    playbook(host, CONVERGE, oomtest_phase="earlyoom", oom_protect_userspace_killer="earlyoom")
    args = host.check_output("tr '\\0' ' ' < /proc/$(pidof earlyoom)/cmdline")
    critical_pid = main_pid(host, CRITICAL)
    killed = grow_until_gone(host, "slow", 600)
    assert killed == hog_pid
    return {"hog_pid": hog_pid, "critical_pid": critical_pid, "args": args, "facts": facts(host)}


@pytest.fixture(scope="module")
def oomd(host, earlyoom):
    playbook(host, UNPROTECT)
    hog_pid = restart_hog(host)
    playbook(host, CONVERGE, oomtest_phase="oomd", oom_protect_userspace_killer="systemd-oomd")
    system_slice = show(host, "system.slice")
    critical = show(host, CRITICAL)
    critical_pid = main_pid(host, CRITICAL)
    grow_until_gone(host, "pressure", 900)
    return {
        "hog_pid": hog_pid,
        "critical_pid": critical_pid,
        "system_slice": system_slice,
        "critical": critical,
        "facts": facts(host),
    }


@pytest.fixture(scope="module")
def removed(host, oomd):
    restart_hog(host)
    output = playbook(host, UNPROTECT)
    return {
        "output": output,
        "critical": show(host, CRITICAL),
        "hog": show(host, HOG),
        "system_slice": show(host, "system.slice"),
        "earlyoom": show(host, "earlyoom.service"),
        "systemd-oomd": show(host, "systemd-oomd.service"),
    }


# -- 1. converged ------------------------------------------------------------------------------------------------


def test_settings_are_live_without_a_restart(converged):
    critical, before = converged["critical"], converged["critical_before"]
    assert critical["OOMScoreAdjust"] == "-900"
    assert critical["MemoryMin"] == str(32 << 20)
    assert critical["MainPID"] == before["MainPID"] and critical["InvocationID"] == before["InvocationID"]
    assert converged["critical_adj"] == -900
    assert converged["hog"]["OOMScoreAdjust"] == "500"
    assert converged["hog_adj"] == 500


def test_dropins_and_rollback_record(host):
    assert host.file("%s/%s.d/50-oomguard-memory.conf" % (UNIT_DIR, CRITICAL)).exists
    assert host.file("%s/%s.d/50-oomguard-oom-score-adj.conf" % (UNIT_DIR, CRITICAL)).exists
    record = host.file(STATE_FILE)
    assert record.mode == 0o600
    state = json.loads(record.content_string)
    assert state["units"][CRITICAL] == {"oom_score_adjust": 0}
    assert state["units"][HOG] == {"oom_score_adjust": 0}


def test_preview_predicts_the_hog(host, converged):
    preview = converged["preview"]["preview"]
    assert preview["first_victim_after"]["pid"] == int(converged["hog"]["MainPID"])
    changed = {row["pid"]: row["oom_score_adj"] for row in preview["changed"]}
    assert changed[int(converged["critical"]["MainPID"])] == [0, -900]


# -- 2. a real global OOM, no userspace killer -------------------------------------------------------------------


def test_kernel_kills_the_predicted_victim_in_a_global_oom(converged, kernel):
    oom = kernel["facts"]
    (kill,) = kills_of(oom, kernel["hog_pid"])
    assert kill["killer"] == "kernel"
    assert kill["kind"] == "global"
    assert kill["unit"] == HOG
    assert kill["oom_score_adj"] == 500
    assert kill["pid"] == converged["preview"]["preview"]["first_victim_after"]["pid"]
    assert not kills_of(oom, kernel["critical_pid"])


def test_critical_service_keeps_its_pid_through_the_global_oom(host, kernel):
    assert main_pid(host, CRITICAL) == kernel["critical_pid"]
    assert host.run("systemctl is-active --quiet %s" % CRITICAL).rc == 0


# -- 3. earlyoom ------------------------------------------------------------------------------------------------


def test_earlyoom_gets_avoid_and_prefer_from_the_classes(earlyoom):
    assert "--avoid ^(oomtest-crit)$" in earlyoom["args"]
    assert "--prefer ^(oomtest-hog)$" in earlyoom["args"]


def test_earlyoom_kills_the_hog(host, earlyoom):
    oom = earlyoom["facts"]
    kills = [kill for kill in kills_of(oom, earlyoom["hog_pid"]) if kill["killer"] == "earlyoom"]
    assert len(kills) == 1, oom["kills"]
    assert not kills_of(oom, earlyoom["critical_pid"])
    assert main_pid(host, CRITICAL) == earlyoom["critical_pid"]


# -- 4. systemd-oomd ------------------------------------------------------------------------------------------------


def test_systemd_oomd_settings(oomd):
    assert oomd["system_slice"]["ManagedOOMMemoryPressure"] == "kill"
    assert oomd["system_slice"]["ManagedOOMMemoryPressureLimit"] == "20%"
    assert oomd["critical"]["ManagedOOMPreference"] == "avoid"


def test_systemd_oomd_kills_the_hog(host, oomd):
    oom = oomd["facts"]
    killers = {kill["killer"] for kill in oom["kills"] if kill["unit"] == HOG and kill["killer"] != "kernel"}
    assert "systemd-oomd" in killers, oom["kills"]
    assert main_pid(host, CRITICAL) == oomd["critical_pid"]


# -- 5. state=absent ----------------------------------------------------------------------------------------------


def differences(before, now, volatile):
    return {
        name: (before[name], now.get(name)) for name in before if before[name] != now.get(name) and name not in volatile
    }


def test_absent_restores_systemctl_show(host, converged, removed):
    before_critical = converged["critical_before"]
    assert differences(before_critical, removed["critical"], USAGE) == {}
    assert main_pid(host, CRITICAL) == int(before_critical["MainPID"])
    before_hog = parse_show(host.file("%s/%s.before" % (STATE_DIR, HOG)).content_string)
    assert differences(before_hog, removed["hog"], RESTARTED) == {}
    before_slice = parse_show(host.file("%s/system.slice.before" % STATE_DIR).content_string)
    assert differences(before_slice, removed["system_slice"], USAGE) == {}


def test_absent_restores_the_killers(host, removed):
    keys = ("ActiveState", "UnitFileState", "LoadState")
    for name, unit in (("earlyoom", "earlyoom.service"), ("systemd-oomd", "systemd-oomd.service")):
        before = parse_show(host.file("%s/%s.before" % (STATE_DIR, unit)).content_string)
        assert {key: removed[name].get(key) for key in keys} == {key: before.get(key) for key in keys}
    recorded = host.file("%s/earlyoom.default.before" % STATE_DIR).content_string
    assert host.check_output("sha256sum /etc/default/earlyoom") == recorded.strip()


def test_absent_leaves_nothing_behind(host, removed):
    for unit in (CRITICAL, HOG, "system.slice", "-.slice"):
        assert not host.file("%s/%s.d" % (UNIT_DIR, unit)).exists
    assert not host.file(STATE_FILE).exists
    assert int(host.file("/proc/%d/oom_score_adj" % main_pid(host, CRITICAL)).content_string) == 0
