# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading systemd unit properties with one batched C(systemctl show) call.

PRIVATE to the oomguard.memory collection. No compatibility promise.
"""

from __future__ import annotations

import os
import re

from ansible_collections.oomguard.memory.plugins.module_utils._sizes import U64_MAX

MEMORY_PROPERTIES = (
    "MemoryMax",
    "MemoryHigh",
    "MemoryLow",
    "MemoryMin",
    "MemorySwapMax",
    "MemoryCurrent",
    "MemoryPeak",
    "OOMPolicy",
    "OOMScoreAdjust",
    "ManagedOOMMemoryPressure",
    "ManagedOOMMemoryPressureLimit",
    "ManagedOOMSwap",
    "ManagedOOMPreference",
    "Result",
    "OOMKills",
    "ManagedOOMKills",
)
IDENTITY_PROPERTIES = ("Id", "LoadState", "ActiveState", "ControlGroup")
_BYTE_PROPERTIES = frozenset(
    (
        "MemoryMax",
        "MemoryHigh",
        "MemoryLow",
        "MemoryMin",
        "MemorySwapMax",
        "MemoryZSwapMax",
        "MemoryCurrent",
        "MemoryPeak",
    )
)
_INT_PROPERTIES = frozenset(("OOMScoreAdjust", "OOMKills", "ManagedOOMKills"))


def normalize_property(name, value):
    """Turn a C(systemctl show) value into a typed one: bytes as int, 'infinity', or None when unset."""
    if name in _BYTE_PROPERTIES:
        if value in ("", "[not set]"):
            return None
        if value == "infinity":
            return "infinity"
        try:
            number = int(value)
        except ValueError:
            return value
        if number == U64_MAX:
            return "infinity" if name not in ("MemoryCurrent", "MemoryPeak") else None
        return number
    if name in _INT_PROPERTIES:
        try:
            return int(value)
        except ValueError:
            return None
    return value


def parse_show_output(text):
    """Parse C(systemctl show) output for several units (blocks separated by blank lines) into a list of dicts."""
    blocks = []
    current = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    if current:
        blocks.append(current)
    return blocks


def show_units(run_command, systemctl, units, properties):
    """Return {unit_id: {property: typed value}} for the given units or glob patterns in one call.

    C(run_command) is C(AnsibleModule.run_command). Units that are not loaded are dropped.
    Raises RuntimeError with systemctl's message when the call fails.
    """
    if not units:
        return {}
    wanted = list(IDENTITY_PROPERTIES) + [prop for prop in properties if prop not in IDENTITY_PROPERTIES]
    argv = [systemctl, "show", "--no-pager", "-p", ",".join(wanted), "--", *units]
    rc, out, err = run_command(argv)
    if rc != 0:
        raise RuntimeError((err or out or "systemctl show failed").strip())
    result = {}
    for block in parse_show_output(out):
        unit_id = block.get("Id")
        if not unit_id or block.get("LoadState") in ("not-found", "bad-setting", "error", ""):
            continue
        result[unit_id] = {
            name: normalize_property(name, value) for name, value in block.items() if name not in ("Id",)
        }
    return result


def has_memory_setting(properties):
    """True when a unit sets any memory limit, protection, OOM policy or OOM score adjustment."""
    for name in ("MemoryMax", "MemoryHigh", "MemorySwapMax"):
        if properties.get(name) not in (None, "infinity"):
            return True
    for name in ("MemoryLow", "MemoryMin", "OOMScoreAdjust"):
        if properties.get(name) not in (None, 0):
            return True
    if properties.get("OOMPolicy") in ("continue", "kill"):
        return True
    managed = ("ManagedOOMMemoryPressure", "ManagedOOMSwap")
    return any(properties.get(name) not in (None, "", "auto") for name in managed)


# Added for systemd_memory and oom_score_adj (persist): helpers around systemctl itself.

SYSTEMD_BOOTED_MARKER = "/run/systemd/system"


def systemd_booted(marker=SYSTEMD_BOOTED_MARKER):
    """True when systemd runs as PID 1 (the test sd_booted(3) uses), so that systemctl can talk to it."""
    return os.path.isdir(marker)


def systemd_version(run_command, systemctl):
    """Return systemd's major version from C(systemctl --version) ('systemd 252 (252.38-1)'), or None."""
    rc, out, _err = run_command([systemctl, "--version"])
    if rc != 0:
        return None
    match = re.match(r"\s*systemd\s+(\d+)", out or "")
    return int(match.group(1)) if match else None


def daemon_reload(run_command, systemctl):
    """Run C(systemctl daemon-reload); raise RuntimeError with systemctl's message when it fails.

    systemd reloads every unit; running units get their (possibly new) cgroup settings applied again.
    """
    rc, out, err = run_command([systemctl, "daemon-reload"])
    if rc != 0:
        raise RuntimeError((err or out or "systemctl daemon-reload failed").strip())


def reload_needed(run_command, systemctl, unit, dropin_changed):
    """The apply=true rule of both modules: reload when a drop-in changed, or when systemd says it needs one.

    Raises RuntimeError when systemctl cannot be asked.
    """
    if dropin_changed:
        return True
    properties = show_units(run_command, systemctl, [unit], ["NeedDaemonReload"]).get(unit)
    return bool(properties) and properties.get("NeedDaemonReload") == "yes"
