# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Host faults for oom_facts, made for real on this machine and run through ansible ([8/8] item 2).

Each fault ends in a documented degraded result (a source status, a reason, a warning), never a failed task, and
oom_facts changes nothing:

* not root: the module runs as ``nobody`` (``setpriv`` as the python interpreter, with pipelining so that the
  module reaches it on stdin): per source, what it cannot read, and what it can with the systemd-journal group
  and CAP_SYSLOG;
* ``kernel.dmesg_restrict=1`` (set by a fixture and restored, even on failure): /dev/kmsg and dmesg are refused;
* journald absent, volatile and persistent: a real systemd-journald in a mount namespace of the test's own, with
  its own /run/systemd, /run/log and /var/log (tmpfs); it imports the kernel ring buffer, so the journal holds a
  real OOM kill this test made;
* this machine's cgroup tree, with a container's cgroup made by the test;
* two runs at once while another task holds the protection modules' host lock.

The OOM kill: one hog killed by the kernel in a fresh memory cgroup, for the whole module. Mount namespaces,
journald, cgroups and processes are removed afterwards, also on failure. Needs root; skipped otherwise.
"""

from __future__ import annotations

import contextlib
import datetime
import grp
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import oomlab
import pytest

pytestmark = pytest.mark.integration

NOBODY = 65534
HOG_COMM = "ogf-facts-hog"
JOURNALD = next(
    (path for path in ("/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald") if os.path.exists(path)),
    None,
)
RESTRICT = "/proc/sys/kernel/dmesg_restrict"
FACTS_ARGS = {"max_kills": 10000, "top_processes": 0, "gce_metadata": "never"}


def require(*commands):
    if os.geteuid() != 0:
        pytest.skip("needs root (mount namespaces, other users, kernel.dmesg_restrict)")
    missing = [command for command in commands if not shutil.which(command)]
    if missing:
        pytest.skip("missing %s" % ", ".join(missing))


@pytest.fixture(scope="module")
def oom_kill():
    """A real kernel OOM kill of this test's hog: its pid, after the kernel printed it."""
    reason = oomlab.lab_unavailable_reason()
    if reason:
        pytest.skip("no real OOM kills on this machine: %s" % reason)
    with oomlab.KernelLab() as lab, oomlab.KmsgCursor() as kmsg:
        _group, hog = oomlab.oom_kill_once(lab, HOG_COMM)
        assert kmsg.wait_for(lambda record: "Killed process %d (" % hog.pid in record.message, timeout=10)
        yield hog.pid


def kernel_kills_of(oom, pid):
    return [kill for kill in oom["kills"] if kill["killer"] == "kernel" and kill["pid"] == pid]


def facts_of(result):
    assert not result.get("failed"), result
    assert result["changed"] is False
    return result["ansible_facts"]["oom"]


def warnings_of(result):
    """What ansible printed on stderr (the module's warnings), with its line breaks undone."""
    return " ".join(result["_ansible_stderr"].split())


# -- a mount namespace of the test's own ------------------------------------------------------------------------


class PrivateMounts:
    """A mount namespace of its own, held by a sleeping process: what is mounted in it is seen by the processes
    started in it (nsenter) and by no one else, and it goes away with its holder."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sleep", "3600"],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.started = []
        deadline = time.monotonic() + 10
        while os.readlink("/proc/%d/ns/mnt" % self.holder.pid) == os.readlink("/proc/self/ns/mnt"):
            assert time.monotonic() < deadline, "unshare did not make a mount namespace"
            time.sleep(0.01)

    def argv(self, *command):
        return ["nsenter", "--target", str(self.holder.pid), "--mount", "--", *command]

    def run(self, *command):
        return subprocess.run(self.argv(*command), check=True, capture_output=True, text=True, timeout=60).stdout

    def path(self, absolute):
        """Where a path of the namespace is seen from here (through the holder's root)."""
        return Path("/proc/%d/root" % self.holder.pid) / absolute.lstrip("/")

    def tmpfs(self, *points):
        for point in points:
            self.run("mount", "-t", "tmpfs", "-o", "mode=0755,size=64m", "oomguard-test", point)

    def start(self, *command, log):
        with open(log, "ab") as handle:
            process = subprocess.Popen(
                self.argv(*command), stdin=subprocess.DEVNULL, stdout=handle, stderr=handle, start_new_session=True
            )
        self.started.append(process)
        return process

    def interpreter(self, name, *prefix):
        """An ansible_python_interpreter that runs the module in this namespace, behind C(prefix) (setpriv ...)."""
        wrapper = self.directory / name
        wrapper.write_text('#!/bin/sh\nexec %s %s "$@"\n' % (" ".join(self.argv(*prefix)), oomlab.DEFAULT_INTERPRETER))
        wrapper.chmod(0o755)
        return {"interpreter": str(wrapper), "env": {"ANSIBLE_PIPELINING": "1"}}

    def close(self):
        for process in [*self.started, self.holder]:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


@pytest.fixture
def private_mounts(tmp_path):
    require("unshare", "nsenter", "mount")
    mounts = PrivateMounts(tmp_path)
    try:
        # the host's own logs, journal and journald sockets are out of sight
        mounts.tmpfs("/run/systemd", "/run/log", "/var/log")
        yield mounts
    finally:
        mounts.close()


def start_journald(mounts, storage, kill_pid):
    """A real systemd-journald in the namespace (Storage=C(storage)), with the kernel ring buffer imported; returns
    when the journal holds the test's OOM kill (flushed to /var/log/journal when persistent)."""
    if not JOURNALD or not os.path.exists("/etc/machine-id"):
        pytest.skip("no systemd-journald (or no /etc/machine-id) on this machine")
    conf = mounts.directory / "journald.conf"
    conf.write_text("[Journal]\nStorage=%s\nReadKMsg=yes\n" % storage)
    conf.chmod(0o644)
    mounts.run("mount", "--bind", str(conf), "/etc/systemd/journald.conf")
    if storage == "persistent":
        journal = mounts.path("/var/log/journal")
        journal.mkdir()
        os.chown(str(journal), 0, grp.getgrnam("systemd-journal").gr_gid)
        journal.chmod(0o2755)
    mounts.start("env", "SYSTEMD_LOG_TARGET=console", JOURNALD, log=mounts.directory / "journald.log")
    deadline = time.monotonic() + 30
    while not mounts.path("/run/systemd/journal/socket").exists():
        assert time.monotonic() < deadline, (mounts.directory / "journald.log").read_text()
        time.sleep(0.1)
    if storage == "persistent":
        mounts.run("journalctl", "--flush")
    needle = "Killed process %d (" % kill_pid
    while needle not in mounts.run("journalctl", "--no-pager", "--quiet", "--dmesg", "--output=cat"):
        assert time.monotonic() < deadline, "the journal never got the kernel's kill record"
        time.sleep(0.2)


@pytest.fixture
def dmesg_restricted():
    """kernel.dmesg_restrict=1 for the test (a global sysctl: restored at once afterwards, also on failure)."""
    require()
    with open(RESTRICT) as handle:
        before = handle.read().strip()
    try:
        if before != "1":
            with open(RESTRICT, "w") as handle:
                handle.write("1\n")
        yield
    finally:
        with open(RESTRICT) as handle:
            now = handle.read().strip()
        if now != before:
            with open(RESTRICT, "w") as handle:
                handle.write(before + "\n")


def as_nobody(*extra):
    return ("setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, *(extra or ("--clear-groups",)))


# -- not root, kernel.dmesg_restrict ----------------------------------------------------------------------------


def test_kmsg_and_dmesg_under_dmesg_restrict(oom_kill, dmesg_restricted, private_mounts):
    """nobody: both refused, said per source; nobody with CAP_SYSLOG (what the sysctl asks for): both read."""
    args = dict(FACTS_ARGS, log_sources=["kmsg", "dmesg"])
    oom = facts_of(oomlab.run_module("oom_facts", args, **private_mounts.interpreter("nobody", *as_nobody())))
    assert oom["sources"]["kmsg"] == {
        "status": "unreadable",
        "detail": "cannot read /dev/kmsg: needs CAP_SYSLOG or root (kernel.dmesg_restrict)",
        "kills": 0,
        "format": None,
        "untrusted": 0,
    }
    assert oom["sources"]["dmesg"]["status"] == "unreadable"
    assert oom["sources"]["dmesg"]["detail"].startswith("dmesg failed (rc=1): dmesg: read kernel buffer failed:")
    assert (oom["sources_unavailable"], oom["kill_count"]) == (["kmsg", "dmesg"], 0)
    syslog_cap = as_nobody("--clear-groups", "--inh-caps=+syslog", "--ambient-caps=+syslog")
    oom = facts_of(oomlab.run_module("oom_facts", args, **private_mounts.interpreter("syslog-cap", *syslog_cap)))
    assert {name: oom["sources"][name]["status"] for name in ("kmsg", "dmesg")} == {"kmsg": "ok", "dmesg": "ok"}
    assert [kill["source"] for kill in kernel_kills_of(oom, oom_kill)] == ["kmsg"]  # the same kill, read once


def test_not_root_reports_per_source_what_it_cannot_read(oom_kill, dmesg_restricted, private_mounts):
    """nobody on a host with a persistent journal, syslog files, sysstat files and /proc mounted hidepid=invisible:
    every refused part says so; memory, pressure, counters and sysctls are read all the same."""
    require("setpriv", "sadf")
    start_journald(private_mounts, "persistent", oom_kill)
    syslog = private_mounts.path("/var/log/syslog")
    syslog.write_text(
        time.strftime("%b %e %H:%M:%S") + " vm kernel: Out of memory: Killed process 4242 (worker) total-vm:10kB\n"
    )
    os.chown(str(syslog), 0, grp.getgrnam("adm").gr_gid)
    syslog.chmod(0o640)
    copied = private_mounts.path("/var/log/kern-copy.log")
    copied.write_text(syslog.read_text())
    copied.chmod(0o600)
    sysstat = private_mounts.path("/var/log/sysstat")
    sysstat.mkdir(mode=0o700)
    (sysstat / "sa01").write_bytes(b"x")
    private_mounts.run("mount", "-t", "proc", "-o", "hidepid=invisible", "proc", "/proc")
    args = dict(
        FACTS_ARGS,
        log_sources=["journal", "kmsg", "dmesg", "syslog"],
        log_paths=["/var/log/kern-copy.log"],
        top_processes=20,
        memory_history_days=1,
    )
    result = oomlab.run_module("oom_facts", args, **private_mounts.interpreter("nobody", *as_nobody()))
    oom = facts_of(result)
    statuses = {name: (source["status"], source["detail"]) for name, source in oom["sources"].items()}
    journal_files = sum(
        len(list(private_mounts.path(directory).glob("*/system*.journal*")))
        for directory in ("/run/log/journal", "/var/log/journal")
    )
    assert statuses["journal"][0] == "unreadable"
    assert statuses["journal"][1].startswith(
        "uid 65534 may not read the system journal (%d file(s), such as /var/log/journal/" % journal_files
    )
    assert statuses["journal"][1].endswith(
        "which holds the kernel's, systemd-oomd's and earlyoom's records; run the task as root (become: true), or as "
        "a member of the systemd-journal or adm group"
    )
    assert statuses["kmsg"] == ("unreadable", "cannot read /dev/kmsg: needs CAP_SYSLOG or root (kernel.dmesg_restrict)")
    assert statuses["dmesg"][0] == "unreadable"
    assert statuses["syslog"] == ("unreadable", "none of /var/log/syslog could be read")
    assert statuses["/var/log/kern-copy.log"] == (
        "unreadable",
        "cannot read /var/log/kern-copy.log: permission denied (run as root)",
    )
    assert sorted(oom["sources_unavailable"]) == sorted(
        ["journal", "kmsg", "dmesg", "syslog", "/var/log/kern-copy.log"]
    )
    assert oom["kill_count"] == 0
    assert oom["memory_history"]["reason"] == (
        "uid 65534 may not list /var/log/sysstat (Permission denied); run the task as root (become: true)"
    )
    assert oom["processes"] == []  # every process but its own chain is hidden from nobody
    warnings = warnings_of(result)
    assert (
        "processes: /proc is mounted with hidepid=invisible, so uid 65534 sees only its own processes and only those "
        "are listed; run the task as root (become: true)"
    ) in warnings
    assert "syslog: cannot read /var/log/syslog: permission denied (run as root)" in warnings
    # what every user may read
    assert oom["memory"]["MemTotal"] > 0 and oom["pressure"]["available"] is True
    assert oom["counters"]["vmstat_oom_kill_known"] is True and oom["counters"]["vmstat_oom_kill"] >= 1
    assert oom["sysctl"]["kernel.panic"] is not None and oom["cgroup_version"] is not None
    # the same user with the journal's group and CAP_SYSLOG reads the journal and the ring buffer
    allowed = as_nobody(
        "--groups=%d" % grp.getgrnam("systemd-journal").gr_gid, "--inh-caps=+syslog", "--ambient-caps=+syslog"
    )
    oom = facts_of(oomlab.run_module("oom_facts", args, **private_mounts.interpreter("allowed", *allowed)))
    assert {name: oom["sources"][name]["status"] for name in ("journal", "kmsg", "dmesg")} == dict.fromkeys(
        ("journal", "kmsg", "dmesg"), "ok"
    )
    assert [kill["source"] for kill in kernel_kills_of(oom, oom_kill)] == ["journal"]


# -- journald absent, volatile, persistent ------------------------------------------------------------------------


def test_without_journald_the_journal_is_absent_and_auto_reads_the_ring_buffer(oom_kill, private_mounts):
    as_root = private_mounts.interpreter("root")
    result = oomlab.run_module("oom_facts", dict(FACTS_ARGS, log_sources=["journal"]), **as_root)
    oom = facts_of(result)
    assert oom["sources"]["journal"]["status"] == "absent"
    assert oom["sources"]["journal"]["detail"] == "the journal has no files in /run/log/journal or /var/log/journal"
    assert "log source journal: the journal has no files in /run/log/journal or /var/log/journal" in warnings_of(result)
    oom = facts_of(oomlab.run_module("oom_facts", dict(FACTS_ARGS, log_sources=["auto"]), **as_root))
    assert [(name, source["status"]) for name, source in oom["sources"].items()] == [
        ("journal", "absent"),
        ("kmsg", "ok"),
    ]
    assert [kill["source"] for kill in kernel_kills_of(oom, oom_kill)] == ["kmsg"]


@pytest.mark.parametrize("storage", ["volatile", "persistent"])
def test_a_real_journal_volatile_or_persistent(oom_kill, private_mounts, storage):
    start_journald(private_mounts, storage, oom_kill)
    with open("/proc/stat") as handle:
        btime = int(next(line for line in handle if line.startswith("btime ")).split()[1])
    booted = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(btime))
    result = oomlab.run_module(
        "oom_facts", dict(FACTS_ARGS, log_sources=["auto"]), **private_mounts.interpreter("root")
    )
    oom = facts_of(result)
    assert list(oom["sources"]) == ["journal"]  # auto stops at a journal it can read
    assert [kill["source"] for kill in kernel_kills_of(oom, oom_kill)] == ["journal"]
    oldest = datetime.datetime.fromisoformat(oom["window"]["oldest_record"]).timestamp()
    assert oldest >= btime - 1  # the journal reaches back to this boot at most
    detail = oom["sources"]["journal"]["detail"]
    if storage == "volatile":
        assert detail == (
            "volatile: journald keeps the journal in /run/log/journal only (Storage=volatile, or no /var/log/journal), "
            "so it holds nothing from before this boot (%s)" % booted
        )
        assert "journal: %s; OOM kills before this boot are unknown" % detail in warnings_of(result)
    else:
        assert detail == ""
        assert "journal:" not in warnings_of(result)


# -- this machine's cgroup tree ----------------------------------------------------------------------------------


def test_this_machines_cgroup_tree(lab):
    """The real hierarchy that carries the memory controller (v1 memory on a hybrid host): a container's cgroup the
    test makes without a memory limit is listed, and no longer once it has one."""
    group = lab.memory_cgroup(256 * oomlab.MiB)
    container = secrets.token_hex(32)
    directory = group.path / ("docker-%s.scope" % container)
    directory.mkdir()
    try:
        oom = facts_of(oomlab.run_module("oom_facts", dict(FACTS_ARGS, log_sources=[])))
        with open("/proc/self/mounts") as handle:
            kinds = {line.split()[2] for line in handle if line.split()[2] in ("cgroup", "cgroup2")}
        expected = {frozenset({"cgroup", "cgroup2"}): ("hybrid", "2"), frozenset({"cgroup"}): ("1",)}
        assert oom["cgroup_version"] in expected.get(frozenset(kinds), ("2",))
        listed = [entry for entry in oom["containers_unlimited"] if entry["id"] == container]
        assert listed == [
            {
                "runtime": "docker",
                "id": container,
                "cgroup": "%s/docker-%s.scope" % (group.kernel_path, container),
                "memory_current": 0,
                "pod_uid": None,
            }
        ]
        limit = "memory.max" if group.version == 2 else "memory.limit_in_bytes"
        (directory / limit).write_text("%d\n" % (128 * oomlab.MiB))
        oom = facts_of(oomlab.run_module("oom_facts", dict(FACTS_ARGS, log_sources=[])))
        assert not [entry for entry in oom["containers_unlimited"] if entry["id"] == container]
    finally:
        directory.rmdir()


# -- two runs at once ---------------------------------------------------------------------------------------------


def test_two_runs_at_once_neither_wait_nor_disturb_each_other(oom_kill, tmp_path):
    """oom_facts takes no lock: two runs while a protection task holds /run/oomguard.lock both finish, with the
    same facts."""
    require()
    from ansible_collections.oomguard.memory.plugins.module_utils._host_lock import LOCK_PATH, HostLock

    log = tmp_path / "kern.log"
    line = time.strftime("%b %e %H:%M:%S") + " vm kernel: Out of memory: Killed process %d (worker) total-vm:10kB\n"
    log.write_text("".join(line % (10000 + number) for number in range(2000)) + "filler line\n" * 200000)
    args = dict(FACTS_ARGS, log_sources=["kmsg"], log_paths=[str(log)], top_processes=5)
    holder = HostLock(LOCK_PATH, timeout=60)
    if not holder.acquire():
        pytest.skip("cannot open %s" % LOCK_PATH)
    results = []
    try:
        runs = [threading.Thread(target=lambda: results.append(oomlab.run_module("oom_facts", args))) for _run in "ab"]
        started = time.monotonic()
        for run in runs:
            run.start()
        for run in runs:
            run.join(300)
        elapsed = time.monotonic() - started
    finally:
        holder.release()
    assert len(results) == 2, "a run did not finish in %d s" % elapsed
    first, second = (facts_of(result) for result in results)
    for oom in (first, second):
        assert oom["sources"][str(log)]["kills"] == 2000
        assert len(kernel_kills_of(oom, oom_kill)) == 1
    assert [kill["id"] for kill in first["kills"] if kill["source"] == str(log)] == [
        kill["id"] for kill in second["kills"] if kill["source"] == str(log)
    ]
    assert first["sources"][str(log)] == second["sources"][str(log)]
