# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the fleet's verify tests: the lab's own view of its hosts, and the oom_facts 1.1 gate."""

from __future__ import annotations

import json

import pytest
from fleetlab import lab


@pytest.fixture(scope="session")
def lab_hostvars():
    """Host name -> the lab's host variables (lab_memory_mib, ansible_host, ...), from the lab itself."""
    inventory = json.loads(lab("inventory", "--format", "json").stdout)
    return {
        name: variables
        for group in inventory["all"]["children"].values()
        for name, variables in group["hosts"].items()
        if variables
    }


@pytest.fixture(scope="session")
def require_facts_1_1():
    """``require_facts_1_1(facts)`` marks the calling test as an expected failure while oom_facts does not
    implement the 1.1 facts contract (``facts_version``); from 1.1 on the test runs for real."""

    def check(facts):
        if facts.get("facts_version") != "1.1":
            pytest.xfail(f"needs oom_facts 1.1; this oom_facts has facts_version {facts.get('facts_version')!r}")

    return check
