# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""oom_facts against hostile and careless input ([4/8]): each test runs the real module, or the parser, in a child
process with a timeout (a regression hangs only the test), under an address-space cap (a regression cannot take
the machine down), and kills the child's whole process group when it has to.

Peak RSS comes from getrusage(RUSAGE_CHILDREN) in a fresh wrapper process whose only child is the module.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
MODULE = REPO / "plugins" / "modules" / "oom_facts.py"
COLLECTIONS = REPO / ".cache" / "collections"
MIB = 1 << 20
ADDRESS_SPACE_CAP = 1024 * MIB
RSS_LIMIT_KIB = 100 * 1024
KILLED = (
    "Mar  3 10:11:12 vm-1 kernel: Out of memory: Killed process 4242 (worker) total-vm:2097152kB, "
    "anon-rss:1048576kB, file-rss:512kB, shmem-rss:0kB, UID:1001 pgtables:2100kB oom_score_adj:0\n"
)

WRAPPER = r"""
import json, resource, subprocess, sys
limit = int(sys.argv[1])

def cap():
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

child = subprocess.run(sys.argv[2:], preexec_fn=cap, capture_output=True)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({
    "rc": child.returncode,
    "maxrss_kib": usage.ru_maxrss,
    "stdout": child.stdout.decode("utf-8", "replace"),
    "stderr": child.stderr.decode("utf-8", "replace")[-3000:],
}))
"""


def run_child(argv, timeout, env=None):
    """Run argv in its own process group; kill the whole group when it overruns or the test fails."""
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=env, cwd=str(REPO)
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("%s did not finish within %d s" % (argv[-1], timeout))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, stderr.decode("utf-8", "replace")[-3000:]
    return stdout.decode("utf-8", "replace")


def run_module(tmp_path, args, timeout=120):
    """Run oom_facts as Ansible would (its arguments in a JSON file); (result, peak RSS in KiB, seconds)."""
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"top_processes": 0, **args}}))
    env = {**os.environ, "PYTHONPATH": str(COLLECTIONS)}
    argv = [sys.executable, "-c", WRAPPER, str(ADDRESS_SPACE_CAP), sys.executable, str(MODULE), str(args_file)]
    report = json.loads(run_child(argv, timeout, env))
    stdout = report["stdout"]
    assert "{" in stdout, report
    return json.loads(stdout[stdout.index("{") :]), report["maxrss_kib"]


def warnings_of(result):
    return [item["event"]["msg"] if isinstance(item, dict) else item for item in result.get("warnings", [])]


# A log path that is not a regular file fails the task at once, naming it


@pytest.fixture
def special_paths(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "socket"))
    try:
        yield {
            "fifo": (str(fifo), "is a FIFO"),
            "socket": (str(tmp_path / "socket"), "is a socket"),
            "directory": (str(tmp_path), "is a directory"),
            "dev-zero": ("/dev/zero", "is a character device"),
            "dev-urandom": ("/dev/urandom", "is a character device"),
            "dev-kmsg": ("/dev/kmsg", "is a character device"),
            "relative": ("var/log/syslog", "is a relative path"),
            "missing": (str(tmp_path / "missing.log"), "does not exist"),
        }
    finally:
        listener.close()


@pytest.mark.parametrize("kind", ["fifo", "socket", "directory", "dev-zero", "dev-urandom", "dev-kmsg", "relative"])
def test_special_files_are_refused_at_once(tmp_path, special_paths, kind):
    """Bug fixed: a FIFO, /dev/urandom or /dev/kmsg never returned, /dev/zero grew past 20 GB, a directory, a
    missing or relative path read as "no OOM kills"."""
    path, words = special_paths[kind]
    result, _rss = run_module(tmp_path, {"log_sources": [], "log_paths": [path]}, timeout=60)
    assert result["failed"] is True
    assert result["msg"].startswith("log_paths: %s %s" % (path, words)), result["msg"]


def test_missing_path_fails_even_after_a_good_one(tmp_path, special_paths):
    good = tmp_path / "kern.log"
    good.write_text(KILLED)
    missing, _words = special_paths["missing"]
    result, _rss = run_module(tmp_path, {"log_sources": [], "log_paths": [str(good), missing]}, timeout=60)
    assert (result["failed"], result["msg"]) == (True, "log_paths: %s does not exist" % missing)


# Bounded memory: a huge line, a gzip bomb


def test_huge_file_without_newline_keeps_rss_bounded(tmp_path):
    """1 GiB of NUL bytes without a newline (a sparse file) after one kill line: the kill counts, memory stays flat."""
    path = tmp_path / "sparse.log"
    with path.open("wb") as handle:
        handle.write(KILLED.encode())
        handle.truncate(len(KILLED) + 1024 * MIB)
    result, rss_kib = run_module(tmp_path, {"log_sources": [], "log_paths": [str(path)]}, timeout=300)
    oom = result["ansible_facts"]["oom"]
    assert (oom["kill_count"], oom["sources"][str(path)]["status"]) == (1, "ok")
    assert rss_kib < RSS_LIMIT_KIB, "peak RSS %d KiB" % rss_kib


def gzip_member_of_zeros(size):
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(MIB)
    parts = [compressor.compress(chunk) for _index in range(size // MIB)]
    return b"".join(parts) + compressor.flush()


def test_gzip_bomb_keeps_rss_bounded_and_stops_at_the_cap(tmp_path):
    """1.5 GiB of zeros in 24 concatenated gzip members (1.5 MB on disk): read to the 1 GiB cap, then a warning."""
    path = tmp_path / "bomb.log.gz"
    member = gzip_member_of_zeros(64 * MIB)
    with path.open("wb") as handle:
        handle.write(gzip.compress(KILLED.encode()))
        for _index in range(24):
            handle.write(member)
    assert path.stat().st_size < 4 * MIB
    result, rss_kib = run_module(tmp_path, {"log_sources": [], "log_paths": [str(path)]}, timeout=300)
    oom = result["ansible_facts"]["oom"]
    assert (oom["kill_count"], oom["sources"][str(path)]["status"]) == (1, "partial")
    cap_warning = (
        "%s: stopped after 1073741824 bytes of decompressed text (the cap for one gzip file); later records in "
        "it were not read" % path
    )
    assert cap_warning in warnings_of(result)
    assert rss_kib < RSS_LIMIT_KIB, "peak RSS %d KiB" % rss_kib


def test_truncated_gzip_counts_the_kills_before_the_cut(tmp_path):
    data = gzip.compress(KILLED.encode() + b"Mar  3 10:11:13 vm-1 kernel: filler\n" * 50000)
    path = tmp_path / "kern.log.2.gz"
    path.write_bytes(data[: len(data) // 2])
    result, _rss = run_module(tmp_path, {"log_sources": [], "log_paths": [str(path)]})
    oom = result["ansible_facts"]["oom"]
    assert (oom["kill_count"], oom["sources"][str(path)]["status"]) == (1, "partial")
    assert oom["sources_unavailable"] == []
    assert [warning for warning in warnings_of(result) if "is truncated after" in warning]


# Duplicates


def test_one_file_under_two_names_is_read_once(tmp_path):
    path = tmp_path / "kern.log"
    path.write_text(KILLED + KILLED)
    other = tmp_path / "kern.log.copy"
    os.link(path, other)
    result, _rss = run_module(tmp_path, {"log_sources": [], "log_paths": [str(path), str(path), str(other)]})
    oom = result["ansible_facts"]["oom"]
    assert oom["kill_count"] == 1
    assert oom["sources"][str(path)]["kills"] == 1
    assert oom["sources"][str(other)] == {
        "status": "ok",
        "detail": "the same file as %s, read once" % path,
        "kills": 0,
        "untrusted": 0,
        "format": "text",
    }


# Crafted lines: time linear in the line's length

CRAFTED = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import OomLogParser, MAX_LINE_CHARS

def crafted(size):
    unit = ",cpuset=x,mems_allowed=y,oom_memcg=z,task_memcg=w,task=v"
    yield "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null)" + unit * (size // len(unit))
    yield "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null)" + unit * (size // len(unit)) + ",pid=1,uid=0"
    yield "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null)" + unit * (size // len(unit)) + ",pid=1,uid=0 x"
    yield "kernel: oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=" + ",nodemask=" * (size // 10)
    yield "Killed process 1 (" + ") total-vm:" * (size // 11)
    yield "Out of memory: Killed process 1 (" + ")" * size
    yield "Killed process 1 (x) " + "total-vm:1kB, " * (size // 14)
    yield "x invoked oom-killer: gfp_mask=0x0, nodemask=" + ", " * (size // 2)
    yield " invoked oom-killer: gfp_mask=" * (size // 29)
    yield 'sending SIGTERM to process 1 "' + 'sending SIGTERM to process 1 "' * (size // 30)
    yield "Killing process '" + "Killing process '" * (size // 17)
    yield "Killed /" + "a" * size + " due to memory pressure for " + "b" * size
    yield "Marked /x for killing due to memory pressure for /y being " + "1." * (size // 2)
    yield "Mar  3 10:11:12 " + "a" * size + " kernel: x"
    yield "Mar " * (size // 4)
    yield "[" + " " * size + "1.0] x"
    yield "[" + "Mon Jan  1 10:11:12 2026" * (size // 24)
    yield "2026-03-03T10:11:12" + "," * size
    yield "\x1b[" + "1;" * (size // 2)
    yield "Task in " + "/a killed as a result of limit of " * (size // 34)
    yield "oom_reaper: reaped process 1 (" + "), now anon-rss:" * (size // 16)
    yield "CPU: 1 PID: 1 Comm: " + "x" * size
    yield "a.service: systemd-oomd killed " + "1" * size
    yield "Kernel panic - not syncing: Out of memory" + " " * size

worst = {}
for size in (2300, 5500, 8192, MAX_LINE_CHARS, 50 * MAX_LINE_CHARS):
    for index, text in enumerate(crafted(size)):
        for kernel_only in (False, True):
            # Each crafted line is followed by a kill of the pid it names, and the records are returned, so that
            # every parse the parser defers (the summary at its kill, the sizes at the record) runs too.
            start = time.perf_counter()
            parser = OomLogParser()
            parser.feed_text(text, "crafted", kernel_only=kernel_only)
            parser.feed_text("Out of memory: Killed process 1 (v)", "crafted", kernel_only=True)
            parser.feed_text(text, "crafted", kernel_only=kernel_only)
            parser.result()
            worst[index] = max(worst.get(index, 0.0), time.perf_counter() - start)
print(json.dumps(worst))
"""


def test_crafted_lines_parse_in_linear_time():
    """Bug fixed: a 5.5 KB oom-kill: line took 48 s (the summary regex backtracked); each crafted line now takes well
    under a second, 16 KiB or 800 KiB (cut to 16 KiB first)."""
    worst = json.loads(run_child([sys.executable, "-c", CRAFTED, str(COLLECTIONS)], timeout=120))
    slow = {index: seconds for index, seconds in worst.items() if seconds >= 1.0}
    assert not slow, slow
