# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""playbooks/facts.yml through ansible-playbook: after a real OOM kill on this machine, and over recorded facts of a
GCE VM with systemd units (tests/unit/fixtures/facts/fake-gce-vm.json), which this machine (no systemd) lacks.

The summary must state its window, split global from memcg kills, show each unit's kills with its limits, and never
print ``None`` or ``vhybrid``.
"""

from __future__ import annotations

import datetime
import json
import re

import oomlab
import pytest

pytestmark = pytest.mark.integration

PLAYBOOK = oomlab.REPO_ROOT / "playbooks" / "facts.yml"
FAKE_VM = oomlab.REPO_ROOT / "tests" / "unit" / "fixtures" / "facts" / "fake-gce-vm.json"
RECORDED_MODULE = """#!/usr/bin/python
# Returns the ansible_facts of a recorded oom_facts result (test helper).
import json
from ansible.module_utils.basic import AnsibleModule
module = AnsibleModule(argument_spec=dict(path=dict(type="path", required=True), since=dict(type="raw"),
                                          top_processes=dict(type="raw")), supports_check_mode=True)
with open(module.params["path"]) as handle:
    module.exit_json(changed=False, ansible_facts=json.load(handle)["ansible_facts"])
"""


def run_playbook(playbook, extra_vars=None, env=None):
    """Run a playbook on localhost; return (stdout, the msg list of the summary task)."""
    variables = {"ansible_python_interpreter": oomlab.DEFAULT_INTERPRETER, **(extra_vars or {})}
    completed = oomlab.run_playbook(
        playbook, "localhost,", "-c", "local", "-e", json.dumps(variables), env=env, timeout=300
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    section = completed.stdout.split("TASK [Print the summary]", 1)[1]
    start = section.index("=> ") + 3
    result, _end = json.JSONDecoder().raw_decode(section[start:])
    return completed.stdout, result["msg"]


def flat(msg):
    return [line for item in msg for line in (item if isinstance(item, list) else [item])]


def test_after_a_real_oom_kill(lab):
    started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    group, hog = oomlab.oom_kill_once(lab, comm="oomguard-pb-hog")
    stdout, msg = run_playbook(PLAYBOOK, {"since": started.isoformat()})
    lines = flat(msg)
    text = "\n".join(lines)
    assert "None" not in text and "vhybrid" not in text
    assert lines[1].startswith("window: since %s, " % started.isoformat(timespec="microseconds"))
    assert ", until " in lines[1]
    match = re.match(r"(\d+) OOM kills: (\d+) global \(the machine ran out of memory\), (\d+) memcg \(", lines[2])
    assert match and int(match[1]) >= 1 and int(match[2]) == 0 and int(match[3]) >= 1, lines[2]
    hog_lines = [line for line in lines if "pid %d (oomguard-pb-hog)" % hog.pid in line]
    assert len(hog_lines) == 1
    assert re.search(
        r"memcg kill by kernel: pid %d \(oomguard-pb-hog\) in %s, RSS \d+ MiB$" % (hog.pid, group.kernel_path),
        hog_lines[0],
    )
    assert "None" not in stdout


def test_units_with_their_limits_from_recorded_facts(tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    (library / "recorded_oom_facts.py").write_text(RECORDED_MODULE)
    text = PLAYBOOK.read_text()
    gather = '      oomguard.memory.oom_facts:\n        since: "{{ oom_facts_since }}"\n'
    assert gather in text
    playbook = tmp_path / "facts.yml"
    playbook.write_text(
        text.replace(
            gather, gather.replace("oomguard.memory.oom_facts:", "recorded_oom_facts:") + "        path: %s\n" % FAKE_VM
        )
    )
    _stdout, msg = run_playbook(playbook, env={"ANSIBLE_LIBRARY": str(library)})
    lines = flat(msg)
    assert "None" not in "\n".join(lines)
    assert lines[0] == "web-1 (e2-medium in europe-west1-b), kernel 6.1.0"
    assert lines[1].startswith("window: all the logs hold, oldest record 2026-03-03T10:11:10+00:00, until ")
    assert lines[2] == (
        "5 OOM kills: 1 global (the machine ran out of memory), 2 memcg (a unit or container hit its own limit), "
        "0 other kernel, 1 by systemd-oomd, 1 by earlyoom"
    )
    assert lines[3] == "the kernel counted 3 OOM kills since boot; 3 of them not in the logs"
    assert "postgresql.service: OOM kills 0, no memory limit, OOMScoreAdjust -900, peak 858 MiB" in lines
    assert (
        "worker.service: OOM kills 1, MemoryMax 1024 MiB, OOMScoreAdjust 0, peak 1024 MiB, last result oom-kill"
        in lines
    )
    assert (
        "2026-03-03T10:20:00+00:00 systemd-oomd kill by systemd-oomd: cgroup /system.slice/batch.slice/batch-7.scope "
        "in batch-7.scope" in lines
    )
    assert (
        "2026-03-03T10:35:00+00:00 global kill by kernel: pid 4400 (python3) in session-3.scope, RSS 3076 MiB" in lines
    )
    assert "containers without a memory limit: 2" in lines
    assert lines[lines.index("next victims:") + 1] == (
        "oom_score 650: pid 2100 (postgres), 488 MiB, peak 781 MiB, oom_score_adj -900, postgresql.service"
    )
