# SPDX-License-Identifier: GPL-3.0-or-later
"""A real memory-cgroup OOM kill on each VM, and exactly that kill in oom_facts.

On every VM a transient unit with MemoryMax=64M runs a Python memory hog; the kernel kills it. The
test records the hog's PID before the kill and then requires oom_facts (journal source) to report a
kill with that PID, the unit, its memory cgroup and a timestamp, systemd to report Result=oom-kill,
and the kernel's OOM counters to have moved by exactly one.
"""

from __future__ import annotations

import datetime
import json
import shlex

import pytest

testinfra_hosts = ["ansible://vms"]

UNIT = "oomtest-hog.service"
MEMCG = f"/system.slice/{UNIT}"
# Waits 3 s so that the MainPID can be read, then allocates 1 MiB blocks (filled, so they count)
# until the kernel kills it at the 64 MiB limit.
HOG = "import time; time.sleep(3); blocks = [b'x' * (1 << 20) for _ in range(1 << 20)]"

SCRIPT = f"""
set -eu
systemctl stop {UNIT} 2>/dev/null || true
systemctl reset-failed {UNIT} 2>/dev/null || true
vmstat_before=$(awk '$1 == "oom_kill" {{print $2}}' /proc/vmstat)
slice_before=$(awk '$1 == "oom_kill" {{print $2}}' /sys/fs/cgroup/system.slice/memory.events)
systemd-run --quiet --unit={UNIT} -p MemoryMax=64M -p MemorySwapMax=0 /usr/bin/python3 -c {shlex.quote(HOG)}
pid=$(systemctl show -p MainPID --value {UNIT})
for _ in $(seq 180); do
    state=$(systemctl show -p ActiveState --value {UNIT})
    [ "$state" = failed ] || [ "$state" = inactive ] && break
    sleep 1
done
vmstat_after=$(awk '$1 == "oom_kill" {{print $2}}' /proc/vmstat)
slice_after=$(awk '$1 == "oom_kill" {{print $2}}' /sys/fs/cgroup/system.slice/memory.events)
result=$(systemctl show -p Result --value {UNIT})
exited=$(systemctl show --timestamp=unix -p ExecMainExitTimestamp --value {UNIT} | tr -d @)
printf '{{"pid": %s, "state": "%s", "result": "%s", "vmstat_before": %s, "vmstat_after": %s, \
"slice_before": %s, "slice_after": %s, "exited": %s}}\\n' "$pid" "$state" "$result" "$vmstat_before" \
    "$vmstat_after" "$slice_before" "$slice_after" "$exited"
"""


@pytest.fixture(scope="module")
def oom(host):
    """Kill the hog once per host, then gather oom_facts from the journal."""
    run = host.run("sh -c %s", SCRIPT)
    assert run.rc == 0, run.stderr
    kill = json.loads(run.stdout.strip().splitlines()[-1])
    result = host.ansible("oomguard.memory.oom_facts", "log_sources=journal", check=False)
    assert not result.get("failed"), result
    return kill, result["ansible_facts"]["oom"]


def hog_kills(kill, facts):
    return [k for k in facts["kills"] if k["pid"] == kill["pid"]]


def test_hog_was_running_before_the_kill(oom):
    kill, _facts = oom
    assert kill["pid"] > 0


def test_systemd_reports_oom_kill(host, oom):
    kill, facts = oom
    assert kill["state"] == "failed"
    assert kill["result"] == "oom-kill"
    assert host.run(f"systemctl show -p Result --value {UNIT}").stdout.strip() == "oom-kill"
    assert facts["units"][UNIT]["Result"] == "oom-kill"


def test_exactly_one_kill_of_the_hog(oom):
    kill, facts = oom
    assert len(hog_kills(kill, facts)) == 1, facts["kills"]


def test_kill_identity(oom):
    kill, facts = oom
    (found,) = hog_kills(kill, facts)
    assert found["killer"] == "kernel"
    assert found["pid"] == kill["pid"]
    assert found["comm"] == "python3"
    assert found["unit"] == UNIT


def test_kill_memcg(oom):
    kill, facts = oom
    (found,) = hog_kills(kill, facts)
    assert found["constraint"] == "CONSTRAINT_MEMCG"
    assert found["oom_memcg"] == MEMCG
    assert found["task_memcg"] == MEMCG


def test_kill_source_and_time(oom):
    kill, facts = oom
    (found,) = hog_kills(kill, facts)
    assert found["source"] == "journal"
    # The kernel kills the hog, then systemd sees its main process exit: the two times are close.
    killed_at = datetime.datetime.fromisoformat(found["timestamp"]).timestamp()
    assert kill["exited"] - 5 <= killed_at <= kill["exited"] + 3, (found["timestamp"], kill["exited"])
    assert found["uptime_s"] > 0


def test_counters_moved(oom):
    kill, facts = oom
    assert facts["cgroup_version"] == "2"
    assert kill["vmstat_after"] == kill["vmstat_before"] + 1
    assert kill["slice_after"] == kill["slice_before"] + 1
    assert facts["counters"]["vmstat_oom_kill"] == kill["vmstat_after"]
