# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of systemd_memory: drop-ins are written into a scratch unit_dir, systemctl is a fake."""

from __future__ import annotations

import os
import stat
from unittest import mock

import pytest
from fakeproc import add_process, read_adj
from harness import FakeSystemctl, run_module, task_entry

from ansible_collections.oomguard.memory.plugins.module_utils import _live_oom_score, _process_select
from ansible_collections.oomguard.memory.plugins.module_utils._dropin import parse_dropin
from ansible_collections.oomguard.memory.plugins.modules import systemd_memory
from ansible_collections.oomguard.memory.plugins.modules.systemd_memory import SystemdMemory, build_module

GiB = 1024**3
MEMTOTAL = 16 * GiB
DEFAULTS = {
    "MemoryMax": "infinity",
    "MemoryHigh": "infinity",
    "MemoryLow": "0",
    "MemoryMin": "0",
    "OOMScoreAdjust": "0",
    "OOMPolicy": "stop",
}


class FakeSystemd(FakeSystemctl):
    """A systemd that loads every unit and reads the drop-ins of unit_dir on daemon-reload (harness.FakeSystemctl);
    systemd-oomd.service is C(oomd) (its ActiveState, or None: not installed)."""

    def __init__(self, unit_dir, version="252", loaded=True, oomd="active", reload_rc=0):
        failures = {"daemon-reload": (reload_rc, "", "Failed to reload daemon: Access denied")} if reload_rc else None
        super().__init__(version=version, unit_dir=unit_dir, missing="", failures=failures)
        self.loaded = loaded
        self.oomd = oomd

    def properties(self, unit):
        if unit == "systemd-oomd.service":
            return None if self.oomd is None else {"LoadState": "loaded", "ActiveState": self.oomd}
        if not self.loaded:
            return None
        return dict(DEFAULTS, LoadState="loaded", ActiveState="active")


@pytest.fixture
def unit_dir(tmp_path):
    directory = tmp_path / "system"
    directory.mkdir()
    return directory


@pytest.fixture
def host(tmp_path):
    """Facts of the pretend host: systemd runs, cgroup v2, 16 GiB RAM, CAP_SYS_RESOURCE, an empty /proc."""
    proc = tmp_path / "proc"
    proc.mkdir()
    return {
        "booted": True,
        "cgroup": "2",
        "memtotal": MEMTOTAL,
        "systemctl": "/usr/bin/systemctl",
        "proc": str(proc),
        "can_lower": True,
    }


def run(args, unit_dir, host, systemd=None, check_mode=False, diff=False):
    """Run the module (harness.run_module); return (result dict, warnings, systemd)."""
    systemd = systemd or FakeSystemd(str(unit_dir))
    result, warnings = run_module(
        task_entry(build_module, SystemdMemory, proc=host["proc"]),
        {"unit_dir": str(unit_dir), **args},
        check_mode=check_mode,
        diff=diff,
        commands={"systemctl": systemd if host["systemctl"] else None},
        patches=[
            (systemd_memory, "systemd_booted", lambda: host["booted"]),
            (_process_select, "systemd_booted", lambda: host["booted"]),
            (systemd_memory, "cgroup_version", lambda: host["cgroup"]),
            (systemd_memory, "read_memtotal", lambda: host["memtotal"]),
            (systemd_memory, "unified_mount", lambda: host.get("unified")),
            (_live_oom_score, "has_capability", lambda *_args: host["can_lower"]),
        ],
    )
    return result, warnings, systemd


def dropin_file(unit_dir, unit="app.service", name="50-oomguard-memory.conf"):
    return unit_dir / (unit + ".d") / name


EXPECTED = (
    "# Managed by Ansible (oomguard.memory.systemd_memory). Local changes will be overwritten.\n"
    "[Service]\n"
    "MemoryMax=2G\n"
    "MemoryHigh=1536M\n"
    "OOMPolicy=stop\n"
)
ARGS = {"unit": "app.service", "memory_max": "2G", "memory_high": "1.5G", "oom_policy": "stop"}


# -- present: create, idempotence, check mode, diff --------------------------------------------------------------


def test_create(unit_dir, host):
    result, warnings, systemd = run(ARGS, unit_dir, host)
    assert not result.get("failed"), result
    assert result["changed"] is True
    path = dropin_file(unit_dir)
    assert path.read_text() == EXPECTED
    assert result["path"] == str(path)
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o755
    assert result["settings"] == {"MemoryMax": "2G", "MemoryHigh": "1536M", "OOMPolicy": "stop"}
    assert result["resolved"] == {"memory_max": 2 * GiB, "memory_high": 3 * GiB // 2}
    assert result["reload_required"] is True
    assert result["applied"] is False
    assert result["restart_required"] is False
    assert "diff" not in result
    assert warnings == []
    assert ["/usr/bin/systemctl", "daemon-reload"] not in systemd.calls  # no reload unless apply=true
    assert sorted(os.listdir(path.parent)) == ["50-oomguard-memory.conf"]  # no temporary files left


def test_idempotent(unit_dir, host):
    run(ARGS, unit_dir, host)
    mtime = os.stat(dropin_file(unit_dir)).st_mtime_ns
    result, _warnings, _systemd = run(ARGS, unit_dir, host)
    assert result["changed"] is False
    assert result["reload_required"] is False
    assert os.stat(dropin_file(unit_dir)).st_mtime_ns == mtime


def test_equal_values_in_other_spellings_are_idempotent(unit_dir, host):
    run(ARGS, unit_dir, host)
    result, _w, _s = run(dict(ARGS, memory_max=2 * GiB, memory_high="1536M"), unit_dir, host)
    assert result["changed"] is False


def test_check_mode_writes_nothing(unit_dir, host):
    result, _w, _s = run(ARGS, unit_dir, host, check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"] == ""
    assert result["diff"]["after"] == EXPECTED
    assert not os.path.exists(dropin_file(unit_dir).parent)


def test_check_mode_on_existing_file(unit_dir, host):
    run(ARGS, unit_dir, host)
    result, _w, _s = run(dict(ARGS, memory_max="3G"), unit_dir, host, check_mode=True)
    assert result["changed"] is True
    assert dropin_file(unit_dir).read_text() == EXPECTED
    result, _w, _s = run(ARGS, unit_dir, host, check_mode=True)
    assert result["changed"] is False


def test_diff_of_an_update(unit_dir, host):
    run(ARGS, unit_dir, host)
    result, _w, _s = run(dict(ARGS, memory_max="3G"), unit_dir, host, diff=True)
    path = str(dropin_file(unit_dir))
    assert result["diff"] == {
        "before": EXPECTED,
        "after": EXPECTED.replace("MemoryMax=2G", "MemoryMax=3G"),
        "before_header": path + " (content)",
        "after_header": path + " (content)",
    }
    assert "diff" not in run(dict(ARGS, memory_max="3G"), unit_dir, host, diff=True)[0]  # nothing to show


def test_settings_left_out_are_removed(unit_dir, host):
    run(ARGS, unit_dir, host)
    result, _w, _s = run({"unit": "app.service", "memory_max": "2G"}, unit_dir, host)
    assert result["changed"] is True
    assert parse_dropin(dropin_file(unit_dir).read_text()) == {"MemoryMax": "2G"}


def test_all_options(unit_dir, host):
    args = {
        "unit": "batch.slice",
        "memory_max": "75%",
        "memory_high": "50%",
        "memory_low": "1G",
        "memory_min": 268435456,
        "memory_swap_max": "10%",
        "managed_oom_memory_pressure": "kill",
        "managed_oom_memory_pressure_limit": "40%",
        "managed_oom_swap": "auto",
        "managed_oom_preference": "avoid",
    }
    result, warnings, _s = run(args, unit_dir, host)
    assert not result.get("failed"), result
    assert dropin_file(unit_dir, "batch.slice").read_text() == (
        "# Managed by Ansible (oomguard.memory.systemd_memory). Local changes will be overwritten.\n"
        "[Slice]\n"
        "MemoryMax=75%\n"
        "MemoryHigh=50%\n"
        "MemoryLow=1G\n"
        "MemoryMin=256M\n"
        "MemorySwapMax=" + str(MEMTOTAL // 10) + "\n"
        "ManagedOOMMemoryPressure=kill\n"
        "ManagedOOMMemoryPressureLimit=40%\n"
        "ManagedOOMSwap=auto\n"
        "ManagedOOMPreference=avoid\n"
    )
    assert result["resolved"]["memory_max"] == 12 * GiB
    assert warnings == []


SCORE_DROPIN = (
    "# Managed by Ansible (oomguard.memory.oom_score_adj or oomguard.memory.systemd_memory). Local changes will be "
    "overwritten.\n"
    "[Service]\n"
    "OOMScoreAdjust=-900\n"
)


def score_file(unit_dir, unit="db.service"):
    return dropin_file(unit_dir, unit, "50-oomguard-oom-score-adj.conf")


def test_oom_score_adjust_has_its_own_dropin_and_needs_a_restart(unit_dir, host):
    result, _w, _s = run({"unit": "db.service", "oom_score_adjust": -900, "memory_low": "1G"}, unit_dir, host)
    assert dropin_file(unit_dir, "db.service").read_text() == (
        "# Managed by Ansible (oomguard.memory.systemd_memory). Local changes will be overwritten.\n"
        "[Service]\n"
        "MemoryLow=1G\n"
    )
    assert score_file(unit_dir).read_text() == SCORE_DROPIN
    assert stat.S_IMODE(os.stat(score_file(unit_dir)).st_mode) == 0o644
    assert result["settings"] == {"MemoryLow": "1G", "OOMScoreAdjust": "-900"}
    assert result["score_path"] == str(score_file(unit_dir))
    assert result["restart_required"] is True
    assert result["restart_reasons"] == ["OOMScoreAdjust= is applied by systemd when db.service next starts"]
    # a change of the memory setting only needs no restart
    result, _w, _s = run({"unit": "db.service", "oom_score_adjust": -900, "memory_low": "2G"}, unit_dir, host)
    assert result["changed"] is True and result["restart_required"] is False
    # removing it again does
    result, _w, _s = run({"unit": "db.service", "state": "absent"}, unit_dir, host)
    assert result["restart_required"] is True
    assert not score_file(unit_dir).exists() and not score_file(unit_dir).parent.exists()


def test_oom_score_adjust_alone_writes_no_memory_dropin(unit_dir, host):
    result, _w, _s = run({"unit": "db.service", "oom_score_adjust": -900}, unit_dir, host)
    assert result["changed"] is True
    assert os.listdir(str(score_file(unit_dir).parent)) == ["50-oomguard-oom-score-adj.conf"]
    # memory settings added later; the score drop-in is left alone when oom_score_adjust is not given
    result, _w, _s = run({"unit": "db.service", "memory_max": "1G"}, unit_dir, host)
    assert result["changed"] is True and result["restart_required"] is False
    assert score_file(unit_dir).read_text() == SCORE_DROPIN
    assert sorted(os.listdir(str(score_file(unit_dir).parent))) == [
        "50-oomguard-memory.conf",
        "50-oomguard-oom-score-adj.conf",
    ]
    # and the memory drop-in goes away when only oom_score_adjust is left
    result, _w, _s = run({"unit": "db.service", "oom_score_adjust": -900}, unit_dir, host)
    assert result["changed"] is True
    assert os.listdir(str(score_file(unit_dir).parent)) == ["50-oomguard-oom-score-adj.conf"]


def old_memory_dropin(unit_dir):
    """db.service's memory drop-in as it was when it also held OOMScoreAdjust=; returns its path."""
    path = dropin_file(unit_dir, "db.service")
    path.parent.mkdir()
    path.write_text(
        "# Managed by Ansible (oomguard.memory.systemd_memory). Local changes will be overwritten.\n"
        "[Service]\nMemoryLow=1G\nOOMScoreAdjust=-900\n"
    )
    return path


def test_old_memory_dropin_with_oom_score_adjust_moves_without_a_restart(unit_dir, host):
    path = old_memory_dropin(unit_dir)
    result, warnings, _s = run({"unit": "db.service", "oom_score_adjust": -900, "memory_low": "1G"}, unit_dir, host)
    assert result["changed"] is True and result["restart_required"] is False and warnings == []
    assert parse_dropin(path.read_text()) == {"MemoryLow": "1G"}
    assert score_file(unit_dir).read_text() == SCORE_DROPIN


def test_old_memory_dropin_with_oom_score_adjust_is_not_dropped_silently(unit_dir, host):
    path = old_memory_dropin(unit_dir)
    result, warnings, _s = run({"unit": "db.service", "memory_low": "1G"}, unit_dir, host)
    assert warnings == [
        "removed OOMScoreAdjust=-900 from %s: OOMScoreAdjust= now has its own drop-in, "
        "50-oomguard-oom-score-adj.conf; set oom_score_adjust to keep the value" % path
    ]
    assert result["restart_required"] is True


def test_template_and_socket_units(unit_dir, host):
    result, _w, _s = run({"unit": "worker@.service", "memory_max": "1G"}, unit_dir, host)
    assert result["changed"] and dropin_file(unit_dir, "worker@.service").exists()
    result, _w, _s = run({"unit": "web.socket", "memory_max": "100M", "oom_score_adjust": 10}, unit_dir, host)
    assert "[Socket]" in dropin_file(unit_dir, "web.socket").read_text()


def test_custom_dropin_name_and_file_mode(unit_dir, host):
    result, _w, _s = run(dict(ARGS, dropin_name="70-limits.conf", mode="0600"), unit_dir, host)
    path = dropin_file(unit_dir, name="70-limits.conf")
    assert result["changed"] and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    result, _w, _s = run(dict(ARGS, dropin_name="70-limits.conf", mode="0600"), unit_dir, host)
    assert result["changed"] is False
    result, _w, _s = run(dict(ARGS, dropin_name="70-limits.conf", mode="0644"), unit_dir, host)
    assert result["changed"] is True and stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_default_file_mode(unit_dir, host):
    old = os.umask(0o022)
    try:
        run(ARGS, unit_dir, host)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(dropin_file(unit_dir)).st_mode) == 0o644


def test_backup(unit_dir, host):
    run(ARGS, unit_dir, host)
    result, _w, _s = run(dict(ARGS, memory_max="3G", backup=True), unit_dir, host)
    with open(result["backup_file"]) as handle:
        assert handle.read() == EXPECTED
    result, _w, _s = run(dict(ARGS, memory_max="3G", backup=True), unit_dir, host)
    assert "backup_file" not in result  # unchanged: no backup


# -- absent ------------------------------------------------------------------------------------------------------


def test_absent_removes_file_and_empty_dir(unit_dir, host):
    run(ARGS, unit_dir, host)
    result, _w, _s = run({"unit": "app.service", "state": "absent"}, unit_dir, host, diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"] == EXPECTED and result["diff"]["after"] == ""
    assert result["settings"] == {}
    assert not dropin_file(unit_dir).parent.exists()
    result, _w, _s = run({"unit": "app.service", "state": "absent"}, unit_dir, host)
    assert result["changed"] is False


def test_absent_keeps_other_dropins_and_dir(unit_dir, host):
    run(ARGS, unit_dir, host)
    other = dropin_file(unit_dir, name="override.conf")
    other.write_text("[Service]\nMemoryMax=5G\n")
    result, _w, _s = run({"unit": "app.service", "state": "absent"}, unit_dir, host)
    assert result["changed"] is True
    assert os.listdir(other.parent) == ["override.conf"]
    assert other.read_text() == "[Service]\nMemoryMax=5G\n"


def test_absent_check_mode_and_backup(unit_dir, host):
    run(ARGS, unit_dir, host)
    result, _w, _s = run({"unit": "app.service", "state": "absent"}, unit_dir, host, check_mode=True)
    assert result["changed"] is True and dropin_file(unit_dir).exists()
    result, _w, _s = run({"unit": "app.service", "state": "absent", "backup": True}, unit_dir, host)
    assert not dropin_file(unit_dir).exists()
    with open(result["backup_file"]) as handle:
        assert handle.read() == EXPECTED


def test_absent_ignores_settings_with_a_warning(unit_dir, host):
    result, warnings, _s = run({"unit": "app.service", "state": "absent", "memory_max": "1G"}, unit_dir, host)
    assert result["changed"] is False
    assert warnings == ["state=absent removes the drop-ins; ignoring memory_max"]


# -- refusals and validation: a clear message, nothing written ----------------------------------------------------


def test_refuses_foreign_file(unit_dir, host):
    path = dropin_file(unit_dir)
    path.parent.mkdir()
    path.write_text("[Service]\nMemoryMax=8G\n")
    for args in (ARGS, {"unit": "app.service", "state": "absent"}):
        result, _w, _s = run(args, unit_dir, host)
        assert result["failed"]
        assert "is not managed by oomguard.memory" in result["msg"] and str(path) in result["msg"]
        assert path.read_text() == "[Service]\nMemoryMax=8G\n"


@pytest.mark.parametrize(
    "args, message",
    [
        ({"unit": "app"}, "unit name 'app' has no valid type suffix (one of .service, .socket, .device, .mount"),
        ({"unit": "app"}, "did you mean 'app.service'?"),
        ({"unit": "../../etc/app.service"}, "contains '/'"),
        ({"unit": "app;reboot.service"}, "characters systemd does not allow (';')"),
        ({"unit": "app .service"}, "characters systemd does not allow (' ')"),
        ({"unit": "multi-user.target"}, "multi-user.target is a .target unit, which has no control group"),
        ({"dropin_name": "override.conf"}, "reserved for administrators"),
        ({"dropin_name": "../x.conf"}, "dropin_name '../x.conf' is not valid"),
        ({"dropin_name": "limits.txt"}, "ending in '.conf'"),
        (
            {"memory_max": None, "memory_high": None, "oom_policy": None},
            "state=present needs at least one setting for app.service",
        ),
        ({"memory_max": "2 gigs"}, "memory_max: expected a size in bytes with an optional K, M, G or T suffix"),
        ({"memory_max": "101%"}, "memory_max: a percentage cannot exceed 100%"),
        ({"memory_max": -1}, "memory_max: a size cannot be negative"),
        ({"memory_high": "3G"}, "memory_high (3 GiB) must not exceed memory_max (2 GiB) for app.service"),
        ({"memory_low": "1.6G"}, "memory_low (1.6 GiB) must not exceed memory_high (1.5 GiB) for app.service"),
        ({"memory_high": None, "memory_low": "20%"}, "memory_low (3.2 GiB) must not exceed memory_max (2 GiB)"),
        ({"memory_min": "infinity"}, "memory_min (infinity) must not exceed memory_max (2 GiB)"),
        ({"memory_swap_max": "lots"}, "memory_swap_max: expected a size"),
        ({"oom_score_adjust": 2000}, "oom_score_adjust must be an integer from -1000 to 1000; got 2000"),
        ({"managed_oom_memory_pressure_limit": "forty"}, "managed_oom_memory_pressure_limit: expected a percentage"),
        ({"oom_policy": "explode"}, "value of oom_policy must be one of: continue, stop, kill"),
        ({"managed_oom_swap": "yes"}, "value of managed_oom_swap must be one of: auto, kill"),
        ({"managed_oom_preference": "never"}, "value of managed_oom_preference must be one of: none, avoid, omit"),
        ({"state": "gone"}, "value of state must be one of: present, absent"),
        # sizes given as integers are checked like strings, with the same limits (systemd: below 2^64 - 1)
        (
            {"memory_max": 99999999999999999999999},
            "memory_max: 99999999999999999999999 is out of range: systemd takes sizes below 16 EiB (at most "
            "18446744073709551614 bytes); use infinity for no limit",
        ),
        ({"memory_max": 2**64}, "memory_max: 18446744073709551616 is out of range"),
        ({"memory_max": "16E"}, "memory_max: '16E' is out of range"),
        ({"memory_max": 2**64 - 1}, "memory_max: 18446744073709551615 is out of range"),
        ({"memory_max": "18446744073709551615"}, "memory_max: '18446744073709551615' is out of range"),
        ({"memory_max": 10**400}, "memory_max: a 1329-bit integer is out of range"),
        (
            {"memory_max": 1.5},
            "memory_max: expected a size such as 512M or a whole number of bytes, not the number 1.5",
        ),
        ({"memory_max": float("nan")}, "not the number nan"),
        ({"memory_max": float("inf")}, "not the number inf"),
        ({"memory_max": 1e30}, "memory_max: 1e+30 is out of range"),
        ({"memory_max": [2]}, "memory_max: expected a size such as 512M or a whole number of bytes, not a list ([2])"),
        ({"memory_max": {"size": 2}}, "not a dict ({'size': 2})"),
        ({"memory_max": True}, "memory_max: expected a size such as 512M, not a boolean (True)"),
        ({"memory_max": ""}, "memory_max: an empty value is not a size"),
        ({"memory_max": "\u0661\u0662G"}, "memory_max: expected a size"),  # Arabic-Indic digits: not for systemd
        ({"memory_max": "1" * 100}, "memory_max: expected a size in bytes"),
        ({"memory_max": "1G\nMemoryMax=infinity"}, "memory_max: expected a size"),
        # systemd ignores a zero MemoryMax=/MemoryHigh= ("out of range") and leaves the unit unlimited
        (
            {"memory_max": 0, "memory_high": None},
            "memory_max: 0 is out of range: systemd ignores MemoryMax=0 ('Memory limit out of range') and leaves the "
            "unit without a limit; give a size above 0, or infinity",
        ),
        ({"memory_max": "0%", "memory_high": None}, "memory_max: '0%' is out of range"),
        ({"memory_high": "0K"}, "memory_high: '0K' is out of range: systemd ignores MemoryHigh=0"),
        ({"memory_zswap_max": "lots"}, "memory_zswap_max: expected a size"),
        ({"memory_zswap_max": 2**64}, "memory_zswap_max: 18446744073709551616 is out of range"),
        # scores
        ({"oom_score_adjust": True}, "oom_score_adjust must be an integer from -1000 to 1000; got True"),
        ({"oom_score_adjust": -1001}, "oom_score_adjust must be an integer from -1000 to 1000; got -1001"),
        ({"oom_score_adjust": 10**30}, "got 1000000000000000000000000000000"),
        ({"oom_score_adjust": 1.5}, "argument 'oom_score_adjust' is of type float"),
        ({"oom_score_adjust": "high"}, "argument 'oom_score_adjust' is of type str"),
        # ManagedOOMMemoryPressureLimit= is a percentage from 0% to 100% with at most two decimals
        ({"unit": "app.slice", "oom_policy": None, "managed_oom_memory_pressure_limit": "101%"}, "cannot exceed 100%"),
        (
            {"unit": "app.slice", "oom_policy": None, "managed_oom_memory_pressure_limit": "-1%"},
            "expected a percentage",
        ),
        ({"unit": "app.slice", "oom_policy": None, "managed_oom_memory_pressure_limit": "40"}, "expected a percentage"),
        (
            {"unit": "app.slice", "oom_policy": None, "managed_oom_memory_pressure_limit": "40.125%"},
            "(at most two decimals); got '40.125%'",
        ),
        ({"unit": "app.slice", "oom_policy": None, "managed_oom_memory_pressure_limit": True}, "got 'True'"),
        ({"unit": "app.slice", "oom_policy": None, "managed_oom_memory_pressure_limit": [40]}, "got '[40]'"),
        ({"oom_policy": True}, "value of oom_policy must be one of: continue, stop, kill, got: True"),
        ({"oom_policy": ["kill"]}, "value of oom_policy must be one of"),
        # odd unit names
        ({"unit": "caf\u00e9.service"}, "characters systemd does not allow ('\u00e9')"),
        ({"unit": "a\nb.service"}, "characters systemd does not allow ('\\n')"),
        # a NUL byte never reaches the module on ansible-core 2.21 (AnsibleModule refuses it while logging)
        ({"unit": "a\x01b.service"}, "characters systemd does not allow ('\\x01')"),
        ({"unit": "a" * 248 + ".service"}, "is 256 characters long; systemd allows at most 255"),
        ({"unit": "a" * 247 + ".service"}, "its drop-in directory UNIT.d would be longer than the 255 bytes"),
        ({"unit": ""}, "a unit name cannot be empty"),
        ({"unit": ["app.service"]}, "has no valid type suffix"),
        ({"unit": "@.service"}, "has an empty prefix"),
        # drop-in names and directories
        ({"dropin_name": "50-oomguard-oom-score-adj.conf"}, "is the drop-in that holds OOMScoreAdjust="),
        ({"dropin_name": "a" * 300 + ".conf"}, "is not valid"),
        ({"unit_dir": "etc/systemd/system"}, "unit_dir 'etc/systemd/system' must be an absolute path"),
        ({"lock_timeout": -1}, "lock_timeout must be a number of seconds from 0 to 3600; got -1"),
        ({"lock_timeout": True}, "lock_timeout must be a number of seconds from 0 to 3600; got True"),
        ({"lock_timeout": 86400}, "got 86400"),
        # file attributes are tried on the temporary file: a bad one fails before the drop-in changes
        ({"owner": "no-such-user-oomguard"}, "chown failed: failed to look up user no-such-user-oomguard"),
        ({"group": "no-such-group-oomguard"}, "chgrp failed: failed to look up group no-such-group-oomguard"),
        ({"mode": "u+bogus"}, "mode must be in octal or symbolic form"),
    ],
)
def test_validation_errors(unit_dir, host, args, message):
    given = {key: value for key, value in dict(ARGS, **args).items() if value is not None}
    result, _w, systemd = run(given, unit_dir, host)
    assert result["failed"], result
    assert message in result["msg"]
    assert os.listdir(str(unit_dir)) == []  # nothing written, not even the .d directory
    assert ["/usr/bin/systemctl", "daemon-reload"] not in systemd.calls


def test_valid_edge_values(unit_dir, host):
    """Values at the limits that systemd accepts are written as systemd reads them."""
    args = {
        "unit": "a\\x2db@inst\\x40ance.service",
        "memory_max": 2**64 - 2,
        "memory_high": "15E",
        "memory_min": 0,
        "memory_low": "0%",
        "memory_swap_max": 1073741824.0,
        "oom_score_adjust": -1000,
    }
    result, warnings, _s = run(args, unit_dir, host)
    assert not result.get("failed"), result
    assert result["settings"] == {
        "MemoryMax": "18446744073709551614",
        "MemoryHigh": "15E",
        "MemoryLow": "0%",
        "MemoryMin": "0",
        "MemorySwapMax": "1G",
        "OOMScoreAdjust": "-1000",
    }
    assert os.path.isdir(str(unit_dir / "a\\x2db@inst\\x40ance.service.d"))
    assert warnings == []
    name = "a" * 245 + ".service"  # the longest name with a drop-in directory: 253 + ".d"
    result, _w, _s = run({"unit": name, "memory_max": "1G"}, unit_dir, host)
    assert result["changed"] and dropin_file(unit_dir, name).exists()


@pytest.mark.parametrize(
    "unit, args, message",
    [
        ("app.slice", {"oom_score_adjust": -5}, "oom_score_adjust (OOMScoreAdjust=) cannot be set on app.slice"),
        ("app.socket", {"oom_policy": "kill"}, "oom_policy (OOMPolicy=) cannot be set on app.socket"),
        ("app.mount", {"managed_oom_swap": "kill"}, "managed_oom_swap (ManagedOOMSwap=) cannot be set on app.mount"),
    ],
)
def test_settings_the_unit_type_does_not_have(unit_dir, host, unit, args, message):
    result, _w, _s = run(dict(args, unit=unit), unit_dir, host)
    assert result["failed"] and message in result["msg"]
    assert os.listdir(str(unit_dir)) == []


def test_missing_unit_dir(tmp_path, host):
    result, _w, _s = run(ARGS, tmp_path / "missing", host)
    assert result["failed"] and "does not exist" in result["msg"]
    assert not (tmp_path / "missing").exists()


def test_percent_without_memtotal_skips_order_check(unit_dir, host):
    host["memtotal"] = None
    result, _w, _s = run({"unit": "app.service", "memory_max": "10%", "memory_high": "20%"}, unit_dir, host)
    assert result["changed"] is True
    assert result["resolved"] == {"memory_max": None, "memory_high": None}


# -- host checks (warnings, not failures) ---------------------------------------------------------------------------


def test_cgroup_v1_warnings(unit_dir, host):
    host["cgroup"] = "1"
    result, warnings, _s = run(dict(ARGS, memory_low="1G"), unit_dir, host)
    assert result["changed"] is True
    assert warnings == [
        "MemoryHigh= has no effect for app.service: the memory controller on this host uses cgroup v1 (it is applied "
        "only on the unified cgroup v2 hierarchy)",
        "MemoryLow= has no effect for app.service: the memory controller on this host uses cgroup v1 (it is applied "
        "only on the unified cgroup v2 hierarchy)",
    ]


def test_old_systemd_warns(unit_dir, host):
    systemd = FakeSystemd(str(unit_dir), version="239")
    result, warnings, _s = run(
        {"unit": "app.service", "memory_min": "1G", "oom_policy": "kill"}, unit_dir, host, systemd
    )
    assert result["changed"] is True
    assert [warning.split(" ")[0] for warning in warnings] == ["MemoryMin=", "OOMPolicy="]


def test_managed_oom_without_oomd_warns(unit_dir, host):
    args = {"unit": "batch.slice", "managed_oom_memory_pressure": "kill", "managed_oom_memory_pressure_limit": "50%"}
    for state in ("inactive", None):
        systemd = FakeSystemd(str(unit_dir), oomd=state)
        _result, warnings, _s = run(args, unit_dir, host, systemd)
        assert any("systemd-oomd is not running" in warning for warning in warnings), warnings
    _result, warnings, _s = run(args, unit_dir, host, FakeSystemd(str(unit_dir), oomd="active"))
    assert warnings == []


def test_without_systemctl(unit_dir, host):
    host.update(systemctl=None, booted=False)
    result, warnings, systemd = run(dict(ARGS, managed_oom_swap="kill"), unit_dir, host)
    assert result["changed"] is True and warnings == []
    assert systemd.calls == []


# -- apply -------------------------------------------------------------------------------------------------------


def test_apply_reloads_and_reads_back(unit_dir, host):
    result, warnings, systemd = run(dict(ARGS, apply=True), unit_dir, host)
    assert result["changed"] is True
    assert result["applied"] is True and result["reload_required"] is False
    assert systemd.calls.count(["/usr/bin/systemctl", "daemon-reload"]) == 1
    assert result["effective"] == {"MemoryMax": 2 * GiB, "MemoryHigh": 3 * GiB // 2, "OOMPolicy": "stop"}
    assert warnings == []
    # unchanged, and systemd does not need a reload: no reload
    result, warnings, systemd = run(dict(ARGS, apply=True), unit_dir, host, systemd)
    assert result["changed"] is False and result["applied"] is False
    assert systemd.calls.count(["/usr/bin/systemctl", "daemon-reload"]) == 1


def test_apply_reloads_an_unchanged_file_that_systemd_has_not_seen(unit_dir, host):
    systemd = FakeSystemd(str(unit_dir))
    run(ARGS, unit_dir, host, systemd)  # written without apply
    systemd.need_reload = "yes"
    result, _w, systemd = run(dict(ARGS, apply=True), unit_dir, host, systemd)
    assert result["changed"] is True and result["applied"] is True
    assert ["/usr/bin/systemctl", "daemon-reload"] in systemd.calls


def test_apply_check_mode_does_not_reload(unit_dir, host):
    result, _w, systemd = run(dict(ARGS, apply=True), unit_dir, host, check_mode=True)
    assert result["changed"] is True and result["applied"] is True
    assert ["/usr/bin/systemctl", "daemon-reload"] not in systemd.calls


def test_apply_warns_when_something_overrides_the_dropin(unit_dir, host):
    systemd = FakeSystemd(str(unit_dir))
    systemd.overrides = {"MemoryMax": str(GiB)}
    result, warnings, _s = run(dict(ARGS, apply=True), unit_dir, host, systemd)
    assert result["effective"]["MemoryMax"] == GiB
    assert len(warnings) == 1
    assert warnings[0].startswith("app.service: systemd reports MemoryMax=1073741824 but ")
    assert "system.control" in warnings[0]


def test_apply_percentages_are_not_compared(unit_dir, host):
    systemd = FakeSystemd(str(unit_dir))
    systemd.overrides = {"MemoryMax": "12884901888"}
    _result, warnings, _s = run({"unit": "app.service", "memory_max": "75%", "apply": True}, unit_dir, host, systemd)
    assert warnings == []


def test_apply_unit_not_loaded(unit_dir, host):
    result, warnings, _s = run(dict(ARGS, apply=True), unit_dir, host, FakeSystemd(str(unit_dir), loaded=False))
    assert result["applied"] is True and "effective" not in result
    assert warnings == ["app.service is not loaded; the drop-ins apply once the unit exists"]


def test_apply_without_systemd_warns(unit_dir, host):
    host["booted"] = False
    result, warnings, systemd = run(dict(ARGS, apply=True), unit_dir, host)
    assert result["changed"] is True and result["applied"] is False and result["reload_required"] is True
    assert "systemd is not running on this host" in warnings[0]
    assert ["/usr/bin/systemctl", "daemon-reload"] not in systemd.calls


def test_apply_reload_failure(unit_dir, host):
    result, _w, _s = run(dict(ARGS, apply=True), unit_dir, host, FakeSystemd(str(unit_dir), reload_rc=1))
    assert result["failed"]
    assert result[
        "msg"
    ] == "systemctl daemon-reload failed after writing %s: Failed to reload daemon: Access denied" % (
        dropin_file(unit_dir)
    )


def test_apply_absent(unit_dir, host):
    systemd = FakeSystemd(str(unit_dir))
    run(dict(ARGS, apply=True), unit_dir, host, systemd)
    result, warnings, systemd = run({"unit": "app.service", "state": "absent", "apply": True}, unit_dir, host, systemd)
    assert result["changed"] and result["applied"]
    assert systemd.calls.count(["/usr/bin/systemctl", "daemon-reload"]) == 2
    assert warnings == []


# -- apply: cgroup attributes that systemd does not write on reload (systemd 257) -------------------------------


APP_CGROUP = "/system.slice/app.service"


def cgroup_files(tmp_path, host, **values):
    """A pretend cgroup v2 mount with the files of app.service's cgroup; returns that directory."""
    host["unified"] = str(tmp_path / "cgroup")
    directory = tmp_path / "cgroup" / "system.slice" / "app.service"
    directory.mkdir(parents=True)
    defaults = {"memory.min": "0", "memory.low": "0", "memory.high": "max", "memory.max": "max"}
    defaults.update({"memory.oom.group": "0"}, **{name.replace("_", "."): value for name, value in values.items()})
    for name, value in defaults.items():
        (directory / name).write_text(value + "\n")
    return directory


def cgroup_values(directory):
    return {path.name: path.read_text().strip() for path in sorted(directory.iterdir())}


def test_apply_writes_what_systemd_did_not_write_to_the_running_cgroup(unit_dir, tmp_path, host):
    directory = cgroup_files(tmp_path, host)
    systemd = FakeSystemd(str(unit_dir))
    systemd.overrides = {"ControlGroup": APP_CGROUP}
    args = dict(ARGS, oom_policy="kill", apply=True)
    result, warnings, systemd = run(args, unit_dir, host, systemd)
    assert result["changed"] is True and result["applied"] is True
    assert result["synced"] == ["memory.high", "memory.max", "memory.oom.group"]
    assert cgroup_values(directory) == {
        "memory.high": str(3 * GiB // 2),
        "memory.low": "0",
        "memory.max": str(2 * GiB),
        "memory.min": "0",
        "memory.oom.group": "1",
    }
    assert warnings == []
    # the kernel agrees now: nothing to do, no change
    result, warnings, systemd = run(args, unit_dir, host, systemd)
    assert result["changed"] is False and result["synced"] == []
    # removed again: systemd reports infinity and OOMPolicy=stop, written back as max and 0
    result, warnings, systemd = run({"unit": "app.service", "state": "absent", "apply": True}, unit_dir, host, systemd)
    assert result["changed"] is True
    assert result["synced"] == ["memory.high", "memory.max", "memory.oom.group"]
    assert cgroup_values(directory) == {
        "memory.high": "max",
        "memory.low": "0",
        "memory.max": "max",
        "memory.min": "0",
        "memory.oom.group": "0",
    }


def test_apply_leaves_a_cgroup_alone_that_systemd_already_wrote(unit_dir, tmp_path, host):
    directory = cgroup_files(tmp_path, host, memory_high=str(3 * GiB // 2), memory_max=str(2 * GiB))
    systemd = FakeSystemd(str(unit_dir))
    systemd.overrides = {"ControlGroup": APP_CGROUP}
    before = cgroup_values(directory)
    result, warnings, _s = run(dict(ARGS, apply=True), unit_dir, host, systemd)
    assert result["synced"] == [] and warnings == []
    assert cgroup_values(directory) == before


def test_apply_cgroup_check_mode_reports_but_does_not_write(unit_dir, tmp_path, host):
    directory = cgroup_files(tmp_path, host)
    systemd = FakeSystemd(str(unit_dir))
    systemd.overrides = {"ControlGroup": APP_CGROUP}
    run(ARGS, unit_dir, host, systemd)  # written without apply
    systemd(["/usr/bin/systemctl", "daemon-reload"])  # reloaded by someone else; the kernel still has max
    before = cgroup_values(directory)
    result, _w, systemd = run(dict(ARGS, apply=True), unit_dir, host, systemd, check_mode=True)
    assert result["changed"] is True and result["applied"] is False
    assert result["synced"] == ["memory.high", "memory.max"]
    assert cgroup_values(directory) == before
    # while a reload is pending in check mode, nothing is predicted
    result, _w, systemd = run(dict(ARGS, memory_max="3G", apply=True), unit_dir, host, systemd, check_mode=True)
    assert result["changed"] is True and result["applied"] is True and result["synced"] == []


class SlicedSystemd(FakeSystemd):
    """app.service in system.slice (DefaultMemoryLow=256M) in -.slice."""

    def properties(self, unit):
        values = super().properties(unit)
        if unit == "system.slice":
            values.update(Slice="-.slice", DefaultMemoryLow=str(256 * 1024**2), DefaultMemoryMin="0")
        elif unit == "-.slice":
            values.update(Slice="", DefaultMemoryLow="0", DefaultMemoryMin="0")
        else:
            values.update(Slice="system.slice", DefaultMemoryLow="0", DefaultMemoryMin="0")
        return values


def test_apply_cgroup_removed_protection_falls_back_like_systemd(unit_dir, tmp_path, host):
    directory = cgroup_files(tmp_path, host)
    systemd = SlicedSystemd(str(unit_dir))
    systemd.overrides = {"ControlGroup": APP_CGROUP}
    args = {"unit": "app.service", "memory_low": "1G", "memory_min": "512M", "apply": True}
    result, _w, systemd = run(args, unit_dir, host, systemd)
    assert result["synced"] == ["memory.min", "memory.low"]
    assert cgroup_values(directory)["memory.low"] == str(GiB)
    result, _w, systemd = run({"unit": "app.service", "state": "absent", "apply": True}, unit_dir, host, systemd)
    # MemoryLow= falls back to system.slice's DefaultMemoryLow=, MemoryMin= to 0 (no slice sets a default)
    assert result["synced"] == ["memory.min", "memory.low"]
    assert cgroup_values(directory)["memory.low"] == str(256 * 1024**2)
    assert cgroup_values(directory)["memory.min"] == "0"


def test_apply_cgroup_of_a_unit_that_does_not_run_is_left_alone(unit_dir, tmp_path, host):
    directory = cgroup_files(tmp_path, host)
    systemd = FakeSystemd(str(unit_dir))
    systemd.overrides = {"ControlGroup": ""}  # not running: no cgroup
    result, _w, systemd = run(dict(ARGS, apply=True), unit_dir, host, systemd)
    assert result["synced"] == [] and cgroup_values(directory)["memory.max"] == "max"


def test_main_runs_and_sets_locale(unit_dir, host):
    result, _w = run_module(
        systemd_memory.main,
        dict(ARGS, unit_dir=str(unit_dir)),
        commands={"systemctl": None},
        patches=[(systemd_memory, "systemd_booted", lambda: False)],
    )
    assert result["changed"] is True


# -- OOMScoreAdjust= with apply=true: the running processes too (the code of oom_score_adj) -------------------------


DB_CGROUP = "/system.slice/db.service"


def db_processes(host):
    proc = host["proc"]
    add_process(proc, 1, "systemd", ppid=0, cmdline=["/sbin/init"])
    add_process(proc, 100, "postgres", cgroup=DB_CGROUP)
    add_process(proc, 101, "postgres", ppid=100, adj=-900, cgroup=DB_CGROUP)
    add_process(proc, 102, "postgres", ppid=100, cgroup=DB_CGROUP + "/sub")
    add_process(proc, 103, "postgres", ppid=100, state="Z", cgroup=DB_CGROUP)
    add_process(proc, 200, "other", cgroup="/system.slice/other.service")


def db_systemd(unit_dir):
    systemd = FakeSystemd(str(unit_dir))
    systemd.overrides = {"ControlGroup": DB_CGROUP}
    return systemd


def test_apply_sets_the_running_processes_of_the_unit(unit_dir, host):
    db_processes(host)
    args = {"unit": "db.service", "oom_score_adjust": -900, "apply": True}
    result, warnings, systemd = run(args, unit_dir, host, db_systemd(unit_dir))
    assert not result.get("failed"), result
    assert result["processes"] == [
        {"pid": 100, "comm": "postgres", "before": 0, "after": -900},
        {"pid": 101, "comm": "postgres", "before": -900, "after": -900},
        {"pid": 102, "comm": "postgres", "before": 0, "after": -900},
    ]
    assert result["vanished"] == [{"pid": 103, "comm": "postgres"}]  # a zombie is not changed
    assert [read_adj(host["proc"], pid) for pid in (100, 101, 102, 103, 200)] == [-900, -900, -900, 0, 0]
    assert result["restart_required"] is False and result["restart_reasons"] == []
    assert result["applied"] is True and result["effective"] == {"OOMScoreAdjust": -900}
    assert score_file(unit_dir).read_text() == SCORE_DROPIN
    assert warnings == []
    result, _w, systemd = run(args, unit_dir, host, systemd)
    assert result["changed"] is False and result["applied"] is False


def test_apply_check_mode_predicts_the_processes(unit_dir, host):
    db_processes(host)
    args = {"unit": "db.service", "oom_score_adjust": -900, "apply": True}
    result, _w, _systemd = run(args, unit_dir, host, db_systemd(unit_dir), check_mode=True, diff=True)
    assert result["changed"] is True
    assert [(entry["pid"], entry["after"]) for entry in result["processes"]] == [(100, -900), (101, -900), (102, -900)]
    assert read_adj(host["proc"], 100) == 0 and not score_file(unit_dir).exists()
    assert [entry["before_header"] for entry in result["diff"]] == [
        str(score_file(unit_dir)) + " (content)",
        "oom_score_adj of db.service (before)",
    ]


@pytest.mark.parametrize("check_mode", [False, True])
def test_apply_lowering_without_cap_sys_resource_changes_nothing(unit_dir, host, check_mode):
    db_processes(host)
    host["can_lower"] = False
    args = {"unit": "db.service", "oom_score_adjust": -900, "memory_max": "1G", "apply": True}
    result, _w, systemd = run(args, unit_dir, host, db_systemd(unit_dir), check_mode=check_mode)
    assert result["failed"]
    assert result["msg"] == (
        "db.service: cannot lower oom_score_adj to -900 for 100 (postgres) from 0, 102 (postgres) from 0: that "
        "needs CAP_SYS_RESOURCE, which this process lacks (root in a container or a restricted VM); nothing was "
        "changed"
    )
    assert os.listdir(str(unit_dir)) == []
    assert ["/usr/bin/systemctl", "daemon-reload"] not in systemd.calls
    assert read_adj(host["proc"], 100) == 0


def test_without_apply_the_processes_are_left_to_the_next_start(unit_dir, host):
    db_processes(host)
    result, _w, _s = run({"unit": "db.service", "oom_score_adjust": -900}, unit_dir, host, db_systemd(unit_dir))
    assert result["processes"] == [] and read_adj(host["proc"], 100) == 0
    assert result["restart_required"] is True


def test_apply_without_systemd_finds_the_processes_by_cgroup_path(unit_dir, host):
    db_processes(host)
    host["booted"] = False
    result, warnings, systemd = run({"unit": "db.service", "oom_score_adjust": 300, "apply": True}, unit_dir, host)
    assert [entry["pid"] for entry in result["processes"]] == [100, 101, 102]
    assert read_adj(host["proc"], 101) == 300
    assert result["restart_required"] is False
    assert "systemd is not running" in warnings[0]
    assert systemd.calls == [["/usr/bin/systemctl", "--version"]]


def test_apply_leaves_the_modules_own_processes_alone(unit_dir, host):
    db_processes(host)
    add_process(host["proc"], os.getppid(), "sshd", ppid=1, cgroup=DB_CGROUP)
    add_process(host["proc"], os.getpid(), "python3", ppid=os.getppid(), cgroup=DB_CGROUP)
    result, warnings, _s = run(
        {"unit": "db.service", "oom_score_adjust": 300, "apply": True}, unit_dir, host, db_systemd(unit_dir)
    )
    assert [entry["pid"] for entry in result["processes"]] == [100, 101, 102]
    assert sorted(entry["pid"] for entry in result["excluded"]) == sorted([os.getpid(), os.getppid()])
    assert read_adj(host["proc"], os.getppid()) == 0
    assert result["restart_reasons"] == [
        "pid %d (sshd) gets OOMScoreAdjust=300 only when db.service next starts; it was left alone because it runs "
        "this module" % os.getppid()
    ]
    assert warnings[0].startswith("left ")


def test_score_dropin_is_the_same_file_as_oom_score_adj_writes(unit_dir, host):
    from ansible_collections.oomguard.memory.plugins.module_utils._dropin import render_score_dropin

    run({"unit": "db.service", "oom_score_adjust": -900}, unit_dir, host)
    assert score_file(unit_dir).read_bytes() == render_score_dropin("db.service", "service", -900).encode()


def test_absent_removes_both_dropins_but_not_others(unit_dir, host):
    run({"unit": "db.service", "oom_score_adjust": -900, "memory_max": "1G"}, unit_dir, host)
    other = dropin_file(unit_dir, "db.service", "override.conf")
    other.write_text("[Service]\nOOMScoreAdjust=5\n")
    result, _w, _s = run({"unit": "db.service", "state": "absent"}, unit_dir, host, diff=True)
    assert result["changed"] is True and len(result["diff"]) == 2
    assert os.listdir(str(other.parent)) == ["override.conf"]
    result, _w, _s = run({"unit": "db.service", "state": "absent"}, unit_dir, host)
    assert result["changed"] is False


def test_a_full_disk_on_the_second_dropin_leaves_the_first_as_it_was(unit_dir, host):
    import errno

    from ansible_collections.oomguard.memory.plugins.module_utils import _dropin

    run({"unit": "db.service", "oom_score_adjust": -900, "memory_max": "1G"}, unit_dir, host)
    before = sorted((path.name, path.read_text()) for path in dropin_file(unit_dir, "db.service").parent.iterdir())
    real_stage = _dropin.DropinFile.stage

    def stage(self, content, prepare=None):
        if self.path.endswith("oom-score-adj.conf"):
            self._fail("cannot write drop-in %s" % self.path, OSError(errno.ENOSPC, "No space left on device"))
        return real_stage(self, content, prepare)

    with mock.patch.object(_dropin.DropinFile, "stage", stage):
        result, _w, _s = run({"unit": "db.service", "oom_score_adjust": 100, "memory_max": "2G"}, unit_dir, host)
    assert result["failed"]
    assert result["msg"] == (
        "cannot write drop-in %s: No space left on device (the file system is full; the previous drop-in, if any, is "
        "unchanged)" % score_file(unit_dir)
    )
    after = sorted((path.name, path.read_text()) for path in dropin_file(unit_dir, "db.service").parent.iterdir())
    assert after == before  # the memory drop-in was staged, then discarded: no temporary file, no change


# -- MemoryZSwapMax=, systemd versions, one systemctl show after the reload, the lock ------------------------------


def test_memory_zswap_max(unit_dir, host):
    result, warnings, _s = run({"unit": "app.service", "memory_zswap_max": "10%"}, unit_dir, host)
    assert result["settings"] == {"MemoryZSwapMax": str(MEMTOTAL // 10)}
    assert result["resolved"] == {"memory_zswap_max": MEMTOTAL // 10}
    assert warnings == [
        "MemoryZSwapMax= needs systemd 253 or later for .service units; this host runs systemd 252, which ignores "
        "the key and logs 'Unknown key name'"
    ]
    assert result["unsupported"] == [
        {"option": "memory_zswap_max", "directive": "MemoryZSwapMax", "needs": 253, "systemd": 252}
    ]
    result, warnings, _s = run(
        {"unit": "app.service", "memory_zswap_max": "512M"}, unit_dir, host, FakeSystemd(str(unit_dir), version="257")
    )
    assert warnings == [] and result["unsupported"] == []


@pytest.mark.parametrize(
    "version, args, unsupported",
    [
        ("246", {"unit": "b.slice", "managed_oom_swap": "kill"}, [("ManagedOOMSwap", 247)]),
        ("247", {"unit": "b.slice", "managed_oom_preference": "avoid"}, [("ManagedOOMPreference", 248)]),
        (
            "247",
            {"unit": "b.slice", "managed_oom_memory_pressure_limit": "40%"},
            [("ManagedOOMMemoryPressureLimit", 248)],
        ),
        ("248", {"unit": "b.slice", "managed_oom_preference": "avoid"}, []),
        ("252", {"unit": "b.scope", "oom_policy": "kill"}, [("OOMPolicy", 253)]),
    ],
)
def test_keys_too_new_for_this_systemd_are_named_with_both_versions(unit_dir, host, version, args, unsupported):
    result, warnings, _s = run(args, unit_dir, host, FakeSystemd(str(unit_dir), version=version))
    assert [(entry["directive"], entry["needs"]) for entry in result["unsupported"]] == unsupported
    for directive, needs in unsupported:
        assert any(
            warning.startswith("%s= needs systemd %d or later" % (directive, needs))
            and "this host runs systemd %s" % version in warning
            for warning in warnings
        ), warnings


def test_apply_reads_the_unit_back_with_one_systemctl_show(unit_dir, tmp_path, host):
    cgroup_files(tmp_path, host)
    systemd = FakeSystemd(str(unit_dir))
    systemd.overrides = {"ControlGroup": APP_CGROUP}
    run(dict(ARGS, apply=True), unit_dir, host, systemd)
    after_reload = systemd.calls[systemd.calls.index(["/usr/bin/systemctl", "daemon-reload"]) + 1 :]
    shows = [call for call in after_reload if call[1] == "show"]
    assert len(shows) == 1
    assert set(shows[0][shows[0].index("-p") + 1].split(",")) >= {
        "MemoryMax",
        "MemoryHigh",
        "OOMPolicy",
        "ControlGroup",
    }


def test_a_second_run_fails_clearly_while_another_holds_the_lock(unit_dir, host, lock_path):
    from ansible_collections.oomguard.memory.plugins.module_utils._host_lock import HostLock

    holder = HostLock(lock_path, timeout=0)
    assert holder.acquire()
    try:
        result, _w, _s = run(dict(ARGS, lock_timeout=0), unit_dir, host)
    finally:
        holder.release()
    assert result["failed"] and "another oomguard.memory task is changing this host" in result["msg"]
    assert os.listdir(str(unit_dir)) == []
