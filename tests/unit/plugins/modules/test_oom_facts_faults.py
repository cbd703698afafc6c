# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""oom_facts under host faults ([8/8] item 2): each ends in a documented degraded result, never a failure.

* cgroup v1, hybrid (memory on v1, or on the unified hierarchy), v2 and no cgroup file system: fake trees;
* PSI off: /proc/pressure/memory absent, or failing with EOPNOTSUPP (kernels built with PSI off by default);
* the journal: journalctl missing, a volatile journal (the unreadable system journal: test_journal_files.py);
* processes that exit between being listed and being read: real processes in the real /proc.

Not root, kernel.dmesg_restrict, a real journald and two runs at once are made for real and run through ansible
in tests/integration/test_oom_facts_host_faults.py.
"""

from __future__ import annotations

import builtins
import errno
import os
import shutil
import signal
import subprocess
import time

import pytest
from fakehost import FakeHost, executable, gather

from ansible_collections.oomguard.memory.plugins.module_utils import _journal_files, _keyvalue, _oom_sources, _proc

WORKER = "/system.slice/worker.service"
CONTAINER = "c" * 64
V1_NO_LIMIT = "9223372036854771712\n"
GIB = 1 << 30
KILL = (
    "Mar  3 10:11:12 web-1 kernel: [ 5100.000000] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,"
    "mems_allowed=0,oom_memcg=%s,task_memcg=%s,task=worker,pid=4242,uid=0\n"
    "Mar  3 10:11:12 web-1 kernel: [ 5100.000100] Memory cgroup out of memory: Killed process 4242 (worker) "
    "total-vm:2097152kB, anon-rss:1048576kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:2100kB oom_score_adj:0\n"
) % (WORKER, WORKER)
ARGS = {"log_sources": [], "top_processes": 0, "gce_metadata": "never"}


def worker_host(tmp_path):
    """A host whose worker.service (MemoryMax=1G) had one memcg kill, logged in a syslog file; no cgroup yet."""
    host = FakeHost(tmp_path / "host")
    host.systemd(
        {
            "worker.service": {
                "LoadState": "loaded",
                "ActiveState": "active",
                "ControlGroup": WORKER,
                "MemoryMax": str(GIB),
            }
        }
    )
    log = tmp_path / "syslog"
    log.write_text(KILL)
    return host, dict(ARGS, log_paths=[str(log)])


def v1_tree(host, _hierarchy):
    host.cgroup(
        WORKER,
        memory__oom_control="oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        memory__max_usage_in_bytes="%d\n" % GIB,
        memory__limit_in_bytes="%d\n" % GIB,
    )
    host.cgroup("/docker/" + CONTAINER, memory__limit_in_bytes=V1_NO_LIMIT, memory__usage_in_bytes="52428800\n")


def v2_tree(host, hierarchy):
    host.cgroup(
        WORKER,
        hierarchy,
        memory__events="low 0\nhigh 5\nmax 9\noom 2\noom_kill 2\noom_group_kill 0\n",
        memory__peak="%d\n" % GIB,
        memory__max="%d\n" % GIB,
    )
    host.cgroup(
        "/system.slice/docker-%s.scope" % CONTAINER, hierarchy, memory__max="max\n", memory__current="52428800\n"
    )


V1_COUNTERS = {"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 2, "hierarchy": "v1"}
V2_COUNTERS = {
    "low": 0,
    "high": 5,
    "max": 9,
    "oom": 2,
    "oom_kill": 2,
    "oom_group_kill": 0,
    "local": dict.fromkeys(("low", "high", "max", "oom", "oom_kill", "oom_group_kill"), 0),
    "hierarchy": "v2",
}


@pytest.mark.parametrize(
    ("mounts", "tree", "hierarchy", "version", "counters", "container"),
    [
        ({"v1_memory": True, "unified": False}, v1_tree, "memory", "1", V1_COUNTERS, "/docker/" + CONTAINER),
        ({"v1_memory": True, "unified": True}, v1_tree, "memory", "hybrid", V1_COUNTERS, "/docker/" + CONTAINER),
        (
            {"v1_memory": False, "v1_cpu": True, "unified": True},
            v2_tree,
            "unified",
            "hybrid",
            V2_COUNTERS,
            "/system.slice/docker-%s.scope" % CONTAINER,
        ),
        (
            {"v1_memory": False, "unified": True},
            v2_tree,
            "",
            "2",
            V2_COUNTERS,
            "/system.slice/docker-%s.scope" % CONTAINER,
        ),
    ],
    ids=["v1", "hybrid", "hybrid-memory-on-v2", "v2"],
)
def test_each_cgroup_layout_is_read_where_the_memory_controller_is(
    tmp_path, mounts, tree, hierarchy, version, counters, container
):
    """The same kill, unit and container on each layout: the counters, the unit's peak and the container without a
    limit come from the hierarchy that carries the memory controller, in that hierarchy's files."""
    host, args = worker_host(tmp_path)
    host.mounts(**mounts)
    tree(host, hierarchy)
    facts, warnings = gather(args, host)
    assert facts["cgroup_version"] == version
    assert facts["counters"]["cgroups"] == {WORKER: counters}
    assert facts["units"]["worker.service"]["memory_peak"] == GIB
    assert facts["containers_unlimited"] == [
        {"runtime": "docker", "id": CONTAINER, "cgroup": container, "memory_current": 52428800, "pod_uid": None}
    ]
    assert [kill["oom_memcg"] for kill in facts["kills"]] == [WORKER]
    assert warnings == []


def test_no_cgroup_file_system_leaves_the_cgroup_facts_empty(tmp_path):
    """A host (or a container) with no cgroup mounted: no version, no counters, no peaks; the kill still counts."""
    host, args = worker_host(tmp_path)
    host.mounts(v1_memory=False, unified=False)
    facts, warnings = gather(args, host)
    assert (facts["cgroup_version"], facts["counters"]["cgroups"], facts["containers_unlimited"]) == (None, {}, [])
    assert facts["units"]["worker.service"]["memory_peak"] is None
    assert facts["kill_count"] == 1
    assert warnings == []


def test_unreadable_mount_table_is_no_cgroup_file_system(tmp_path):
    host, args = worker_host(tmp_path)
    host.mounts()
    v1_tree(host, "memory")
    host.path("/proc/self/mounts").unlink()
    facts, _warnings = gather(args, host)
    assert (facts["cgroup_version"], facts["counters"]["cgroups"], facts["containers_unlimited"]) == (None, {}, [])


# -- PSI off ---------------------------------------------------------------------------------------------------------

NO_PRESSURE = {
    "available": False,
    "some": {"avg10": 0.0, "avg60": 0.0, "avg300": 0.0, "total": 0},
    "full": {"avg10": 0.0, "avg60": 0.0, "avg300": 0.0, "total": 0},
}


def refusing_open(path_suffix, error):
    """builtins.open, except that C(path_suffix) fails with C(error) as the kernel would answer."""
    real_open = builtins.open

    def fake_open(path, *args, **kwargs):
        if str(path).endswith(path_suffix):
            raise OSError(error, os.strerror(error), str(path))
        return real_open(path, *args, **kwargs)

    return fake_open


def test_psi_absent_or_refused_is_pressure_not_available(tmp_path):
    host, args = worker_host(tmp_path)
    host.mounts()
    host.pressure()
    facts, _warnings = gather(args, host)
    assert facts["pressure"]["available"] is True
    # a kernel built with PSI off by default (CONFIG_PSI_DEFAULT_DISABLED, no psi=1) answers EOPNOTSUPP
    refused = refusing_open("/proc/pressure/memory", errno.EOPNOTSUPP)
    facts, warnings = gather(args, host, patches=[(_keyvalue, "open", refused)])
    assert (facts["pressure"], warnings) == (NO_PRESSURE, [])
    # a kernel without CONFIG_PSI has no /proc/pressure at all
    host.path("/proc/pressure/memory").unlink()
    facts, warnings = gather(args, host)
    assert (facts["pressure"], warnings) == (NO_PRESSURE, [])


# -- the journal: not installed, volatile ----------------------------------------------------------------------------


def test_journalctl_not_installed_is_an_absent_source(tmp_path):
    host, args = worker_host(tmp_path)
    host.mounts()
    host.commands["journalctl"] = None
    facts, warnings = gather(dict(args, log_sources=["journal"]), host)
    assert facts["sources"]["journal"] == {
        "status": "absent",
        "detail": "journalctl is not installed",
        "kills": 0,
        "format": None,
        "untrusted": 0,
    }
    assert facts["sources_unavailable"] == ["journal"]
    assert warnings == ["log source journal: journalctl is not installed"]
    assert facts["kill_count"] == 1  # the log file is still read


def journal_host(tmp_path, monkeypatch, persistent):
    """A host whose system journal is in /run/log/journal (and /var/log/journal when C(persistent)), read by a
    journalctl that finds no OOM record; booted 6000 s ago."""
    host, args = worker_host(tmp_path)
    host.mounts()
    host.identity(uptime=6000.0)
    directories = [host.path(_journal_files.RUNTIME_DIR), host.path(_journal_files.PERSISTENT_DIR)]
    for directory in directories[: 2 if persistent else 1]:
        (directory / "3d1219c7c4c5404aaa1f6d2a48adfda4").mkdir(parents=True)
        (directory / "3d1219c7c4c5404aaa1f6d2a48adfda4" / "system.journal").write_bytes(b"LPKSHHRH")
    monkeypatch.setattr(_oom_sources, "JOURNAL_DIRS", tuple(str(directory) for directory in directories))
    host.commands["journalctl"] = executable(tmp_path / "journalctl", "#!/bin/sh\nexit 1\n")
    return host, dict(args, log_sources=["journal"], log_paths=[])


def test_a_volatile_journal_says_it_holds_nothing_from_before_this_boot(tmp_path, monkeypatch):
    host, args = journal_host(tmp_path, monkeypatch, persistent=False)
    facts, warnings = gather(args, host)
    journal = facts["sources"]["journal"]
    assert journal["status"] == "ok"
    booted = journal["detail"].rsplit("(", 1)[1].rstrip(")")
    assert journal["detail"] == (
        "volatile: journald keeps the journal in /run/log/journal only (Storage=volatile, or no /var/log/journal), so "
        "it holds nothing from before this boot (%s)" % booted
    )
    assert facts["window"]["until"] > booted
    assert warnings == ["journal: %s; OOM kills before this boot are unknown" % journal["detail"]]
    # a window that starts after the boot loses nothing: the detail stays, the warning goes
    facts, warnings = gather(dict(args, since="1h"), host)
    assert facts["sources"]["journal"]["detail"] == journal["detail"]
    assert warnings == []


def test_a_persistent_journal_is_not_volatile(tmp_path, monkeypatch):
    host, args = journal_host(tmp_path, monkeypatch, persistent=True)
    facts, warnings = gather(args, host)
    assert (facts["sources"]["journal"]["status"], facts["sources"]["journal"]["detail"], warnings) == ("ok", "", [])


# -- processes that exit while they are read: real processes, the real /proc ------------------------------------


@pytest.fixture
def sleepers():
    """start(adj, program="sleep"): a real sleeping process with that oom_score_adj (raising it needs no
    privilege); all are killed and reaped afterwards."""
    started = []

    def start(adj, program="sleep"):
        process = subprocess.Popen([program, "600"], stdin=subprocess.DEVNULL, start_new_session=True)
        started.append(process)
        with open("/proc/%d/oom_score_adj" % process.pid, "w") as handle:
            handle.write("%d\n" % adj)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until_zombie(process):
    deadline = time.monotonic() + 10
    while not _proc.is_exited(process.pid):
        assert time.monotonic() < deadline, "pid %d did not exit" % process.pid
        time.sleep(0.01)


def test_processes_that_exit_while_they_are_read_are_left_out(sleepers):
    """Five real processes, highest oom_score first: one is reaped right after /proc was listed, one is reaped and
    one turns zombie while it is described. The two left take the two places asked for."""
    listed_then_gone, gone, zombie, first, second = (sleepers(adj) for adj in (1000, 999, 998, 997, 996))
    ours = {process.pid for process in (listed_then_gone, gone, zombie, first, second)}
    real_iter_pids, real_describe = _proc.iter_pids, _proc.describe

    def iter_pids(proc=_proc.PROC):
        pids = [pid for pid in real_iter_pids(proc) if pid in ours]
        listed_then_gone.kill()
        listed_then_gone.wait()
        return pids

    def describe(pid, proc=_proc.PROC, **kwargs):
        if pid == gone.pid:
            gone.kill()
            gone.wait()
        described = real_describe(pid, proc, **kwargs)
        if pid == zombie.pid:
            zombie.kill()  # not reaped: a zombie once described
            wait_until_zombie(zombie)
        return described

    facts, warnings = gather(
        dict(ARGS, top_processes=2),
        None,
        self_pid=os.getpid(),
        patches=[(_proc, "iter_pids", iter_pids), (_proc, "describe", describe)],
    )
    assert [(process["pid"], process["oom_score_adj"]) for process in facts["processes"]] == [
        (first.pid, 997),
        (second.pid, 996),
    ]
    assert all(process["comm"] == "sleep" and process["rss_kb"] > 0 for process in facts["processes"])
    assert not any("pid" in warning for warning in warnings)


def test_a_zombie_is_never_listed_nor_a_running_killer(sleepers, tmp_path):
    """A zombie earlyoom (exited, not reaped) is neither a process at risk nor a running earlyoom."""
    shutil.copy("/bin/sleep", str(tmp_path / "earlyoom"))
    zombie, alive = sleepers(1000, str(tmp_path / "earlyoom")), sleepers(999)
    zombie.kill()
    wait_until_zombie(zombie)
    real_iter_pids = _proc.iter_pids

    def iter_pids(proc=_proc.PROC):
        return [pid for pid in real_iter_pids(proc) if pid in (zombie.pid, alive.pid)]

    facts, _warnings = gather(
        dict(ARGS, top_processes=2), None, self_pid=os.getpid(), patches=[(_proc, "iter_pids", iter_pids)]
    )
    assert [process["pid"] for process in facts["processes"]] == [alive.pid]
    assert facts["userspace_killers"]["earlyoom"]["active"] is False
