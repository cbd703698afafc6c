# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Host faults for oom_score_adj and systemd_memory, made for real on this machine and run through ansible.

Each fault ends in a clear error (or, for a key too new for this systemd, a warning naming key and versions)
and changes nothing on the host:

* not root: the module runs as ``nobody`` (``setpriv`` as the python interpreter, with pipelining so that the
  module reaches it on stdin);
* a read-only unit directory: a tmpfs the test mounts and remounts read-only;
* a full disk while a drop-in is written: a 64 KiB tmpfs the test fills up;
* a systemd too old for a key: this machine's systemctl (252) and ``MemoryZSwapMax=`` (253);
* a process that vanishes (gone, or a zombie) between selection and write: the only test that imports the
  module, since it needs a hook between the two steps; the processes and /proc are real;
* two runs at once: the test holds /run/oomguard.lock itself.

Every mount, process and cgroup is removed afterwards, also on failure. Needs root; skipped otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from unittest import mock

import oomlab
import pytest
from unit_cgroups import UnitCgroup, systemd_hierarchy

pytestmark = pytest.mark.integration

MEMORY_ARGS = {"unit": "app.service", "memory_max": "2G", "memory_high": "1536M", "oom_score_adjust": 300}
NOBODY = 65534


def require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts, other users' processes, /run/oomguard.lock)")


def listing(directory):
    """{relative path: content} of every file below ``directory``."""
    found = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, directory)] = handle.read()
    return found


def read_adj(pid):
    with open("/proc/%d/oom_score_adj" % pid) as handle:
        return int(handle.read())


@pytest.fixture
def tmpfs():
    """mount(size="64k") -> a fresh tmpfs directory; remount_ro(path); everything unmounted afterwards."""
    require_root()
    if not shutil.which("mount"):
        pytest.skip("no mount command")
    mounted = []

    def mount(size="1m"):
        path = tempfile.mkdtemp(prefix="oomguard-tmpfs-")
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "oomguard-test", path],
            check=True,
            capture_output=True,
        )
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        if subprocess.run(["umount", path], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", path], capture_output=True, check=False)
        os.rmdir(path)


def remount_ro(path):
    subprocess.run(["mount", "-o", "remount,ro", path], check=True, capture_output=True)


@pytest.fixture
def unit_cgroup(lab):
    hierarchy = systemd_hierarchy()
    if not hierarchy:
        pytest.skip("no systemd cgroup hierarchy to make a unit's cgroup in")
    group = UnitCgroup(hierarchy)
    try:
        yield group
    finally:
        group.remove()


@pytest.fixture
def unit_with_a_process(lab, unit_cgroup):
    """(unit name, hog): a running process in a cgroup named like a unit, at oom_score_adj 0."""
    hog = lab.start_hog("ogf-" + unit_cgroup.unit[14:20], go=False)
    unit_cgroup.add(hog.pid)
    return unit_cgroup.unit, hog


# -- not root ---------------------------------------------------------------------------------------------------


@pytest.fixture
def as_nobody(tmp_path):
    """run_module keyword arguments that run the module as the unprivileged user nobody."""
    require_root()
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("no setpriv")
    wrapper = tmp_path / "python-as-nobody"
    wrapper.write_text(
        '#!/bin/sh\nexec %s --reuid=%d --regid=%d --clear-groups %s "$@"\n'
        % (setpriv, NOBODY, NOBODY, oomlab.DEFAULT_INTERPRETER)
    )
    wrapper.chmod(0o755)
    return {"interpreter": str(wrapper), "env": {"ANSIBLE_PIPELINING": "1"}}


@pytest.fixture
def root_owned_dir():
    """A directory that every user may enter but only root may write to, like /etc/systemd/system."""
    path = tempfile.mkdtemp(prefix="oomguard-units-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


def test_not_root_oom_score_adj_says_so_and_changes_nothing(lab, run_module, as_nobody):
    hog = lab.start_hog("ogf-nobody", go=False)
    expected = (
        "cannot set oom_score_adj to 300 for %d (ogf-nobody) from 0: they belong to another user and this module "
        "runs as uid %d; run the task as root (become: true); nothing was changed" % (hog.pid, NOBODY)
    )
    for check in (True, False):
        result = run_module("oom_score_adj", {"pid": [hog.pid], "value": 300}, check=check, **as_nobody)
        assert result.get("failed") and result["msg"] == expected, result
        assert read_adj(hog.pid) == 0


def test_not_root_systemd_memory_says_so_and_writes_nothing(run_module, as_nobody, root_owned_dir):
    expected = (
        "cannot create %s/app.service.d: Permission denied; drop-ins belong to root: run the task as root "
        "(become: true)" % root_owned_dir
    )
    for check in (True, False):
        result = run_module("systemd_memory", dict(MEMORY_ARGS, unit_dir=root_owned_dir), check=check, **as_nobody)
        assert result.get("failed") and result["msg"] == expected, result
    result = run_module(
        "oom_score_adj",
        {"unit": "app.service", "value": 300, "persist": True, "missing_ok": True, "unit_dir": root_owned_dir},
        **as_nobody,
    )
    assert result.get("failed") and result["msg"] == expected, result
    assert os.listdir(root_owned_dir) == []


# -- a read-only unit directory ---------------------------------------------------------------------------------


def test_read_only_unit_dir(run_module, tmpfs, unit_with_a_process):
    unit_dir = tmpfs()
    result = run_module("systemd_memory", dict(MEMORY_ARGS, unit_dir=unit_dir))
    assert result["changed"] is True
    before = listing(unit_dir)
    assert sorted(before) == ["app.service.d/50-oomguard-memory.conf", "app.service.d/50-oomguard-oom-score-adj.conf"]
    remount_ro(unit_dir)
    read_only = "Read-only file system (the file system is mounted read-only; nothing was changed)"
    cases = [
        ("systemd_memory", dict(MEMORY_ARGS, memory_max="3G"), "cannot write in %s/app.service.d" % unit_dir),
        ("systemd_memory", dict(MEMORY_ARGS, unit="new.service"), "cannot create %s/new.service.d" % unit_dir),
        (
            "systemd_memory",
            {"unit": "app.service", "state": "absent"},
            "cannot remove drop-in %s/app.service.d/50-oomguard-memory.conf" % unit_dir,
        ),
    ]
    for module, args, action in cases:
        for check in (True, False):  # check mode predicts the same failure
            result = run_module(module, dict(args, unit_dir=unit_dir), check=check)
            assert result.get("failed") and result["msg"] == "%s: %s" % (action, read_only), (check, result)
    # oom_score_adj writes the drop-in before it changes the running processes: those stay as they were
    unit, hog = unit_with_a_process
    result = run_module("oom_score_adj", {"unit": unit, "value": 300, "persist": True, "unit_dir": unit_dir})
    assert result.get("failed") and result["msg"] == "cannot create %s/%s.d: %s" % (unit_dir, unit, read_only)
    assert read_adj(hog.pid) == 0
    assert listing(unit_dir) == before


# -- a full disk ------------------------------------------------------------------------------------------------


def fill(directory):
    """Write into ``directory`` until the file system is full."""
    with open(os.path.join(directory, "filler"), "wb", buffering=0) as handle:
        chunk = b"\0" * 4096
        try:
            while True:
                handle.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc


def test_full_disk_leaves_the_old_dropins_intact(run_module, tmpfs, unit_with_a_process):
    unit_dir = tmpfs("64k")
    assert run_module("systemd_memory", dict(MEMORY_ARGS, unit_dir=unit_dir))["changed"] is True
    fill(unit_dir)
    before = listing(unit_dir)
    full = "No space left on device (the file system is full; the previous drop-in, if any, is unchanged)"
    result = run_module("systemd_memory", dict(MEMORY_ARGS, memory_max="3G", oom_score_adjust=400, unit_dir=unit_dir))
    assert result.get("failed"), result
    assert result["msg"] == "cannot write drop-in %s/app.service.d/50-oomguard-memory.conf: %s" % (unit_dir, full)
    assert listing(unit_dir) == before  # both drop-ins as they were, no temporary file
    result = run_module("systemd_memory", dict(MEMORY_ARGS, unit="new.service", unit_dir=unit_dir))
    assert result.get("failed") and full in result["msg"]
    assert sorted(os.listdir(unit_dir)) == ["app.service.d", "filler"]  # no new.service.d left behind
    unit, hog = unit_with_a_process
    result = run_module("oom_score_adj", {"unit": unit, "value": 300, "persist": True, "unit_dir": unit_dir})
    assert result.get("failed") and full in result["msg"]
    assert read_adj(hog.pid) == 0
    assert listing(unit_dir) == before


# -- a systemd too old for a key --------------------------------------------------------------------------------


def systemd_major():
    systemctl = shutil.which("systemctl")
    if not systemctl:
        return None
    out = subprocess.run([systemctl, "--version"], capture_output=True, text=True, check=False).stdout
    fields = out.split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None


def run_with_stderr(module, args):
    """Run a module through ansible like oomlab.run_module, and also return ansible's stderr (the warnings)."""
    command = [oomlab.ansible_executable(), "localhost", "-i", "localhost,", "-c", "local", "-m", oomlab.fqcn(module)]
    command += ["-a", json.dumps(args), "-e", json.dumps({"ansible_python_interpreter": oomlab.DEFAULT_INTERPRETER})]
    completed = subprocess.run(
        command,
        cwd=str(oomlab.REPO_ROOT),
        env=oomlab.ansible_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    result = json.loads(completed.stdout[completed.stdout.index("=> ") + 3 :])
    return result, " ".join(completed.stderr.split())


def test_a_key_too_new_for_this_systemd_is_a_warning_naming_key_and_versions(tmp_path):
    version = systemd_major()
    if version is None or version >= 253:
        pytest.skip("needs a systemctl older than 253 (this host: %s)" % version)
    result, stderr = run_with_stderr(
        "systemd_memory", {"unit": "app.service", "memory_zswap_max": "64M", "unit_dir": str(tmp_path)}
    )
    assert result["changed"] is True
    assert result["unsupported"] == [
        {"option": "memory_zswap_max", "directive": "MemoryZSwapMax", "needs": 253, "systemd": version}
    ]
    assert (
        "MemoryZSwapMax= needs systemd 253 or later for .service units; this host runs systemd %d, which ignores "
        "the key and logs 'Unknown key name'" % version
    ) in stderr
    assert "MemoryZSwapMax=64M" in (tmp_path / "app.service.d" / "50-oomguard-memory.conf").read_text()


# -- a process that vanishes between selection and write -------------------------------------------------------


class Exited(Exception):
    pass


def test_processes_vanishing_between_selection_and_write(lab, tmp_path):
    """Real processes and the real /proc; the only stand-in is the hook that ends two of them after the plan."""
    from ansible.module_utils.basic import AnsibleModule
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.oomguard.memory.plugins.module_utils import _host_lock, _live_oom_score
    from ansible_collections.oomguard.memory.plugins.modules import oom_score_adj

    sleepers = [
        subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL, start_new_session=True) for _number in range(3)
    ]
    gone, zombie, survivor = sleepers
    real_commit = _live_oom_score.LiveScores.commit

    def end_two_then_commit(self):
        gone.kill()
        gone.wait()  # reaped: /proc/PID is gone
        zombie.kill()
        deadline = time.monotonic() + 10
        while not _live_oom_score.is_exited(zombie.pid, "/proc"):  # killed, not reaped: a zombie
            assert time.monotonic() < deadline
            time.sleep(0.01)
        real_commit(self)

    def finish(self, **kwargs):
        raise Exited(kwargs)

    def fail(self, msg, **kwargs):
        raise Exited(dict(kwargs, msg=msg, failed=True))

    try:
        args = {"pid": [process.pid for process in sleepers], "value": 300}
        with patch_module_args(args), mock.patch.object(
            _live_oom_score.LiveScores, "commit", end_two_then_commit
        ), mock.patch.object(_host_lock, "LOCK_PATH", str(tmp_path / "lock")), mock.patch.multiple(
            AnsibleModule, exit_json=finish, fail_json=fail
        ), pytest.raises(Exited) as exited:
            oom_score_adj.main()
        result = exited.value.args[0]
        assert not result.get("failed"), result
        assert sorted(entry["pid"] for entry in result["vanished"]) == sorted([gone.pid, zombie.pid])
        assert result["processes"] == [{"pid": survivor.pid, "comm": "sleep", "before": 0, "after": 300}]
        assert result["changed"] is True
        assert read_adj(survivor.pid) == 300
    finally:
        for process in sleepers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# -- two runs at once -------------------------------------------------------------------------------------------


def test_two_runs_take_turns_on_the_host_lock(lab, run_module):
    from ansible_collections.oomguard.memory.plugins.module_utils._host_lock import LOCK_PATH, HostLock

    hog = lab.start_hog("ogf-lock", go=False)
    holder = HostLock(LOCK_PATH, timeout=60)
    if not holder.acquire():
        pytest.skip("cannot open %s" % LOCK_PATH)
    waiting = []
    try:
        with open("/proc/self/comm") as handle:
            comm = handle.read().strip()
        result = run_module("oom_score_adj", {"pid": [hog.pid], "value": 300, "lock_timeout": 1})
        assert result.get("failed"), result
        assert result["msg"] == (
            "another oomguard.memory task is changing this host: pid %d (%s) holds %s and did not release it within "
            "lock_timeout=1 seconds; run these tasks one after another, or raise lock_timeout"
            % (os.getpid(), comm, LOCK_PATH)
        )
        assert read_adj(hog.pid) == 0
        # a run with time to wait waits: nothing changes while the lock is held
        thread = threading.Thread(
            target=lambda: waiting.append(
                run_module("oom_score_adj", {"pid": [hog.pid], "value": 300, "lock_timeout": 120})
            )
        )
        thread.start()
        deadline = time.monotonic() + 8  # ansible starts the module within a few seconds
        while time.monotonic() < deadline:
            assert read_adj(hog.pid) == 0
            time.sleep(0.2)
        assert thread.is_alive()
    finally:
        holder.release()
    thread.join(180)
    assert waiting and waiting[0]["changed"] is True, waiting
    assert read_adj(hog.pid) == 300
