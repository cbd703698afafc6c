# SPDX-License-Identifier: GPL-3.0-or-later
"""oom_protect on real systemd VMs: a real global OOM, both userspace killers, the preview, and an exact rollback.

Prepare started oomtest-critical.service and oomtest-hog.service (files/oomtest-grow.py, comm oomtest-crit /
oomtest-hog) and took a snapshot of everything the role may touch (files/oomtest-protect.sh). Converge applied one
policy: critical -900 with MemoryMin=32M, hog expendable (+500, no limit), with earlyoom on vm-bookworm and
systemd-oomd on vm-trixie (molecule.yml host_vars). Molecule's check step kept the check-mode preview and diffs
(on the controller) and a snapshot of the host after check mode; its idempotence step is "a second converge
changes nothing".

Each VM runs on its own pytest-xdist worker (tests/conftest.py), its fixtures one after the other:

1. ``converged``: the settings are live without a restart, the check-mode preview names the hog.
2. ``kills``, on vm-trixie first: the hog grows fast (no limit): a real global OOM; the kernel kills exactly the
   process the check-mode preview named; the critical service keeps its PID. (systemd-oomd acts only after 20 s of
   pressure, the kernel within seconds; earlyoom on vm-bookworm would act first.)
   Then, on both VMs, the hog (restarted on vm-trixie) grows again; the configured killer kills it (earlyoom: growth
   faster than its 10% MemAvailable threshold; systemd-oomd: the hog throttles itself over its own cgroup's
   memory.high, a memory stall on system.slice above the policy's 20% limit); the kill record oom_facts reports
   names that killer; the critical service keeps its PID.
   One oom_facts run reads all kills of the VM.
3. ``removed``: playbooks/unprotect.yml; the snapshot equals the one from before the role ran, apart from the
   volatile properties documented below.

Every wait has a bound on the VM (``timeout``) and on the controller (subprocess timeouts): a hung step fails
with a message, it does not stall the CI.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

testinfra_hosts = ["ansible://vms"]

REPO = Path(__file__).resolve().parents[3]
UNPROTECT = REPO / "playbooks" / "unprotect.yml"
CRITICAL = "oomtest-critical.service"
HOG = "oomtest-hog.service"
HELPER = "/usr/local/lib/oomtest/oomtest-protect.sh"
STATE_DIR = "/var/lib/oomtest"
UNIT_DIR = "/etc/systemd/system"
STATE_FILE = "/var/lib/oomguard/oom_protect.json"

# Bounds in seconds, about four times what a loaded 2-core machine's TCG guests took (the global OOM about 15 s,
# earlyoom's kill about 30 s, systemd-oomd's 25 s: Debian's oomd.conf waits 20 s above the limit).
KERNEL_KILL_S = 90
EARLYOOM_KILL_S = 120
OOMD_KILL_S = 120
PLAYBOOK_S = 420

# Properties that change by themselves: use counters, and ExecStart= (systemd forgets the start time and pid it
# embeds at every daemon-reload, systemd issue #12375). Nothing else of a unit that was not restarted may differ.
USAGE = {
    "MemoryCurrent",
    "MemoryPeak",
    "MemorySwapCurrent",
    "MemorySwapPeak",
    "MemoryZSwapCurrent",
    "MemoryAvailable",
    "EffectiveMemoryMax",
    "EffectiveMemoryHigh",
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
# A unit that was killed and started again (the hog), or stopped and started (the userspace killers): its process,
# invocation, times and results too.
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
    "Result",
    # a service that was started once keeps the results of that start: its conditions, its watchdog, its last
    # status text; a socket that listened counts its connections
    "ConditionResult",
    "AssertResult",
    "WatchdogUSec",
    "StatusText",
    "NAccepted",
    "NConnections",
    "NRefused",
}
# systemd prints these unit lists in hash-table order, which a daemon-reload may change
UNORDERED = {
    "After",
    "Before",
    "Requires",
    "Wants",
    "WantedBy",
    "RequiredBy",
    "Conflicts",
    "ConflictedBy",
    "PartOf",
    "ConsistsOf",
    "SliceOf",
    "Triggers",
    "TriggeredBy",
    "BindsTo",
    "BoundBy",
    "Requisite",
    "RequisiteOf",
    "Upholds",
    "UpheldBy",
}


def parse_show(text):
    properties = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    for name in UNORDERED & set(properties):
        properties[name] = " ".join(sorted(properties[name].split()))
    return properties


def show(host, unit):
    return parse_show(host.check_output("systemctl show -- %s" % shlex.quote(unit)))


def main_pid(host, unit):
    return int(host.check_output("systemctl show -p MainPID --value -- %s" % unit))


def read_snapshot(host, directory):
    """Every file of a snapshot directory (oomtest-protect.sh snapshot), in one SSH round trip."""
    script = (
        "import json,os,sys;d=sys.argv[1];"
        "print(json.dumps({f: open(os.path.join(d, f)).read() for f in os.listdir(d)}))"
    )
    return json.loads(host.check_output("python3 -c %s %s" % (shlex.quote(script), shlex.quote(directory))))


def snapshot_differences(before, now, volatile):
    """{file: difference} between two snapshots; volatile maps a unit to the properties that may differ."""
    found = {}
    assert set(before) == set(now)
    for name in sorted(before):
        if name.endswith(".show"):
            unit = name[: -len(".show")]
            old, new = parse_show(before[name]), parse_show(now[name])
            changed = {
                key: (old.get(key), new.get(key))
                for key in set(old) | set(new)
                if old.get(key) != new.get(key) and key not in volatile.get(unit, USAGE)
            }
            if changed:
                found[name] = changed
        elif before[name] != now[name]:
            found[name] = (before[name], now[name])
    return found


def playbook(host, path, **extra_vars):
    """Run a playbook against Molecule's inventory, limited to this VM; fail the test with its output."""
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--limit", host.backend.host, str(path)]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=PLAYBOOK_S, check=False, cwd=str(REPO)
        )
    except subprocess.TimeoutExpired as timeout:
        pytest.fail("%s did not finish in %d s: %s" % (path.name, PLAYBOOK_S, (timeout.stdout or b"")[-4000:]))
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-2000:]
    return completed.stdout


def facts(host, since):
    arguments = "log_sources=journal top_processes=0 since=%s" % since
    result = host.ansible("oomguard.memory.oom_facts", arguments, check=False)
    assert not result.get("failed"), result
    return result["ansible_facts"]["oom"]


def now_iso(host):
    return host.check_output("date -u +%Y-%m-%dT%H:%M:%S+00:00")


def start_hog(host):
    """Start the hog again (killed before); return its PID."""
    host.run_expect([0], "rm -f /run/oomtest-hog.grow; systemctl reset-failed %s; systemctl start %s" % (HOG, HOG))
    return main_pid(host, HOG)


def grow_until_killed(host, mode, bound):
    """Tell the hog to grow (oomtest-grow.py MODE); wait on the VM, at most bound seconds, until its unit stops."""
    pid = main_pid(host, HOG)
    assert pid > 0, "the hog is not running"
    wait = (
        "echo {mode} > /run/oomtest-hog.grow; "
        "timeout {bound} sh -c 'while systemctl is-active --quiet {unit}; do sleep 1; done'; rc=$?; "
        "rm -f /run/oomtest-hog.grow; exit $rc"
    ).format(mode=mode, bound=bound, unit=HOG)
    waited = host.run(wait)
    assert waited.rc == 0, "the hog (pid %d, growing %s) was not killed within %d s: %s" % (
        pid,
        mode,
        bound,
        host.run("systemctl status --no-pager -n 20 %s; free -m; cat /proc/pressure/memory" % HOG).stdout,
    )
    return pid


def kills_of(oom, pid):
    return [kill for kill in oom["kills"] if kill["pid"] == pid]


@pytest.fixture(scope="module")
def killer(host):
    return host.ansible.get_variables()["oom_protect_userspace_killer"]


@pytest.fixture(scope="module")
def check_run(host):
    """What the converge playbook kept on the controller in check mode: the plan, the preview, the diffs."""
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / ("protect-%s-check.json" % host.backend.host)
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def before(host):
    return read_snapshot(host, "%s/before" % STATE_DIR)


@pytest.fixture(scope="module")
def converged(host):
    critical_pid, hog_pid = main_pid(host, CRITICAL), main_pid(host, HOG)
    return {
        "critical": show(host, CRITICAL),
        "hog": show(host, HOG),
        "system_slice": show(host, "system.slice"),
        "critical_adj": int(host.file("/proc/%d/oom_score_adj" % critical_pid).content_string),
        "hog_adj": int(host.file("/proc/%d/oom_score_adj" % hog_pid).content_string),
        "earlyoom": host.run("pid=$(pidof -s earlyoom) && tr '\\0' ' ' < /proc/$pid/cmdline"),
    }


@pytest.fixture(scope="module")
def kills(host, killer, converged):
    """Make the kills of this VM; then read them with oom_facts once (each Ansible run costs many seconds here)."""
    since = now_iso(host)
    made = {"critical_pid": main_pid(host, CRITICAL)}
    if killer == "systemd-oomd":
        made["kernel_hog_pid"] = grow_until_killed(host, "fast", KERNEL_KILL_S)
        start_hog(host)
    mode, bound = ("slow", EARLYOOM_KILL_S) if killer == "earlyoom" else ("pressure", OOMD_KILL_S)
    made["hog_pid"] = grow_until_killed(host, mode, bound)
    made["critical_pid_after"] = main_pid(host, CRITICAL)
    made["facts"] = facts(host, since)
    return made


@pytest.fixture(scope="module")
def kernel(killer, kills):
    if killer != "systemd-oomd":
        pytest.skip("the global OOM runs on the VM with systemd-oomd (earlyoom would kill the hog first)")
    return kills


@pytest.fixture(scope="module")
def removed(host, kills):
    start_hog(host)
    output = playbook(host, UNPROTECT)
    host.run_expect([0], "%s snapshot %s/after-absent" % (HELPER, STATE_DIR))
    return {"output": output, "snapshot": read_snapshot(host, "%s/after-absent" % STATE_DIR)}


# -- check mode ---------------------------------------------------------------------------------------------------


def test_check_mode_changes_nothing(host, before):
    after_check = read_snapshot(host, "%s/after-check" % STATE_DIR)
    differences = snapshot_differences(before, after_check, {})
    assert differences == {}, json.dumps(differences, indent=1)


def test_check_mode_shows_a_diff_of_each_unit(check_run):
    shown = [diff for diff in check_run["unit_diffs"] if diff]
    assert len(shown) == len(check_run["plan"]["units"] + check_run["plan"]["killer"]["slices"]), check_run
    for diff in shown:
        parts = diff if isinstance(diff, list) else [diff]
        assert any(part.get("before") != part.get("after") for part in parts), diff
    assert any("OOMScoreAdjust=-900" in str(diff) for diff in shown)


def test_check_mode_preview_names_the_hog(host, check_run, converged):
    preview = check_run["preview"]
    assert preview["first_victim_after"]["pid"] == int(converged["hog"]["MainPID"])
    changed = {row["pid"]: row["oom_score_adj"] for row in preview["changed"]}
    assert changed[int(converged["critical"]["MainPID"])] == [0, -900]


# -- converged ----------------------------------------------------------------------------------------------------


def test_settings_are_live_without_a_restart(converged, before):
    critical, recorded = converged["critical"], parse_show(before["%s.show" % CRITICAL])
    assert critical["OOMScoreAdjust"] == "-900"
    assert critical["MemoryMin"] == str(32 << 20)
    assert critical["MainPID"] == recorded["MainPID"] and critical["InvocationID"] == recorded["InvocationID"]
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


def test_the_configured_killer_is_set_up_from_the_classes(killer, converged):
    if killer == "earlyoom":
        assert "--avoid ^(oomtest-crit)$" in converged["earlyoom"].stdout
        assert "--prefer ^(oomtest-hog)$" in converged["earlyoom"].stdout
    else:
        assert converged["system_slice"]["ManagedOOMMemoryPressure"] == "kill"
        # systemd 252 prints the percentage, 257 the fraction of 2^32 it stores
        assert converged["system_slice"]["ManagedOOMMemoryPressureLimit"] in ("20%", str(20 * 2**32 // 100))
        assert converged["critical"]["ManagedOOMPreference"] == "avoid"
        assert converged["earlyoom"].rc != 0, "earlyoom runs beside systemd-oomd"


# -- a real global OOM --------------------------------------------------------------------------------------------


def test_kernel_kills_the_predicted_victim_in_a_global_oom(check_run, kernel):
    oom = kernel["facts"]
    (kill,) = kills_of(oom, kernel["kernel_hog_pid"])
    assert kill["killer"] == "kernel"
    assert kill["kind"] == "global"
    assert kill["unit"] == HOG
    assert kill["oom_score_adj"] == 500
    assert kill["pid"] == check_run["preview"]["first_victim_after"]["pid"]
    assert not kills_of(oom, kernel["critical_pid"])


def test_critical_service_keeps_its_pid_through_the_global_oom(kernel):
    assert kernel["critical_pid_after"] == kernel["critical_pid"]


# -- the userspace killer -----------------------------------------------------------------------------------------


def test_the_configured_killer_kills_the_hog(host, killer, kills):
    oom = kills["facts"]
    if killer == "earlyoom":
        found = kills_of(oom, kills["hog_pid"])
    else:
        # systemd-oomd kills a cgroup: its record has the unit, no pid
        found = [kill for kill in oom["kills"] if kill["killer"] != "kernel" and kill["unit"] == HOG]
    assert [kill["killer"] for kill in found] == [killer], oom["kills"]
    assert not kills_of(oom, kills["critical_pid"])
    assert kills["critical_pid_after"] == kills["critical_pid"]
    assert host.run("systemctl is-active --quiet %s" % CRITICAL).rc == 0


# -- state=absent -------------------------------------------------------------------------------------------------


def test_absent_restores_everything_the_role_touched(before, removed):
    volatile = {
        HOG: RESTARTED,
        "earlyoom.service": RESTARTED,
        "systemd-oomd.service": RESTARTED,
        "systemd-oomd.socket": RESTARTED,
    }
    differences = snapshot_differences(before, removed["snapshot"], volatile)
    assert differences == {}, json.dumps(differences, indent=1)


def test_absent_keeps_the_critical_service_running(host, before, removed):
    assert main_pid(host, CRITICAL) == int(parse_show(before["%s.show" % CRITICAL])["MainPID"])
