# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the fleet's verify tests: the lab's own view of its hosts."""

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
