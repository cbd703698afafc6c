# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Host readers against a fake tree, and against this machine's real /proc where the answer is known."""

from __future__ import annotations

import os
import platform
import socket

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils import _host


def put(root, path, text):
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def test_under():
    assert _host.under("/", "/proc/meminfo") == "/proc/meminfo"
    assert _host.under("/srv/fake", "/proc/meminfo") == "/srv/fake/proc/meminfo"


def test_meminfo_fills_missing_keys_with_zero(tmp_path):
    put(tmp_path, "/proc/meminfo", "MemTotal:  1000 kB\nMemFree:  200 kB\n")
    assert _host.read_meminfo(str(tmp_path)) == dict(dict.fromkeys(_host.MEMINFO_KEYS, 0), MemTotal=1000, MemFree=200)


def test_vmstat_without_oom_kill_is_unknown(tmp_path):
    put(tmp_path, "/proc/vmstat", "nr_free_pages 5\n")
    assert _host.read_vmstat_oom_kill(str(tmp_path)) == (0, False)
    put(tmp_path, "/proc/vmstat", "nr_free_pages 5\noom_kill 7\n")
    assert _host.read_vmstat_oom_kill(str(tmp_path)) == (7, True)


def test_pressure_absent(tmp_path):
    zero = {"avg10": 0.0, "avg60": 0.0, "avg300": 0.0, "total": 0}
    assert _host.read_pressure(str(tmp_path)) == {"available": False, "some": zero, "full": zero}


def test_sysctls_missing_and_odd_are_none(tmp_path):
    put(tmp_path, "/proc/sys/vm/panic_on_oom", "2\n")
    put(tmp_path, "/proc/sys/kernel/panic", "not a number\n")
    values = _host.read_sysctls(str(tmp_path))
    assert values == dict(dict.fromkeys(_host.SYSCTLS), **{"vm.panic_on_oom": 2})


def test_identity_and_dmi_of_a_fake_gce_vm(tmp_path):
    put(tmp_path, "/proc/sys/kernel/hostname", "web-1\n")
    put(tmp_path, "/proc/sys/kernel/random/boot_id", "3f0c5b1e-2a4d-4c7e-9b1a-0d2e4f6a8b0c\n")
    put(tmp_path, "/proc/uptime", "6000.25 12000.00\n")
    put(tmp_path, "/proc/sys/kernel/osrelease", "6.1.0-18-cloud-amd64\n")
    put(tmp_path, "/sys/class/dmi/id/sys_vendor", "Google\n")
    put(tmp_path, "/sys/class/dmi/id/product_name", "Google Compute Engine\n")
    assert _host.host_identity(str(tmp_path)) == {
        "hostname": "web-1",
        "boot_id": "3f0c5b1e2a4d4c7e9b1a0d2e4f6a8b0c",
        "uptime_s": 6000.25,
        "kernel": "6.1.0-18-cloud-amd64",
    }
    dmi = _host.read_dmi(str(tmp_path))
    assert dmi == {"vendor": "Google", "product": "Google Compute Engine"}
    assert _host.dmi_says_gce(dmi)
    assert not _host.dmi_says_gce({"vendor": "QEMU", "product": "Standard PC (i440FX + PIIX, 1996)"})
    assert not _host.dmi_says_gce({"vendor": None, "product": None})


def test_this_machine():
    identity = _host.host_identity()
    assert identity["hostname"] == socket.gethostname()
    assert identity["kernel"] == platform.release()
    assert len(identity["boot_id"]) == 32
    assert identity["uptime_s"] > 0
    memory = _host.read_meminfo()
    assert memory["MemTotal"] * 1024 == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@pytest.mark.parametrize(
    ("options", "hidden"),
    [
        ("rw,nosuid,nodev,noexec,relatime", None),
        ("rw,relatime,hidepid=invisible", "invisible"),
        ("rw,relatime,hidepid=2", "2"),
        ("rw,relatime,hidepid=noaccess", "noaccess"),
        ("rw,relatime,hidepid=off", None),
        ("rw,relatime,hidepid=0", None),
        ("rw,relatime,gid=%d,hidepid=invisible" % os.getegid(), None),  # this process's group may see everything
        ("rw,relatime,gid=4242,hidepid=invisible", None if 4242 in os.getgroups() else "invisible"),
    ],
)
def test_proc_hidepid(tmp_path, options, hidden):
    put(tmp_path, "/proc/self/mounts", "sysfs /sys sysfs rw 0 0\nproc /proc proc %s 0 0\n" % options)
    assert _host.proc_hidepid(str(tmp_path)) == hidden


def test_proc_hidepid_of_the_last_mount_and_without_a_mount_table(tmp_path):
    assert _host.proc_hidepid(str(tmp_path)) is None
    put(tmp_path, "/proc/self/mounts", "proc /proc proc rw,hidepid=2 0 0\nproc /proc proc rw 0 0\n")
    assert _host.proc_hidepid(str(tmp_path)) is None
    put(tmp_path, "/proc/self/mounts", "proc /proc proc rw 0 0\nproc /proc proc rw,hidepid=2 0 0\n")
    assert _host.proc_hidepid(str(tmp_path)) == "2"
