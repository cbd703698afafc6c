# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of oom_score_adj against a fake /proc tree of invented processes."""

from __future__ import annotations

import errno
import os
import sys
from unittest import mock

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.oomguard.memory.plugins.module_utils._proc import ProcessGone
from ansible_collections.oomguard.memory.plugins.modules import oom_score_adj
from ansible_collections.oomguard.memory.plugins.modules.oom_score_adj import OomScoreAdj, build_module

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "module_utils"))
from fakeproc import add_process, read_adj

KUBE = "/kubepods/burstable/pod1234abcd-0000-1111-2222-333344445555/" + "b" * 64


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


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
        memory="/system.slice/postgresql.service",
        systemd="/system.slice/postgresql.service",
    )
    add_process(
        root,
        101,
        "postgres",
        ppid=100,
        cmdline=["postgres: checkpointer"],
        adj=-900,
        memory="/system.slice/postgresql.service",
        systemd="/system.slice/postgresql.service",
    )
    add_process(
        root,
        102,
        "postgres",
        ppid=101,
        cmdline=["postgres: walwriter"],
        memory="/system.slice/postgresql.service",
        systemd="/system.slice/postgresql.service",
    )
    add_process(root, 200, "batch", cmdline=["python3", "batch_worker.py", "--queue", "low"])
    add_process(root, 201, "batch", ppid=200, cmdline=["python3", "batch_worker.py", "--child"])
    add_process(root, 300, "pause", memory=KUBE, systemd=KUBE, adj=-998)
    add_process(root, 301, "app", memory=KUBE, systemd=KUBE, adj=1000)
    add_process(root, 400, "hog", memory="/oomguard-test-1", systemd="/user.slice")
    return root


def run(args, proc, check_mode=False, diff=False, booted=False, systemctl_output=None, patches=()):
    """Run the module on the fake /proc; return (result, warnings, run_command mock)."""
    module_args = dict(args)
    module_args["_ansible_check_mode"] = check_mode
    module_args["_ansible_diff"] = diff
    warnings = []

    def exit_json(self, **kwargs):
        raise ExitJson(kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs.update(msg=msg, failed=True)
        raise FailJson(kwargs)

    run_command = mock.Mock(return_value=(0, systemctl_output or "", ""))
    with patch_module_args(module_args), mock.patch.multiple(
        AnsibleModule,
        exit_json=exit_json,
        fail_json=fail_json,
        warn=lambda self, message: warnings.append(message),
        get_bin_path=mock.Mock(return_value="/usr/bin/systemctl"),
        run_command=run_command,
    ), mock.patch.object(oom_score_adj, "systemd_booted", return_value=booted):
        for target, name, replacement in patches:
            mock.patch.object(target, name, replacement).start()
        try:
            module = build_module()
            task = OomScoreAdj(module, proc=str(proc))
            task.run()
            module.exit_json(**task.result)
        except (ExitJson, FailJson) as exc:
            return exc.args[0], warnings, run_command
        finally:
            mock.patch.stopall()
    raise AssertionError("the module neither exited nor failed")


def entries(result):
    return [(entry["pid"], entry["comm"], entry["before"], entry["after"]) for entry in result["processes"]]


# -- selection and changes -----------------------------------------------------------------------------------------


def test_pid(proc):
    result, warnings, _rc = run({"pid": [102, 100], "value": -500}, proc)
    assert result["changed"] is True
    assert entries(result) == [(100, "postgres", 0, -500), (102, "postgres", 0, -500)]
    assert read_adj(proc, 100) == read_adj(proc, 102) == -500
    assert read_adj(proc, 101) == -900
    assert result["vanished"] == result["excluded"] == result["missing"] == []
    assert result["restart_required"] is False and result["restart_reasons"] == []
    assert "dropin" not in result and warnings == []


def test_idempotent(proc):
    run({"pid": [100], "value": -500}, proc)
    result, _w, _rc = run({"pid": [100], "value": -500}, proc)
    assert result["changed"] is False
    assert entries(result) == [(100, "postgres", -500, -500)]


def test_check_mode(proc):
    result, _w, _rc = run({"name": "postgres", "value": 100}, proc, check_mode=True)
    assert result["changed"] is True
    assert entries(result) == [(100, "postgres", 0, 100), (101, "postgres", -900, 100), (102, "postgres", 0, 100)]
    assert [read_adj(proc, pid) for pid in (100, 101, 102)] == [0, -900, 0]


def test_diff(proc):
    result, _w, _rc = run({"name": "postgres", "value": -900}, proc, diff=True)
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
    result, _w, _rc = run({"name": "batch", "value": 800}, proc)
    assert [entry["pid"] for entry in result["processes"]] == [200, 201]


def test_pattern_on_full_command_line(proc):
    result, _w, _rc = run({"pattern": r"batch_worker\.py --queue", "value": 800}, proc)
    assert entries(result) == [(200, "batch", 0, 800)]


def test_pattern_never_selects_the_module_or_its_parents(proc):
    add_process(proc, os.getppid(), "ansible", ppid=1, cmdline=["ansible", "-a", "pattern=batch_worker"])
    add_process(proc, os.getpid(), "python3", ppid=os.getppid(), cmdline=["python3", "batch_worker"])
    result, _w, _rc = run({"pattern": "batch_worker", "value": 800}, proc)
    assert [entry["pid"] for entry in result["processes"]] == [200, 201]
    result, _w, _rc = run({"name": "ansible", "value": 800, "missing_ok": True}, proc)
    assert result["processes"] == []


def test_children(proc):
    result, _w, _rc = run({"pid": [101], "children": True, "value": -100}, proc)
    assert [entry["pid"] for entry in result["processes"]] == [101, 102]
    result, _w, _rc = run({"pattern": "--queue low", "children": True, "value": 700}, proc)
    assert [entry["pid"] for entry in result["processes"]] == [200, 201]


def test_cgroup(proc):
    result, _w, _rc = run({"cgroup": "/system.slice/postgresql.service", "value": -200}, proc)
    assert [entry["pid"] for entry in result["processes"]] == [100, 101, 102]
    result, _w, _rc = run(
        {"cgroup": "/sys/fs/cgroup/memory/oomguard-test-1", "value": 5},
        proc,
        patches=[(oom_score_adj, "normalize_cgroup", lambda path: "/oomguard-test-1")],
    )
    assert [entry["pid"] for entry in result["processes"]] == [400]


def test_unit_from_systemd_control_group(proc):
    output = (
        "Id=postgresql.service\nLoadState=loaded\nActiveState=active\nControlGroup=/system.slice/postgresql.service\n"
    )
    result, _w, run_command = run(
        {"unit": "postgresql.service", "value": -900}, proc, booted=True, systemctl_output=output
    )
    assert [entry["pid"] for entry in result["processes"]] == [100, 101, 102]
    argv = run_command.call_args.args[0]
    assert argv[:2] == ["/usr/bin/systemctl", "show"] and argv[-2:] == ["--", "postgresql.service"]


def test_unit_inactive_has_no_processes(proc):
    output = "Id=postgresql.service\nLoadState=loaded\nActiveState=inactive\nControlGroup=\n"
    result, _w, _rc = run({"unit": "postgresql.service", "value": -900}, proc, booted=True, systemctl_output=output)
    assert result["failed"]
    assert result["msg"] == (
        "no process matches unit=postgresql.service; set missing_ok=true if that is expected (for example a stopped "
        "service)"
    )


def test_unit_without_systemd_matches_cgroup_paths(proc):
    result, _w, run_command = run({"unit": "postgresql.service", "value": -900}, proc, booted=False)
    assert [entry["pid"] for entry in result["processes"]] == [100, 101, 102]
    run_command.assert_not_called()


def test_unit_systemctl_failure_falls_back(proc):
    result, warnings, _rc = run(
        {"unit": "postgresql.service", "value": -900},
        proc,
        booted=True,
        patches=[(AnsibleModule, "run_command", mock.Mock(return_value=(1, "", "Failed to connect to bus")))],
    )
    assert [entry["pid"] for entry in result["processes"]] == [100, 101, 102]
    assert warnings == [
        "cannot read the cgroup of postgresql.service from systemd (Failed to connect to bus); "
        "matching cgroup paths instead"
    ]


# -- kernel threads, kubepods, missing and vanished processes ----------------------------------------------------------


def test_kernel_threads_are_never_touched(proc):
    result, _w, _rc = run({"pid": [2, 30, 100], "value": 10}, proc)
    assert [entry["pid"] for entry in result["processes"]] == [100]
    assert result["excluded"] == [
        {"pid": 2, "comm": "kthreadd", "reason": "kernel thread"},
        {"pid": 30, "comm": "kswapd0", "reason": "kernel thread"},
    ]
    assert read_adj(proc, 2) == read_adj(proc, 30) == 0
    result, _w, _rc = run({"name": "kswapd0", "value": 10}, proc)
    assert result["failed"] and "no process matches name=kswapd0" in result["msg"]
    result, _w, _rc = run({"pid": [2], "children": True, "value": 10, "missing_ok": True}, proc)
    assert result["processes"] == [] and read_adj(proc, 30) == 0


def test_kubepods_are_refused(proc):
    result, _w, _rc = run({"pid": [100, 300, 301], "value": 10}, proc)
    assert result["failed"]
    assert result["msg"] == (
        "refusing to change oom_score_adj of 2 process(es) in kubelet-managed cgroups (kubepods): 300 (pause), "
        "301 (app). The kubelet sets these values from each pod's QoS class and owns them; set the pod's resources "
        "instead, or force=true to override"
    )
    assert [read_adj(proc, pid) for pid in (100, 300, 301)] == [0, -998, 1000]  # nothing written


def test_kubepods_with_force(proc):
    result, warnings, _rc = run({"cgroup": "/kubepods", "value": 500, "force": True}, proc)
    assert [entry["pid"] for entry in result["processes"]] == [300, 301]
    assert warnings == ["changing oom_score_adj of 2 kubelet-managed process(es) because force=true"]


def test_missing_pid(proc):
    result, _w, _rc = run({"pid": [100, 4242], "value": 10}, proc)
    assert result["failed"]
    assert result["msg"] == "no process with pid 4242; set missing_ok=true to ignore pids that do not exist"
    assert read_adj(proc, 100) == 0
    result, _w, _rc = run({"pid": [100, 4242], "value": 10, "missing_ok": True}, proc)
    assert result["changed"] and result["missing"] == [4242]


def test_empty_selection(proc):
    result, _w, _rc = run({"name": "nginx", "value": 10}, proc)
    assert result["failed"] and result["msg"].startswith("no process matches name=nginx; set missing_ok=true")
    result, _w, _rc = run({"pattern": "nginx", "value": 10, "missing_ok": True}, proc)
    assert result["changed"] is False and result["processes"] == []


def gone_on(pids, real):
    def fake(pid, *args):
        if pid in pids:
            raise ProcessGone(pid)
        return real(pid, *args)

    return fake


def test_vanished_between_selection_and_write(proc):
    real = oom_score_adj.write_oom_score_adj
    result, _w, _rc = run(
        {"name": "postgres", "value": 7}, proc, patches=[(oom_score_adj, "write_oom_score_adj", gone_on({101}, real))]
    )
    assert not result.get("failed")
    assert result["vanished"] == [{"pid": 101, "comm": "postgres"}]
    assert [entry["pid"] for entry in result["processes"]] == [100, 102]


def test_vanished_before_reading(proc):
    real = oom_score_adj.read_oom_score_adj
    result, _w, _rc = run(
        {"pid": [100, 102], "value": 7}, proc, patches=[(oom_score_adj, "read_oom_score_adj", gone_on({100}, real))]
    )
    assert result["vanished"] == [{"pid": 100, "comm": "postgres"}]
    assert entries(result) == [(102, "postgres", 0, 7)]


def test_permission_denied(proc):
    def denied(pid, value, proc=None):
        raise OSError(errno.EACCES, "Permission denied")

    result, _w, _rc = run({"pid": [100], "value": -5}, proc, patches=[(oom_score_adj, "write_oom_score_adj", denied)])
    assert result["failed"]
    assert result["msg"] == (
        "cannot set oom_score_adj of pid 100 (postgres) from 0 to -5: Permission denied (errno 13); lowering it "
        "needs CAP_SYS_RESOURCE (run with become=true)"
    )
    assert result["processes"] == []


def test_unreadable(proc):
    def unreadable(pid, proc=None):
        raise OSError(errno.EIO, "Input/output error")

    result, _w, _rc = run({"pid": [100], "value": 5}, proc, patches=[(oom_score_adj, "read_oom_score_adj", unreadable)])
    assert (
        result["failed"]
        and result["msg"] == "cannot read oom_score_adj of pid 100 (postgres): Input/output error (errno 5)"
    )


# -- validation: a clear message, nothing written ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        ({"pid": [100], "value": 1001}, "value must be from -1000 to 1000; got 1001"),
        ({"pid": [100], "value": -1001}, "value must be from -1000 to 1000; got -1001"),
        ({"pid": [100], "value": -1000}, "value=-1000 makes the selected processes unkillable"),
        ({"pid": [100, 0], "value": 1}, "pid must be positive; got 0"),
        ({"pid": [], "value": 1}, "pid is an empty list"),
        ({"name": "a-very-long-process-name", "value": 1}, "longer than 15 characters"),
        ({"name": "/usr/bin/postgres", "value": 1}, "is not a process name; use pattern"),
        ({"pattern": "batch(", "value": 1}, "pattern 'batch(' is not a valid regular expression"),
        ({"cgroup": "system.slice", "value": 1}, "must be an absolute path"),
        ({"cgroup": "/", "value": 1}, "is the root cgroup and would select every process"),
        ({"unit": "postgresql", "value": 1}, "unit: unit name 'postgresql' has no valid type suffix"),
        ({"unit": "pg;reboot.service", "value": 1}, "characters systemd does not allow"),
        (
            {"pid": [100], "name": "postgres", "value": 1},
            "parameters are mutually exclusive: pid|name|pattern|unit|cgroup",
        ),
        ({"value": 1}, "one of the following is required: pid, name, pattern, unit, cgroup"),
        ({"pid": [100]}, "missing required arguments: value"),
        ({"pid": [100], "value": 1, "persist": True}, "persist is True but all of the following are missing: unit"),
        ({"unit": "a.slice", "value": 1, "persist": True}, "persist=true cannot write OOMScoreAdjust= for a.slice"),
        (
            {"unit": "a.service", "value": 1, "persist": True, "dropin_name": "override.conf"},
            "reserved for administrators",
        ),
        ({"pid": ["abc"], "value": 1}, "pid"),
    ],
)
def test_validation_errors(proc, tmp_path, args, message):
    args = dict(args, unit_dir=str(tmp_path / "system"))
    (tmp_path / "system").mkdir()
    result, _w, _rc = run(args, proc)
    assert result["failed"], result
    assert message in result["msg"]
    assert [read_adj(proc, pid) for pid in (100, 101, 102, 200)] == [0, -900, 0, 0]
    assert os.listdir(str(tmp_path / "system")) == []


def test_unkillable_needs_allow(proc):
    result, _w, _rc = run({"pid": [100], "value": -1000, "allow_unkillable": True}, proc)
    assert result["changed"] and read_adj(proc, 100) == -1000


# -- persist -----------------------------------------------------------------------------------------------------


def persist_args(tmp_path, **extra):
    unit_dir = tmp_path / "system"
    unit_dir.mkdir(exist_ok=True)
    args = {"unit": "postgresql.service", "value": -900, "persist": True, "unit_dir": str(unit_dir)}
    args.update(extra)
    return args, unit_dir / "postgresql.service.d" / "50-oomguard-oom-score-adj.conf"


DROPIN = (
    "# Managed by Ansible (oomguard.memory.oom_score_adj). Local changes will be overwritten.\n"
    "[Service]\n"
    "OOMScoreAdjust=-900\n"
)


def test_persist_writes_dropin(proc, tmp_path):
    args, path = persist_args(tmp_path)
    result, _w, _rc = run(args, proc)
    assert result["changed"] is True
    assert path.read_text() == DROPIN
    assert result["dropin"] == str(path)
    assert result["restart_required"] is True
    assert result["restart_reasons"] == [
        "OOMScoreAdjust=-900 is applied by systemd when postgresql.service next starts (after a daemon-reload)"
    ]
    assert [read_adj(proc, pid) for pid in (100, 101, 102)] == [-900, -900, -900]
    result, _w, _rc = run(args, proc)
    assert result["changed"] is False and result["restart_required"] is False


def test_persist_dropin_only_changes(proc, tmp_path):
    args, path = persist_args(tmp_path)
    run(args, proc)
    path.unlink()
    result, _w, _rc = run(args, proc)
    assert result["changed"] is True and path.exists()
    assert all(entry["before"] == entry["after"] for entry in result["processes"])


def test_persist_stopped_unit_with_missing_ok(proc, tmp_path):
    args, _path = persist_args(tmp_path, unit="stopped.service", missing_ok=True)
    result, _w, _rc = run(args, proc)
    assert result["changed"] and result["processes"] == []
    assert (tmp_path / "system" / "stopped.service.d" / "50-oomguard-oom-score-adj.conf").exists()


def test_persist_check_mode_and_diff(proc, tmp_path):
    args, path = persist_args(tmp_path)
    result, _w, _rc = run(args, proc, check_mode=True, diff=True)
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
    result, _w, _rc = run(args, proc)
    assert result["failed"] and "is not managed by oomguard.memory" in result["msg"]
    assert path.read_text() == "[Service]\nOOMScoreAdjust=5\n"


def test_main(proc):
    with open("/proc/self/oom_score_adj") as handle:
        current = int(handle.read())  # set the value it already has: the test changes nothing
    with patch_module_args({"pid": [os.getpid()], "value": current, "missing_ok": True}), mock.patch.object(
        AnsibleModule, "exit_json", side_effect=ExitJson
    ) as exit_json, pytest.raises(ExitJson):
        oom_score_adj.main()
    result = exit_json.call_args.kwargs
    assert result["processes"][0]["pid"] == os.getpid()
    assert result["changed"] is False
