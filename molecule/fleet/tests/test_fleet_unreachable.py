# SPDX-License-Identifier: GPL-3.0-or-later
"""A fleet sweep with ansible-playbook on this machine: a host that goes away between two plays.

Runs once, on the controller, against the lab's own inventory: the time of an oom_facts sweep next to an
``ansible -m setup`` sweep of the same fleet (printed), and a playbook that gathers oom_facts, stops ct08
between two plays (``python -m tests.lab stop``, delegated to localhost), and gathers again: ct08 must be
UNREACHABLE in the last play and every other host must go on. ct08 is booted again afterwards.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest
from fleetlab import LAB_NAME, REPO, ansible_env, inventory_path, lab

testinfra_hosts = ["local://"]

GONE = "ct08"
RECAP = re.compile(
    r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
    r"failed=(?P<failed>\d+)",
    re.MULTILINE,
)

PLAYBOOK = """\
- name: Gather OOM facts on every host
  hosts: containers
  gather_facts: false
  tasks:
    - name: Gather OOM facts
      oomguard.memory.oom_facts:
        top_processes: 0

- name: Take one host away
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Stop {gone}
      ansible.builtin.command:
        argv: ["{{{{ ansible_playbook_python }}}}", -m, tests.lab, --name, {lab}, stop, {gone}]
        chdir: {repo}
      changed_when: true

- name: Gather OOM facts again
  hosts: containers
  gather_facts: false
  tasks:
    - name: Gather OOM facts
      oomguard.memory.oom_facts:
        top_processes: 0

    - name: Count the kills the host reports
      ansible.builtin.debug:
        msg: "{{{{ ansible_facts['oom']['kill_count'] }}}}"
"""


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


def test_host_stopped_between_two_plays(tmp_path, inventory):
    playbook = tmp_path / "sweep.yml"
    playbook.write_text(PLAYBOOK.format(gone=GONE, lab=LAB_NAME, repo=REPO))
    try:
        started = time.monotonic()
        run = subprocess.run(
            ["ansible-playbook", "-i", inventory, str(playbook)],
            env=dict(ansible_env(), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default"),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        elapsed = time.monotonic() - started
    finally:
        lab("start", GONE)
    print(f"\nplaybook with {GONE} stopped between two plays: {elapsed:.1f} s, rc {run.returncode}")
    recap = {
        m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"} for m in RECAP.finditer(run.stdout)
    }
    assert run.returncode == 4, run.stdout[-3000:]  # ansible-playbook: some hosts were unreachable
    assert recap[GONE]["unreachable"] == 1 and recap[GONE]["ok"] == 1, recap
    others = {host: counts for host, counts in recap.items() if host not in (GONE, "localhost")}
    assert len(others) == 7, recap
    for host, counts in others.items():
        assert counts == {"ok": 3, "changed": 0, "unreachable": 0, "failed": 0}, (host, counts)
