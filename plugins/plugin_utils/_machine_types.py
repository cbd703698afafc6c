# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Compute Engine machine types: parse a name into vCPUs and MiB, propose a bigger or smaller type.

PRIVATE to oomguard.memory (used by the gce_machine_type and gce_rightsize filters and the oom_report
filters); no compatibility promise.

Predefined types come from a table (data, see roles/oom_report/vars/gce_machine_types.yml) that users extend;
custom types are parsed from their name: ``<family>-custom-<vcpus>-<mib>[-ext]``, bare ``custom-<vcpus>-<mib>``
(N1) and the E2 shared-core customs ``e2-custom-{micro,small,medium}-<mib>``.
"""

from __future__ import annotations

import math
import os
import re
import shlex

SHIPPED_TABLE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles", "oom_report", "vars", "gce_machine_types.yml"
)
SHIPPED_TABLE_KEY = "__oom_report_gce_machine_types"

SHARED_CORE_CUSTOM_SIZES = ("micro", "small", "medium")
# Families whose shared-core or legacy types have no bigger sibling: proposals come from E2.
FALLBACK_FAMILY = {"f1": "e2", "g1": "e2"}
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_MAX_NAME = 128


class MachineTypeError(ValueError):
    """A machine type name that cannot be parsed, or a table entry that is not valid."""


_shipped_cache = None


def shipped_table():
    """The machine-type table shipped with the collection, as a dict (read once)."""
    global _shipped_cache
    if _shipped_cache is None:
        import yaml  # controller side: PyYAML comes with ansible-core

        with open(SHIPPED_TABLE, encoding="utf-8") as handle:
            _shipped_cache = yaml.safe_load(handle)[SHIPPED_TABLE_KEY]
    return _shipped_cache


def _short_name(name):
    if not isinstance(name, str):
        raise MachineTypeError(f"a machine type name must be a string, got {type(name).__name__}")
    name = name.strip()
    if len(name) > _MAX_NAME:
        raise MachineTypeError(f"machine type name too long ({len(name)} characters)")
    # selfLinks and zonal paths (.../zones/Z/machineTypes/e2-medium) name the type in their last segment
    return name.rsplit("/", 1)[-1].lower()


def _positive_int(token, what, name):
    if not token.isdigit() or int(token) <= 0:
        raise MachineTypeError(f"machine type {name!r}: {what} must be a positive integer, got {token!r}")
    return int(token)


def _described(name, family, type_class, vcpus, memory_mib, shared_core, custom, extended_memory, source):
    return {
        "name": name,
        "family": family,
        "type_class": type_class,
        "vcpus": vcpus,
        "memory_mib": memory_mib,
        "memory_gib": round(memory_mib / 1024.0, 2),
        "shared_core": shared_core,
        "custom": custom,
        "extended_memory": extended_memory,
        "source": source,
    }


def _parse_custom(name, tokens, index):
    family = "-".join(tokens[:index]) or "n1"
    rest = tokens[index + 1 :]
    if len(rest) < 2:
        raise MachineTypeError(
            f"custom machine type {name!r}: expected {family}-custom-<vcpus>-<memory MiB> "
            f"or e2-custom-(micro|small|medium)-<memory MiB>"
        )
    shared = rest[0] in SHARED_CORE_CUSTOM_SIZES
    if shared and family != "e2":
        raise MachineTypeError(f"custom machine type {name!r}: shared-core custom types exist only for E2")
    vcpus = 2 if shared else _positive_int(rest[0], "the vCPU count", name)
    memory_mib = _positive_int(rest[1], "the memory (MiB)", name)
    return _described(name, family, "custom", vcpus, memory_mib, shared, True, "ext" in rest[2:], "name")


class MachineTypes:
    """A validated machine-type table: ``parse()`` names, ``rightsize()`` hosts.

    ``table`` is a dict ``{name: {vcpus, memory_mib, shared_core}}``; None means the shipped table.
    """

    def __init__(self, table=None):
        table = shipped_table() if table is None else table
        if not isinstance(table, dict):
            raise MachineTypeError(
                f"the machine-type table must be a dict of name: {{vcpus, memory_mib}}, got {type(table).__name__}"
            )
        self.types = {}
        for name, entry in table.items():
            if not isinstance(name, str) or not _NAME.match(name.lower()) or "custom" in name.split("-"):
                raise MachineTypeError(f"machine-type table: {name!r} is not a predefined machine type name")
            if not isinstance(entry, dict):
                raise MachineTypeError(f"machine type {name!r}: the entry must be a dict with vcpus and memory_mib")
            vcpus, memory_mib = entry.get("vcpus"), entry.get("memory_mib")
            for key, value in (("vcpus", vcpus), ("memory_mib", memory_mib)):
                if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                    raise MachineTypeError(f"machine type {name!r}: {key} must be a positive integer, got {value!r}")
            tokens = name.lower().split("-")
            self.types[name.lower()] = _described(
                name.lower(),
                tokens[0],
                tokens[1] if len(tokens) > 1 else tokens[0],
                vcpus,
                memory_mib,
                bool(entry.get("shared_core")),
                False,
                False,
                "table",
            )
        self._by_family = {}
        for described in self.types.values():
            self._by_family.setdefault(described["family"], []).append(described)

    def parse(self, name):
        """Parse a machine type name (or its selfLink) into a new dict.

        Keys: ``name``, ``family`` (``e2``, ``n1``, ...), ``type_class`` (``standard``, ``highmem``, ``highcpu``,
        ``micro``/``small``/``medium`` for shared-core, ``custom``, ...), ``vcpus``, ``memory_mib``,
        ``memory_gib``, ``shared_core``, ``custom``, ``extended_memory`` and ``source`` (``table`` or ``name``).
        Raises ``MachineTypeError`` for names that are neither custom nor in the table.
        """
        short = _short_name(name)
        if not _NAME.match(short):
            raise MachineTypeError(f"machine type {name!r} is not a machine type name (lower-case words joined by '-')")
        tokens = short.split("-")
        if "custom" in tokens:
            return _parse_custom(short, tokens, tokens.index("custom"))
        described = self.types.get(short)
        if described is None:
            families = sorted(self._by_family)
            raise MachineTypeError(
                f"unknown machine type {short!r}: not a custom type and not in the machine-type table "
                f"({len(self.types)} types of the families {', '.join(families)}); add it to the table "
                f"(oom_report_machine_types: {{{short}: {{vcpus: N, memory_mib: M}}}})"
            )
        return dict(described)

    def family(self, family):
        return self._by_family.get(family, [])

    def rightsize(
        self,
        current,
        peak_used_mib=None,
        memtotal_mib=None,
        oom_killed=False,
        need_mib=None,
        downsize=False,
        headroom_pct=15,
        oom_bump_pct=20,
        oom_bump_min_mib=100,
        allow_custom=False,
    ):
        """Propose a machine type for a host of type ``current`` whose memory peak was ``peak_used_mib``.

        ``memtotal_mib`` (the host's MemTotal) scales every candidate's nominal memory to what the kernel leaves
        usable (default: the nominal size). Returns ``action`` (``upsize``, ``downsize``, ``keep`` or
        ``none_fits``), ``need_mib``, ``usable_mib`` (of the current type), ``recommended`` (a parsed type or
        None), ``alternative`` (the smallest highmem type that fits, when it is not the recommendation),
        ``custom`` (a custom type that fits, only with ``allow_custom``) and ``reason``.
        Upsizing picks, in the same family, the smallest memory that fits with at least the current vCPU count,
        preferring the current vCPU count, then fewer vCPUs. Downsizing happens only when asked (the caller
        decides on confidence), keeps the vCPU count and never moves between shared and dedicated cores.
        """
        current = current if isinstance(current, dict) else self.parse(current)
        nominal = current["memory_mib"]
        memtotal_mib = memtotal_mib or nominal
        scale = memtotal_mib / float(nominal)
        if need_mib is None:
            if peak_used_mib is None:
                raise MachineTypeError("rightsize needs peak_used_mib or need_mib")
            need_mib = needed_memory_mib(
                peak_used_mib, memtotal_mib, oom_killed, headroom_pct, oom_bump_pct, oom_bump_min_mib
            )
        need_mib = int(need_mib)
        usable_now = int(nominal * scale)
        result = {
            "current": current,
            "need_mib": need_mib,
            "usable_mib": usable_now,
            "recommended": None,
            "alternative": None,
            "custom": None,
            "action": "keep",
            "reason": "",
        }
        family = current["family"]
        candidates = [] if current["custom"] else self.family(family)
        if not any(c["memory_mib"] > nominal for c in candidates) and family in FALLBACK_FAMILY:
            family = FALLBACK_FAMILY[family]
            candidates = self.family(family)
        vcpus = current["vcpus"]

        def usable(candidate):
            return int(candidate["memory_mib"] * scale)

        def by_size(candidate):
            return (candidate["memory_mib"], candidate["vcpus"], candidate["name"])

        if need_mib > usable_now:
            bigger = [
                c for c in candidates if c["vcpus"] >= vcpus and c["memory_mib"] > nominal and usable(c) >= need_mib
            ]
            same_vcpus = [c for c in bigger if c["vcpus"] == vcpus]
            order = sorted(same_vcpus or bigger, key=by_size)
            highmem = sorted((c for c in bigger if c["type_class"] == "highmem"), key=by_size)
            if order:
                result["action"] = "upsize"
                result["recommended"] = dict(order[0])
                if highmem and highmem[0]["name"] != order[0]["name"]:
                    result["alternative"] = dict(highmem[0])
                result["reason"] = (
                    f"needs {need_mib} MiB, {current['name']} leaves {usable_now} MiB usable; "
                    f"{order[0]['name']} leaves {usable(order[0])} MiB"
                )
            elif current["custom"] and not current["shared_core"]:
                prefix = "" if family == "n1" else family + "-"
                result["action"] = "upsize"
                result["recommended"] = self.parse(
                    f"{prefix}custom-{vcpus}-{math.ceil(need_mib / scale / 256.0) * 256}"
                )
                result["reason"] = f"needs {need_mib} MiB, {current['name']} leaves {usable_now} MiB usable"
            else:
                result["action"] = "none_fits"
                result["reason"] = f"needs {need_mib} MiB: no {family} type with at least {vcpus} vCPUs is that large"
            if allow_custom and not current["shared_core"]:
                custom_mib = math.ceil(need_mib / scale / 256.0) * 256
                prefix = "" if family == "n1" else family + "-"
                result["custom"] = self.parse(f"{prefix}custom-{vcpus}-{custom_mib}")
        elif downsize:
            smaller = [
                c
                for c in candidates
                if c["vcpus"] == vcpus
                and c["memory_mib"] < nominal
                and usable(c) >= need_mib
                and c["shared_core"] == current["shared_core"]
            ]
            if smaller:
                best = min(smaller, key=by_size)
                result["action"] = "downsize"
                result["recommended"] = dict(best)
                result["reason"] = (
                    f"needs {need_mib} MiB; {best['name']} leaves {usable(best)} MiB usable with the same {vcpus} vCPUs"
                )
            else:
                result["reason"] = f"needs {need_mib} MiB: no smaller {family} type with {vcpus} vCPUs fits"
        else:
            result["reason"] = f"needs {need_mib} MiB, {current['name']} leaves {usable_now} MiB usable"
        return result


def needed_memory_mib(peak_used_mib, memtotal_mib, oom_killed, headroom_pct=15, oom_bump_pct=20, oom_bump_min_mib=100):
    """The memory a host needs (MiB): peak + headroom; after an OOM kill at least RAM + the OOM bump.

    ``max(peak * (1 + headroom), max(MemTotal * (1 + bump), MemTotal + bump_min) if OOM-killed)``: the rule of
    the Kubernetes right-sizers (VPA, KRR) applied to a VM.
    """
    need = (peak_used_mib or 0) * (1 + headroom_pct / 100.0)
    if oom_killed and memtotal_mib:
        need = max(need, memtotal_mib * (1 + oom_bump_pct / 100.0), memtotal_mib + oom_bump_min_mib)
    return math.ceil(need)


def gcloud_snippet(instance, zone, machine_type, project=None):
    """The three gcloud commands that change a VM's machine type (it must be stopped for the change).

    Names come from the inventory: each is shell-quoted.
    """
    instance = shlex.quote(instance or "INSTANCE")
    zone = shlex.quote(zone or "ZONE")
    machine_type = shlex.quote(machine_type)
    project_flag = f" --project {shlex.quote(project)}" if project else ""
    return "\n".join(
        [
            f"gcloud compute instances stop {instance} --zone {zone}{project_flag}",
            f"gcloud compute instances set-machine-type {instance} --zone {zone}{project_flag} "
            f"--machine-type {machine_type}",
            f"gcloud compute instances start {instance} --zone {zone}{project_flag}",
        ]
    )
