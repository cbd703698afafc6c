# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The oom_report findings: rule catalogue and one function per rule over a host summary.

PRIVATE to oomguard.memory; no compatibility promise.

Each rule returns a finding ``{rule, status, message, remediation, evidence, snippet}``; ``status`` is FAIL, OK,
SKIP (the rule does not apply) or UNKNOWN (the data to decide is missing; never shown as OK), as gcpdiag does.
"""

from __future__ import annotations

import fnmatch
import json
import re

from ansible_collections.oomguard.memory.plugins.plugin_utils._machine_types import (
    MachineTypeError,
    gcloud_snippet,
    needed_memory_mib,
)
from ansible_collections.oomguard.memory.plugins.plugin_utils._policy import DEFAULT_NEVER_TOUCH, NEVER_TOUCH_COMMS

FAIL, OK, SKIP, UNKNOWN = "FAIL", "OK", "SKIP", "UNKNOWN"
STATUSES = (FAIL, UNKNOWN, SKIP, OK)

RULES = {
    "oom/ERR/001": "The VM ran out of memory: kernel global OOM kills, systemd-oomd or earlyoom kills in the window",
    "oom/ERR/002": "Memory in use reached the VM's RAM (peak at or above 95 %, or at or above 90 % for long)",
    "oom/ERR/003": "vm.panic_on_oom with kernel.panic set turns every OOM into a reboot",
    "oom/ERR/004": "A critical service was OOM-killed",
    "oom/WARN/001": "A unit was killed at its own MemoryMax",
    "oom/WARN/002": "Processes were killed inside a container or cgroup memory limit",
    "oom/WARN/003": "Memory pressure without swap or a userspace OOM killer",
    "oom/WARN/004": "OOM kills the logs do not show, or logs that could not be read",
    "oom/WARN/005": "Memory leak suspect: steady growth towards a limit",
    "oom/WARN/006": "Containers without a memory limit",
    "oom/BP/001": "No memory history (sysstat) to size the VM on",
    "oom/BP/002": "A smaller machine type fits the measured peak",
}

# oom_protect's default oom_protect_max_critical, and the length of the kernel's process names (TASK_COMM_LEN - 1)
MAX_CRITICAL_UNITS = 5
COMM_MAX = 15

SYSSTAT_DEBIAN_STEPS = (
    "apt-get install sysstat && "
    "systemctl enable --now sysstat sysstat-collect.timer sysstat-summary.timer "
    "(Debian ships it disabled: ENABLED=false in /etc/default/sysstat; under systemd editing that file alone does "
    "nothing; dpkg-reconfigure sysstat also works). Set HISTORY=28 in /etc/default/sysstat to keep 4 weeks."
)


def finding(rule, status, message, remediation="", evidence=None, snippet=None):
    """A finding; OK and SKIP ones carry their message only, which keeps report.json small at 10,000 hosts."""
    settled = status in (OK, SKIP)
    return {
        "rule": rule,
        "status": status,
        "message": message,
        "remediation": "" if settled else remediation,
        "evidence": {} if settled or not evidence else evidence,
        "snippet": None if settled else snippet,
    }


def compile_patterns(patterns):
    """One regular expression for a list of glob patterns (None for an empty list)."""
    return re.compile("|".join(fnmatch.translate(pattern) for pattern in patterns)) if patterns else None


def _mib(kb):
    return round((kb or 0) / 1024.0)


def _vm_level_kills(host):
    kills = host["kills"]
    return kills["global"] + kills["systemd-oomd"] + kills["earlyoom"]


def _logs_readable(host):
    return any(status == "ok" for status in host["sources"].values())


def rule_vm_out_of_memory(host, ctx):
    kills = host["kills"]
    vm_kills = _vm_level_kills(host)
    evidence = {
        "global": kills["global"],
        "systemd-oomd": kills["systemd-oomd"],
        "earlyoom": kills["earlyoom"],
        "window_days": host["window"]["days"],
        "last_kill": host["last_kill"],
        "sources": sorted(name for name, status in host["sources"].items() if status == "ok"),
    }
    if vm_kills:
        victims = [v for v in host["victims"] if v["kind"] in ("global", "allocating_task", "systemd-oomd", "earlyoom")]
        evidence["victims"] = [
            {"pid": v["pid"], "comm": v["comm"], "unit": v["unit"], "rss_kb": v["rss_kb"], "timestamp": v["timestamp"]}
            for v in victims[:5]
        ]
        return finding(
            "oom/ERR/001",
            FAIL,
            f"{vm_kills} VM-wide OOM kills in {host['window']['days']} days "
            f"(kernel global {kills['global']}, systemd-oomd {kills['systemd-oomd']}, earlyoom {kills['earlyoom']}), "
            f"last {host['last_kill']}",
            _upsize_remediation(host),
            evidence,
            host["rightsizing"].get("snippet"),
        )
    if not _logs_readable(host):
        return finding(
            "oom/ERR/001",
            UNKNOWN,
            "no kernel log source could be read, so OOM kills are unknown (not zero): "
            + ", ".join(f"{name} {status}" for name, status in sorted(host["sources"].items())),
            "Run the report with become (root reads the journal and /dev/kmsg); keep a persistent journal.",
            evidence,
        )
    return finding("oom/ERR/001", OK, f"no VM-wide OOM kill in {host['window']['days']} days of logs", "", evidence)


def _upsize_remediation(host):
    sizing = host["rightsizing"]
    recommended = sizing.get("recommended")
    if recommended:
        text = f"Move {host['machine']['type']} to {recommended} ({sizing['reason']})"
        if sizing.get("alternative"):
            text += f", or {sizing['alternative']} if the workload is memory-bound"
        if host["gke"]:
            text += "; on GKE resize the node pool's machine type rather than the VM"
        return text + ". Also look for a leak in the biggest victims."
    return (
        f"Give the VM more memory: it needs about {sizing['need_mib']} MiB "
        f"({sizing['reason'] or 'machine type unknown'}); "
        "or cap the biggest consumers with MemoryMax= so that the kernel kills inside them first."
    )


def rule_memory_at_ram(host, ctx):
    peak = host["peak"]
    history = host["memory_history"]
    used_pct = peak["used_pct"]
    evidence = {
        "peak_used_kb": peak["used_kb"],
        "memtotal_kb": host["memory"]["total_kb"],
        "peak_source": peak["source"],
        "days": peak["days"],
        "confidence": host["confidence"],
    }
    if history and history.get("available"):
        evidence["share_ge_90_pct"] = history.get("share_ge_90_pct")
        evidence["coverage_pct"] = history.get("coverage_pct")
    long_high = bool(history and history.get("available") and (history.get("share_ge_90_pct") or 0) >= 10)
    if used_pct is not None and (used_pct >= 95 or long_high):
        why = f"peak {used_pct:.0f} % of RAM ({peak['source']}, {peak['days']} days)"
        if long_high:
            why += f"; at or above 90 % in {history['share_ge_90_pct']:.0f} % of the sysstat samples"
        return finding(
            "oom/ERR/002", FAIL, why, _upsize_remediation(host), evidence, host["rightsizing"].get("snippet")
        )
    if history and history.get("available"):
        return finding(
            "oom/ERR/002", OK, f"peak {used_pct:.0f} % of RAM over {peak['days']} days (sysstat)", "", evidence
        )
    return finding(
        "oom/ERR/002",
        UNKNOWN,
        f"no memory history: only lower bounds of the peak are known ({peak['source']}: "
        f"{_mib(peak['used_kb'])} MiB, {used_pct or 0:.0f} % of RAM)",
        "Enable sysstat (see oom/BP/001) so that the peak over the window is known.",
        evidence,
    )


def rule_panic_on_oom(host, ctx):
    sysctl = host["sysctl"]
    panic_on_oom, kernel_panic = sysctl.get("vm.panic_on_oom"), sysctl.get("kernel.panic")
    evidence = {"vm.panic_on_oom": panic_on_oom, "kernel.panic": kernel_panic, "oom_panics": host["oom_panics"]}
    if panic_on_oom is None:
        return finding(
            "oom/ERR/003", UNKNOWN, "vm.panic_on_oom could not be read", "Read the sysctl as root.", evidence
        )
    if panic_on_oom:
        effect = (
            f"a reboot {kernel_panic} s after every OOM"
            if kernel_panic and kernel_panic > 0
            else "a hang on every OOM (kernel.panic=0 does not reboot)"
        )
        return finding(
            "oom/ERR/003",
            FAIL,
            f"vm.panic_on_oom={panic_on_oom} with kernel.panic={kernel_panic}: {effect}",
            "Set vm.panic_on_oom=0 (sysctl -w vm.panic_on_oom=0 and remove it from /etc/sysctl.d); protect the "
            "services that matter with oom_protect instead.",
            evidence,
        )
    return finding("oom/ERR/003", OK, "vm.panic_on_oom=0: the OOM killer kills, it does not reboot", "", evidence)


def _is_critical(victim, ctx):
    unit = victim["unit"] or ""
    comm = victim["comm"] or ""
    if unit and ctx["critical_units_re"] and ctx["critical_units_re"].match(unit):
        return "listed in oom_report_critical_units"
    if comm and ctx["critical_commands_re"] and ctx["critical_commands_re"].match(comm):
        return "listed in oom_report_critical_commands"
    adj = victim.get("oom_score_adj")
    if isinstance(adj, int) and adj < 0:
        return f"oom_score_adj {adj}: it was meant to be spared"
    return None


def oom_protect_snippet(host_name, units, commands):
    """A ready policy for the oom_protect role that makes the critical victims the OOM killer's last choice.

    Units go into ``oom_protect_services`` (class critical: OOMScoreAdjust=-900, systemd-oomd avoids them); processes
    without a unit into ``oom_protect_processes``, matched by their name at the start of the command line's program.
    Units and processes the role never touches (Google's guest agents keep their own -999, the kubelet owns its
    values) are named in a comment instead, since listing them would stop the role. Strings are JSON-quoted: a
    process name is whatever the process set, and stays one YAML string.
    """
    lines = [
        "# oom_protect policy (group_vars or the play's vars); preview the next victims first:",
        f"#   ansible-playbook -i INVENTORY playbooks/protect.yml --check --diff --limit {_comment(host_name)}",
    ]
    touchable = [unit for unit in units if not any(fnmatch.fnmatchcase(unit, p) for p in DEFAULT_NEVER_TOUCH)]
    if touchable:
        lines.append("oom_protect_services:")
        for unit in touchable:
            lines += [f"  - name: {json.dumps(unit)}", "    class: critical"]
    processes = [command for command in commands if command not in NEVER_TOUCH_COMMS]
    if processes:
        lines.append("oom_protect_processes:")
        for command in processes:
            lines += [
                f"  - name: {json.dumps(command)}",
                f"    pattern: {json.dumps(command_pattern(command))}",
                "    class: critical",
            ]
    if len(touchable) > MAX_CRITICAL_UNITS:
        lines.append(
            f"# {len(touchable)} critical units: oom_protect_max_critical ({MAX_CRITICAL_UNITS}) allows fewer per host"
        )
    for name in [unit for unit in units if unit not in touchable] + [c for c in commands if c not in processes]:
        lines.append(
            f"# {_comment(name)}: keeps the oom_score_adj its owner sets (oom_protect_never_touch); the host "
            "needs more memory"
        )
    return "\n".join(lines)


def command_pattern(comm):
    """A regular expression for oom_score_adj's command-line match: the program named ``comm`` (the kernel's name of
    a process, cut to 15 characters), at the start of the command line or after its directory."""
    end = "" if len(comm) >= COMM_MAX else r"(\s|$)"
    return r"^(\S*/)?" + re.escape(comm) + end


def _comment(text):
    return "".join(char if char.isprintable() else "?" for char in str(text))[:100]


def rule_critical_killed(host, ctx):
    if host["gke"]:
        return finding("oom/ERR/004", SKIP, "GKE node: the kubelet owns oom_score_adj of pods and system daemons")
    critical = []
    for victim in host["victims"]:
        why = _is_critical(victim, ctx)
        if why:
            critical.append(dict(victim, why=why))
    if critical:
        units = sorted({v["unit"] for v in critical if v["unit"]})
        commands = sorted({v["comm"] for v in critical if not v["unit"] and v["comm"]})
        names = ", ".join(f"{v['comm']} ({v['unit'] or 'no unit'}, {v['why']})" for v in critical[:5])
        return finding(
            "oom/ERR/004",
            FAIL,
            f"{len(critical)} critical victims: {names}",
            "Protect them with the oom_protect role (the snippet), so that the OOM killer takes expendable work first.",
            {
                "victims": [
                    {k: v[k] for k in ("pid", "comm", "unit", "rss_kb", "timestamp", "why")} for v in critical[:10]
                ]
            },
            oom_protect_snippet(host["host"], units, commands),
        )
    if not host["victims"] and not _logs_readable(host):
        return finding("oom/ERR/004", UNKNOWN, "no log could be read: victims unknown", "Run with become.")
    return finding("oom/ERR/004", OK, "no critical service among the victims")


def rule_unit_own_limit(host, ctx):
    own_limit = [u for u in host["units"] if u["oom_kills"] and u["memory_max"] is not None]
    if own_limit:
        parts = []
        for unit in own_limit:
            peak = unit["memory_peak"]
            parts.append(
                f"{unit['unit']}: {unit['oom_kills']} kills at MemoryMax {_mib_b(unit['memory_max'])} MiB"
                + (f" (peak {_mib_b(peak)} MiB)" if peak else "")
            )
        return finding(
            "oom/WARN/001",
            FAIL,
            "; ".join(parts),
            "Raise the unit's MemoryMax= (oomguard.memory.systemd_memory) if its working set grew legitimately, or "
            "fix the leak; a bigger VM does not help a unit that hits its own limit.",
            {"units": [{k: u[k] for k in ("unit", "memory_max", "memory_peak", "oom_kills")} for u in own_limit]},
        )
    if not host["systemd_running"]:
        return finding("oom/WARN/001", SKIP, "systemd is not running: no unit limits")
    return finding("oom/WARN/001", OK, "no unit was killed at its own MemoryMax")


def _mib_b(value):
    return round(value / 1048576.0) if isinstance(value, (int, float)) else value


def rule_memcg_kills(host, ctx):
    unit_kills = sum(u["oom_kills"] for u in host["units"] if u["memory_max"] is not None)
    other = host["kills"]["memcg"] - unit_kills
    if other > 0:
        # the cgroup whose limit was hit (a container's, a slice's), else the victim's own
        limits = {v["oom_memcg"] or v["cgroup"] or v["unit"] or "?" for v in host["victims"] if v["kind"] == "memcg"}
        cgroups = sorted(limits)
        return finding(
            "oom/WARN/002",
            FAIL,
            f"{other} kills inside memory limits of containers or cgroups: {', '.join(cgroups[:5])}",
            "Size the container's or cgroup's memory limit to its peak plus headroom, or fix the leak.",
            {"memcg_kills": host["kills"]["memcg"], "cgroups": cgroups[:20]},
        )
    return finding("oom/WARN/002", OK, "no kill inside a container or cgroup limit other than units")


def rule_pressure_without_swap(host, ctx):
    pressure = host["pressure"]
    if not pressure["available"]:
        return finding(
            "oom/WARN/003",
            UNKNOWN,
            "pressure stall information is not available (kernel without PSI or psi=0)",
            "Boot with psi=1 to measure memory pressure.",
        )
    some, full = pressure["some_avg300"] or 0.0, pressure["full_avg300"] or 0.0
    swap = host["memory"]["swap_total_kb"] > 0
    killers = host["userspace_killers_active"]
    evidence = {"some_avg300": some, "full_avg300": full, "swap_total_kb": host["memory"]["swap_total_kb"]}
    evidence["userspace_killers_active"] = killers
    high = some >= ctx["pressure_some_pct"] or full >= ctx["pressure_full_pct"]
    if high and not swap and not killers:
        return finding(
            "oom/WARN/003",
            FAIL,
            f"memory pressure some {some:.1f} % / full {full:.1f} % (avg300) with no swap and no userspace OOM killer",
            "Add a swap file or zram, so that cold pages leave RAM before the kernel kills; or run systemd-oomd "
            "(it needs swap) or earlyoom (oom_protect_userspace_killer) to act on pressure before the kernel does.",
            evidence,
        )
    return finding(
        "oom/WARN/003",
        OK,
        f"pressure some {some:.1f} % / full {full:.1f} % (avg300), swap {'on' if swap else 'off'}",
        "",
        evidence,
    )


def rule_missing_kills(host, ctx):
    kills = host["kills"]
    unavailable = sorted(name for name, status in host["sources"].items() if status not in ("ok", "absent"))
    evidence = {
        "missing_from_logs": kills["missing_from_logs"],
        "missing_known": kills["missing_known"],
        "untrusted": kills["untrusted"],
        "sources": host["sources"],
    }
    if kills["missing_known"] and kills["missing_from_logs"] > 0:
        return finding(
            "oom/WARN/004",
            FAIL,
            f"the kernel counted {kills['missing_from_logs']} OOM kills since boot that no log read shows",
            "Keep a persistent journal (Storage=persistent in journald.conf) or rsyslog's kern.log, and read the "
            "report with become.",
            evidence,
        )
    if unavailable:
        return finding(
            "oom/WARN/004",
            UNKNOWN,
            f"log sources could not be read: {', '.join(unavailable)}; their kills are unknown, not zero",
            "Run the report with become (root reads the journal and /dev/kmsg).",
            evidence,
        )
    if not kills["missing_known"]:
        return finding(
            "oom/WARN/004",
            UNKNOWN,
            "whether the logs hold every kill cannot be told (no /proc/vmstat oom_kill counter to compare with)",
            "",
            evidence,
        )
    return finding("oom/WARN/004", OK, "the logs hold every kill the kernel counted since boot", "", evidence)


def rule_leaks(host, ctx):
    suspects = [leak for leak in host["leaks"] if leak["suspect"]]
    if suspects:
        parts = []
        for leak in suspects[:5]:
            eta = (
                f", reaches {leak['limit_kind']} in {leak['eta_days']:.1f} days" if leak["eta_days"] is not None else ""
            )
            parts.append(f"{leak['name']} +{leak['growth_mib_per_day']:.0f} MiB/day over {leak['points']} runs{eta}")
        return finding(
            "oom/WARN/005",
            FAIL,
            "; ".join(parts),
            "Restart or fix the leaking service before it is killed; cap it with MemoryMax= so that the kernel kills "
            "it rather than a neighbour.",
            {"suspects": suspects[:10]},
        )
    if ctx["history_runs"] < 2:
        return finding(
            "oom/WARN/005",
            UNKNOWN,
            f"{ctx['history_runs']} earlier reports kept: growth needs at least 2 earlier runs",
            "Run the report regularly (oom_report_history keeps the earlier report.json files).",
        )
    return finding("oom/WARN/005", OK, "no unit or Python process grows steadily")


def rule_unlimited_containers(host, ctx):
    containers = host["containers_unlimited"]
    if host["gke"]:
        return finding(
            "oom/WARN/006", SKIP, f"GKE node: pod limits come from the pod specs ({len(containers)} without a limit)"
        )
    if containers:
        names = ", ".join(f"{c['runtime']}:{c['id'][:12]}" for c in containers[:5])
        return finding(
            "oom/WARN/006",
            FAIL,
            f"{len(containers)} containers run without a memory limit: {names}",
            "Give each container a memory limit (docker run --memory, a Kubernetes limit); one without a limit can "
            "take the whole VM into a global OOM.",
            {"containers": containers[:20]},
        )
    return finding("oom/WARN/006", OK, "no container without a memory limit")


def rule_no_history(host, ctx):
    if host["gke"]:
        return finding("oom/BP/001", SKIP, "GKE node: use Cloud Monitoring's node metrics")
    history = host["memory_history"]
    if history and history.get("available"):
        return finding(
            "oom/BP/001",
            OK,
            f"sysstat keeps {history.get('days')} days ({history.get('coverage_pct')} % covered)",
            "",
            {"days": history.get("days"), "coverage_pct": history.get("coverage_pct")},
        )
    if not history.get("window_days"):
        return finding(
            "oom/BP/001",
            UNKNOWN,
            "the memory history was not gathered (oom_report_memory_history_days is 0, or the cached facts were "
            "gathered without memory_history_days): whether sysstat keeps it is unknown",
            "Set oom_report_memory_history_days (8 by default) and run the report live.",
        )
    why = f" ({history['reason']})" if history.get("reason") else ""
    return finding(
        "oom/BP/001",
        FAIL,
        "no sysstat memory history"
        + why
        + ": right-sizing rests on the current snapshot and the kills only, never downsizing",
        SYSSTAT_DEBIAN_STEPS,
    )


def rule_smaller_type(host, ctx):
    sizing = host["rightsizing"]
    if sizing["action"] == "downsize":
        return finding(
            "oom/BP/002",
            FAIL,
            f"{host['machine']['type']} -> {sizing['recommended']}: {sizing['reason']}",
            f"Move to {sizing['recommended']} (saves memory; vCPUs unchanged; CPU use was not evaluated).",
            sizing["evidence"],
            sizing.get("snippet"),
        )
    if host["confidence"] != "high":
        return finding(
            "oom/BP/002",
            SKIP,
            "downsizing needs high confidence (at least 7 days of sysstat at 90 % coverage); "
            f"confidence is {host['confidence']}",
        )
    if sizing["action"] in ("upsize", "none_fits"):
        return finding("oom/BP/002", SKIP, "the VM needs more memory, not less")
    return finding("oom/BP/002", OK, sizing["reason"] or "no smaller type fits the peak with headroom")


RULE_FUNCTIONS = (
    rule_vm_out_of_memory,
    rule_memory_at_ram,
    rule_panic_on_oom,
    rule_critical_killed,
    rule_unit_own_limit,
    rule_memcg_kills,
    rule_pressure_without_swap,
    rule_missing_kills,
    rule_leaks,
    rule_unlimited_containers,
    rule_no_history,
    rule_smaller_type,
)


def evaluate(host, ctx):
    """All findings of one host that has data."""
    return [rule(host, ctx) for rule in RULE_FUNCTIONS]


def rightsizing(host, machine_types, ctx):
    """The right-sizing decision of one host: action, types, evidence, the gcloud snippet."""
    memtotal_mib = host["memory"]["total_kb"] / 1024.0
    peak = host["peak"]
    vm_killed = _vm_level_kills(host) > 0
    used_pct = peak["used_pct"] or 0
    history = host["memory_history"] or {}
    long_high = bool(history.get("available") and (history.get("share_ge_90_pct") or 0) >= 10)
    upsize = vm_killed or used_pct >= 95 or long_high
    full_stall = (host["pressure"]["full_avg300"] or 0) > 0.1 or (host["pressure"]["full_avg60"] or 0) > 0.1
    may_downsize = host["confidence"] == "high" and not upsize and host["kills"]["total"] == 0 and not full_stall
    evidence = {
        "peak_used_kb": peak["used_kb"],
        "peak_source": peak["source"],
        "days": peak["days"],
        "confidence": host["confidence"],
        "vm_kills": _vm_level_kills(host),
        "sources": peak["sources"],
    }
    result = {
        "action": "keep",
        "recommended": None,
        "alternative": None,
        "need_mib": None,
        "usable_mib": int(memtotal_mib),
        "reason": "",
        "evidence": evidence,
        "snippet": None,
    }
    result["need_mib"] = needed_memory_mib(
        peak["used_kb"] / 1024.0,
        memtotal_mib,
        vm_killed,
        ctx["headroom_pct"],
        ctx["oom_bump_pct"],
        ctx["oom_bump_min_mib"],
    )
    machine_type = host["machine"]["type"]
    if not machine_type or host["machine"].get("parse_error"):
        result["action"] = "upsize" if upsize else "unknown"
        result["reason"] = f"needs {result['need_mib']} MiB; machine type " + (
            f"{machine_type!r} not in the table" if machine_type else "unknown (not a GCE VM, or no gcp_compute vars)"
        )
        return result
    try:
        proposal = machine_types.rightsize(
            machine_type,
            peak_used_mib=peak["used_kb"] / 1024.0,
            memtotal_mib=memtotal_mib,
            oom_killed=vm_killed,
            need_mib=result["need_mib"] if upsize or may_downsize else None,
            downsize=may_downsize,
            headroom_pct=ctx["headroom_pct"],
            allow_custom=ctx["allow_custom"],
        )
    except MachineTypeError as exc:
        result["reason"] = str(exc)
        return result
    if not upsize and proposal["action"] == "upsize":
        # the peak with headroom exceeds RAM but nothing was killed and it stays below 95 %: advice, not a FAIL
        proposal["action"] = "keep"
    result.update(
        action=proposal["action"],
        recommended=proposal["recommended"]["name"] if proposal["recommended"] else None,
        alternative=proposal["alternative"]["name"] if proposal["alternative"] else None,
        custom=proposal["custom"]["name"] if proposal.get("custom") else None,
        reason=proposal["reason"],
        usable_mib=proposal["usable_mib"],
    )
    if result["recommended"] and result["action"] in ("upsize", "downsize") and not host["gke"]:
        machine = host["machine"]
        result["snippet"] = gcloud_snippet(
            machine.get("instance") or host["host"], machine.get("zone"), result["recommended"], machine.get("project")
        )
    return result
