# SPDX-License-Identifier: GPL-3.0-or-later
"""One policy over 8 containers with different RAM: different byte limits; one violating host changes nothing.

Converge applied oomtest-batch.service MemoryMax=25% (resolved to bytes per host, whole pages) and
OOMScoreAdjust=500 on every container. The lab gives the containers different memory limits (512M, 1G, 2G, 4G),
which they see as their MemTotal.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import testinfra

REPO = Path(__file__).resolve().parents[3]
CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
STATE_FILE = "/var/lib/oomguard/oom_protect.json"


def hosts():
    return testinfra.get_hosts(["ansible://containers"], ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def expected_max(host, share):
    mem_total_kb = int(host.check_output("awk '$1 == \"MemTotal:\" {print $2}' /proc/meminfo"))
    size = mem_total_kb * 1024 * share // 100
    return size - size % 4096


def snapshot(host):
    show = host.check_output("systemctl show -p MemoryMax,OOMScoreAdjust oomtest-batch.service oomtest-db.service")
    record = host.file(STATE_FILE).content_string
    return show, hashlib.sha256(record.encode()).hexdigest()


@pytest.fixture(scope="module")
def converged():
    return {host.backend.host: host for host in hosts()}


def test_one_policy_different_byte_limits(converged):
    limits = {}
    for name, host in converged.items():
        memory_max = int(host.check_output("systemctl show -p MemoryMax --value oomtest-batch.service"))
        assert memory_max == expected_max(host, 25), name
        limits[name] = memory_max
        assert host.check_output("systemctl show -p OOMScoreAdjust --value oomtest-batch.service") == "500"
    assert len(converged) >= 8
    assert len(set(limits.values())) >= 3, "the lab's containers should have at least three RAM sizes: %s" % limits


def test_one_violating_host_fails_the_play_and_nothing_changes_anywhere(converged):
    before = {name: snapshot(host) for name, host in converged.items()}
    command = [
        "ansible-playbook",
        "-i",
        os.environ["MOLECULE_INVENTORY_FILE"],
        str(CONVERGE),
        "-e",
        json.dumps({"oomtest_batch_max": "30%", "oomtest_violating_host": "ct08"}),
    ]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, cwd=str(REPO), env=env
    )
    assert completed.returncode != 0
    # the failure's message goes to stderr
    text = " ".join((completed.stdout + completed.stderr).split())
    assert "guard-rail violation(s); no host was changed" in text
    assert (
        "ct08: oomtest-batch.service (oom_protect_services[1], class expendable): memory_max 8 GiB is larger than "
        "the host's RAM (4 GiB)" in text
    )
    for name in converged:
        if name != "ct08":
            assert "%s: " % name not in text.split("no host was changed", 1)[1]
    after = {name: snapshot(host) for name, host in converged.items()}
    assert after == before
