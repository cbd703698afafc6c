# SPDX-License-Identifier: GPL-3.0-or-later
"""Every container host of the fleet returns OOM facts."""

from __future__ import annotations

import pytest

testinfra_hosts = ["ansible://containers"]


@pytest.fixture(scope="module")
def facts(host):
    result = host.ansible("oomguard.memory.oom_facts", "top_processes=5", check=False)
    assert not result.get("failed"), result
    return result["ansible_facts"]["oom"]


def test_cgroup_version_reported(facts):
    # LXC on this machine's hybrid hierarchy: v1 controllers with a cgroup2 mount beside them.
    assert facts["cgroup_version"] in ("1", "hybrid")


def test_memory_reported(facts):
    assert facts["memory"]["MemTotal"] > 0


def test_systemd_seen(facts):
    assert facts["systemd_running"] is True
