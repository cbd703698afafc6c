# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host's identity and memory state: /proc and /sys readers for oom_facts.

PRIVATE to the oomguard.memory collection. No compatibility promise.

Every reader takes ``root`` (default ``/``) so that unit tests can point it at a fake tree holding
``proc/...`` and ``sys/...``. Nothing here writes anywhere.
"""

from __future__ import annotations

import os
import socket

from ansible_collections.oomguard.memory.plugins.module_utils._keyvalue import (
    read_int_values,
    read_named_fields,
    read_value,
)

MEMINFO_KEYS = ("MemTotal", "MemAvailable", "MemFree", "SwapTotal", "SwapFree", "CommitLimit", "Committed_AS")
SYSCTLS = (
    "vm.overcommit_memory",
    "vm.overcommit_ratio",
    "vm.panic_on_oom",
    "vm.oom_kill_allocating_task",
    "vm.oom_dump_tasks",
    "vm.swappiness",
    "vm.min_free_kbytes",
    "kernel.panic",
)
PRESSURE_KEYS = ("avg10", "avg60", "avg300", "total")
GCE_PRODUCT = "Google Compute Engine"
DMI_MAX = 256


def under(root, path):
    """Join an absolute host path below ``root`` ('/' leaves it unchanged)."""
    return os.path.join(root, path.lstrip("/")) if root not in ("", "/") else path


def read_meminfo(root="/"):
    """MEMINFO_KEYS from /proc/meminfo in kB; 0 for a key the kernel lacks (MemAvailable before Linux 3.14)."""
    values = read_int_values(under(root, "/proc/meminfo"), MEMINFO_KEYS) or {}
    return {key: values.get(key, 0) for key in MEMINFO_KEYS}


def read_vmstat_oom_kill(root="/"):
    """Return (oom_kill, known): the kernel's count of OOM kills since boot (Linux 4.13+), or (0, False)."""
    values = read_int_values(under(root, "/proc/vmstat"), ("oom_kill",)) or {}
    if "oom_kill" in values:
        return values["oom_kill"], True
    return 0, False


def read_pressure(root="/"):
    """Memory pressure stall information: ``{available, some: {...}, full: {...}}``, zeros when PSI is off."""
    fields = read_named_fields(under(root, "/proc/pressure/memory"), ("some", "full"))
    pressure = {"available": bool(fields and "some" in fields)}
    for line in ("some", "full"):
        found = (fields or {}).get(line, {})
        pressure[line] = {
            key: (int(found.get(key, 0)) if key == "total" else float(found.get(key, 0.0))) for key in PRESSURE_KEYS
        }
    return pressure


def read_sysctls(root="/"):
    """The OOM-related sysctls as ints; None for a key the kernel lacks or that cannot be read."""
    values = {}
    for name in SYSCTLS:
        text = read_value(under(root, "/proc/sys/" + name.replace(".", "/")))
        try:
            values[name] = int(text.split()[0]) if text else None
        except ValueError:
            values[name] = None
    return values


def read_boot_id(root="/"):
    """The kernel's boot id as the journal writes it (32 hex digits, no dashes), or None."""
    text = read_value(under(root, "/proc/sys/kernel/random/boot_id"))
    return text.replace("-", "") if text else None


def read_uptime(root="/"):
    """Seconds since boot from /proc/uptime (float), or None."""
    text = read_value(under(root, "/proc/uptime"))
    try:
        return float(text.split()[0]) if text else None
    except ValueError:
        return None


def read_boot_time(root="/"):
    """Wall-clock time of boot in whole seconds (C(btime) of /proc/stat, the same on every run), or None."""
    return (read_int_values(under(root, "/proc/stat"), ("btime",)) or {}).get("btime")


def read_hostname(root="/"):
    """The kernel's host name (/proc/sys/kernel/hostname; on this host, the C library's when that is unreadable)."""
    hostname = read_value(under(root, "/proc/sys/kernel/hostname"))
    if not hostname and root in ("", "/"):
        try:
            hostname = socket.gethostname()
        except OSError:
            hostname = None
    return hostname or None


def read_dmi(root="/"):
    """The machine's maker and model from /sys/class/dmi/id (``sys_vendor``, ``product_name``); None where absent."""
    dmi = {}
    for key, name in (("vendor", "sys_vendor"), ("product", "product_name")):
        text = read_value(under(root, "/sys/class/dmi/id/" + name), DMI_MAX)
        dmi[key] = text or None
    return dmi


def dmi_says_gce(dmi):
    """True when DMI names a Google Compute Engine VM."""
    return dmi.get("product") == GCE_PRODUCT or dmi.get("vendor") == "Google"


def proc_hidepid(root="/"):
    """The C(hidepid=) option of the procfs mounted on /proc (the last one mounted there) when it hides other users'
    processes from this process (its groups do not include the mount's C(gid=)), else None."""
    options = None
    try:
        with open(under(root, "/proc/self/mounts"), encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) >= 4 and fields[1] == "/proc" and fields[2] == "proc":
                    options = dict(option.partition("=")[::2] for option in fields[3].split(","))
    except OSError:
        return None
    if not options or options.get("hidepid", "0") in ("", "0", "off"):
        return None
    exempt = options.get("gid")
    if exempt and exempt.isdigit() and int(exempt) in (os.getegid(), *os.getgroups()):
        return None
    return options["hidepid"]


def host_identity(root="/"):
    """``{hostname, boot_id, uptime_s, kernel}`` of the managed host."""
    return {
        "hostname": read_hostname(root),
        "boot_id": read_boot_id(root),
        "uptime_s": read_uptime(root),
        "kernel": read_value(under(root, "/proc/sys/kernel/osrelease")) or None,
    }
