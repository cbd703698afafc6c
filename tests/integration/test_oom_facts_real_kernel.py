# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""oom_facts against a REAL kernel OOM kill, run through ansible.

One module-scoped event: a hog with a distinctive comm and oom_score_adj allocates past the limit of a fresh
memory cgroup until the kernel kills it. The cgroup stays in place until every test here has run (so that
oom_facts can read its counters), then it is removed. Each test compares what oom_facts reports with what the
kernel itself printed (read from /dev/kmsg by the test) and counted (/proc/vmstat, the cgroup's own counter).

Needs root and a writable memory cgroup; skipped otherwise. Run with:
    pytest tests/integration/test_oom_facts_real_kernel.py -v
"""

from __future__ import annotations

import datetime
import re
import signal

import oomlab
import pytest

pytestmark = pytest.mark.integration

HOG_COMM = "oomguard-hog"  # 12 characters: the kernel keeps 15
HOG_OOM_SCORE_ADJ = 321  # distinctive, and raising it needs no privilege
LIMIT_BYTES = 64 * oomlab.MiB
LIVE_SOURCES = ("journal", "kmsg", "dmesg", "syslog")

KILLED_LINE = re.compile(
    r"Killed process (?P<pid>\d+) \((?P<comm>[^)]*)\) total-vm:(?P<total_vm>\d+)kB, anon-rss:(?P<anon>\d+)kB, "
    r"file-rss:(?P<file>\d+)kB, shmem-rss:(?P<shmem>\d+)kB, UID:(?P<uid>\d+) pgtables:(?P<pgtables>\d+)kB "
    r"oom_score_adj:(?P<adj>-?\d+)"
)


class OomEvent:
    """What the lab did and what the kernel printed and counted about it."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


@pytest.fixture(scope="module")
def oom_event():
    reason = oomlab.lab_unavailable_reason()
    if reason:
        pytest.skip(f"no real OOM kills on this machine: {reason}")
    before = oomlab.run_module("oom_facts", {"log_sources": [], "top_processes": 0})
    assert not before.get("failed"), before
    module_vmstat_before = before["ansible_facts"]["oom"]["counters"]["vmstat_oom_kill"]
    vmstat_before = oomlab.read_vmstat("oom_kill")
    with oomlab.Lab() as lab, oomlab.KmsgCursor() as kmsg:
        group = lab.memory_cgroup(LIMIT_BYTES)
        group_kills_before = group.oom_kill_count()
        hog = lab.start_hog(HOG_COMM, cgroup=group, oom_score_adj=HOG_OOM_SCORE_ADJ, extra_args=["real-kernel-test"])
        returncode = hog.wait_for_death(timeout=60)
        killed = kmsg.wait_for(lambda record: f"Killed process {hog.pid} (" in record.message, timeout=10)
        summary = kmsg.wait_for(
            lambda record: record.message.startswith("oom-kill:") and f",pid={hog.pid}," in record.message + ",",
            timeout=2,
        )
        header = kmsg.wait_for(lambda record: record.message.startswith(f"{HOG_COMM} invoked oom-killer:"), timeout=1)
        yield OomEvent(
            group=group,
            hog=hog,
            returncode=returncode,
            killed=killed,
            summary=summary,
            header=header,
            vmstat_before=vmstat_before,
            module_vmstat_before=module_vmstat_before,
            group_kills_before=group_kills_before,
            group_kills_after=group.oom_kill_count(),
            vmstat_after=oomlab.read_vmstat("oom_kill"),
        )


def _facts(result):
    assert not result.get("failed"), result
    assert result["changed"] is False
    return result["ansible_facts"]["oom"]


def _the_kill(oom, pid):
    matches = [kill for kill in oom["kills"] if kill["pid"] == pid and kill["killer"] == "kernel"]
    assert len(matches) == 1, f"expected exactly one kill of pid {pid}, got {matches} (kill_count={oom['kill_count']})"
    return matches[0]


def test_the_lab_made_a_real_oom_kill(oom_event):
    """Ground truth, independent of the module: the kernel killed the hog in our cgroup and counted it."""
    assert oom_event.returncode == -signal.SIGKILL
    assert oom_event.hog.exit_signal == signal.SIGKILL
    assert oom_event.killed is not None, "no 'Killed process' record for the hog in /dev/kmsg"
    assert f"({HOG_COMM})" in oom_event.killed.message
    assert oom_event.summary is not None, "no oom-kill: summary for the hog in /dev/kmsg"
    assert f"oom_memcg={oom_event.group.kernel_path}," in oom_event.summary.message
    assert "constraint=CONSTRAINT_MEMCG," in oom_event.summary.message
    assert oom_event.group_kills_after >= oom_event.group_kills_before + 1
    assert oom_event.vmstat_after >= oom_event.vmstat_before + 1


@pytest.mark.parametrize("log_sources", [["kmsg"], ["auto"], ["dmesg"]], ids=["kmsg", "auto", "dmesg"])
def test_oom_facts_reports_the_kill(oom_event, log_sources):
    hog, group = oom_event.hog, oom_event.group
    result = oomlab.run_module("oom_facts", {"log_sources": log_sources, "max_kills": 1000, "top_processes": 0})
    oom = _facts(result)
    kill = _the_kill(oom, hog.pid)

    # the victim, exactly as the kernel printed it
    kernel = KILLED_LINE.search(oom_event.killed.message)
    assert kernel, oom_event.killed.message
    assert kill["comm"] == HOG_COMM
    assert kill["constraint"] == "CONSTRAINT_MEMCG"
    assert kill["oom_memcg"] == group.kernel_path
    assert kill["task_memcg"] == group.kernel_path
    assert kill["kind"] == "memcg"
    assert kill["uid"] == 0
    assert kill["oom_score_adj"] == HOG_OOM_SCORE_ADJ == int(kernel["adj"])
    assert kill["total_vm_kb"] == int(kernel["total_vm"])
    assert kill["anon_rss_kb"] == int(kernel["anon"])
    assert kill["file_rss_kb"] == int(kernel["file"])
    assert kill["shmem_rss_kb"] == int(kernel["shmem"])
    assert kill["pgtables_kb"] == int(kernel["pgtables"])
    assert kill["anon_rss_kb"] > 0
    assert kill["unit"] is None
    assert kill["container"] is None
    assert "Killed process %d (%s)" % (hog.pid, HOG_COMM) in kill["message"]
    if oom_event.header is not None:  # the header is rate-limited; when the kernel printed it, it names the hog
        assert kill["trigger_comm"] == HOG_COMM
        assert kill["trigger_pid"] == hog.pid

    # where and when
    if log_sources == ["auto"]:
        assert kill["source"] in LIVE_SOURCES
    else:
        assert kill["source"] == log_sources[0]
    assert oom["sources"][kill["source"]]["status"] == "ok"
    assert kill["source"] not in oom["sources_unavailable"]
    assert kill["uptime_s"] == pytest.approx(oom_event.killed.usec / 1e6, abs=0.01)
    stamp = datetime.datetime.fromisoformat(kill["timestamp"])
    assert stamp.tzinfo is not None
    assert abs((datetime.datetime.now(datetime.timezone.utc) - stamp).total_seconds()) < 600
    assert oom["kill_count"] >= 1

    # the counters moved
    vmstat = oom["counters"]["vmstat_oom_kill"]
    assert vmstat >= oom_event.module_vmstat_before + 1
    assert vmstat >= oom_event.vmstat_before + 1
    cgroup_counters = oom["counters"]["cgroups"].get(group.kernel_path)
    assert cgroup_counters is not None, f"no counters for {group.kernel_path}: {oom['counters']['cgroups']}"
    assert cgroup_counters["oom_kill"] == group.oom_kill_count() >= oom_event.group_kills_before + 1
    assert cgroup_counters.get("hierarchy") == ("v1" if group.version == 1 else "v2")


def test_oom_facts_check_mode_changes_nothing(oom_event):
    result = oomlab.run_module(
        "oom_facts", {"log_sources": ["kmsg"], "max_kills": 1000, "top_processes": 5}, check=True
    )
    oom = _facts(result)
    kill = _the_kill(oom, oom_event.hog.pid)
    assert kill["oom_memcg"] == oom_event.group.kernel_path
    assert oom_event.group.path.is_dir()  # the module left our cgroup alone
