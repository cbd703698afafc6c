# SPDX-License-Identifier: GPL-3.0-or-later
"""Every container host of the fleet returns OOM facts, and sees its memory limit as its RAM."""

from __future__ import annotations

import pytest
from fleetlab import HOSTS, ansible, facts_of, shell

testinfra_hosts = ["local://"]


@pytest.fixture(scope="module")
def facts():
    return facts_of(ansible("containers", "oomguard.memory.oom_facts", "top_processes=5"))


@pytest.fixture(scope="module")
def hardware():
    return ansible("containers", "ansible.builtin.setup", "gather_subset=!all,hardware")


@pytest.fixture(scope="module")
def kernel_view():
    """What each container reads: the first line of /proc/meminfo, its memory cgroup's limit."""
    return shell("containers", "head -1 /proc/meminfo; cat /sys/fs/cgroup/memory/memory.limit_in_bytes")


def test_the_fleet_is_the_scenario_platforms(lab_hostvars):
    assert sorted(lab_hostvars) == HOSTS


def test_hosts_have_different_ram(lab_hostvars):
    assert sorted(variables["lab_memory_mib"] for variables in lab_hostvars.values()) == sorted(
        [512, 1024, 2048, 4096] * 2
    )


@pytest.mark.parametrize("name", HOSTS)
def test_cgroup_version_reported(name, facts):
    # LXC on this machine's hybrid hierarchy: v1 controllers with a cgroup2 mount beside them.
    assert facts[name]["cgroup_version"] in ("1", "hybrid")


@pytest.mark.parametrize("name", HOSTS)
def test_systemd_seen(name, facts):
    assert facts[name]["systemd_running"] is True


@pytest.mark.parametrize("name", HOSTS)
def test_memtotal_is_the_container_limit(name, kernel_view, lab_hostvars):
    ram_mib = lab_hostvars[name]["lab_memory_mib"]
    meminfo, limit = kernel_view[name].splitlines()
    assert meminfo.split() == ["MemTotal:", str(ram_mib * 1024), "kB"]
    assert int(limit) == ram_mib << 20


@pytest.mark.parametrize("name", HOSTS)
def test_oom_facts_memory_follows_the_limit(name, facts, lab_hostvars):
    ram_kib = lab_hostvars[name]["lab_memory_mib"] * 1024
    assert facts[name]["memory"]["MemTotal"] == ram_kib
    assert 0 < facts[name]["memory"]["MemAvailable"] < ram_kib


@pytest.mark.parametrize("name", HOSTS)
def test_ansible_facts_follow_the_limit(name, hardware, lab_hostvars):
    assert hardware[name]["ansible_facts"]["ansible_memtotal_mb"] == lab_hostvars[name]["lab_memory_mib"]
