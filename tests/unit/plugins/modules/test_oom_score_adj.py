# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of oom_score_adj against a fake /proc tree of invented processes."""

from __future__ import annotations

import errno
import os
import time

import pytest
from fakeproc import add_process, read_adj
from harness import FakeSystemctl, run_module, task_entry

from ansible_collections.oomguard.memory.plugins.module_utils import (
    _host_lock,
    _live_oom_score,
    _process_select,
)
from ansible_collections.oomguard.memory.plugins.module_utils._dropin import render_score_dropin
from ansible_collections.oomguard.memory.plugins.module_utils._host_lock import HostLock
from ansible_collections.oomguard.memory.plugins.module_utils._proc import ProcessGone
from ansible_collections.oomguard.memory.plugins.modules import oom_score_adj
from ansible_collections.oomguard.memory.plugins.modules.oom_score_adj import OomScoreAdj, build_module

KUBE = "/kubepods/burstable/pod1234abcd-0000-1111-2222-333344445555/" + "b" * 64
NO_CAP = "CapEff:\t000001fffeffffff\n"  # root in a container: everything but CAP_SYS_RESOURCE (bit 24)
ALL_CAPS = "CapEff:\t000001ffffffffff\n"


class UnitSystemctl(FakeSystemctl):
    """systemd where every unit not in C(units) is loaded and active in /system.slice/UNIT with OOMScoreAdjust=0,
    and daemon-reload reads the drop-ins of C(unit_dir)."""

    def __init__(self, units=None, unit_dir=None, failures=None):
        super().__init__(units, unit_dir=unit_dir, missing="", failures=failures)

    def properties(self, unit):
        found = self.units.get(unit)
        if found is not None:
            return dict(found)
        return {
            "LoadState": "loaded",
            "ActiveState": "active",
            "ControlGroup": "/system.slice/" + unit,
            "OOMScoreAdjust": "0",
        }


@pytest.fixture
def proc(tmp_path):
    root = tmp_path / "proc"
    root.mkdir()
    add_process(root, 1, "systemd", ppid=0, cmdline=["/sbin/init"])
    add_process(root, 2, "kthreadd", ppid=0, kthread=True)
    add_process(root, 30, "kswapd0", ppid=2, kthread=True)
    add_process(
        root,
        100,
        "postgres",
        cmdline=["/usr/lib/postgresql/15/bin/postgres", "-D", "/srv/pg"],
        cgroup="/system.slice/postgresql.service",
    )
    add_process(
        root,
        101,
        "postgres",
        ppid=100,
        cmdline=["postgres: checkpointer"],
        adj=-900,
        cgroup="/system.slice/postgresql.service",
    )
    add_process(
        root,
        102,
        "postgres",
        ppid=101,
        cmdline=["postgres: walwriter"],
        cgroup="/system.slice/postgresql.service",
    )
    add_process(root, 200, "batch", cmdline=["python3", "batch_worker.py", "--queue", "low"])
    add_process(root, 201, "batch", ppid=200, cmdline=["python3", "batch_worker.py", "--child"])
    add_process(root, 300, "pause", cgroup=KUBE, adj=-998)
    add_process(root, 301, "app", cgroup=KUBE, adj=1000)
    add_process(root, 400, "hog", memory="/oomguard-test-1", systemd="/user.slice")
    return root


def run(args, proc, check_mode=False, diff=False, booted=False, systemctl=None, patches=(), capabilities=ALL_CAPS):
    """Run the module on the fake /proc (harness.run_module); return (result, warnings, systemctl).

    C(capabilities) is the CapEff line of the pretend /proc/self/status (default: CAP_SYS_RESOURCE present);
    C(systemctl) answers systemctl (default: UnitSystemctl reading the unit_dir of the arguments, if any).
    """
    status = os.path.join(str(proc), "self-status")
    with open(status, "w") as handle:
        handle.write("Name:\tpython3\n" + capabilities)

    def has_capability(cap, status_path=None):
        return _real_has_capability(cap, status)

    if systemctl is None:
        systemctl = UnitSystemctl(unit_dir=args.get("unit_dir"))
    result, warnings = run_module(
        task_entry(build_module, OomScoreAdj, proc=str(proc)),
        args,
        check_mode=check_mode,
        diff=diff,
        commands={"systemctl": systemctl},
        patches=[
            (_process_select, "systemd_booted", lambda: booted),
            (oom_score_adj, "systemd_booted", lambda: booted),
            (_live_oom_score, "has_capability", has_capability),
            *patches,
        ],
    )
    return result, warnings, systemctl


_real_has_capability = _live_oom_score.has_capability


def entries(result):
    return [(entry["pid"], entry["comm"], entry["before"], entry["after"]) for entry in result["processes"]]


# -- selection and changes -----------------------------------------------------------------------------------------


def test_pid(proc):
    result, warnings, _s = run({"pid": [102, 100], "value": -500}, proc)
    assert result["changed"] is True
    assert entries(result) == [(100, "postgres", 0, -500), (102, "postgres", 0, -500)]
    assert read_adj(proc, 100) == read_adj(proc, 102) == -500
    assert read_adj(proc, 101) == -900
    assert result["vanished"] == result["excluded"] == result["missing"] == []
    assert result["restart_required"] is False and result["restart_reasons"] == []
    assert "dropin" not in result and warnings == []


def test_idempotent(proc):
    run({"pid": [100], "value": -500}, proc)
    result, _w, _s = run({"pid": [100], "value": -500}, proc)
    assert result["changed"] is False
    assert entries(result) == [(100, "postgres", -500, -500)]


def test_check_mode(proc):
    result, _w, _s = run({"name": "postgres", "value": 100}, proc, check_mode=True)
    assert result["changed"] is True
    assert entries(result) == [(100, "postgres", 0, 100), (101, "postgres", -900, 100), (102, "postgres", 0, 100)]
    assert [read_adj(proc, pid) for pid in (100, 101, 102)] == [0, -900, 0]


def test_diff(proc):
    result, _w, _s = run({"name": "postgres", "value": -900}, proc, diff=True)
    assert result["diff"] == {
        "before": "100 (postgres): oom_score_adj=0\n"
        "101 (postgres): oom_score_adj=-900\n"
        "102 (postgres): oom_score_adj=0\n",
        "after": "100 (postgres): oom_score_adj=-900\n"
        "101 (postgres): oom_score_adj=-900\n"
        "102 (postgres): oom_score_adj=-900\n",
        "before_header": "oom_score_adj (before)",
        "after_header": "oom_score_adj (after)",
    }


def test_name(proc):
    result, _w, _s = run({"name": "batch", "value": 800}, proc)
    assert [entry["pid"] for entry in result["processes"]] == [200, 201]


def test_pattern_on_full_command_line(proc):
    result, _w, _s = run({"pattern": r"batch_worker\.py --queue", "value": 800}, proc)
    assert entries(result) == [(200, "batch", 0, 800)]


def test_children(proc):
    result, _w, _s = run({"pid": [101], "children": True, "value": -100}, proc)
    assert [entry["pid"] for entry in result["processes"]] == [101, 102]
    result, _w, _s = run({"pattern": "--queue low", "children": True, "value": 700}, proc)
    assert [entry["pid"] for entry in result["processes"]] == [200, 201]


def test_cgroup(proc):
    result, _w, _s = run({"cgroup": "/system.slice/postgresql.service", "value": -200}, proc)
    assert [entry["pid"] for entry in result["processes"]] == [100, 101, 102]
    result, _w, _s = run(
        {"cgroup": "/sys/fs/cgroup/memory/oomguard-test-1", "value": 5},
        proc,
        patches=[(oom_score_adj, "normalize_cgroup", lambda path: "/oomguard-test-1")],
    )
    assert [entry["pid"] for entry in result["processes"]] == [400]


def test_unit_from_systemd_control_group(proc):
    units = {
        "postgresql.service": {
            "LoadState": "loaded",
            "ActiveState": "active",
            "ControlGroup": "/system.slice/postgresql.service",
        }
    }
    result, _w, systemctl = run(
        {"unit": "postgresql.service", "value": -900}, proc, booted=True, systemctl=UnitSystemctl(units)
    )
    assert [entry["pid"] for entry in result["processes"]] == [100, 101, 102]
    argv = systemctl.calls[-1]
    assert argv[:2] == ["/usr/bin/systemctl", "show"] and argv[-2:] == ["--", "postgresql.service"]


def test_unit_inactive_has_no_processes(proc):
    units = {"postgresql.service": {"LoadState": "loaded", "ActiveState": "inactive", "ControlGroup": ""}}
    result, _w, _s = run(
        {"unit": "postgresql.service", "value": -900}, proc, booted=True, systemctl=UnitSystemctl(units)
    )
    assert result["failed"]
    assert result["msg"] == (
        "no process matches unit=postgresql.service; set missing_ok=true if that is expected (for example a stopped "
        "service)"
    )


def test_unit_without_systemd_matches_cgroup_paths(proc):
    result, _w, systemctl = run({"unit": "postgresql.service", "value": -900}, proc, booted=False)
    assert [entry["pid"] for entry in result["processes"]] == [100, 101, 102]
    assert systemctl.calls == []


def test_unit_systemctl_failure_falls_back(proc):
    result, warnings, _s = run(
        {"unit": "postgresql.service", "value": -900},
        proc,
        booted=True,
        systemctl=UnitSystemctl(failures={"show": (1, "", "Failed to connect to bus")}),
    )
    assert [entry["pid"] for entry in result["processes"]] == [100, 101, 102]
    assert warnings == [
        "cannot read the cgroup of postgresql.service from systemd (Failed to connect to bus); "
        "matching cgroup paths instead"
    ]


# -- kernel threads, kubepods, missing and vanished processes ----------------------------------------------------------


def test_kernel_threads_are_never_touched(proc):
    result, _w, _s = run({"pid": [2, 30, 100], "value": 10}, proc)
    assert [entry["pid"] for entry in result["processes"]] == [100]
    assert result["excluded"] == [
        {"pid": 2, "comm": "kthreadd", "reason": "kernel thread"},
        {"pid": 30, "comm": "kswapd0", "reason": "kernel thread"},
    ]
    assert read_adj(proc, 2) == read_adj(proc, 30) == 0
    result, _w, _s = run({"name": "kswapd0", "value": 10}, proc)
    assert result["failed"] and "no process matches name=kswapd0" in result["msg"]
    result, _w, _s = run({"pid": [2], "children": True, "value": 10, "missing_ok": True}, proc)
    assert result["processes"] == [] and read_adj(proc, 30) == 0


def test_kubepods_are_refused(proc):
    result, _w, _s = run({"pid": [100, 300, 301], "value": 10}, proc)
    assert result["failed"]
    assert result["msg"] == (
        "refusing to change oom_score_adj of 2 process(es) in kubelet-managed cgroups (kubepods): 300 (pause), "
        "301 (app). The kubelet sets these values from each pod's QoS class and owns them; set the pod's resources "
        "instead, or force=true to override"
    )
    assert [read_adj(proc, pid) for pid in (100, 300, 301)] == [0, -998, 1000]  # nothing written


def test_kubepods_with_force(proc):
    result, warnings, _s = run({"cgroup": "/kubepods", "value": 500, "force": True}, proc)
    assert [entry["pid"] for entry in result["processes"]] == [300, 301]
    assert warnings == ["changing oom_score_adj of 2 kubelet-managed process(es) because force=true"]


def test_missing_pid(proc):
    result, _w, _s = run({"pid": [100, 4242], "value": 10}, proc)
    assert result["failed"]
    assert result["msg"] == "no process with pid 4242; set missing_ok=true to ignore pids that do not exist"
    assert read_adj(proc, 100) == 0
    result, _w, _s = run({"pid": [100, 4242], "value": 10, "missing_ok": True}, proc)
    assert result["changed"] and result["missing"] == [4242]


def test_empty_selection(proc):
    result, _w, _s = run({"name": "nginx", "value": 10}, proc)
    assert result["failed"] and result["msg"].startswith("no process matches name=nginx; set missing_ok=true")
    result, _w, _s = run({"pattern": "nginx", "value": 10, "missing_ok": True}, proc)
    assert result["changed"] is False and result["processes"] == []


def gone_on(pids, real):
    def fake(pid, *args):
        if pid in pids:
            raise ProcessGone(pid)
        return real(pid, *args)

    return fake


def test_vanished_between_selection_and_write(proc):
    real = _live_oom_score.write_oom_score_adj
    result, _w, _s = run(
        {"name": "postgres", "value": 7}, proc, patches=[(_live_oom_score, "write_oom_score_adj", gone_on({101}, real))]
    )
    assert not result.get("failed")
    assert result["vanished"] == [{"pid": 101, "comm": "postgres"}]
    assert [entry["pid"] for entry in result["processes"]] == [100, 102]


def test_vanished_before_reading(proc):
    real = _live_oom_score.read_oom_score_adj
    result, _w, _s = run(
        {"pid": [100, 102], "value": 7}, proc, patches=[(_live_oom_score, "read_oom_score_adj", gone_on({100}, real))]
    )
    assert result["vanished"] == [{"pid": 100, "comm": "postgres"}]
    assert entries(result) == [(102, "postgres", 0, 7)]


def test_directory_removed_between_selection_and_write(proc):
    """The process exits after the plan: its /proc directory is gone when the value is written."""
    real = _live_oom_score.LiveScores.commit

    def exit_then_commit(self):
        for name in os.listdir(os.path.join(str(proc), "102")):
            os.unlink(os.path.join(str(proc), "102", name))
        os.rmdir(os.path.join(str(proc), "102"))
        real(self)

    result, _w, _s = run(
        {"name": "postgres", "value": 7}, proc, patches=[(_live_oom_score.LiveScores, "commit", exit_then_commit)]
    )
    assert not result.get("failed"), result
    assert result["vanished"] == [{"pid": 102, "comm": "postgres"}]
    assert entries(result) == [(100, "postgres", 0, 7), (101, "postgres", -900, 7)]


def test_zombie_is_vanished_not_changed(proc):
    add_process(proc, 500, "defunct", state="Z", cmdline=[])
    result, _w, _s = run({"pid": [500], "value": 300}, proc)
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["processes"] == []
    assert result["vanished"] == [{"pid": 500, "comm": "defunct"}]
    assert read_adj(proc, 500) == 0


def test_process_turning_zombie_during_the_write_is_vanished(proc):
    """Written, but the process had exited by then: reported as vanished, not as a change."""
    real = _live_oom_score.write_oom_score_adj

    def write_then_exit(pid, value, proc_root=None):
        real(pid, value, proc_root)
        stat = os.path.join(proc_root, str(pid), "stat")
        with open(stat) as handle:
            text = handle.read()
        with open(stat, "w") as handle:
            handle.write(text.replace(") S ", ") Z ", 1))

    result, _w, _s = run(
        {"pid": [100], "value": 9}, proc, patches=[(_live_oom_score, "write_oom_score_adj", write_then_exit)]
    )
    assert result["vanished"] == [{"pid": 100, "comm": "postgres"}]
    assert result["processes"] == [] and result["changed"] is False


def test_a_failed_write_puts_back_what_was_already_changed(proc):
    real = _live_oom_score.write_oom_score_adj

    def fail_on_102(pid, value, proc_root=None):
        if pid == 102 and value == 5:
            raise OSError(errno.EIO, "Input/output error")
        real(pid, value, proc_root)

    result, _w, _s = run(
        {"name": "postgres", "value": 5}, proc, patches=[(_live_oom_score, "write_oom_score_adj", fail_on_102)]
    )
    assert result["failed"]
    assert result["msg"] == (
        "cannot set oom_score_adj of pid 102 (postgres) from 0 to 5: Input/output error (errno 5); nothing was changed"
    )
    assert [read_adj(proc, pid) for pid in (100, 101, 102)] == [0, -900, 0]


def test_lowering_to_the_inherited_floor_is_tried_without_cap_sys_resource(proc):
    for pid in (100, 102):
        (proc / str(pid) / "oom_score_adj").write_text("500\n")
    result, _w, _s = run({"pid": [100, 102], "value": 0}, proc, capabilities=NO_CAP)
    assert not result.get("failed"), result
    assert [read_adj(proc, pid) for pid in (100, 102)] == [0, 0]


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_refused_lowering_to_the_floor_puts_everything_back(proc, check_mode):
    for pid in (100, 102):
        (proc / str(pid) / "oom_score_adj").write_text("500\n")
    real = _live_oom_score.write_oom_score_adj

    def floor_above_zero_for_102(pid, value, proc_root=None):
        if pid == 102 and value < 500:
            raise OSError(errno.EACCES, "Permission denied")
        real(pid, value, proc_root)

    result, _w, _s = run(
        {"pid": [100, 102], "value": 0},
        proc,
        check_mode=check_mode,
        capabilities=NO_CAP,
        patches=[(_live_oom_score, "write_oom_score_adj", floor_above_zero_for_102)],
    )
    if check_mode:  # the inherited floor cannot be read: check mode predicts the change
        assert not result.get("failed") and result["changed"] is True
    else:
        assert result["failed"]
        assert result["msg"] == (
            "cannot set oom_score_adj of pid 102 (postgres) from 500 to 0: the kernel refused it (below the floor "
            "the process inherited); going lower needs CAP_SYS_RESOURCE, which this process lacks (root in a "
            "container or a restricted VM); nothing was changed"
        )
    assert [read_adj(proc, pid) for pid in (100, 102)] == [500, 500]


def test_unreadable(proc):
    def unreadable(pid, proc=None):
        raise OSError(errno.EIO, "Input/output error")

    result, _w, _s = run(
        {"pid": [100], "value": 5}, proc, patches=[(_live_oom_score, "read_oom_score_adj", unreadable)]
    )
    assert (
        result["failed"]
        and result["msg"] == "cannot read oom_score_adj of pid 100 (postgres): Input/output error (errno 5)"
    )


# -- CAP_SYS_RESOURCE: lowering without it fails plainly, before anything is written, in check mode too -----------


NO_CAP_MESSAGE = (
    "cannot lower oom_score_adj to -5 for 100 (postgres) from 0, 102 (postgres) from 0: that needs "
    "CAP_SYS_RESOURCE, which this process lacks (root in a container or a restricted VM); nothing was changed"
)


@pytest.mark.parametrize("check_mode", [False, True])
def test_lowering_without_cap_sys_resource_fails_before_any_write(proc, check_mode):
    # 101 is at -900 and would be raised (allowed); 100 and 102 would be lowered (refused): nothing is written
    result, _w, _s = run({"name": "postgres", "value": -5}, proc, check_mode=check_mode, capabilities=NO_CAP)
    assert result["failed"]
    assert result["msg"] == NO_CAP_MESSAGE
    assert "become" not in result["msg"]
    assert [read_adj(proc, pid) for pid in (100, 101, 102)] == [0, -900, 0]
    assert result["changed"] is False and result["processes"] == []


def test_lowering_without_cap_as_a_user_says_become(proc):
    result, _w, _s = run(
        {"pid": [100], "value": -5},
        proc,
        capabilities=NO_CAP,
        patches=[(_live_oom_score.os, "geteuid", lambda: 1000)],
    )
    assert result["msg"] == (
        "cannot lower oom_score_adj to -5 for 100 (postgres) from 0: that needs CAP_SYS_RESOURCE, which this process "
        "lacks: run the task as root (become: true); nothing was changed"
    )


def test_raising_and_equal_values_need_no_cap_sys_resource(proc):
    result, _w, _s = run({"pid": [100, 101], "value": 0}, proc, capabilities=NO_CAP)
    assert not result.get("failed"), result
    assert entries(result) == [(100, "postgres", 0, 0), (101, "postgres", -900, 0)]
    assert read_adj(proc, 101) == 0


def test_lowering_with_cap_sys_resource(proc):
    result, _w, _s = run({"pid": [100], "value": -5}, proc, capabilities=ALL_CAPS)
    assert result["changed"] and read_adj(proc, 100) == -5


def test_unreadable_status_counts_as_no_capability(tmp_path):
    assert _live_oom_score.has_capability(24, str(tmp_path / "missing")) is False
    (tmp_path / "status").write_text("Name:\tx\n" + NO_CAP)
    assert _live_oom_score.has_capability(24, str(tmp_path / "status")) is False
    assert _live_oom_score.has_capability(23, str(tmp_path / "status")) is True


def test_another_users_process_fails_before_any_write(proc):
    real_access = os.access

    def access(path, mode):
        return False if path.endswith("/102/oom_score_adj") else real_access(path, mode)

    result, _w, _s = run(
        {"name": "postgres", "value": 5},
        proc,
        patches=[(_live_oom_score.os, "access", access), (_live_oom_score.os, "geteuid", lambda: 1000)],
    )
    assert result["failed"]
    assert result["msg"] == (
        "cannot set oom_score_adj to 5 for 102 (postgres) from 0: they belong to another user and this module runs "
        "as uid 1000; run the task as root (become: true); nothing was changed"
    )
    assert [read_adj(proc, pid) for pid in (100, 101, 102)] == [0, -900, 0]


# -- the process running this module and its ancestors -------------------------------------------------------------


def own_chain(proc, cgroup="/system.slice/app.service"):
    """Put this process and its parent into the fake /proc: python3 under a shell under ansible, in C(cgroup)."""
    add_process(proc, 600, "sshd", ppid=1, cmdline=["sshd: /usr/sbin/sshd"], cgroup=cgroup)
    add_process(proc, os.getppid(), "sh", ppid=600, cmdline=["/bin/sh", "-c", "python3"], cgroup=cgroup)
    add_process(
        proc,
        os.getpid(),
        "python3",
        ppid=os.getppid(),
        cmdline=["python3", "batch_worker"],
        cgroup=cgroup,
    )
    add_process(proc, 700, "app", ppid=600, cmdline=["app"], cgroup=cgroup)
    add_process(proc, 701, "app-child", ppid=os.getpid(), cmdline=["app-child"], cgroup=cgroup)


@pytest.mark.parametrize(
    "selector",
    [
        {"pid": [600]},
        {"cgroup": "/system.slice/app.service"},
        {"unit": "app.service"},
    ],
)
def test_children_never_reach_the_modules_own_process_chain(proc, selector):
    own_chain(proc)
    result, warnings, _s = run(dict(selector, children=True, value=300), proc)
    assert not result.get("failed"), result
    # 701 is a child of this very process: a descendant, not part of the chain up, so it is changed
    assert sorted(entry["pid"] for entry in result["processes"]) == [700, 701]
    assert sorted((entry["pid"], entry["reason"]) for entry in result["excluded"]) == sorted(
        [
            (600, "an ancestor of the process running this module"),
            (os.getppid(), "an ancestor of the process running this module"),
            (os.getpid(), "runs this module"),
        ]
    )
    assert [read_adj(proc, pid) for pid in (600, os.getppid(), os.getpid())] == [0, 0, 0]
    assert warnings and warnings[0].startswith("left 600 (sshd)")


def test_pattern_never_selects_the_module_or_its_parents(proc):
    add_process(proc, os.getppid(), "ansible", ppid=1, cmdline=["ansible", "-a", "pattern=batch_worker"])
    add_process(proc, os.getpid(), "python3", ppid=os.getppid(), cmdline=["python3", "batch_worker"])
    result, warnings, _s = run({"pattern": "batch_worker", "value": 800}, proc)
    assert [entry["pid"] for entry in result["processes"]] == [200, 201]
    assert [entry["pid"] for entry in result["excluded"]] == sorted([os.getpid(), os.getppid()])
    assert warnings == []  # matching ansible's own command line by text is expected, not worth a warning
    result, _w, _s = run({"name": "ansible", "value": 800, "missing_ok": True}, proc)
    assert result["processes"] == []
    result, _w, _s = run({"name": "ansible", "value": 800}, proc)
    assert result["msg"].startswith("no process matches name=ansible (1 matching process(es) were left alone")


def test_own_unit_with_persist_says_when_the_rest_gets_the_value(proc, tmp_path):
    own_chain(proc)
    args, _path = persist_args(tmp_path, unit="app.service", value=300)
    result, _w, _s = run(args, proc)
    assert result["restart_required"] is True
    chain = sorted([(600, "sshd"), (os.getppid(), "sh")])
    assert result["restart_reasons"] == [
        "pid %d (%s) gets OOMScoreAdjust=300 only when app.service next starts; it was left alone because it runs "
        "this module" % entry
        for entry in chain
    ]
    assert sorted(entry["pid"] for entry in result["processes"]) == [700, 701]


# -- pattern: command lines are capped, the selection has a time budget ----------------------------------------


def test_pattern_sees_only_the_first_4096_bytes(proc):
    filler = "java " * 130000  # 650 KB
    add_process(proc, 800, "java", cmdline=["/usr/bin/java", filler, "-Xmx512m"])
    add_process(proc, 801, "java", cmdline=["/usr/bin/java", "-Xmx512m", filler])
    result, _w, _s = run({"pattern": "java.*-Xmx", "value": 10}, proc, check_mode=True)
    assert not result.get("failed"), result
    assert [entry["pid"] for entry in result["processes"]] == [801]


def test_pattern_that_backtracks_forever_ends_at_the_budget(proc):
    add_process(proc, 802, "evil", cmdline=["evil", "a" * 28 + "!"])
    result, _w, _s = run({"pattern": "(a+)+$", "value": 10}, proc, patches=[(oom_score_adj, "SELECTION_BUDGET", 0.5)])
    assert result["failed"]
    assert result["msg"] == (
        "pattern '(a+)+$' did not finish within 0.5 s over the command lines of this host's processes (each cut to "
        "its first 4096 bytes): it backtracks too much, as nested quantifiers such as (a+)+ do; simplify it. "
        "Nothing was changed"
    )
    assert read_adj(proc, 802) == 0


def test_time_budget_is_reset_after_the_selection(proc):
    run({"pattern": "batch", "value": 10}, proc)
    import signal

    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.default_int_handler, None)


# -- the host lock ----------------------------------------------------------------------------------------------


def test_a_second_run_waits_for_the_lock_then_fails_naming_the_holder(proc, lock_path):
    holder = HostLock(lock_path, timeout=0)
    assert holder.acquire()
    try:
        result, _w, _s = run({"pid": [100], "value": 5, "lock_timeout": 0}, proc)
    finally:
        holder.release()
    assert result["failed"]
    assert result["msg"].startswith("another oomguard.memory task is changing this host: pid %d (" % os.getpid())
    assert result["msg"].endswith(
        "holds %s and did not release it within lock_timeout=0 seconds; run these tasks one after another, or "
        "raise lock_timeout" % lock_path
    )
    assert read_adj(proc, 100) == 0
    result, _w, _s = run({"pid": [100], "value": 5, "lock_timeout": 0}, proc)  # released: runs
    assert result["changed"] and read_adj(proc, 100) == 5


def test_lock_is_released_after_a_failure(proc, lock_path):
    result, _w, _s = run({"pid": [4242], "value": 5}, proc)
    assert result["failed"]
    other = HostLock(lock_path, timeout=0)
    assert other.acquire()
    other.release()


def test_without_access_to_the_lock_file_the_run_goes_on(proc, monkeypatch, tmp_path):
    monkeypatch.setattr(_host_lock, "LOCK_PATH", str(tmp_path / "no-such-dir" / "oomguard.lock"))
    result, _w, _s = run({"pid": [100], "value": 5}, proc)
    assert result["changed"]


# -- validation: a clear message, nothing written ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        ({"pid": [100], "value": 1001}, "value must be an integer from -1000 to 1000; got 1001"),
        ({"pid": [100], "value": -1001}, "value must be an integer from -1000 to 1000; got -1001"),
        (
            {"pid": [100], "value": 10**30},
            "value must be an integer from -1000 to 1000; got 1000000000000000000000000000000",
        ),
        ({"pid": [100], "value": True}, "value must be an integer from -1000 to 1000; got True"),
        ({"pid": [100], "value": 1.5}, "argument 'value' is of type float"),
        ({"pid": [100], "value": "ten"}, "argument 'value' is of type str"),
        ({"pid": [100], "value": [1]}, "argument 'value' is of type list"),
        ({"pid": [100], "value": -1000}, "value=-1000 makes the selected processes unkillable"),
        ({"pid": [100, 0], "value": 1}, "pid must be positive integers; got 0"),
        ({"pid": [True], "value": 1}, "pid must be positive integers; got True"),
        ({"pid": [], "value": 1}, "pid is an empty list"),
        ({"name": "a-very-long-process-name", "value": 1}, "longer than 15 characters"),
        ({"name": "/usr/bin/postgres", "value": 1}, "is not a process name; use pattern"),
        ({"name": "", "value": 1}, "is not a process name"),
        ({"pattern": "batch(", "value": 1}, "pattern 'batch(' is not a valid regular expression"),
        ({"pattern": "(" * 2000 + ")" * 2000, "value": 1}, "is not a valid regular expression: maximum recursion"),
        ({"pattern": "a{4294967296}", "value": 1}, "is not a valid regular expression: the repetition number"),
        ({"cgroup": "system.slice", "value": 1}, "must be an absolute path"),
        ({"cgroup": "/", "value": 1}, "is the root cgroup and would select every process"),
        ({"cgroup": "/sys/fs/cgroup/memory", "value": 1}, "is the root cgroup"),
        ({"unit": "postgresql", "value": 1}, "unit: unit name 'postgresql' has no valid type suffix"),
        ({"unit": "pg;reboot.service", "value": 1}, "characters systemd does not allow"),
        ({"unit": "caf\u00e9.service", "value": 1}, "characters systemd does not allow ('\u00e9')"),
        ({"unit": "a" * 250 + ".service", "value": 1}, "systemd allows at most 255"),
        (
            {"pid": [100], "name": "postgres", "value": 1},
            "parameters are mutually exclusive: pid|name|pattern|unit|cgroup",
        ),
        ({"value": 1}, "one of the following is required: pid, name, pattern, unit, cgroup"),
        ({"pid": [100]}, "missing required arguments: value"),
        ({"pid": [100], "value": 1, "persist": True}, "persist is True but all of the following are missing: unit"),
        ({"unit": "a.slice", "value": 1, "persist": True}, "persist=true cannot write OOMScoreAdjust= for a.slice"),
        (
            {"unit": "a" * 246 + ".service", "value": 1, "persist": True},
            "its drop-in directory UNIT.d would be longer than the 255 bytes",
        ),
        ({"unit": "a.service", "value": 1, "persist": True, "unit_dir": "etc/systemd"}, "must be an absolute path"),
        ({"unit": "a.service", "value": 1, "persist": True, "unit_dir": "/nonexistent"}, "does not exist"),
        ({"unit": "a.service", "value": 1, "apply": True}, "apply=true reloads systemd"),
        ({"pid": [100], "value": 1, "lock_timeout": -1}, "lock_timeout must be a number of seconds from 0 to 3600"),
        ({"pid": [100], "value": 1, "lock_timeout": 10**9}, "lock_timeout must be a number of seconds"),
        ({"pid": [100], "value": 1, "dropin_name": "x.conf"}, "Unsupported parameters"),
        ({"pid": ["abc"], "value": 1}, "pid"),
    ],
)
def test_validation_errors(proc, tmp_path, args, message):
    args = dict(args)
    args.setdefault("unit_dir", str(tmp_path / "system"))
    (tmp_path / "system").mkdir()
    result, _w, _s = run(args, proc)
    assert result["failed"], result
    assert message in result["msg"]
    assert [read_adj(proc, pid) for pid in (100, 101, 102, 200)] == [0, -900, 0, 0]
    assert os.listdir(str(tmp_path / "system")) == []


def test_unkillable_needs_allow(proc):
    result, _w, _s = run({"pid": [100], "value": -1000, "allow_unkillable": True}, proc)
    assert result["changed"] and read_adj(proc, 100) == -1000


# -- persist -----------------------------------------------------------------------------------------------------


def persist_args(tmp_path, **extra):
    unit_dir = tmp_path / "system"
    unit_dir.mkdir(exist_ok=True)
    args = {"unit": "postgresql.service", "value": -900, "persist": True, "unit_dir": str(unit_dir)}
    args.update(extra)
    return args, unit_dir / (args["unit"] + ".d") / "50-oomguard-oom-score-adj.conf"


DROPIN = (
    "# Managed by Ansible (oomguard.memory.oom_score_adj or oomguard.memory.systemd_memory). Local changes will be "
    "overwritten.\n"
    "[Service]\n"
    "OOMScoreAdjust=-900\n"
)


def test_persist_writes_dropin(proc, tmp_path):
    args, path = persist_args(tmp_path)
    result, _w, _s = run(args, proc)
    assert result["changed"] is True
    assert path.read_text() == DROPIN == render_score_dropin("postgresql.service", "service", -900)
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    assert result["dropin"] == str(path)
    # the running processes have the value now: no restart needed, but systemd has not read the file yet
    assert result["restart_required"] is False and result["restart_reasons"] == []
    assert result["reload_required"] is True and result["applied"] is False
    assert [read_adj(proc, pid) for pid in (100, 101, 102)] == [-900, -900, -900]
    result, _w, _s = run(args, proc)
    assert result["changed"] is False and result["reload_required"] is False


def test_persist_dropin_only_changes(proc, tmp_path):
    args, path = persist_args(tmp_path)
    run(args, proc)
    path.unlink()
    result, _w, _s = run(args, proc)
    assert result["changed"] is True and path.exists()
    assert all(entry["before"] == entry["after"] for entry in result["processes"])


def test_persist_stopped_unit_with_missing_ok(proc, tmp_path):
    args, path = persist_args(tmp_path, unit="stopped.service", missing_ok=True)
    result, _w, _s = run(args, proc)
    assert result["changed"] and result["processes"] == []
    assert path.exists()


def test_persist_check_mode_and_diff(proc, tmp_path):
    args, path = persist_args(tmp_path)
    result, _w, _s = run(args, proc, check_mode=True, diff=True)
    assert result["changed"] is True and not path.exists()
    assert isinstance(result["diff"], list) and len(result["diff"]) == 2
    assert result["diff"][0]["before_header"] == "oom_score_adj (before)"
    assert result["diff"][1] == {
        "before": "",
        "after": DROPIN,
        "before_header": str(path) + " (content)",
        "after_header": str(path) + " (content)",
    }
    assert read_adj(proc, 100) == 0


def test_persist_refuses_foreign_dropin(proc, tmp_path):
    args, path = persist_args(tmp_path)
    path.parent.mkdir()
    path.write_text("[Service]\nOOMScoreAdjust=5\n")
    result, _w, _s = run(args, proc)
    assert result["failed"] and "is not managed by oomguard.memory" in result["msg"]
    assert path.read_text() == "[Service]\nOOMScoreAdjust=5\n"
    assert read_adj(proc, 100) == 0  # checked before the processes were changed


def test_persist_fails_before_the_dropin_when_lowering_is_refused(proc, tmp_path):
    args, path = persist_args(tmp_path)
    result, _w, _s = run(args, proc, capabilities=NO_CAP)
    assert result["failed"] and "needs CAP_SYS_RESOURCE" in result["msg"]
    assert not path.parent.exists()


# -- apply: daemon-reload, the same rule as systemd_memory's ---------------------------------------------------------


def reloads(systemctl):
    return systemctl.calls.count(["/usr/bin/systemctl", "daemon-reload"])


def test_apply_reloads_when_the_dropin_changed(proc, tmp_path):
    systemctl = UnitSystemctl(unit_dir=tmp_path / "system")
    args, _path = persist_args(tmp_path, apply=True)
    result, warnings, _s = run(args, proc, booted=True, systemctl=systemctl)
    assert result["applied"] is True and result["reload_required"] is False and result["changed"] is True
    assert reloads(systemctl) == 1
    systemctl.overrides["OOMScoreAdjust"] = "-900"
    result, warnings, _s = run(args, proc, booted=True, systemctl=systemctl)
    assert result["changed"] is False and result["applied"] is False
    assert reloads(systemctl) == 1 and warnings == []
    systemctl.need_reload = "yes"  # someone else changed a unit file
    result, _w, _s = run(args, proc, booted=True, systemctl=systemctl)
    assert result["changed"] is True and result["applied"] is True and reloads(systemctl) == 2


def test_apply_check_mode_does_not_reload(proc, tmp_path):
    systemctl = UnitSystemctl(unit_dir=tmp_path / "system")
    args, path = persist_args(tmp_path, apply=True)
    result, _w, _s = run(args, proc, booted=True, check_mode=True, systemctl=systemctl)
    assert result["applied"] is True and reloads(systemctl) == 0 and not path.exists()


def test_apply_warns_when_a_dropin_with_higher_precedence_wins(proc, tmp_path):
    systemctl = UnitSystemctl(unit_dir=tmp_path / "system")
    systemctl.overrides["OOMScoreAdjust"] = "100"
    args, path = persist_args(tmp_path, apply=True)
    _result, warnings, _s = run(args, proc, booted=True, systemctl=systemctl)
    assert warnings == [
        "postgresql.service: systemd reports OOMScoreAdjust=100 but %s sets -900; a drop-in with higher precedence "
        "overrides it" % path
    ]


def test_apply_reload_failure(proc, tmp_path):
    systemctl = UnitSystemctl(failures={"daemon-reload": (1, "", "Failed to reload daemon: Access denied")})
    args, path = persist_args(tmp_path, apply=True)
    result, _w, _s = run(args, proc, booted=True, systemctl=systemctl)
    assert result["failed"]
    assert result["msg"] == (
        "systemctl daemon-reload failed after writing %s: Failed to reload daemon: Access denied" % path
    )


def test_apply_without_systemd_warns(proc, tmp_path):
    args, _path = persist_args(tmp_path, apply=True)
    result, warnings, systemctl = run(args, proc, booted=False)
    assert result["changed"] and result["applied"] is False and result["reload_required"] is True
    assert warnings == [
        "apply=true: systemd is not running on this host (or systemctl is missing), so the drop-in for "
        "postgresql.service takes effect when systemd next starts"
    ]
    assert systemctl.calls == []


def test_main(proc):
    with open("/proc/self/oom_score_adj") as handle:
        current = int(handle.read())
    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    try:
        result, _w = run_module(
            oom_score_adj.main,
            {"pid": [child], "value": current, "missing_ok": True},
            patches=[(_host_lock, "LOCK_PATH", str(proc / "lock"))],
        )
    finally:
        os.kill(child, 9)
        os.waitpid(child, 0)
    assert result["processes"] == [
        {"pid": child, "comm": result["processes"][0]["comm"], "before": current, "after": current}
    ]
    assert result["changed"] is False
