# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Inputs of the fleet report on the controller: hosts from hostvars, earlier and partial report.json files.

PRIVATE to oomguard.memory; no compatibility promise.
"""

from __future__ import annotations

import glob
import json
import os

from ansible_collections.oomguard.memory.plugins.plugin_utils._report import (
    HostInput,
    ReportError,
    snapshots_from_report,
)

INVENTORY_KEYS = ("machineType", "zone", "labels", "name", "project", "status")
MAX_REPORT_BYTES = 1024 * 1024 * 1024
MAX_REASON = 300


def _failure_text(result):
    message = result.get("msg") or result.get("reason") or ""
    return " ".join(str(message).split())[:MAX_REASON]


def host_inputs(hostvars, hosts, facts_source="live", result_var="__oom_report_facts_result", gcp_vars_prefix=""):
    """One HostInput per name in ``hosts`` from ``hostvars``.

    ``live``: the facts come from the registered ``result_var`` of this run's oom_facts task, so a host that was
    unreachable or failed is "no data" even when older facts sit in the fact cache. ``cache``: the facts come from
    ``hostvars[host].ansible_facts.oom`` (Ansible's fact cache), and a host without them is "no data".
    """
    if facts_source not in ("live", "cache"):
        raise ReportError(f"facts_source must be live or cache, got {facts_source!r}")
    inputs = []
    for name in hosts:
        variables = hostvars[name]
        inventory = {}
        for key in INVENTORY_KEYS:
            value = variables.get(gcp_vars_prefix + key)
            if value is not None:
                inventory[key] = value
        oom, failure = None, None
        if facts_source == "live":
            result = variables.get(result_var)
            if not isinstance(result, dict):
                failure = "no result from this run (the host was not reached by the play)"
            elif result.get("unreachable"):
                failure = "unreachable: " + _failure_text(result)
            elif result.get("failed"):
                failure = "oom_facts failed: " + _failure_text(result)
            elif result.get("skipped"):
                failure = "skipped: " + _failure_text(result)
            else:
                oom = (result.get("ansible_facts") or {}).get("oom")
                if oom is None:
                    failure = "oom_facts returned no ansible_facts.oom"
        else:
            oom = (variables.get("ansible_facts") or {}).get("oom")
            if oom is None:
                failure = "no oom facts in the fact cache (run oom_facts on it, or check fact_caching)"
        inputs.append(HostInput(str(name), oom=oom, failure=failure, inventory=inventory))
    return inputs


def load_report_file(path):
    """A report.json written by oom_report, as a dict; ReportError when it is not one."""
    try:
        size = os.path.getsize(path)
        if size > MAX_REPORT_BYTES:
            raise ReportError(f"{path}: {size} bytes, larger than a report.json can be ({MAX_REPORT_BYTES})")
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read report {path}: {exc}") from exc
    if not isinstance(report, dict) or not isinstance(report.get("hosts"), list):
        raise ReportError(f"{path} is not an oom_report report.json (no hosts list)")
    return report


def expand_paths(parts):
    """Report paths with glob patterns expanded (sorted); dicts pass through. A pattern without a match is an error."""
    expanded = []
    for part in parts:
        if isinstance(part, str) and glob.has_magic(part):
            matches = sorted(glob.glob(part))
            if not matches:
                raise ReportError(f"no partial report matches {part!r}")
            expanded += matches
        else:
            expanded.append(part)
    return expanded


def load_history(paths):
    """Snapshots ``[{host: snapshot}]`` of earlier report.json files, oldest first, and the errors met."""
    runs, errors = [], []
    for path in paths or []:
        try:
            report = load_report_file(path)
        except ReportError as exc:
            errors.append(str(exc))
            continue
        runs.append((report.get("generated_at") or "", snapshots_from_report(report)))
    runs.sort(key=lambda run: run[0])
    return [snapshots for _generated, snapshots in runs], errors
