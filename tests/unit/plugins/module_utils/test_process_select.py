# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import re
import signal
import sys
import time

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils._proc import (
    ProcessGone,
    ancestors,
    write_oom_score_adj,
)
from ansible_collections.oomguard.memory.plugins.module_utils._process_select import (
    PATTERN_CMDLINE_MAX,
    SelectionTimeout,
    descendants,
    exclude_own_chain,
    in_cgroup,
    kubepods_managed,
    normalize_cgroup,
    own_process_chain,
    select_by_cgroup,
    select_by_name,
    select_by_pattern,
    select_by_unit,
    snapshot,
    time_budget,
    unit_in_cgroup_path,
)

sys.path.insert(0, os.path.dirname(__file__))
from fakeproc import add_process, read_adj

KUBE = (
    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234abcd_0000_1111_2222_333344445555.slice/cri-containerd-"
    + "a" * 64
    + ".scope"
)


@pytest.fixture
def proc(tmp_path):
    add_process(tmp_path, 1, "systemd", ppid=0, cmdline=["/sbin/init"])
    add_process(tmp_path, 2, "kthreadd", ppid=0, kthread=True)
    add_process(tmp_path, 10, "kworker/0:1", ppid=2, kthread=True)
    add_process(
        tmp_path,
        100,
        "postgres",
        cmdline=["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/pg"],
        memory="/system.slice/postgresql.service",
        systemd="/system.slice/postgresql.service",
    )
    add_process(
        tmp_path,
        101,
        "postgres",
        ppid=100,
        cmdline=["postgres: checkpointer"],
        memory="/system.slice/postgresql.service",
        systemd="/system.slice/postgresql.service",
    )
    add_process(
        tmp_path,
        102,
        "postgres",
        ppid=101,
        cmdline=["postgres: worker"],
        memory="/system.slice/postgresql.service/sub",
        systemd="/system.slice/postgresql.service/sub",
    )
    add_process(
        tmp_path,
        200,
        "worker",
        cmdline=["python3", "worker.py", "--queue", "a b"],
        systemd="/system.slice/system-worker.slice/worker@1.service",
    )
    add_process(tmp_path, 300, "pause", systemd=KUBE, memory=KUBE)
    add_process(
        tmp_path, 400, "app", systemd="/user.slice/user-1000.slice/user@1000.service/app.slice/postgresql.service"
    )
    (tmp_path / "self").mkdir()  # non-numeric entries are ignored
    return tmp_path


def test_snapshot(proc):
    processes = snapshot(str(proc), cmdline=True)
    assert sorted(processes) == [1, 2, 10, 100, 101, 102, 200, 300, 400]
    assert processes[10].kthread and processes[10].memory_cgroup is None and processes[10].cmdline == ""
    assert processes[200].cmdline == "python3 worker.py --queue a b"
    assert processes[100].memory_cgroup == "/system.slice/postgresql.service"
    assert snapshot(str(proc))[200].cmdline == ""  # command lines only on request


def test_snapshot_skips_vanished(proc, monkeypatch):
    os.unlink(os.path.join(str(proc), "200", "stat"))  # as if the process exited while being read
    assert 200 not in snapshot(str(proc))


def test_select_by_name_excludes(proc):
    processes = snapshot(str(proc))
    assert select_by_name(processes, "postgres") == [100, 101, 102]
    assert select_by_name(processes, "postgres", exclude={101}) == [100, 102]
    assert select_by_name(processes, "nothing") == []


def test_select_by_pattern(proc):
    processes = snapshot(str(proc), cmdline=True)
    assert select_by_pattern(processes, re.compile(r"worker\.py --queue a b")) == [200]
    assert select_by_pattern(processes, re.compile("^postgres: ")) == [101, 102]
    assert select_by_pattern(processes, re.compile("kworker|kthreadd")) == []  # kernel threads have no cmdline


def test_select_by_cgroup_is_recursive(proc):
    processes = snapshot(str(proc))
    assert select_by_cgroup(processes, "/system.slice/postgresql.service") == [100, 101, 102]
    assert select_by_cgroup(processes, "/system.slice/postgresql.service/sub") == [102]
    assert select_by_cgroup(processes, "/system.slice/postgresql.serv") == []


def test_select_by_unit(proc):
    processes = snapshot(str(proc))
    # with systemd's ControlGroup: exactly that subtree, not the user unit of the same name
    assert select_by_unit(processes, "postgresql.service", "/system.slice/postgresql.service") == [100, 101, 102]
    # without systemd: every cgroup path that names the unit
    assert select_by_unit(processes, "postgresql.service") == [100, 101, 102, 400]
    assert select_by_unit(processes, "worker@.service") == [200]
    assert select_by_unit(processes, "worker@2.service") == []


def test_descendants(proc):
    processes = snapshot(str(proc))
    assert descendants(processes, {100}) == {101, 102}
    assert descendants(processes, {2}) == {10}
    assert descendants(processes, {102}) == set()


def test_kubepods(proc):
    processes = snapshot(str(proc))
    assert kubepods_managed(processes[300])
    assert not kubepods_managed(processes[100])


def test_in_cgroup():
    assert in_cgroup("/a/b", "/a")
    assert in_cgroup("/a", "/a/")
    assert not in_cgroup("/ab", "/a")
    assert in_cgroup("/anything", "/")
    assert not in_cgroup(None, "/a")


def test_normalize_cgroup():
    mounts = ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified"]
    assert normalize_cgroup("/sys/fs/cgroup/memory/oomtest", mounts) == "/oomtest"
    assert normalize_cgroup("/sys/fs/cgroup/memory", mounts) == "/"
    assert normalize_cgroup("/system.slice/a.service/", mounts) == "/system.slice/a.service"
    assert normalize_cgroup("/a/../b", mounts) == "/b"
    assert normalize_cgroup("/sys/fs/cgroup/system.slice", ["/sys/fs/cgroup"]) == "/system.slice"
    assert normalize_cgroup("/sys/fs/cgroup", []) == "/"


def test_unit_in_cgroup_path():
    assert unit_in_cgroup_path("/system.slice/a.service", "a.service")
    assert unit_in_cgroup_path("/system.slice/a.service/x", "a.service")
    assert not unit_in_cgroup_path("/system.slice/a.service", "b.service")
    assert unit_in_cgroup_path("/system.slice/system-w.slice/w@3.service", "w@.service")
    assert not unit_in_cgroup_path(None, "a.service")


def test_write_oom_score_adj(proc):
    write_oom_score_adj(100, -500, str(proc))
    assert read_adj(proc, 100) == -500
    with pytest.raises(ProcessGone):
        write_oom_score_adj(999, 1, str(proc))


def test_ancestors(proc):
    assert ancestors(102, str(proc)) == {101, 100, 1}
    assert ancestors(1, str(proc)) == set()
    assert ancestors(999, str(proc)) == set()
    assert os.getppid() in ancestors(os.getpid())


def test_snapshot_reads_at_most_4096_bytes_of_a_command_line(proc):
    add_process(proc, 500, "java", cmdline=["java", "x" * 600000, "-Xmx1g"])
    info = snapshot(str(proc), cmdline=True)[500]
    assert len(info.cmdline) == PATTERN_CMDLINE_MAX
    assert info.cmdline.startswith("java xxx")
    assert snapshot(str(proc))[500].cmdline == ""  # not read at all unless asked


def test_snapshot_keeps_the_state(proc):
    add_process(proc, 501, "defunct", state="Z", cmdline=[])
    assert snapshot(str(proc))[501].state == "Z"
    assert snapshot(str(proc))[100].state == "S"


def test_time_budget_stops_a_runaway_regular_expression():
    started = time.monotonic()
    with pytest.raises(SelectionTimeout), time_budget(0.3):
        re.search(r"(a+)+$", "a" * 40 + "!")  # 2^40 steps without the budget
    assert time.monotonic() - started < 30  # generous: the point is that it returns at all
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_time_budget_restores_the_previous_handler():
    def previous(_signum, _frame):
        raise AssertionError("not expected")

    old = signal.signal(signal.SIGALRM, previous)
    try:
        with time_budget(5):
            pass
        assert signal.getsignal(signal.SIGALRM) is previous
    finally:
        signal.signal(signal.SIGALRM, old)


def test_own_process_chain_is_this_process_and_its_ancestors():
    chain = own_process_chain()
    assert os.getpid() in chain and os.getppid() in chain
    assert {os.getpid(), os.getppid(), 1} <= chain


def test_exclude_own_chain(proc):
    processes = snapshot(str(proc))
    own = {os.getpid(), 100}
    kept, excluded = exclude_own_chain([1, 100, 200], processes, own)
    assert kept == [1, 200]
    assert excluded == [{"pid": 100, "comm": "postgres", "reason": "an ancestor of the process running this module"}]
    _kept, excluded = exclude_own_chain([os.getpid()], processes, own)
    assert excluded == [{"pid": os.getpid(), "comm": "", "reason": "runs this module"}]
