# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Self-tests of the real-kernel lab (tests/lib/oomlab.py) and of the synthetic log generator.

They check the tools, not the collection: when one of these fails, the module tests that use the tool cannot
be trusted either. Run with: pytest tests/integration/test_oomlab_harness.py -v
"""

from __future__ import annotations

import gzip
import signal

import kernlog
import oomlab
import pytest

pytestmark = pytest.mark.integration


def test_hog_is_oom_killed_in_its_cgroup(memory_cgroup, start_hog, kmsg):
    vmstat_before = oomlab.read_vmstat("oom_kill")
    group = memory_cgroup(48 * oomlab.MiB)
    assert group.name.startswith(oomlab.CGROUP_PREFIX)
    assert group.limit_bytes() == 48 * oomlab.MiB
    assert group.oom_kill_count() == 0
    hog = start_hog("oomguard-selfte", cgroup=group, oom_score_adj=77)
    assert hog.wait_for_death(timeout=60) == -signal.SIGKILL
    assert hog.was_sigkilled
    assert group.oom_kill_count() == 1
    assert oomlab.read_vmstat("oom_kill") >= vmstat_before + 1
    record = kmsg.wait_for(lambda r: f"Killed process {hog.pid} (oomguard-selfte)" in r.message)
    assert record is not None
    assert record.message.endswith("oom_score_adj:77")
    kills = [kill for kill in kmsg.killed_processes() if kill["pid"] == hog.pid]
    assert kills == [
        {"pid": hog.pid, "comm": "oomguard-selfte", "context": "Memory cgroup out of memory", "message": record.message}
    ]
    summary = kmsg.wait_for(lambda r: r.message.startswith("oom-kill:") and f",pid={hog.pid}," in r.message + ",")
    assert summary is not None
    assert f"oom_memcg={group.kernel_path}," in summary.message


def test_hog_sets_comm_and_argv_and_holds(memory_cgroup, start_hog):
    group = memory_cgroup(256 * oomlab.MiB)
    hog = start_hog("oomguard-holder", argv0="holder-argv0", cgroup=group, max_bytes=32 * oomlab.MiB, extra_args=["x"])
    hog.wait_holding(timeout=30)
    assert hog.process.name() == "oomguard-holder"
    assert hog.process.cmdline()[0] == "holder-argv0"
    assert hog.process.cmdline()[-2:] == ["--tag", "x"]
    assert group.pids() == [hog.pid]
    assert hog.rss_bytes() >= 32 * oomlab.MiB
    assert group.usage_bytes() >= 32 * oomlab.MiB
    hog.release()
    assert hog.wait_for_death(timeout=10) == 0
    assert hog.exit_signal is None


def test_hog_waits_before_allocating(start_hog):
    hog = start_hog("oomguard-waiter", go=False, oom_score_adj=500)
    assert hog.oom_score_adj() == 500
    assert hog.allocated_bytes == 0
    assert hog.is_alive()
    hog.release()  # EOF instead of "go": exits without allocating
    assert hog.wait_for_death(timeout=10) == 0
    assert hog.allocated_bytes == 0


def test_higher_oom_score_adj_is_killed_first(memory_cgroup, start_hog):
    """Two hogs in one group: the kernel kills the one with the higher oom_score_adj, not the one allocating."""
    group = memory_cgroup(96 * oomlab.MiB)
    keeper = start_hog("oomguard-keeper", cgroup=group, oom_score_adj=0, max_bytes=16 * oomlab.MiB)
    keeper.wait_holding(timeout=30)
    target = start_hog("oomguard-target", cgroup=group, oom_score_adj=1000, max_bytes=48 * oomlab.MiB)
    target.wait_holding(timeout=30)
    trigger = start_hog("oomguard-trigge", cgroup=group, oom_score_adj=0, max_bytes=48 * oomlab.MiB)
    assert target.wait_for_death(timeout=60) == -signal.SIGKILL
    # 16 + 48 MiB fit once the target's 48 MiB are gone, with room for what a dying target still holds on a busy
    # machine (at 64 MiB and 20 + 24 + 24 MiB the keeper was a second victim under load)
    trigger.wait_holding(timeout=30)
    assert keeper.is_alive()
    assert trigger.is_alive()
    assert group.oom_kill_count() == 1


def test_protected_hog_survives_and_the_other_is_killed(memory_cgroup, start_hog, can_lower_oom_score_adj):
    """The scenario of the oom_score_adj tests, once: the kernel kills the unprotected hog."""
    group = memory_cgroup(64 * oomlab.MiB)
    keeper = start_hog("oomguard-keeper", cgroup=group, oom_score_adj=-1000, max_bytes=24 * oomlab.MiB)
    keeper.wait_holding(timeout=30)
    victim = start_hog("oomguard-victim", cgroup=group)
    assert victim.wait_for_death(timeout=60) == -signal.SIGKILL
    assert keeper.is_alive()
    assert group.oom_kill_count() == 1


def test_cgroup_removal_kills_leftover_tasks(lab):
    group = lab.memory_cgroup(128 * oomlab.MiB)
    hog = lab.start_hog("oomguard-leftov", cgroup=group, max_bytes=8 * oomlab.MiB)
    hog.wait_holding(timeout=30)
    group.remove()
    assert not group.path.exists()
    assert hog.wait_for_death(timeout=10) == -signal.SIGKILL
    group.remove()  # idempotent


def test_cgroup_names_are_checked():
    hierarchy = oomlab.MemoryHierarchy(1, "/nonexistent")
    with pytest.raises(ValueError):
        oomlab.MemoryCgroup(hierarchy, "system.slice")
    with pytest.raises(ValueError):
        oomlab.start_hog("a-comm-longer-than-15")


def test_run_module_goes_through_ansible(run_module):
    result = run_module("ansible.builtin.ping", {"data": "oomlab"})
    assert result["ping"] == "oomlab"
    assert result["_ansible_status"] == "SUCCESS"
    failed = run_module("ansible.builtin.stat", {"path": "/nonexistent", "get_checksum": "not-a-bool"})
    assert failed["failed"] is True


def test_rusage_interpreter_reports_peak_rss(run_module, tmp_path):
    wrapper, report = oomlab.rusage_interpreter(tmp_path)
    result = run_module("ansible.builtin.ping", interpreter=str(wrapper))
    assert result["ping"] == "pong"
    peaks = oomlab.read_peak_rss_kib(report)
    assert len(peaks) == 1
    assert 5_000 < peaks[0] < 500_000  # a python running a module: some MiB, not nothing and not GiB


@pytest.mark.parametrize("fmt", ["mixed", *kernlog.FORMATS])
def test_kernlog_writes_what_it_says(tmp_path, fmt):
    log = kernlog.generate_kernel_log(tmp_path / "kern.log", lines=20_000, fmt=fmt, seed=7)
    text = (tmp_path / "kern.log").read_text()
    assert text.count("\n") == log.lines == 20_000
    assert text.count("Killed process") == log.kills == log.oom_reports == 60
    assert log.memcg_kills + log.global_kills == log.kills
    assert text.count("oom-kill:constraint=") == log.kills - log.bare_kills
    assert f"Killed process {log.last_kill['pid']} ({log.last_kill['comm']})" in text
    assert text.rindex("Killed process") == text.index(f"Killed process {log.last_kill['pid']} ")


def test_kernlog_gzip_and_cache(tmp_path):
    log = kernlog.cached_kernel_log(tmp_path, lines=5_000, gz=True)
    with gzip.open(log.path, "rt") as handle:
        assert sum(1 for _line in handle) == 5_000
    again = kernlog.cached_kernel_log(tmp_path, lines=5_000, gz=True)
    assert again.as_dict() == log.as_dict()
