# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""report.html: one self-contained page (inline CSS, inline SVG charts, a paginated sortable host table).

PRIVATE to oomguard.memory; no compatibility promise.

No external asset: a Content-Security-Policy forbids any load from elsewhere. The host table is rendered by a
small script from compact JSON rows, one page at a time, so that 10,000 hosts do not make a 10,000-row DOM.
Every host-provided value is HTML-escaped, and the JSON is escaped for a script element.
"""

from __future__ import annotations

import html
import json

PAGE_SIZE = 50
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
MAX_RECOMMENDATIONS = 100
BAR_COLORS = {"ok": "#3b7dd8", "warn": "#e0a100", "bad": "#c62828"}

CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
background:#f4f6fa}header{background:#1d2330;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c8d0e0}main{padding:16px 24px;max-width:1400px;margin:auto}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:16px}
.card{background:#fff;border-radius:8px;padding:12px 16px;min-width:150px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card b{display:block;font-size:24px}.card.bad b{color:#c62828}
.card.warn b{color:#b07d00}section{background:#fff;border-radius:8px;padding:12px 16px;margin-bottom:16px;
box-shadow:0 1px 2px rgba(0,0,0,.08)}h2{font-size:16px;margin:4px 0 12px}.charts{display:grid;
grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}svg text{font:11px system-ui,sans-serif;fill:#333}
table{border-collapse:collapse;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #e3e7ef;text-align:left;
vertical-align:top}th{cursor:pointer;user-select:none;background:#eef1f7;position:sticky;top:0}th.num,td.num{text-align:right}
tr.nodata td{color:#8a5a00;background:#fff8e6}.st{font-weight:600;padding:1px 6px;border-radius:4px;font-size:12px}
.FAIL{background:#fde2e2;color:#a11}.UNKNOWN{background:#fff1cc;color:#7a5a00}.SKIP{background:#e9ecf2;color:#555}
.OK{background:#e0f3e5;color:#1b6b34}pre{background:#f4f6fa;padding:8px;overflow:auto;font-size:12px}
.controls{display:flex;gap:8px;align-items:center;margin-bottom:8px;flex-wrap:wrap}.controls input{padding:4px 8px;
min-width:240px}button{padding:3px 10px}tr.detail td{background:#fafbfd}.muted{color:#667}
"""

SCRIPT = """
(function () {
  "use strict";
  var rows = JSON.parse(document.getElementById("host-data").textContent);
  rows.forEach(function (r) {
    r.search = [r.host, r.status === "ok" ? "" : "no data", r.type, r.zone].concat(
      r.findings.map(function (f) { return f[0]; })).join(" ").toLowerCase();
  });
  var PAGE = %(page)d;
  var state = {sort: "sev", dir: -1, page: 0, filter: "", open: {}};
  var body = document.getElementById("host-rows");
  var info = document.getElementById("page-info");
  function text(tag, value, cls) {
    var cell = document.createElement(tag);
    cell.textContent = value === null || value === undefined ? "" : String(value);
    if (cls) { cell.className = cls; }
    return cell;
  }
  function visible() {
    var f = state.filter.toLowerCase();
    var list = f ? rows.filter(function (r) { return r.search.indexOf(f) !== -1; }) : rows.slice();
    list.sort(function (a, b) {
      var x = a[state.sort], y = b[state.sort];
      if (x === y) { return a.host < b.host ? -1 : 1; }
      if (x === null || x === undefined) { return 1; }
      if (y === null || y === undefined) { return -1; }
      return (x < y ? -1 : 1) * state.dir;
    });
    return list;
  }
  function detail(row) {
    var tr = document.createElement("tr");
    tr.className = "detail";
    var td = document.createElement("td");
    td.colSpan = 11;
    if (row.reason) { td.appendChild(text("div", "No data: " + row.reason)); }
    if (row.evidence) { td.appendChild(text("div", row.evidence, "muted")); }
    row.findings.forEach(function (f) {
      var div = document.createElement("div");
      div.appendChild(text("span", f[1], "st " + f[1]));
      div.appendChild(document.createTextNode(" " + f[0] + ": " + f[2]));
      td.appendChild(div);
    });
    if (row.victims.length) {
      td.appendChild(text("div", "Victims (newest first): " + row.victims.join("; "), "muted"));
    }
    tr.appendChild(td);
    return tr;
  }
  function render() {
    var list = visible();
    var pages = Math.max(1, Math.ceil(list.length / PAGE));
    if (state.page >= pages) { state.page = pages - 1; }
    var start = state.page * PAGE;
    var fragment = document.createDocumentFragment();
    list.slice(start, start + PAGE).forEach(function (row) {
      var tr = document.createElement("tr");
      if (row.status !== "ok") { tr.className = "nodata"; }
      tr.appendChild(text("td", row.host));
      tr.appendChild(text("td", row.status === "ok" ? "ok" : "no data"));
      tr.appendChild(text("td", row.type));
      tr.appendChild(text("td", row.zone));
      tr.appendChild(text("td", row.ram_mib, "num"));
      tr.appendChild(text("td", row.peak_pct === null ? "" : row.peak_pct.toFixed(0), "num"));
      tr.appendChild(text("td", row.kills, "num"));
      tr.appendChild(text("td", row.split));
      tr.appendChild(text("td", row.last_kill));
      tr.appendChild(text("td", row.fail, "num"));
      tr.appendChild(text("td", row.advice));
      tr.addEventListener("click", function () { state.open[row.host] = !state.open[row.host]; render(); });
      fragment.appendChild(tr);
      if (state.open[row.host]) { fragment.appendChild(detail(row)); }
    });
    body.textContent = "";
    body.appendChild(fragment);
    info.textContent = "page " + (state.page + 1) + " of " + pages + " (" + list.length + " hosts)";
  }
  document.querySelectorAll("th[data-key]").forEach(function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-key");
      state.dir = state.sort === key ? -state.dir : (th.classList.contains("num") ? -1 : 1);
      state.sort = key;
      render();
    });
  });
  document.getElementById("filter").addEventListener("input", function (event) {
    state.filter = event.target.value; state.page = 0; render();
  });
  document.getElementById("prev").addEventListener("click", function () {
    if (state.page > 0) { state.page -= 1; render(); }
  });
  document.getElementById("next").addEventListener("click", function () { state.page += 1; render(); });
  render();
}());
"""


def esc(value):
    return html.escape("" if value is None else str(value), quote=True)


def script_json(data):
    """JSON that is safe inside a <script> element (no closing tag, no HTML comment, no line separators)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def _level(pct):
    if pct is None:
        return "ok"
    return "bad" if pct >= 95 else "warn" if pct >= 80 else "ok"


def hbar_chart(title, items, value_key, label_key, unit=""):
    """Horizontal bars, one per item (already limited by the caller)."""
    if not items:
        return f'<figure><figcaption>{esc(title)}</figcaption><p class="muted">none</p></figure>'
    width, label_w, row_h = 460, 170, 18
    height = row_h * len(items) + 10
    top = max(item[value_key] for item in items) or 1
    parts = [f'<svg role="img" aria-label="{esc(title)}" width="100%" viewBox="0 0 {width} {height}">']
    for index, item in enumerate(items):
        y = 5 + index * row_h
        bar_w = max(1, int((width - label_w - 50) * item[value_key] / top))
        label = str(item[label_key])
        label = label if len(label) <= 26 else label[:25] + "\u2026"
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{esc(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{bar_w}" height="{row_h - 5}" fill="#3b7dd8"/>')
        parts.append(f'<text x="{label_w + bar_w + 4}" y="{y + 12}">{esc(item[value_key])}{esc(unit)}</text>')
    parts.append("</svg>")
    return f"<figure><figcaption>{esc(title)}</figcaption>{''.join(parts)}</figure>"


def memory_chart(rows):
    """Peak memory in use against RAM, per host (the fullest hosts)."""
    title = "Memory in use (peak) vs RAM, fullest hosts"
    if not rows:
        return f'<figure><figcaption>{esc(title)}</figcaption><p class="muted">no data</p></figure>'
    width, label_w, row_h = 460, 150, 18
    height = row_h * len(rows) + 10
    scale = width - label_w - 125
    parts = [f'<svg role="img" aria-label="{esc(title)}" width="100%" viewBox="0 0 {width} {height}">']
    for index, row in enumerate(rows):
        y = 5 + index * row_h
        pct = min(row["peak_pct"] or 0, 100)
        label = row["host"] if len(row["host"]) <= 22 else row["host"][:21] + "\u2026"
        color = BAR_COLORS[_level(row["peak_pct"])]
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{esc(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{scale}" height="{row_h - 5}" fill="#e3e7ef"/>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 2}" width="{int(scale * pct / 100)}" height="{row_h - 5}" fill="{color}"/>'
        )
        parts.append(
            f'<text x="{label_w + scale + 4}" y="{y + 12}">{pct:.0f} % of {row["total_kb"] / 1048576.0:.1f} GiB</text>'
        )
    parts.append("</svg>")
    return f"<figure><figcaption>{esc(title)}</figcaption>{''.join(parts)}</figure>"


def column_chart(title, items, value_key, label_key, max_columns=92):
    """Vertical bars over time (the newest ``max_columns``)."""
    items = items[-max_columns:]
    if not items:
        return f'<figure><figcaption>{esc(title)}</figcaption><p class="muted">no kill with a timestamp</p></figure>'
    width, height, bottom = 460, 180, 30
    top = max(item[value_key] for item in items) or 1
    step = (width - 40) / float(len(items))
    parts = [f'<svg role="img" aria-label="{esc(title)}" width="100%" viewBox="0 0 {width} {height}">']
    parts.append(f'<text x="4" y="12">{esc(top)}</text>')
    for index, item in enumerate(items):
        bar_h = max(1, int((height - bottom - 16) * item[value_key] / top))
        x = 30 + index * step
        parts.append(
            f'<rect x="{x:.1f}" y="{height - bottom - bar_h}" width="{max(step - 1, 1):.1f}" height="{bar_h}" '
            f'fill="#c62828"><title>{esc(item[label_key])}: {esc(item[value_key])}</title></rect>'
        )
    parts.append(f'<text x="30" y="{height - 10}">{esc(items[0][label_key])}</text>')
    parts.append(f'<text x="{width - 4}" y="{height - 10}" text-anchor="end">{esc(items[-1][label_key])}</text>')
    parts.append("</svg>")
    return f"<figure><figcaption>{esc(title)}</figcaption>{''.join(parts)}</figure>"


def _host_row(host):
    machine = host["machine"]
    if host["status"] != "ok":
        return {
            "host": host["host"],
            "status": "no_data",
            "sev": host["severity"],
            "type": machine.get("type") or "unknown",
            "zone": machine.get("zone") or "",
            "ram_mib": None,
            "peak_pct": None,
            "kills": None,
            "split": "",
            "last_kill": "",
            "fail": None,
            "advice": "",
            "reason": host["no_data_reason"],
            "findings": [],
            "victims": [],
        }
    kills = host["kills"]
    sizing = host["rightsizing"]
    # FAIL and UNKNOWN only (OK and SKIP are counted in the rules table; report.json has every finding)
    findings = [
        [f["rule"], f["status"], f["message"][:160]] for f in host["findings"] if f["status"] in ("FAIL", "UNKNOWN")
    ]
    victims = [
        f"{v['comm']} (pid {v['pid']}, {v['unit'] or v['cgroup'] or '-'}, {v['kind']}, "
        f"{(v['rss_kb'] or 0) // 1024} MiB, {v['timestamp'] or '?'})"
        for v in host["victims"][:3]
    ]
    window = host["window"]
    history = host["memory_history"] or {}
    evidence = (
        f"{window['days']} days of logs to {(window['until'] or '')[:16]}; peak {host['peak']['used_pct']} % "
        f"({host['peak']['source']}); confidence {host['confidence']}"
    )
    if history.get("available"):
        evidence += f"; sysstat {history.get('days')} d, {history.get('coverage_pct')} %"
    return {
        "host": host["host"],
        "status": "ok",
        "evidence": evidence,
        "sev": host["severity"],
        "type": machine.get("type") or "unknown",
        "zone": machine.get("zone") or "",
        "ram_mib": host["memory"]["total_kb"] // 1024,
        "peak_pct": host["peak"]["used_pct"],
        "kills": kills["total"],
        "split": f"{kills['global']}/{kills['memcg']}/{kills['systemd-oomd']}/{kills['earlyoom']}",
        "last_kill": host["last_kill"] or "",
        "fail": host["finding_counts"]["FAIL"],
        "advice": (f"{sizing['action']} {sizing['recommended'] or ''}".strip() + (" (GKE)" if host["gke"] else "")),
        "reason": None,
        "findings": findings,
        "victims": victims,
    }


def _cards(report):
    summary = report["summary"]
    kills = summary["kills_by_category"]
    cards = [
        ("", summary["hosts"], "hosts"),
        ("warn" if summary["hosts_no_data"] else "", summary["hosts_no_data"], "no data"),
        ("bad" if summary["hosts_with_kills"] else "", summary["hosts_with_kills"], "hosts with OOM kills"),
        ("bad" if summary["kills"] else "", summary["kills"], "OOM kills"),
        ("", f"{kills['global']} / {kills['memcg']}", "global / memcg"),
        ("", f"{kills['systemd-oomd']} / {kills['earlyoom']}", "systemd-oomd / earlyoom"),
        ("bad" if summary["findings"]["FAIL"] else "", summary["findings"]["FAIL"], "failed checks"),
        ("warn" if summary["leak_suspects"] else "", summary["leak_suspects"], "leak suspects"),
    ]
    return "".join(f'<div class="card {cls}"><b>{esc(value)}</b>{esc(label)}</div>' for cls, value, label in cards)


def _recommendations(report):
    items = report["recommendations"]
    if not items:
        return '<p class="muted">No failed check.</p>'
    parts = ["<ul>"]
    for item in items[:MAX_RECOMMENDATIONS]:
        evidence = ""
        if item["evidence_sources"]:
            evidence = f'<div class="muted">Evidence: {esc(", ".join(item["evidence_sources"]))}'
            if item["evidence_days"] is not None:
                evidence += f" over {esc(item['evidence_days'])} days"
            evidence += "</div>"
        snippet = (
            f"<details><summary>snippet</summary><pre>{esc(item['snippet'])}</pre></details>" if item["snippet"] else ""
        )
        parts.append(
            f'<li><span class="st FAIL">FAIL</span> <b>{esc(item["rule"])}</b> {esc(item["host"])}: '
            f"{esc(item['message'])}<div>{esc(item['remediation'])}</div>{evidence}{snippet}</li>"
        )
    parts.append("</ul>")
    if len(items) > MAX_RECOMMENDATIONS:
        parts.append(f'<p class="muted">... and {len(items) - MAX_RECOMMENDATIONS} more in report.json.</p>')
    return "".join(parts)


def _rules_table(report):
    rows = []
    for rule, title in report["rules"].items():
        counts = report["summary"]["rules"].get(rule, {})
        rows.append(
            f"<tr><td>{esc(rule)}</td>"
            + "".join(f'<td class="num">{counts.get(s, 0)}</td>' for s in ("FAIL", "UNKNOWN", "SKIP", "OK"))
            + f"<td>{esc(title)}</td></tr>"
        )
    return (
        '<table><thead><tr><th>rule</th><th class="num">FAIL</th><th class="num">UNKNOWN</th><th class="num">SKIP</th>'
        f'<th class="num">OK</th><th>what it checks</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _leaks(report):
    if not report["leak_suspects"]:
        return ""
    rows = "".join(
        f"<tr><td>{esc(leak['host'])}</td><td>{esc(leak['name'])}</td>"
        f"<td class='num'>{esc(leak['growth_mib_per_day'])}</td>"
        f"<td class='num'>{esc(leak['points'])}</td><td>{esc(leak['limit_kind'])}</td>"
        f"<td class='num'>{esc(leak['eta_days'] if leak['eta_days'] is not None else '-')}</td></tr>"
        for leak in report["leak_suspects"][:50]
    )
    return (
        "<section><h2>Leak suspects</h2><table><thead><tr><th>host</th><th>what</th><th class='num'>MiB/day</th>"
        "<th class='num'>runs</th><th>reaches</th><th class='num'>in days</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        "</section>"
    )


def render(report):
    summary = report["summary"]
    charts = report["charts"]
    rows = [_host_row(host) for host in report["hosts"]]
    columns = [
        ("host", "host", ""),
        ("status", "status", ""),
        ("type", "machine type", ""),
        ("zone", "zone", ""),
        ("ram_mib", "RAM MiB", "num"),
        ("peak_pct", "peak %", "num"),
        ("kills", "kills", "num"),
        ("split", "global/memcg/oomd/earlyoom", ""),
        ("last_kill", "last kill", ""),
        ("fail", "FAIL", "num"),
        ("advice", "right-size", ""),
    ]
    header = "".join(f'<th data-key="{key}" class="{cls}">{esc(label)}</th>' for key, label, cls in columns)
    merged = f", merged from {esc(report['merged_from'])} partial reports" if report.get("merged_from") else ""
    counts = summary["findings"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fleet OOM report</title><style>{CSS}</style></head>
<body><header><h1>Fleet OOM report</h1>
<p>Generated {esc(report["generated_at"])}, schema {esc(report["schema_version"])}{merged}.
Rules summary: {counts["FAIL"]} failed, {counts["UNKNOWN"]} unknown, {counts["SKIP"]} skipped,
{counts["OK"]} ok.</p></header>
<main><div class="cards">{_cards(report)}</div>
<section><h2>Charts</h2><div class="charts">
{hbar_chart("OOM kills per host (most first)", charts["kills_per_host"], "kills", "host")}
{column_chart("OOM kills per day, whole fleet", charts["kills_by_day"], "kills", "date")}
{memory_chart(charts["memory_top"])}
{hbar_chart("Hosts by peak memory in use (% of RAM)", charts["memory_histogram"], "hosts", "bucket")}
{hbar_chart("Top killed commands", charts["top_commands"], "kills", "name")}
{hbar_chart("Top killed units", charts["top_units"], "kills", "name")}
</div></section>
<section><h2>Recommendations</h2>{_recommendations(report)}</section>
{_leaks(report)}
<section><h2>Hosts</h2><div class="controls">
<input id="filter" type="search" placeholder="filter: host, type, zone, rule">
<button id="prev" type="button">previous</button><button id="next" type="button">next</button>
<span id="page-info"></span>
<span class="muted">click a column to sort, a row for its findings</span></div>
<table><thead><tr>{header}</tr></thead><tbody id="host-rows"></tbody></table>
<noscript><p>The host table needs JavaScript; report.md and report.json hold the same data.</p></noscript></section>
<section><h2>Rules</h2>{_rules_table(report)}</section>
</main>
<script type="application/json" id="host-data">{script_json(rows)}</script>
<script>{SCRIPT % {"page": PAGE_SIZE}}</script>
</body></html>
"""
