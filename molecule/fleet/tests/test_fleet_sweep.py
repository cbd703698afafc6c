# SPDX-License-Identifier: GPL-3.0-or-later
"""The time of an oom_facts sweep of the fleet next to an ``ansible -m setup`` sweep of the same fleet (printed).

Runs once, on the controller, against the lab's own inventory. (A host that goes away in the middle of a run is
tests/test_fleet_report.py; tests/benchmarks/bench_report.py --inventory compares the whole report with setup.)
"""

from __future__ import annotations

import subprocess
import time

import pytest
from fleetlab import ansible_env, inventory_path

testinfra_hosts = ["local://"]


@pytest.fixture(scope="module")
def inventory():
    return inventory_path()


def sweep(inventory, module):
    started = time.monotonic()
    run = subprocess.run(
        ["ansible", "containers", "-i", inventory, "-m", module],
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return time.monotonic() - started, run


def test_sweep_time_next_to_setup(inventory):
    setup_s, setup = sweep(inventory, "ansible.builtin.setup")
    facts_s, facts = sweep(inventory, "oomguard.memory.oom_facts")
    print(
        f"\nfleet sweep of 8 containers: ansible -m setup {setup_s:.1f} s, -m oomguard.memory.oom_facts {facts_s:.1f} s"
    )
    assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-2000:]
    assert facts.returncode == 0, facts.stdout[-2000:] + facts.stderr[-2000:]
    assert facts.stdout.count(" | SUCCESS =>") == 8
