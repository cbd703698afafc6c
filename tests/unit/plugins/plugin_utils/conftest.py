# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Synthetic oom_facts 1.1 results (tests/unit/fixtures/report/*.json) and helpers to build reports from them."""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path

import pytest

from ansible_collections.oomguard.memory.plugins.plugin_utils._report import HostInput, build_report

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "report"
SCHEMA = Path(__file__).resolve().parents[4] / "roles" / "oom_report" / "files" / "report.schema.json"
GENERATED = datetime.datetime(2026, 12, 1, 0, 0, tzinfo=datetime.timezone.utc)


def load_facts(name):
    """A fresh copy of the fixture ``facts-<name>.json``."""
    return json.loads((FIXTURES / f"facts-{name}.json").read_text())


def report_of(*hosts, **kwargs):
    kwargs.setdefault("generated", GENERATED)
    return build_report(list(hosts), **kwargs)


def host_entry(name, oom, inventory=None, **kwargs):
    """The report entry of one host built from ``oom``."""
    report = report_of(HostInput(name, copy.deepcopy(oom), inventory=inventory), **kwargs)
    return next(h for h in report["hosts"] if h["host"] == name)


def finding_of(host, rule):
    return next(f for f in host["findings"] if f["rule"] == rule)


@pytest.fixture
def schema_validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def fleet_inputs():
    """The four fixture hosts with their gcp_compute vars, and one unreachable host."""
    return [
        HostInput("web-1", load_facts("global-oom")),
        HostInput(
            "worker-1",
            load_facts("unit-limit"),
            inventory={"machineType": "e2-standard-4", "zone": "europe-west1-b", "name": "worker-1", "project": "p"},
        ),
        HostInput(
            "db-2", load_facts("quiet-oversized"), inventory={"machineType": "n2-highmem-8", "zone": "europe-west1-c"}
        ),
        HostInput(
            "gke-pool-1-abcd",
            load_facts("gke-node"),
            inventory={"labels": {"goog-gke-node": "", "goog-k8s-cluster-name": "prod"}},
        ),
        HostInput("down-1", None, failure="unreachable: ssh: connect to host down-1 port 22: Connection timed out"),
    ]
