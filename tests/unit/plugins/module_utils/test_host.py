# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Host readers against a fake tree, and against this machine's real /proc where the answer is known."""

from __future__ import annotations

import os
import platform
import socket

from ansible_collections.oomguard.memory.plugins.module_utils._host import (
    MEMINFO_KEYS,
    SYSCTLS,
    dmi_says_gce,
    host_identity,
    read_dmi,
    read_meminfo,
    read_pressure,
    read_sysctls,
    read_vmstat_oom_kill,
    under,
)


def put(root, path, text):
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def test_under():
    assert under("/", "/proc/meminfo") == "/proc/meminfo"
    assert under("/srv/fake", "/proc/meminfo") == "/srv/fake/proc/meminfo"


def test_meminfo_fills_missing_keys_with_zero(tmp_path):
    put(tmp_path, "/proc/meminfo", "MemTotal:  1000 kB\nMemFree:  200 kB\n")
    assert read_meminfo(str(tmp_path)) == dict(dict.fromkeys(MEMINFO_KEYS, 0), MemTotal=1000, MemFree=200)


def test_vmstat_without_oom_kill_is_unknown(tmp_path):
    put(tmp_path, "/proc/vmstat", "nr_free_pages 5\n")
    assert read_vmstat_oom_kill(str(tmp_path)) == (0, False)
    put(tmp_path, "/proc/vmstat", "nr_free_pages 5\noom_kill 7\n")
    assert read_vmstat_oom_kill(str(tmp_path)) == (7, True)


def test_pressure_absent(tmp_path):
    zero = {"avg10": 0.0, "avg60": 0.0, "avg300": 0.0, "total": 0}
    assert read_pressure(str(tmp_path)) == {"available": False, "some": zero, "full": zero}


def test_sysctls_missing_and_odd_are_none(tmp_path):
    put(tmp_path, "/proc/sys/vm/panic_on_oom", "2\n")
    put(tmp_path, "/proc/sys/kernel/panic", "not a number\n")
    values = read_sysctls(str(tmp_path))
    assert values == dict(dict.fromkeys(SYSCTLS), **{"vm.panic_on_oom": 2})


def test_identity_and_dmi_of_a_fake_gce_vm(tmp_path):
    put(tmp_path, "/proc/sys/kernel/hostname", "web-1\n")
    put(tmp_path, "/proc/sys/kernel/random/boot_id", "3f0c5b1e-2a4d-4c7e-9b1a-0d2e4f6a8b0c\n")
    put(tmp_path, "/proc/uptime", "6000.25 12000.00\n")
    put(tmp_path, "/proc/sys/kernel/osrelease", "6.1.0-18-cloud-amd64\n")
    put(tmp_path, "/sys/class/dmi/id/sys_vendor", "Google\n")
    put(tmp_path, "/sys/class/dmi/id/product_name", "Google Compute Engine\n")
    assert host_identity(str(tmp_path)) == {
        "hostname": "web-1",
        "boot_id": "3f0c5b1e2a4d4c7e9b1a0d2e4f6a8b0c",
        "uptime_s": 6000.25,
        "kernel": "6.1.0-18-cloud-amd64",
    }
    dmi = read_dmi(str(tmp_path))
    assert dmi == {"vendor": "Google", "product": "Google Compute Engine"}
    assert dmi_says_gce(dmi)
    assert not dmi_says_gce({"vendor": "QEMU", "product": "Standard PC (i440FX + PIIX, 1996)"})
    assert not dmi_says_gce({"vendor": None, "product": None})


def test_this_machine():
    identity = host_identity()
    assert identity["hostname"] == socket.gethostname()
    assert identity["kernel"] == platform.release()
    assert len(identity["boot_id"]) == 32
    assert identity["uptime_s"] > 0
    memory = read_meminfo()
    assert memory["MemTotal"] * 1024 == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
