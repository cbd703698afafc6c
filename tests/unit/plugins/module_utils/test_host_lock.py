# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host lock: real flock()s on a lock file in a scratch directory, held by this process and by a child."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils._host_lock import HostLock, LockError, LockTimeout

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, b"%d\\n" % os.getpid())
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_acquire_release_and_the_pid_in_the_file(tmp_path):
    lock = HostLock(str(tmp_path / "lock"), timeout=0)
    assert lock.acquire() is True
    assert (tmp_path / "lock").read_text() == "%d\n" % os.getpid()
    assert oct(os.stat(tmp_path / "lock").st_mode & 0o777) == "0o600"
    lock.release()
    lock.release()  # twice is harmless
    again = HostLock(str(tmp_path / "lock"), timeout=0)
    assert again.acquire() is True
    again.release()


def test_timeout_names_the_holder(tmp_path):
    path = str(tmp_path / "lock")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, path, "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(LockTimeout) as caught:
            HostLock(path, timeout=1).acquire()
        assert time.monotonic() - started >= 1
        with open("/proc/%d/comm" % holder.pid) as handle:
            comm = handle.read().strip()
        assert str(caught.value) == (
            "another oomguard.memory task is changing this host: pid %d (%s) holds %s and did not release it "
            "within lock_timeout=1 seconds; run these tasks one after another, or raise lock_timeout"
            % (holder.pid, comm, path)
        )
    finally:
        holder.kill()
        holder.wait()


def test_waits_until_the_holder_exits(tmp_path):
    path = str(tmp_path / "lock")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, path, "1"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        lock = HostLock(path, timeout=60)
        assert lock.acquire() is True
        assert holder.poll() is not None  # only after the holder had gone
        lock.release()
    finally:
        holder.kill()
        holder.wait()


def test_a_file_that_cannot_be_opened_means_no_lock(tmp_path):
    assert HostLock(str(tmp_path / "missing" / "lock"), timeout=0).acquire() is False


def test_a_symlink_is_not_followed(tmp_path):
    (tmp_path / "target").write_text("")
    os.symlink(str(tmp_path / "target"), str(tmp_path / "lock"))
    with pytest.raises(LockError, match=r"cannot open the lock file .*lock: Too many levels of symbolic links"):
        HostLock(str(tmp_path / "lock"), timeout=0).acquire()
