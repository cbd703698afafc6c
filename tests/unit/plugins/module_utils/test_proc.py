# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the /proc readers against this machine's real /proc."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils._proc import (
    ProcessGone,
    ancestors,
    describe,
    is_kernel_thread,
    is_python,
    read_cgroups,
    read_cmdline,
    read_stat,
    top_by_oom_score,
)


def own(name):
    with open("/proc/self/%s" % name, encoding="utf-8") as handle:
        return handle.read().strip()


def test_describe_this_process():
    info = describe(os.getpid())
    assert info["pid"] == os.getpid()
    assert info["comm"] == own("comm")
    assert info["python"] is True
    assert info["oom_score_adj"] == int(own("oom_score_adj"))
    assert info["uid"] == os.getuid()
    assert info["rss_kb"] > 1024
    assert 0 <= info["oom_score"] <= 2000
    assert info["cmdline"].split()[0] == sys.argv[0] or os.path.basename(sys.executable) in info["cmdline"]
    memory, _systemd = read_cgroups(os.getpid())
    assert info["cgroup"] == memory


def test_read_stat_of_this_process():
    comm, state, ppid, _flags = read_stat(os.getpid())
    assert (comm, state, ppid) == (own("comm"), "R", os.getppid())
    assert not is_kernel_thread(os.getpid())
    assert os.getppid() in ancestors(os.getpid())


def find_kernel_thread():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    if handle.read() == b"" and read_stat(int(entry))[2] in (0, 2):
                        return int(entry)
            except (OSError, ProcessGone):
                continue
    return None


def test_kernel_threads_are_detected():
    pid = find_kernel_thread()
    if pid is None:
        pytest.skip("no kernel thread visible in this pid namespace")
    assert is_kernel_thread(pid)
    assert read_cmdline(pid) == ""
    assert pid not in [info["pid"] for info in top_by_oom_score(10000)]


def test_vanished_pid_raises_process_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with pytest.raises(ProcessGone):
        describe(child.pid)
    with pytest.raises(ProcessGone):
        read_stat(child.pid)


def test_top_by_oom_score_sorted_and_collects_comms():
    comms = set()
    top = top_by_oom_score(5, seen_comms=comms)
    assert 1 <= len(top) <= 5
    scores = [info["oom_score"] for info in top]
    assert scores == sorted(scores, reverse=True)
    assert own("comm") in comms
    assert top_by_oom_score(0) == []


def test_read_stat_comm_with_spaces_and_parentheses(tmp_path):
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "stat").write_text("4242 (my (odd) worker) S 1 4242 4242 0 -1 4194560 1 2 3 4\n")
    assert read_stat(4242, proc=str(tmp_path)) == ("my (odd) worker", "S", 1, 4194560)


@pytest.mark.parametrize(
    ("comm", "argv0", "expected"),
    [
        ("python3", "", True),
        ("python3.11", "", True),
        ("pytest", "/srv/app/.venv/bin/python3", True),
        ("worker", "/usr/bin/python", True),
        ("worker", "/usr/bin/pythonista", False),
        ("ipython", "/usr/bin/ipython", False),
        ("pypy3", None, True),
        ("Python2.7", None, True),
        ("pythonic", None, False),
        (None, None, False),
        ("", "", False),
    ],
)
def test_is_python(comm, argv0, expected):
    assert is_python(comm, argv0) is expected
