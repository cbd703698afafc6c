# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""report.md: the fleet report for a terminal and a pull request.

PRIVATE to oomguard.memory; no compatibility promise. Every value from hosts (names, commands, units) is
escaped: it may contain Markdown or HTML.
"""

from __future__ import annotations

import re

MAX_HOST_ROWS = 200
MAX_RECOMMENDATIONS = 100
_SPECIAL = re.compile(r"([\\`*\[\]<>|~])")
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")


def md(value):
    """A host-provided value as inert Markdown text on one line."""
    text = "" if value is None else str(value)
    text = text.replace("\r", " ").replace("\n", " ")
    return _ENTITY.sub(r"\\&", _SPECIAL.sub(r"\\\1", text))[:300]


def _mib(kb):
    return f"{(kb or 0) / 1024.0:,.0f}"


def _counts_line(counts):
    return (
        f"Rules summary: {counts['FAIL']} failed, {counts['UNKNOWN']} unknown, "
        f"{counts['SKIP']} skipped, {counts['OK']} ok"
    )


def _code_block(text):
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}\n{text}\n{fence}"


def render(report):
    summary = report["summary"]
    kills = summary["kills_by_category"]
    out = [
        "# Fleet OOM report",
        "",
        f"Generated {md(report['generated_at'])} by {md(report['generator'])}, schema {md(report['schema_version'])}"
        + (f", merged from {report['merged_from']} partial reports" if report.get("merged_from") else "")
        + ".",
        "",
        f"**{summary['hosts']} hosts**: {summary['hosts_with_data']} with data, "
        f"**{summary['hosts_no_data']} no data** (unreachable or failed: not counted as hosts without OOM kills); "
        f"{summary['hosts_with_kills']} with OOM kills, {summary['hosts_without_kills']} without.",
        "",
        f"**{summary['kills']} OOM kills**: {kills['global']} global, {kills['memcg']} memcg, "
        f"{kills['systemd-oomd']} systemd-oomd, {kills['earlyoom']} earlyoom, {kills['other']} other.",
        "",
        _counts_line(summary["findings"]),
        "",
    ]
    charts = report["charts"]
    if charts["top_commands"] or charts["top_units"]:
        out += ["## Top victims", "", "| killed command | kills | | killed unit | kills |", "|---|--:|---|---|--:|"]
        rows = max(len(charts["top_commands"]), len(charts["top_units"]))
        for index in range(rows):
            command = charts["top_commands"][index] if index < len(charts["top_commands"]) else None
            unit = charts["top_units"][index] if index < len(charts["top_units"]) else None
            out.append(
                f"| {md(command['name']) if command else ''} | {command['kills'] if command else ''} | "
                f"| {md(unit['name']) if unit else ''} | {unit['kills'] if unit else ''} |"
            )
        out.append("")
    out += ["## Rules", "", "| rule | FAIL | UNKNOWN | SKIP | OK | what it checks |", "|---|--:|--:|--:|--:|---|"]
    for rule, title in report["rules"].items():
        counts = summary["rules"].get(rule, {})
        out.append(
            f"| {rule} | {counts.get('FAIL', 0)} | {counts.get('UNKNOWN', 0)} | {counts.get('SKIP', 0)} | "
            f"{counts.get('OK', 0)} | {md(title)} |"
        )
    out.append("")
    recommendations = report["recommendations"]
    if recommendations:
        out += ["## Recommendations", ""]
        for item in recommendations[:MAX_RECOMMENDATIONS]:
            out.append(f"- **[FAIL] {item['rule']}** {md(item['host'])}: {md(item['message'])}")
            out.append(f"  - Remediation: {md(item['remediation'])}")
            if item["evidence_sources"]:
                out.append(
                    f"  - Evidence: {', '.join(item['evidence_sources'])}"
                    + (f" over {item['evidence_days']} days" if item["evidence_days"] is not None else "")
                )
            if item["snippet"]:
                out.append("")
                out += ["  " + line for line in _code_block(item["snippet"]).splitlines()]
                out.append("")
        if len(recommendations) > MAX_RECOMMENDATIONS:
            out.append(f"- ... and {len(recommendations) - MAX_RECOMMENDATIONS} more in report.json")
        out.append("")
    if report["leak_suspects"]:
        out += [
            "## Leak suspects",
            "",
            "| host | what | growth MiB/day | runs | reaches | in days |",
            "|---|---|--:|--:|---|--:|",
        ]
        for leak in report["leak_suspects"][:50]:
            out.append(
                f"| {md(leak['host'])} | {md(leak['name'])} | {leak['growth_mib_per_day']} | {leak['points']} | "
                f"{leak['limit_kind']} | {leak['eta_days'] if leak['eta_days'] is not None else '-'} |"
            )
        out.append("")
    hosts = report["hosts"]
    out += [
        "## Hosts",
        "",
        "| host | status | machine type | zone | RAM MiB | peak % | kills (global/memcg/oomd/earlyoom) | last kill "
        "| FAIL | right-size |",
        "|---|---|---|---|--:|--:|---|---|--:|---|",
    ]
    for host in hosts[:MAX_HOST_ROWS]:
        machine = host["machine"]
        if host["status"] != "ok":
            out.append(
                f"| {md(host['host'])} | **no data**: {md(host['no_data_reason'])} "
                f"| {md(machine['type'] or 'unknown')} | {md(machine['zone'] or '')} | | | | | | |"
            )
            continue
        kills = host["kills"]
        sizing = host["rightsizing"]
        advice = f"{sizing['action']} {md(sizing['recommended'] or '')}".strip()
        out.append(
            f"| {md(host['host'])} | ok{' (GKE)' if host['gke'] else ''} | {md(machine['type'] or 'unknown')} "
            f"| {md(machine['zone'] or '')} | {_mib(host['memory']['total_kb'])} | {host['peak']['used_pct'] or 0:.0f} "
            f"| {kills['total']} ({kills['global']}/{kills['memcg']}/{kills['systemd-oomd']}/{kills['earlyoom']}) "
            f"| {md(host['last_kill'] or '')} | {host['finding_counts']['FAIL']} | {advice} |"
        )
    if len(hosts) > MAX_HOST_ROWS:
        out.append(f"\n... and {len(hosts) - MAX_HOST_ROWS} more hosts in report.json and report.html.")
    out.append("")
    return "\n".join(out)
