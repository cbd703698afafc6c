# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module's own process chain in a fake /proc (invented process trees) and in this machine's."""

from __future__ import annotations

import os

from fakeproc import add_process

from ansible_collections.oomguard.memory.plugins.module_utils._own_processes import (
    is_ansible_process,
    is_ssh_session,
    own_process_chain,
)


def test_ssh_with_become(tmp_path):
    add_process(tmp_path, 1, "systemd", ppid=0)
    add_process(tmp_path, 800, "sshd", cmdline=["sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"])
    add_process(tmp_path, 4989, "sshd", ppid=800, cmdline=["sshd: root [priv]"])
    add_process(tmp_path, 4990, "sshd-session", ppid=4989, cmdline=["sshd-session: root@notty"])
    add_process(tmp_path, 4997, "sh", ppid=4990, cmdline=["/bin/sh", "-c", "sudo ..."])
    add_process(tmp_path, 4998, "sudo", ppid=4997)
    add_process(tmp_path, 4999, "sh", ppid=4998)
    add_process(tmp_path, 5000, "python3", ppid=4999, cmdline=["/usr/bin/python3"])
    assert own_process_chain(5000, str(tmp_path)) == {5000, 4999, 4998, 4997, 4990, 4989}


def test_local_connection_stops_at_ansible_playbook(tmp_path):
    add_process(tmp_path, 1, "systemd", ppid=0)
    add_process(tmp_path, 300, "tmux: server", cmdline=["tmux"])
    add_process(tmp_path, 301, "bash", ppid=300)
    add_process(tmp_path, 400, "ansible-playboo", ppid=301, cmdline=["/usr/bin/python3", "/usr/bin/ansible-playbook"])
    add_process(tmp_path, 401, "ansible-playboo", ppid=400, cmdline=["/usr/bin/python3", "/usr/bin/ansible-playbook"])
    add_process(tmp_path, 402, "sh", ppid=401)
    add_process(
        tmp_path, 403, "python3", ppid=402, cmdline=["/usr/bin/python3", "/root/.ansible/tmp/x/AnsiballZ_oom_facts.py"]
    )
    assert own_process_chain(403, str(tmp_path)) == {403, 402, 401, 400}


def test_without_markers_only_the_wrappers_go(tmp_path):
    add_process(tmp_path, 1, "systemd", ppid=0)
    add_process(tmp_path, 50, "cron", cmdline=["/usr/sbin/cron", "-f"])
    add_process(tmp_path, 60, "sh", ppid=50)
    add_process(tmp_path, 70, "python3", ppid=60, cmdline=["/usr/bin/python3", "/opt/run-module.py"])
    assert own_process_chain(70, str(tmp_path)) == {70, 60}


def test_markers():
    assert is_ansible_process("ansible-playboo", [])
    assert is_ansible_process("python3", ["/usr/bin/python3", "/usr/local/bin/ansible"])
    assert is_ansible_process("python3", ["/usr/bin/python3", "/root/.ansible/tmp/t/AnsiballZ_setup.py"])
    assert not is_ansible_process("python3", ["/usr/bin/python3", "-m", "worker"])
    assert is_ssh_session("sshd", ["sshd: deploy@pts/0"])
    assert is_ssh_session("sshd", ["sshd: root [priv]"])
    assert not is_ssh_session("sshd", ["sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"])
    assert not is_ssh_session("bash", ["sshd: root@notty"])


def test_this_process_is_in_its_own_chain():
    chain = own_process_chain()
    assert os.getpid() in chain
    assert 1 not in chain
