# SPDX-License-Identifier: GPL-3.0-or-later
"""The time of an oom_facts sweep and of the whole report (playbooks/report.yml) over the fleet, each next to an
``ansible -m setup`` sweep of the same fleet (printed, not asserted: the figures are for the CI log).

Runs on the controller, against the lab's own inventory. (A host that goes away in the middle of a run is
tests/test_fleet_report.py.)
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from fleetlab import REPO, ansible_env, inventory_path

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


def test_report_sweep_next_to_setup(inventory):
    """tests/benchmarks/bench_report.py --inventory: report.yml and `ansible -m setup`, one round each; it fails on a
    failed run or a report without data from every host."""
    bench = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "benchmarks" / "bench_report.py"),
            "--inventory",
            inventory,
            "--repeat",
            "1",
        ],
        cwd=str(REPO),
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    print("\n" + bench.stdout)
    assert bench.returncode == 0, bench.stdout[-2000:] + bench.stderr[-3000:]
    assert "report.yml" in bench.stdout and "ansible -m setup" in bench.stdout
