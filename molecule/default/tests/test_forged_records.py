# SPDX-License-Identifier: GPL-3.0-or-later
"""Kill records forged by unprivileged users with logger and systemd-cat are not kills.

On each VM two unprivileged accounts (a system user and a regular one) write, through the real ``logger`` and
``systemd-cat``, a kernel "Killed process" line tagged ``kernel``, earlyoom kill lines tagged ``earlyoom`` and a
systemd-oomd kill line tagged ``systemd-oomd``. The journal keeps them with the writer's _UID and a syslog or
stdout transport. oom_facts (journal) over a window that holds only these records must report no kill and count
them as untrusted records (oom_facts 1.1: kernel kills only from _TRANSPORT=kernel, earlyoom and systemd-oomd only
from their own units run by root).
"""

from __future__ import annotations

import json
import shlex

import pytest

testinfra_hosts = ["ansible://vms"]

FORGERS = {"system": "oomtest-forger-sys", "regular": "oomtest-forger"}
KERNEL_LINE = (
    "Out of memory: Killed process 31337 (forged) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, "
    "UID:0 pgtables:0kB oom_score_adj:0"
)
EARLYOOM_LINE = 'sending SIGTERM to process 31338 uid 0 "forged-eoom": badness 900, VmRSS 1000 MiB'
EARLYOOM_CAT_LINE = 'sending SIGKILL to process 31339 uid 0 "forged-cat": badness 950, VmRSS 1200 MiB'
OOMD_LINE = (
    "Killed /system.slice/forged-oomd.service due to memory pressure for /system.slice being 91.00% > 50.00% "
    "for > 20s with reclaim activity"
)
FORGED_PIDS = {31337, 31338, 31339}
FORGED_COMMS = {"forged", "forged-eoom", "forged-cat"}
RECORDS_PER_FORGER = 4

SCRIPT = f"""
set -eu
nologin="--no-create-home --shell /usr/sbin/nologin"
id -u {FORGERS["system"]} >/dev/null 2>&1 || useradd --system $nologin {FORGERS["system"]}
id -u {FORGERS["regular"]} >/dev/null 2>&1 || useradd $nologin {FORGERS["regular"]}
start=$(date +%s)
since=$(date -u -d "@$((start - 1))" +%Y-%m-%dT%H:%M:%SZ)
sleep 1
for user in {FORGERS["system"]} {FORGERS["regular"]}; do
    runuser -u "$user" -- logger -t kernel {shlex.quote(KERNEL_LINE)}
    runuser -u "$user" -- logger -t earlyoom {shlex.quote(EARLYOOM_LINE)}
    runuser -u "$user" -- sh -c {shlex.quote(f"echo {shlex.quote(EARLYOOM_CAT_LINE)} | systemd-cat -t earlyoom")}
    runuser -u "$user" -- logger -t systemd-oomd {shlex.quote(OOMD_LINE)}
done
for _ in $(seq 30); do
    n=$(journalctl --since="@$start" -t kernel -t earlyoom -t systemd-oomd -o json | grep -c forged || true)
    [ "$n" -ge {2 * RECORDS_PER_FORGER} ] && break
    sleep 1
done
printf '{{"since": "%s", "records": [' "$since"
journalctl --since="@$start" -t kernel -t earlyoom -t systemd-oomd -o json \\
    --output-fields=_UID,_TRANSPORT,SYSLOG_IDENTIFIER,MESSAGE | grep forged | paste -sd, -
printf ']}}\\n'
"""


@pytest.fixture(scope="module")
def forged(host):
    run = host.run("sh -c %s", SCRIPT)
    assert run.rc == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def facts(host, forged):
    result = host.ansible("oomguard.memory.oom_facts", f"log_sources=journal since={forged['since']}", check=False)
    assert not result.get("failed"), result
    return result["ansible_facts"]["oom"]


@pytest.fixture(scope="module")
def forger_uids(host):
    return {int(host.check_output(f"id -u {user}")) for user in FORGERS.values()}


def test_the_journal_holds_the_forged_records(forged, forger_uids):
    records = forged["records"]
    assert len(records) == 2 * RECORDS_PER_FORGER, records
    assert {int(record["_UID"]) for record in records} == forger_uids
    assert all(uid != 0 for uid in forger_uids)
    assert {record["SYSLOG_IDENTIFIER"] for record in records} == {"kernel", "earlyoom", "systemd-oomd"}
    # what oom_facts must look at: none of these came through the kernel's own transport
    assert {record["_TRANSPORT"] for record in records} == {"syslog", "stdout"}


def test_no_forged_kill(facts):
    forged = [k for k in facts["kills"] if k["pid"] in FORGED_PIDS or k["comm"] in FORGED_COMMS]
    assert forged == []
    assert not [k for k in facts["kills"] if "forged-oomd" in str(k.get("cgroup"))]


def test_no_kill_counted_in_the_window(facts):
    # the window holds nothing but the forged records
    assert facts["kill_count"] == 0
    assert facts["kills"] == []
    assert set(facts["kill_count_by_killer"].values()) == {0}


def test_forged_records_counted_as_untrusted(facts):
    # at least the system user's records (the regular user's are in a per-user journal file)
    assert facts["untrusted_records"] >= RECORDS_PER_FORGER
    assert facts["sources"]["journal"]["untrusted"] >= RECORDS_PER_FORGER
    assert facts["sources"]["journal"]["status"] == "ok"
