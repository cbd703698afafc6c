# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fake host tree (proc/, sys/, run/) and its commands (systemctl, sadf) for oom_facts unit tests.

Everything here is invented; the layout and file formats are the kernel's, systemd's and sysstat's. The tree is
what ``OomFacts(module, root=...)`` reads instead of this machine's / (see plugins/module_utils/_host.py); the
commands are harness.FakeSystemctl and harness.FakeSadf, in ``FakeHost.commands`` for harness.run_module().
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from fakeproc import add_process
from harness import FakeSadf, FakeSystemctl, run_module

from ansible_collections.oomguard.memory.plugins.modules.oom_facts import OomFacts, build_module

INITIAL_PID_NAMESPACE = "pid:[4026531836]"
MODULE_PID = 5000


def _write(path, text, mode="w"):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode) as handle:
        handle.write(text)
    return path


def executable(path, text):
    path = _write(path, text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


class FakeHost:
    """A host tree below ``root``. Methods write the files the module reads; defaults make a plain v1 VM."""

    def __init__(self, root):
        self.root = Path(root)
        self.proc = self.root / "proc"
        self.proc.mkdir(parents=True)
        self.commands = {}
        self.systemctl = None
        self.identity()
        self.meminfo()
        self.vmstat(oom_kill=0)
        self.sysctls()
        self.pid_namespace(initial=True)

    def path(self, absolute):
        return self.root / absolute.lstrip("/")

    def write(self, absolute, text):
        return _write(self.path(absolute), text)

    def identity(
        self, hostname="web-1", boot_id="3f0c5b1e-2a4d-4c7e-9b1a-0d2e4f6a8b0c", uptime=86400.5, kernel="6.1.0"
    ):
        self.write("/proc/sys/kernel/hostname", hostname + "\n")
        self.write("/proc/sys/kernel/random/boot_id", boot_id + "\n")
        self.write("/proc/uptime", "%.2f 170000.00\n" % uptime)
        self.write("/proc/stat", "cpu  1 2 3 4\nbtime %d\nprocesses 4242\n" % (time.time() - uptime))
        self.write("/proc/sys/kernel/osrelease", kernel + "\n")

    def meminfo(self, total=4025152, available=1012345, free=512000, swap_total=0, swap_free=0):
        self.write(
            "/proc/meminfo",
            "MemTotal:       %d kB\nMemFree:        %d kB\nMemAvailable:   %d kB\nBuffers:           1024 kB\n"
            "SwapTotal:      %d kB\nSwapFree:       %d kB\nCommitLimit:    2012576 kB\nCommitted_AS:   3456789 kB\n"
            % (total, free, available, swap_total, swap_free),
        )

    def vmstat(self, oom_kill):
        text = "nr_free_pages 128000\npgfault 99999\n"
        if oom_kill is not None:
            text += "oom_kill %d\n" % oom_kill
        self.write("/proc/vmstat", text)

    def pressure(self, some_avg60=1.25, full_avg60=0.5, total=123456):
        self.write(
            "/proc/pressure/memory",
            "some avg10=0.00 avg60=%.2f avg300=0.40 total=%d\nfull avg10=0.00 avg60=%.2f avg300=0.10 total=%d\n"
            % (some_avg60, total, full_avg60, total // 4),
        )

    def sysctls(self, **values):
        defaults = {
            "vm/overcommit_memory": 0,
            "vm/overcommit_ratio": 50,
            "vm/panic_on_oom": 0,
            "vm/oom_kill_allocating_task": 0,
            "vm/oom_dump_tasks": 1,
            "vm/swappiness": 60,
            "vm/min_free_kbytes": 67584,
            "kernel/panic": 10,
        }
        defaults.update(values)
        for name, value in defaults.items():
            self.write("/proc/sys/" + name, "%s\n" % value)

    def dmi(self, vendor="Google", product="Google Compute Engine"):
        self.write("/sys/class/dmi/id/sys_vendor", vendor + "\n")
        self.write("/sys/class/dmi/id/product_name", product + "\n")

    def pid_namespace(self, initial):
        link = self.path("/proc/self/ns/pid")
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        os.symlink(INITIAL_PID_NAMESPACE if initial else "pid:[4026532415]", str(link))

    def self_cgroup(self, text):
        self.write("/proc/self/cgroup", text)

    def mounts(self, v1_memory=True, unified=True, extra_mountinfo="", v1_cpu=False, proc_options="rw"):
        """cgroup mounts as /proc/self/mounts and /proc/self/mountinfo list them (v1 memory + unified = hybrid);
        C(v1_cpu) adds a v1 cpu hierarchy, C(proc_options) are the options of /proc (hidepid=...)."""
        mounts = ["proc /proc proc %s 0 0" % proc_options]
        info = ["22 27 0:21 / /proc rw,relatime - proc proc %s" % proc_options]
        if v1_cpu:
            mounts.append("cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0")
            info.append("34 31 0:31 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu")
        if v1_memory:
            mounts.append("cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0")
            info.append("35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory")
            self.path("/sys/fs/cgroup/memory").mkdir(parents=True, exist_ok=True)
        if unified:
            point = "/sys/fs/cgroup/unified" if v1_memory or v1_cpu else "/sys/fs/cgroup"
            mounts.append("cgroup2 %s cgroup2 rw 0 0" % point)
            info.append("41 31 0:38 / %s rw,relatime - cgroup2 cgroup2 rw" % point)
            self.path(point).mkdir(parents=True, exist_ok=True)
        self.write("/proc/self/mounts", "\n".join(mounts) + "\n")
        self.write("/proc/self/mountinfo", "\n".join(info) + "\n" + extra_mountinfo)

    def cgroup(self, path, hierarchy="memory", **files):
        """Create a cgroup directory below /sys/fs/cgroup/<hierarchy> with the given files (name=content)."""
        directory = self.path("/sys/fs/cgroup/%s/%s" % (hierarchy, path.strip("/")))
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (directory / name.replace("__", ".")).write_text(content)
        return directory

    def process(self, pid, comm, score=0, rss_kb=1000, hwm_kb=None, swap_kb=0, uid=0, **fakeproc):
        """A process: fakeproc.add_process()'s files (C(fakeproc) are its arguments: ppid, cmdline, memory, systemd,
        adj, kthread) plus oom_score and a status file with Uid, VmRSS, VmHWM and VmSwap."""
        directory = Path(add_process(self.proc, pid, comm, **fakeproc))
        (directory / "oom_score").write_text("%d\n" % score)
        lines = ["Name:\t%s" % comm, "PPid:\t%d" % fakeproc.get("ppid", 1), "Uid:\t%d\t%d\t%d\t%d" % ((uid,) * 4)]
        if not fakeproc.get("kthread"):
            lines += [
                "VmHWM:\t%8d kB" % (hwm_kb if hwm_kb is not None else rss_kb),
                "VmRSS:\t%8d kB" % rss_kb,
                "VmSwap:\t%8d kB" % swap_kb,
            ]
        (directory / "status").write_text("\n".join(lines) + "\n")
        return directory

    def systemd(self, units):
        """Make systemd PID 1 (/run/systemd/system) with these units ({Id: {property: text}}); return systemctl."""
        self.path("/run/systemd/system").mkdir(parents=True, exist_ok=True)
        self.systemctl = self.commands["systemctl"] = FakeSystemctl(units)
        return self.systemctl

    def systemctl_calls(self):
        """The argv of every systemctl call, first to last."""
        return self.systemctl.calls if self.systemctl else []

    def sadf(self):
        self.commands["sadf"] = FakeSadf()
        return self.commands["sadf"]


def sadf_document(samples, nodename="web-1", interval=600):
    """A ``sadf -j FILE -- -r`` document: samples are (date, time, avail_kb) tuples, times in UTC."""
    statistics = [
        {
            "timestamp": {"date": date, "time": clock, "utc": 1, "interval": interval},
            "memory": {
                "memfree": max(avail - 200000, 0),
                "avail": avail,
                "memused": 4025152 - avail,
                "memused-percent": round((4025152 - avail) * 100.0 / 4025152, 2),
                "buffers": 1024,
                "cached": 200000,
                "commit": 3456789,
                "commit-percent": 85.9,
                "active": 100,
                "inactive": 100,
                "dirty": 0,
            },
        }
        for date, clock, avail in samples
    ]
    return {
        "sysstat": {
            "hosts": [
                {
                    "nodename": nodename,
                    "sysname": "Linux",
                    "release": "6.1.0",
                    "machine": "x86_64",
                    "number-of-cpus": 2,
                    "file-date": samples[0][0] if samples else "2026-03-01",
                    "file-utc-time": "00:00:01",
                    "timezone": "UTC",
                    "statistics": statistics,
                    "restarts": [],
                }
            ]
        }
    }


def gather(args, host, self_pid=MODULE_PID, patches=()):
    """build_module() + OomFacts over the fake host tree and its commands (harness.run_module); returns
    (facts, warnings). C(host) None reads this machine's own / with its own commands."""

    def entry():
        module = build_module()
        facts = OomFacts(module, root=str(host.root) if host else "/", self_pid=self_pid).gather()
        module.exit_json(changed=False, ansible_facts={"oom": facts})

    result, warnings = run_module(entry, args, commands=host.commands if host else None, patches=patches)
    assert result["rc"] == 0, result
    return result["ansible_facts"]["oom"], warnings
