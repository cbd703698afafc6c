# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The kernel OOM killer's next victims before and after a change of oom_score_adj, and the units a policy caps.

PRIVATE to the oomguard.memory collection. No compatibility promise. Used by oom_protect (check mode) and
oom_report (a policy given to it).

The prediction starts from the kernel's own C(/proc/PID/oom_score) of each process (oom_facts
C(processes[].oom_score)), so the order is the kernel's, and shifts it by the change of C(oom_score_adj):

- Linux 5.9 and later report C(oom_score = (1000 + points * 1000 / totalpages) * 2 / 3), where C(points)
  already holds C(oom_score_adj * totalpages / 1000); a change of the adjustment by C(d) moves the score by
  C(d * 2 / 3), within 0..2000.
- Older kernels report C(points * 1000 / totalpages) within 0..1000; the score moves by C(d).
- A process at -1000 is never chosen (the kernel reports 0 for it). Its score at another value is estimated from
  its memory (RSS and swap over RAM and swap), and marked C(estimated).

The kernel picks the process with the highest score; that is the first victim of a global OOM.
"""

from __future__ import annotations

import re

from ansible_collections.oomguard.memory.plugins.module_utils._sizes import human

UNKILLABLE = -1000
_RELEASE = re.compile(r"^\s*(\d+)\.(\d+)")


def kernel_scale(release):
    """(per-mille factor of an oom_score_adj change, maximum score) for a kernel release string."""
    match = _RELEASE.match(release or "")
    if match and (int(match.group(1)), int(match.group(2))) < (5, 9):
        return 1.0, 1000
    return 2.0 / 3.0, 2000


def shift_score(score, old_adj, new_adj, release=None, rss_kb=0, swap_kb=0, total_kb=0):
    """Return (predicted oom_score, estimated) when oom_score_adj goes from C(old_adj) to C(new_adj)."""
    factor, ceiling = kernel_scale(release)
    if new_adj == UNKILLABLE:
        return 0, False
    if old_adj == UNKILLABLE:
        # the kernel reports 0 for an unkillable process: rebuild the score from its memory share
        share = 1000.0 * ((rss_kb or 0) + (swap_kb or 0)) / total_kb if total_kb else 0.0
        base = (1000.0 + share + new_adj) * factor if ceiling == 2000 else share + new_adj
        return int(max(0, min(ceiling, base))), True
    predicted = score + round((new_adj - old_adj) * factor)
    return int(max(0, min(ceiling, predicted))), False


def _row(process, score, adj, estimated=False):
    return {
        "pid": process.get("pid"),
        "comm": process.get("comm"),
        "unit": process.get("unit"),
        "rss_kb": process.get("rss_kb"),
        "oom_score": score,
        "oom_score_adj": adj,
        "estimated": estimated,
    }


def _order(rows):
    killable = [row for row in rows if row["oom_score_adj"] != UNKILLABLE]
    return sorted(killable, key=lambda row: (-row["oom_score"], row["pid"] or 0))


def predict_victims(processes, new_adj, release=None, total_kb=0, top=5):
    """The next victims before and after, from oom_facts C(processes) and {pid: new oom_score_adj}.

    Returns C(before) and C(after) (the C(top) highest scores, highest first), C(first_victim_before/after)
    and C(changed) (every process whose adjustment changes, with old and new adjustment and score).
    """
    before, after, changed = [], [], []
    for process in processes or []:
        pid = process.get("pid")
        score = process.get("oom_score")
        adj = process.get("oom_score_adj")
        if not isinstance(score, int) or not isinstance(adj, int):
            continue
        before.append(_row(process, score, adj))
        target = new_adj.get(pid, adj)
        new_score, estimated = (score, False)
        if target != adj:
            new_score, estimated = shift_score(
                score, adj, target, release, process.get("rss_kb"), process.get("swap_kb"), total_kb
            )
            changed.append(
                {
                    "pid": pid,
                    "comm": process.get("comm"),
                    "unit": process.get("unit"),
                    "oom_score_adj": [adj, target],
                    "oom_score": [score, new_score],
                    "estimated": estimated,
                }
            )
        after.append(_row(process, new_score, target, estimated))
    before, after = _order(before), _order(after)
    return {
        "before": before[:top],
        "after": after[:top],
        "first_victim_before": before[0] if before else None,
        "first_victim_after": after[0] if after else None,
        "changed": sorted(changed, key=lambda row: row["pid"] or 0),
    }


def _limit_text(value):
    if value is None or value == "infinity":
        return "infinity"
    return human(value)


def unit_caps(plan_units, facts_units):
    """The units whose limits change: the new and the current limit, the unit's use now and the headroom left."""
    caps = []
    for unit in plan_units or []:
        current = facts_units.get(unit["unit"]) or {}
        in_use = current.get("MemoryCurrent") if isinstance(current.get("MemoryCurrent"), int) else None
        for key, prop in (
            ("memory_max", "MemoryMax"),
            ("memory_high", "MemoryHigh"),
            ("memory_swap_max", "MemorySwapMax"),
        ):
            limit = unit["settings"].get(key)
            if limit is None:
                continue
            previous = current.get(prop)
            if previous == limit:
                continue
            cap = {
                "unit": unit["unit"],
                "setting": prop,
                "limit": limit,
                "previous": previous,
                "in_use": in_use,
                "headroom": limit - in_use if isinstance(limit, int) and in_use is not None else None,
            }
            cap["text"] = "%s %s: %s -> %s (in use %s)" % (
                unit["unit"],
                prop,
                _limit_text(previous),
                _limit_text(limit),
                human(in_use) if in_use is not None else "unknown",
            )
            caps.append(cap)
    return caps


def new_adjustments(plan, processes):
    """{pid: oom_score_adj} the plan sets: by unit (OOMScoreAdjust=, applied live) and by process rule."""
    by_unit = {
        unit["unit"]: unit["settings"]["oom_score_adjust"]
        for unit in plan.get("units") or []
        if unit["settings"].get("oom_score_adjust") is not None
    }
    adjust = {}
    for process in processes or []:
        if process.get("unit") in by_unit:
            adjust[process.get("pid")] = by_unit[process["unit"]]
    for rule in plan.get("processes") or []:
        for process in rule.get("matched") or []:
            adjust[process["pid"]] = rule["oom_score_adj"]
    return adjust


def preview(facts, plan, top=5):
    """The check-mode preview of one host: next victims before and after the plan, and the caps it sets."""
    facts = facts or {}
    processes = facts.get("processes") or []
    memory = facts.get("memory") or {}
    total_kb = (memory.get("MemTotal") or 0) + (memory.get("SwapTotal") or 0)
    release = ((facts.get("host") or {}).get("kernel")) or None
    result = predict_victims(processes, new_adjustments(plan or {}, processes), release, total_kb, top)
    _factor, ceiling = kernel_scale(release)
    result["score_model"] = "kernel %s: score moves by %s of the oom_score_adj change, 0..%d" % (
        release or "unknown (assumed >= 5.9)",
        "2/3" if ceiling == 2000 else "all",
        ceiling,
    )
    result["caps"] = unit_caps((plan or {}).get("units"), facts.get("units") or {})
    result["processes_seen"] = len(processes)
    return result
