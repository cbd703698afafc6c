# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fleet OOM report: one data structure from every host's oom_facts (contract 1.1), merged partial reports,
leak suspects from earlier reports.

PRIVATE to oomguard.memory; no compatibility promise. The report.json schema is
roles/oom_report/files/report.schema.json; ``SCHEMA_VERSION`` names it.

Entry points: ``build_report(hosts, ...)`` (``hosts`` is an iterable of ``HostInput``), ``merge_reports(reports)``,
``snapshots_from_report(report)`` for the history.
"""

from __future__ import annotations

import datetime
import fnmatch
import gc
import re

from ansible_collections.oomguard.memory.plugins.plugin_utils._machine_types import MachineTypeError, MachineTypes
from ansible_collections.oomguard.memory.plugins.plugin_utils._report_rules import (
    FAIL,
    OK,
    RULES,
    SKIP,
    STATUSES,
    UNKNOWN,
    compile_patterns,
    evaluate,
    rightsizing,
)

SCHEMA_VERSION = "1.0"
# The facts contract the report reads: oom_facts' facts_version 1.1 or a later 1.x (a new key raises the minor).
FACTS_MAJOR, FACTS_MINOR_MIN = 1, 1
KILL_CATEGORIES = ("global", "memcg", "systemd-oomd", "earlyoom", "other")
VM_KINDS = ("global", "allocating_task", "systemd-oomd", "earlyoom")
MAX_VICTIMS = 10
MAX_UNITS = 50
MAX_PYTHON = 20
TOP_N = 10
VENDOR_UNITS = (
    "google-guest-agent*",
    "google-osconfig-agent*",
    "google-guest-agent-manager*",
    "google-cloud-ops-agent*",
)
_VENDOR_UNIT = re.compile("|".join(fnmatch.translate(pattern) for pattern in VENDOR_UNITS))
GKE_LABEL = "goog-gke-node"
HISTORY_KEYS = (
    "available",
    "days",
    "samples",
    "coverage_pct",
    "first",
    "last",
    "peak_used_kb",
    "p90_daily_peak_kb",
    "share_ge_90_pct",
    "window_days",
    "reason",
)

DEFAULT_OPTIONS = {
    "headroom_pct": 15,
    "oom_bump_pct": 20,
    "oom_bump_min_mib": 100,
    "allow_custom": False,
    "pressure_some_pct": 10.0,
    "pressure_full_pct": 1.0,
    "critical_units": [
        "sshd.service",
        "ssh.service",
        "systemd-journald.service",
        "dbus.service",
        "google-guest-agent.service",
    ],
    "critical_commands": [],
    "leak_min_points": 3,
    "leak_min_growth_mib": 16,
    "leak_min_growth_pct": 10,
    "leak_horizon_days": 30,
    "max_victims": 10,
}


class ReportError(ValueError):
    """Input the report cannot be built from (empty inventory, malformed facts or reports)."""


class HostInput:
    """What the controller knows of one inventory host.

    ``oom``: its ``ansible_facts.oom`` or None; ``failure``: why there are no facts (unreachable, failed, not in the
    fact cache) or None; ``inventory``: the gcp_compute host vars (``machineType``, ``zone``, ``labels``, ``name``,
    ``project``, ``status``) already stripped of their prefix.
    """

    __slots__ = ("failure", "inventory", "name", "oom")

    def __init__(self, name, oom=None, failure=None, inventory=None):
        self.name = name
        self.oom = oom
        self.failure = failure
        self.inventory = inventory or {}


# --------------------------------------------------------------------------------------------------------------
# time


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _parse_time(text):
    if not text or not isinstance(text, str):
        return None
    try:
        stamp = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp


def _iso(stamp):
    return stamp.astimezone(datetime.timezone.utc).isoformat(timespec="seconds") if stamp else None


# --------------------------------------------------------------------------------------------------------------
# one host


def _int(value, default=0):
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _num(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _bytes_or_none(value):
    """systemd memory properties: bytes, or None for infinity/unset."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 - 1 else None


def _machine(host_input, oom, machine_types):
    inventory = host_input.inventory
    gce = (oom or {}).get("host", {}).get("gce") if oom else None
    machine = {
        "type": None,
        "zone": None,
        "project": None,
        "instance": None,
        "source": "unknown",
        "vcpus": None,
        "memory_mib": None,
        "parse_error": None,
    }
    if inventory.get("machineType"):
        machine.update(
            type=inventory["machineType"],
            zone=inventory.get("zone"),
            project=inventory.get("project"),
            instance=inventory.get("name"),
            source="gcp_compute",
        )
    elif isinstance(gce, dict) and gce.get("machine_type"):
        machine.update(
            type=gce["machine_type"],
            zone=gce.get("zone"),
            project=gce.get("project"),
            instance=gce.get("instance_name"),
            source="gce_metadata",
        )
    if machine["type"]:
        for key in ("type", "zone"):
            machine[key] = str(machine[key]).rsplit("/", 1)[-1] if machine[key] else None
        try:
            parsed = machine_types.parse(machine["type"])
            machine.update(vcpus=parsed["vcpus"], memory_mib=parsed["memory_mib"])
        except MachineTypeError as exc:
            machine["parse_error"] = str(exc)
    return machine


def _gke(inventory, oom):
    labels = inventory.get("labels") or {}
    if not isinstance(labels, dict) or GKE_LABEL not in labels:
        return None
    tiers = {"kubelet_kube_proxy_-999": 0, "guaranteed_-997": 0, "burstable_2_999": 0, "besteffort_1000": 0}
    for process in (oom or {}).get("processes") or []:
        adj = process.get("oom_score_adj")
        if adj == -999:
            tiers["kubelet_kube_proxy_-999"] += 1
        elif adj in (-997, -998):
            tiers["guaranteed_-997"] += 1
        elif adj == 1000:
            tiers["besteffort_1000"] += 1
        elif isinstance(adj, int) and 2 <= adj <= 999:
            tiers["burstable_2_999"] += 1
    return {
        "cluster": labels.get("goog-k8s-cluster-name"),
        "node_pool": labels.get("goog-k8s-node-pool-name"),
        "kubelet_tiers": tiers,
    }


def _unit_protection(name, unit):
    adj = unit.get("OOMScoreAdjust")
    if isinstance(adj, int) and adj <= -999 and _VENDOR_UNIT.match(name):
        return "vendor"
    if (
        (isinstance(adj, int) and adj < 0)
        or _bytes_or_none(unit.get("MemoryMin"))
        or _bytes_or_none(unit.get("MemoryLow"))
    ):
        return "protected"
    if unit.get("ManagedOOMPreference") == "avoid":
        return "protected"
    if _bytes_or_none(unit.get("MemoryMax")) is not None or _bytes_or_none(unit.get("MemoryHigh")) is not None:
        return "limited"
    return "none"


def _units(oom):
    by_unit = oom.get("kill_count_by_unit") or {}
    units = []
    for name, unit in (oom.get("units") or {}).items():
        if not isinstance(unit, dict):
            continue
        peaks = [_bytes_or_none(unit.get("MemoryPeak")), _bytes_or_none(unit.get("memory_peak"))]
        peaks = [peak for peak in peaks if peak is not None]
        units.append(
            {
                "unit": name,
                "memory_max": _bytes_or_none(unit.get("MemoryMax")),
                "memory_high": _bytes_or_none(unit.get("MemoryHigh")),
                "memory_current": _bytes_or_none(unit.get("MemoryCurrent")),
                "memory_peak": max(peaks) if peaks else None,
                "peak_source": ("MemoryPeak" if _bytes_or_none(unit.get("MemoryPeak")) is not None else "memory.peak")
                if peaks
                else None,
                "oom_score_adjust": unit.get("OOMScoreAdjust"),
                "oom_kills": _int(unit.get("oom_kills"), _int(by_unit.get(name))),
                "result": unit.get("Result"),
                "protection": _unit_protection(name, unit),
            }
        )
    units.sort(key=lambda u: (-u["oom_kills"], -(u["memory_current"] or 0), u["unit"]))
    return units[:MAX_UNITS]


def _victims(oom, limit=MAX_VICTIMS):
    victims = []
    for kill in reversed(oom.get("kills") or []):
        if kill.get("scope") != "local":
            continue
        victims.append(
            {
                "id": kill.get("id"),
                "timestamp": kill.get("timestamp"),
                "killer": kill.get("killer"),
                "kind": kill.get("kind") or "unknown",
                "pid": kill.get("pid"),
                "comm": kill.get("comm"),
                "unit": kill.get("unit"),
                "cgroup": kill.get("cgroup") or kill.get("oom_memcg"),
                "oom_memcg": kill.get("oom_memcg"),
                "container": (kill.get("container") or {}).get("id")
                if isinstance(kill.get("container"), dict)
                else None,
                "rss_kb": _num(kill.get("rss_kb")),
                "oom_score_adj": kill.get("oom_score_adj"),
                "python": bool(kill.get("python")),
            }
        )
        if len(victims) >= limit:
            break
    return victims


def _kills(oom):
    by_kind = oom.get("kill_count_by_kind") or {}
    global_kills = _int(by_kind.get("global")) + _int(by_kind.get("allocating_task"))
    counts = {
        "total": _int(oom.get("kill_count")),
        "global": global_kills,
        "memcg": _int(by_kind.get("memcg")),
        "systemd-oomd": _int(by_kind.get("systemd-oomd")),
        "earlyoom": _int(by_kind.get("earlyoom")),
        "other": _int(by_kind.get("sysrq")) + _int(by_kind.get("unknown")),
        "host_scope": _int(oom.get("host_scope_kill_count")),
        "missing_from_logs": _int(oom.get("kills_missing_from_logs")),
        "missing_known": bool(oom.get("kills_missing_known")),
        "untrusted": _int(oom.get("untrusted_records")),
        "vmstat_since_boot": _int((oom.get("counters") or {}).get("vmstat_oom_kill")),
    }
    return counts


def _kills_by_command(oom):
    """Kills per killed command among the kill records (the newest max_kills), the 10 most frequent."""
    counts = {}
    for kill in oom.get("kills") or []:
        if kill.get("scope") == "local" and kill.get("comm"):
            counts[kill["comm"]] = counts.get(kill["comm"], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N])


def _kills_by_unit(oom):
    counts = {unit: _int(count) for unit, count in (oom.get("kill_count_by_unit") or {}).items() if unit}
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N])


def _kills_by_day(oom):
    days = {}
    for kill in oom.get("kills") or []:
        if kill.get("scope") != "local":
            continue
        stamp = _parse_time(kill.get("timestamp"))
        if stamp:
            day = stamp.astimezone(datetime.timezone.utc).date().isoformat()
            days[day] = days.get(day, 0) + 1
    return days


def _window(oom, generated):
    window = oom.get("window") or {}
    since = _parse_time(window.get("since") or oom.get("since"))
    until = _parse_time(window.get("until")) or generated
    oldest = _parse_time(window.get("oldest_record"))
    start = since or oldest
    if since and oldest and oldest > since:
        start = oldest  # the logs do not reach back to the requested start
    days = round((until - start).total_seconds() / 86400.0, 1) if start else None
    return {"since": _iso(since), "until": _iso(until), "oldest_record": _iso(oldest), "days": days}


def _peak(oom, memory, units, victims, window, uptime_days):
    """The best known peak of memory in use and where it comes from; sources lists every lower bound seen."""
    total_kb = memory["total_kb"]
    history = oom.get("memory_history") or {}
    sources = []
    if history.get("available") and _num(history.get("peak_used_kb")):
        sources.append({"source": "sysstat", "used_kb": int(history["peak_used_kb"]), "days": history.get("days")})
    sources.append({"source": "current", "used_kb": memory["used_kb"], "days": 0})
    unit_peaks = [(u["memory_peak"], u["peak_source"]) for u in units if u["memory_peak"]]
    if unit_peaks:
        value, source = max(unit_peaks)
        sources.append({"source": source, "used_kb": value // 1024, "days": uptime_days})
    hwm = [_num(p.get("hwm_kb")) for p in oom.get("processes") or []]
    hwm = [value for value in hwm if value]
    if hwm:
        sources.append({"source": "VmHWM", "used_kb": int(max(hwm)), "days": uptime_days})
    victim_rss = [v["rss_kb"] for v in victims if v["kind"] in VM_KINDS and v["rss_kb"]]
    if victim_rss:
        sources.append({"source": "victims_rss", "used_kb": int(max(victim_rss)), "days": window["days"]})
    best = max(sources, key=lambda s: (s["used_kb"], s["source"] == "sysstat"))
    used_pct = round(100.0 * best["used_kb"] / total_kb, 1) if total_kb else None
    return {
        "used_kb": int(best["used_kb"]),
        "used_pct": used_pct,
        "source": best["source"],
        "days": best["days"],
        "sources": sources,
    }


def _confidence(history):
    if not history or not history.get("available"):
        return "low"
    days, coverage = _num(history.get("days")) or 0, _num(history.get("coverage_pct")) or 0
    if days >= 7 and coverage >= 90:
        return "high"
    if days >= 3:
        return "medium"
    return "low"


def _python_processes(oom):
    found = []
    for process in oom.get("processes") or []:
        if process.get("python"):
            found.append(
                {
                    "pid": process.get("pid"),
                    "comm": process.get("comm"),
                    "cmdline": (process.get("cmdline") or "")[:200],
                    "unit": process.get("unit"),
                    "rss_kb": _int(process.get("rss_kb")),
                }
            )
    return found[:MAX_PYTHON]


def _facts_version_problem(oom):
    """Why facts of another contract cannot be read (a fact cache filled by an older oom_facts), or None.

    Reading them anyway would show counts that such facts lack (kills by kind, host-scope kills) as zero, and missing
    data is never shown as OK.
    """
    version = oom.get("facts_version")
    major, _dot, minor = version.partition(".") if isinstance(version, str) else ("", "", "")
    if major.isdigit() and minor.isdigit() and int(major) == FACTS_MAJOR and int(minor) >= FACTS_MINOR_MIN:
        return None
    return (
        f"oom_facts facts_version {version!r}: the report reads {FACTS_MAJOR}.{FACTS_MINOR_MIN} or a later "
        f"{FACTS_MAJOR}.x (gather the facts again with this collection's oom_facts)"
    )


def summarize_host(host_input, machine_types, options, generated, history_snapshots=()):
    """The report's entry for one host (``status`` ``ok`` or ``no_data``)."""
    name = host_input.name
    inventory = host_input.inventory
    oom = host_input.oom
    reason = (host_input.failure or "no oom facts") if oom is None else _facts_version_problem(oom)
    if reason:
        return {
            "host": name,
            "status": "no_data",
            "no_data_reason": reason,
            "machine": _machine(host_input, None, machine_types),
            "gke": _gke(inventory, None),
            "severity": 3,
            "findings": [],
            "finding_counts": dict.fromkeys(STATUSES, 0),
        }
    meminfo = oom.get("memory") or {}
    total_kb = _int(meminfo.get("MemTotal"))
    available_kb = _int(meminfo.get("MemAvailable"))
    swap_total = _int(meminfo.get("SwapTotal"))
    memory = {
        "total_kb": total_kb,
        "available_kb": available_kb,
        "used_kb": max(total_kb - available_kb, 0),
        "used_pct": round(100.0 * (total_kb - available_kb) / total_kb, 1) if total_kb else None,
        "swap_total_kb": swap_total,
        "swap_used_kb": max(swap_total - _int(meminfo.get("SwapFree")), 0),
        "committed_kb": _int(meminfo.get("Committed_AS")),
        "commit_limit_kb": _int(meminfo.get("CommitLimit")),
    }
    pressure_facts = oom.get("pressure") or {}
    some, full = pressure_facts.get("some") or {}, pressure_facts.get("full") or {}
    pressure = {
        "available": bool(pressure_facts.get("available")),
        "some_avg60": _num(some.get("avg60")),
        "some_avg300": _num(some.get("avg300")),
        "full_avg60": _num(full.get("avg60")),
        "full_avg300": _num(full.get("avg300")),
    }
    host_facts = oom.get("host") or {}
    uptime = _num(host_facts.get("uptime_s"))
    uptime_days = round(uptime / 86400.0, 1) if uptime else None
    units = _units(oom)
    victims = _victims(oom, options["max_victims"])
    window = _window(oom, generated)
    history = oom.get("memory_history") or {"available": False}
    killers = oom.get("userspace_killers") or {}
    sysctl = oom.get("sysctl") or {}
    kills = _kills(oom)
    machine = _machine(host_input, oom, machine_types)
    host = {
        "host": name,
        "status": "ok",
        "no_data_reason": None,
        "facts_version": oom.get("facts_version"),
        "hostname": host_facts.get("hostname"),
        "boot_id": host_facts.get("boot_id"),
        "uptime_days": uptime_days,
        "container": bool((host_facts.get("container") or {}).get("detected")),
        "gathered_at": window["until"],
        "window": window,
        "machine": machine,
        "gke": _gke(inventory, oom),
        "memory": memory,
        "pressure": pressure,
        "kills": kills,
        "last_kill": victims[0]["timestamp"] if victims else None,
        "victims": victims,
        "kills_by_day": _kills_by_day(oom),
        "kills_by_command": _kills_by_command(oom),
        "kills_by_unit": _kills_by_unit(oom),
        "oom_panics": len(oom.get("oom_panics") or []),
        "sysctl": {
            key: sysctl.get(key)
            for key in (
                "vm.panic_on_oom",
                "kernel.panic",
                "vm.overcommit_memory",
                "vm.oom_kill_allocating_task",
                "vm.swappiness",
            )
        },
        "systemd_running": bool(oom.get("systemd_running")),
        "userspace_killers_active": sorted(k for k, v in killers.items() if isinstance(v, dict) and v.get("active")),
        "units": units,
        "protection": {
            status: sorted(u["unit"] for u in units if u["protection"] == status)
            for status in ("protected", "vendor", "limited", "none")
        },
        "containers_unlimited": [
            {
                "runtime": c.get("runtime"),
                "id": str(c.get("id") or "")[:64],
                "cgroup": c.get("cgroup"),
                "memory_current": c.get("memory_current"),
            }
            for c in (oom.get("containers_unlimited") or [])[:50]
        ],
        "memory_history": {key: history.get(key) for key in HISTORY_KEYS},
        "sources": {
            name: (source or {}).get("status", "unknown") for name, source in (oom.get("sources") or {}).items()
        },
        "python": _python_processes(oom),
    }
    host["confidence"] = _confidence(history)
    host["peak"] = _peak(oom, memory, units, victims, window, uptime_days)
    host["leaks"] = leak_series(host, history_snapshots, options)
    context = dict(options, history_runs=len(history_snapshots))
    host["rightsizing"] = rightsizing(host, machine_types, context)
    findings = evaluate(host, context)
    host["findings"] = findings
    host["finding_counts"] = _count_statuses(findings)
    host["severity"] = _severity(findings, kills)
    return host


def _count_statuses(findings):
    counts = dict.fromkeys(STATUSES, 0)
    for item in findings:
        counts[item["status"]] += 1
    return counts


def _severity(findings, kills):
    failed = [f["rule"] for f in findings if f["status"] == FAIL]
    if any(rule.startswith("oom/ERR/") for rule in failed):
        return 4
    if any(rule.startswith("oom/WARN/") for rule in failed):
        return 2
    if failed or any(f["status"] == UNKNOWN for f in findings):
        return 1
    return 0


# --------------------------------------------------------------------------------------------------------------
# history and leaks


def snapshot(host):
    """The compact memory picture of one host that later runs compare against."""
    return {
        "host": host["host"],
        "at": host["gathered_at"],
        "boot_id": host.get("boot_id"),
        "memtotal_kb": host["memory"]["total_kb"],
        "available_kb": host["memory"]["available_kb"],
        "units": {
            u["unit"]: {"current": u["memory_current"], "max": u["memory_max"]}
            for u in host["units"]
            if u["memory_current"] is not None
        },
        "python": {f"{p['pid']}:{p['comm']}": {"rss_kb": p["rss_kb"], "cmdline": p["cmdline"]} for p in host["python"]},
    }


def snapshots_from_report(report):
    """{host: snapshot} of an earlier report.json (hosts with data only)."""
    if not isinstance(report, dict) or not isinstance(report.get("hosts"), list):
        return {}
    found = {}
    for host in report["hosts"]:
        if isinstance(host, dict) and host.get("status") == "ok" and isinstance(host.get("snapshot"), dict):
            found[host["host"]] = host["snapshot"]
    return found


def _slope_per_day(points):
    """Least-squares slope of (datetime, value) points, per day."""
    xs = [(stamp - points[0][0]).total_seconds() / 86400.0 for stamp, _value in points]
    ys = [value for _stamp, value in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    denominator = sum((x - mean_x) ** 2 for x in xs)
    if denominator == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / denominator


def _series_leak(name, kind, points, limit_bytes, limit_kind, options):
    points = sorted(points)
    first, last = points[0][1], points[-1][1]
    slope = _slope_per_day(points)  # bytes per day
    growth = last - first
    monotonic = all(b[1] >= a[1] for a, b in zip(points, points[1:]))
    eta_days = None
    if slope > 0 and limit_bytes:
        eta_days = round(max(limit_bytes - last, 0) / slope, 1)
    suspect = (
        len(points) >= options["leak_min_points"]
        and monotonic
        and growth >= options["leak_min_growth_mib"] * 1048576
        and first > 0
        and growth * 100.0 / first >= options["leak_min_growth_pct"]
        and (eta_days is None or eta_days <= options["leak_horizon_days"])
    )
    return {
        "name": name,
        "kind": kind,
        "points": len(points),
        "first_bytes": first,
        "last_bytes": last,
        "growth_mib_per_day": round(slope / 1048576.0, 1),
        "limit_bytes": limit_bytes,
        "limit_kind": limit_kind,
        "eta_days": eta_days,
        "suspect": bool(suspect),
    }


def leak_series(host, history_snapshots, options):
    """Growth of each unit and Python process of ``host`` across the earlier snapshots and this run."""
    now = snapshot(host)
    now_at = _parse_time(now["at"])
    earlier = [s for s in history_snapshots if s.get("host") == host["host"]]
    earlier = [s for s in earlier if s.get("boot_id") == now["boot_id"] and _parse_time(s.get("at"))]
    if not earlier or now_at is None:
        return []
    leaks = []
    # without a limit of its own, a grower fills the VM when it has taken what is available now
    available_bytes = now["available_kb"] * 1024
    for unit, values in now["units"].items():
        points = [(_parse_time(s["at"]), (s.get("units") or {}).get(unit, {}).get("current")) for s in earlier]
        points = [(t, v) for t, v in points if isinstance(v, int)] + [(now_at, values["current"])]
        if len(points) >= 2:
            limit = values["max"] or values["current"] + available_bytes
            leaks.append(_series_leak(unit, "unit", points, limit, "MemoryMax" if values["max"] else "RAM", options))
    for key, values in now["python"].items():
        points = [(_parse_time(s["at"]), (s.get("python") or {}).get(key, {}).get("rss_kb")) for s in earlier]
        points = [(t, v * 1024) for t, v in points if isinstance(v, int)] + [(now_at, values["rss_kb"] * 1024)]
        if len(points) >= 2:
            label = f"python pid {key.split(':', 1)[0]} ({values['cmdline'][:60] or key})"
            limit = values["rss_kb"] * 1024 + available_bytes
            leaks.append(_series_leak(label, "python", points, limit, "RAM", options))
    leaks.sort(key=lambda leak: (not leak["suspect"], -leak["growth_mib_per_day"]))
    return leaks[:20]


# --------------------------------------------------------------------------------------------------------------
# the fleet


def _top(counter, limit=TOP_N):
    return [{"name": name, "kills": count} for name, count in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))][
        :limit
    ]


def _evidence_days(rule, host):
    if rule == "oom/ERR/001":
        return host["window"]["days"]
    if rule in ("oom/ERR/002", "oom/BP/002"):
        return host["peak"]["days"]
    return None


def _daily_series(by_day, max_days=92):
    """Kills per day from the first to the last day with kills, zeros included; per week beyond ``max_days``."""
    if not by_day:
        return []
    days = sorted(by_day)
    first, last = datetime.date.fromisoformat(days[0]), datetime.date.fromisoformat(days[-1])
    span = (last - first).days + 1
    step = 1 if span <= max_days else 7
    series = []
    start = first if step == 1 else first - datetime.timedelta(days=first.weekday())
    while start <= last:
        count = sum(by_day.get((start + datetime.timedelta(days=i)).isoformat(), 0) for i in range(step))
        series.append({"date": start.isoformat(), "kills": count})
        start += datetime.timedelta(days=step)
    return series


def finish_report(hosts, meta):
    """The fleet report around host entries (built here or merged from partial reports)."""
    hosts = sorted(hosts, key=lambda h: (-h["severity"], -(h.get("kills") or {}).get("total", 0), h["host"]))
    with_data = [h for h in hosts if h["status"] == "ok"]
    kills = dict.fromkeys(KILL_CATEGORIES, 0)
    by_day, commands, units = {}, {}, {}
    rule_counts = {rule: dict.fromkeys(STATUSES, 0) for rule in RULES}
    findings_total = dict.fromkeys(STATUSES, 0)
    recommendations = []
    leaks = []
    for host in with_data:
        for category in KILL_CATEGORIES:
            kills[category] += host["kills"][category]
        for day, count in host["kills_by_day"].items():
            by_day[day] = by_day.get(day, 0) + count
        for command, count in host["kills_by_command"].items():
            commands[command] = commands.get(command, 0) + count
        for unit, count in host["kills_by_unit"].items():
            units[unit] = units.get(unit, 0) + count
        for item in host["findings"]:
            rule_counts.setdefault(item["rule"], dict.fromkeys(STATUSES, 0))[item["status"]] += 1
            findings_total[item["status"]] += 1
            if item["status"] == FAIL and item["remediation"]:
                recommendations.append(
                    {
                        "host": host["host"],
                        "rule": item["rule"],
                        "message": item["message"],
                        "remediation": item["remediation"],
                        "snippet": item["snippet"],
                        "evidence_sources": [s["source"] for s in host["peak"]["sources"]]
                        if item["rule"] in ("oom/ERR/001", "oom/ERR/002", "oom/BP/002")
                        else [],
                        "evidence_days": _evidence_days(item["rule"], host),
                    }
                )
        leaks += [dict(leak, host=host["host"]) for leak in host["leaks"] if leak["suspect"]]
    rank = {"oom/ERR": 0, "oom/WAR": 1, "oom/BP/": 2}
    recommendations.sort(key=lambda r: (rank.get(r["rule"][:7], 3), r["rule"], r["host"]))
    memory_rows = [
        {
            "host": h["host"],
            "total_kb": h["memory"]["total_kb"],
            "used_kb": h["memory"]["used_kb"],
            "peak_kb": h["peak"]["used_kb"],
            "peak_pct": h["peak"]["used_pct"],
        }
        for h in with_data
    ]
    histogram = [0] * 10
    for row in memory_rows:
        if row["peak_pct"] is not None:
            histogram[min(int(row["peak_pct"] // 10), 9)] += 1
    summary = {
        "hosts": len(hosts),
        "hosts_with_data": len(with_data),
        "hosts_no_data": len(hosts) - len(with_data),
        "hosts_with_kills": sum(1 for h in with_data if h["kills"]["total"]),
        "hosts_without_kills": sum(1 for h in with_data if not h["kills"]["total"]),
        "kills": sum(kills.values()),
        "kills_by_category": kills,
        "findings": findings_total,
        "rules": rule_counts,
        "gke_nodes": sum(1 for h in hosts if h.get("gke")),
        "leak_suspects": len(leaks),
        "containers_unlimited": sum(len(h["containers_unlimited"]) for h in with_data),
        "panic_on_oom_hosts": sum(1 for h in with_data if h["sysctl"].get("vm.panic_on_oom")),
    }
    charts = {
        "kills_per_host": [
            {"host": h["host"], "kills": h["kills"]["total"]}
            for h in sorted(with_data, key=lambda h: (-h["kills"]["total"], h["host"]))
            if h["kills"]["total"]
        ][:25],
        "kills_by_day": _daily_series(by_day),
        "memory_top": sorted(memory_rows, key=lambda r: (-(r["peak_pct"] or 0), r["host"]))[:25],
        "memory_histogram": [{"bucket": f"{i * 10}-{i * 10 + 10} %", "hosts": n} for i, n in enumerate(histogram)],
        "top_commands": _top(commands),
        "top_units": _top(units),
    }
    for host in with_data:
        host["snapshot"] = snapshot(host)
    report = dict(meta)
    report.update(
        schema_version=SCHEMA_VERSION,
        summary=summary,
        charts=charts,
        rules=RULES,
        recommendations=recommendations[:500],
        leak_suspects=sorted(leaks, key=lambda leak: (leak["eta_days"] is None, leak["eta_days"] or 0))[:100],
        hosts=hosts,
    )
    return report


def resolve_options(options):
    resolved = dict(DEFAULT_OPTIONS)
    for key, value in (options or {}).items():
        if key not in DEFAULT_OPTIONS:
            raise ReportError(f"unknown report option {key!r} (known: {', '.join(sorted(DEFAULT_OPTIONS))})")
        if value is not None:
            resolved[key] = value
    for key in ("critical_units", "critical_commands"):
        if not isinstance(resolved[key], list) or not all(isinstance(item, str) for item in resolved[key]):
            raise ReportError(f"report option {key} must be a list of strings")
    return resolved


def _rule_context(options):
    context = dict(options)
    context["critical_units_re"] = compile_patterns(options["critical_units"])
    context["critical_commands_re"] = compile_patterns(options["critical_commands"])
    return context


def build_report(hosts, machine_table=None, options=None, history=(), meta=None, generated=None):
    """The fleet report of ``hosts`` (HostInput). ``history``: earlier reports' snapshots, ``[{host: snapshot}]``.

    Raises ReportError for an empty host list: an empty inventory is never "0 VMs, 0 OOMs".
    """
    hosts = list(hosts)
    if not hosts:
        raise ReportError(
            "no hosts to report on: the inventory (or the play's host pattern) is empty; "
            "an empty inventory is an error, never '0 VMs, 0 OOMs'"
        )
    names = [h.name for h in hosts]
    if len(set(names)) != len(names):
        raise ReportError("a host appears twice in the report input")
    options = resolve_options(options)
    try:
        machine_types = MachineTypes(machine_table)
    except MachineTypeError as exc:
        raise ReportError(str(exc)) from exc
    generated = generated or _now()
    context = _rule_context(options)
    per_host_history = {}
    for run in history:
        for name, snap in (run or {}).items():
            per_host_history.setdefault(name, []).append(snap)
    entries = []
    # The cyclic collector would rescan the large, long-lived facts again and again while the build allocates
    # many small acyclic dicts: it is paused during the build (about half the time at 10,000 hosts).
    collecting = gc.isenabled()
    gc.disable()
    try:
        for host_input in hosts:
            if host_input.oom is not None and not isinstance(host_input.oom, dict):
                raise ReportError(f"host {host_input.name}: ansible_facts.oom is not a dict")
            entries.append(
                summarize_host(host_input, machine_types, context, generated, per_host_history.get(host_input.name, ()))
            )
    finally:
        if collecting:
            gc.enable()
    report_meta = {
        "generator": "oomguard.memory.oom_report",
        "generated_at": _iso(generated),
        "options": dict(options),
        "history_runs": len(history),
        "parts": [{"generated_at": _iso(generated), "hosts": len(entries), "label": (meta or {}).get("label")}],
    }
    report_meta.update(meta or {})
    return finish_report(entries, report_meta)


def merge_reports(reports, meta=None):
    """One fleet report from partial reports (--limit batches, job slices). A host in several: the newest wins."""
    reports = list(reports)
    if not reports:
        raise ReportError("no partial reports to merge")
    chosen = {}
    parts = []
    for index, report in enumerate(reports):
        if not isinstance(report, dict) or not isinstance(report.get("hosts"), list):
            raise ReportError(f"partial report {index + 1} is not an oom_report report.json (no hosts list)")
        version = str(report.get("schema_version", ""))
        if version.partition(".")[0] != SCHEMA_VERSION.partition(".")[0]:
            raise ReportError(
                f"partial report {index + 1} has schema_version {version!r}, this merge reads {SCHEMA_VERSION}"
            )
        parts += report.get("parts") or [{"generated_at": report.get("generated_at"), "hosts": len(report["hosts"])}]
        for host in report["hosts"]:
            name = host.get("host")
            previous = chosen.get(name)
            if previous is None or _merge_rank(host) > _merge_rank(previous):
                chosen[name] = host
    if not chosen:
        raise ReportError("the partial reports hold no host")
    first = reports[0]
    merged_meta = {
        "generator": "oomguard.memory.oom_report",
        "generated_at": _iso(_now()),
        "options": first.get("options", {}),
        "history_runs": max(_int(r.get("history_runs")) for r in reports),
        "parts": parts,
        "merged_from": len(reports),
    }
    merged_meta.update(meta or {})
    return finish_report(list(chosen.values()), merged_meta)


def _merge_rank(host):
    """Data beats no data; then the newer gathering."""
    return (host.get("status") == "ok", host.get("gathered_at") or "")


__all__ = [
    "FAIL",
    "OK",
    "RULES",
    "SCHEMA_VERSION",
    "SKIP",
    "UNKNOWN",
    "HostInput",
    "ReportError",
    "build_report",
    "merge_reports",
    "snapshots_from_report",
]
