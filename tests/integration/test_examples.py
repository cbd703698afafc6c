# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every EXAMPLES block of the three modules and every README usage snippet, run unchanged by ansible-playbook.

The examples are taken from the files as they are (never edited here) and put, task by task, into a playbook that
also holds what they rely on: the handler they notify (``Reload systemd``), the variables they read
(``restart_ok``), and a first play that makes what they act on (a copied log at /tmp/vm-1-kern.log.2.gz and, on a
systemd host, the units postgresql, reports, api, batch-worker, worker@1, license-server and batch.slice, removed
again by a last play). Each example runs in a block whose rescue records the failure, so every example runs and the
test sees every failure.

On this machine (no systemd as PID 1, root without CAP_SYS_RESOURCE) the oom_facts examples and the README's
oom_facts snippets run for real, after a real OOM kill: the "last hour" checks must fail with a message that names
the host, the pid, the cgroup or unit and the time of that kill. The examples of oom_score_adj and systemd_memory
need a systemd host: they run when ``OOMGUARD_EXAMPLES_INVENTORY`` names an inventory of such hosts, for example a
lab VM (``OOMGUARD_EXAMPLES_INVENTORY=$(python -m tests.lab inventory --format path)``,
``OOMGUARD_EXAMPLES_LIMIT=vm-bookworm``), and are syntax-checked otherwise.

README shell snippets: the ones that run ansible or ansible-playbook on this machine are run as they are written; the
ones that run the whole test suite (tests/run-all.sh), boot the lab (python -m tests.lab) or run Molecule are not
(the CI stages run them).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess

import oomlab
import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = oomlab.REPO_ROOT
MODULES = ("oom_facts", "oom_score_adj", "systemd_memory")
SYSTEMD_ONLY = ("oomguard.memory.oom_score_adj", "oomguard.memory.systemd_memory", "ansible.builtin.systemd_service")
COPIED_LOG = "/tmp/vm-1-kern.log.2.gz"
LOG_FIXTURE = REPO / "tests" / "unit" / "fixtures" / "facts" / "web-1-syslog.log"
# README commands that run on this machine as written: ansible against this machine's inventory.
RUNNABLE_SHELL = (
    re.compile(r"^tests/setup-env\.sh\b"),
    re.compile(r"^(?:\.venv/bin/)?ansible(?:-playbook)?\s+-i playbooks/inventory/localhost\.yml\s"),
)
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
EXAMPLE_UNITS = {
    "postgresql.service": "/bin/sleep infinity",
    "reports.service": "/bin/sleep infinity",
    "api.service": "/bin/sleep infinity",
    "batch-worker.service": "/usr/bin/python3 /usr/local/lib/oomguard-examples/batch_worker.py",
    "worker@.service": "/bin/sleep infinity",
    "license-server.service": "/bin/sleep infinity",
}


def module_examples(name):
    text = (REPO / "plugins" / "modules" / (name + ".py")).read_text()
    start = text.index('EXAMPLES = r"""') + len('EXAMPLES = r"""')
    return yaml.safe_load(text[start : text.index('"""', start)])


def readme_blocks(language):
    return re.findall(r"^```%s\n(.*?)^```" % language, (REPO / "README.md").read_text(), re.MULTILINE | re.DOTALL)


def readme_task_blocks():
    """The README's YAML snippets that are task lists (the others are role variables, as in group_vars)."""
    return [block for block in map(yaml.safe_load, readme_blocks("yaml")) if isinstance(block, list)]


def readme_variable_blocks():
    return [block for block in map(yaml.safe_load, readme_blocks("yaml")) if isinstance(block, dict)]


def all_examples():
    """(source, task) for every example task: the modules' EXAMPLES, then the README's YAML task snippets."""
    examples = [(name, task) for name in MODULES for task in module_examples(name)]
    examples += [("README", task) for block in readme_task_blocks() for task in block]
    return examples


def needs_systemd(source, task):
    return source in ("oom_score_adj", "systemd_memory") or any(key in task for key in SYSTEMD_ONLY)


def setup_play(systemd):
    tasks = [
        {
            "name": "Put the copied log the examples analyse in place",
            "ansible.builtin.copy": {"src": "{{ example_log }}", "dest": COPIED_LOG, "mode": "0644"},
        }
    ]
    if systemd:
        tasks += [
            {
                "name": "Install a stand-in batch worker",
                "ansible.builtin.copy": {
                    "dest": "/usr/local/lib/oomguard-examples/batch_worker.py",
                    "content": "import time\nwhile True:\n    time.sleep(60)\n",
                    "mode": "0644",
                },
            },
            {
                "name": "Install stand-in units for the services the examples name",
                "ansible.builtin.copy": {
                    "dest": "/etc/systemd/system/{{ item.key }}",
                    "content": "[Unit]\nDescription=oomguard example stand-in\n[Service]\nExecStart={{ item.value }}\n"
                    "{{ 'ExecStartPost=/bin/sh -c \"echo $MAINPID > /run/license-server.pid\"\\n' "
                    "if item.key == 'license-server.service' else '' }}",
                    "mode": "0644",
                },
                "loop": "{{ example_units | dict2items }}",
            },
            {
                "name": "Install a stand-in slice",
                "ansible.builtin.copy": {
                    "dest": "/etc/systemd/system/batch.slice",
                    "content": "[Unit]\nDescription=oomguard example stand-in\n",
                    "mode": "0644",
                },
            },
            {
                "name": "Start the stand-ins",
                "ansible.builtin.systemd_service": {"name": "{{ item }}", "state": "started", "daemon_reload": True},
                "loop": [name for name in EXAMPLE_UNITS if not name.endswith("@.service")]
                + ["worker@1.service", "batch.slice"],
            },
        ]
    return {
        "name": "Prepare what the examples act on",
        "hosts": "all",
        "gather_facts": False,
        "become": True,
        "tasks": tasks,
    }


def cleanup_play(systemd):
    tasks = [{"name": "Remove the copied log", "ansible.builtin.file": {"path": COPIED_LOG, "state": "absent"}}]
    if systemd:
        units = [name for name in EXAMPLE_UNITS if not name.endswith("@.service")] + ["worker@1.service", "batch.slice"]
        tasks += [
            {
                "name": "Stop the stand-ins",
                "ansible.builtin.systemd_service": {"name": "{{ item }}", "state": "stopped"},
                "loop": units,
                "failed_when": False,
            },
            {
                "name": "Remove the stand-ins and the drop-ins the examples wrote",
                "ansible.builtin.file": {"path": "{{ item }}", "state": "absent"},
                "loop": ["/etc/systemd/system/" + name for name in [*EXAMPLE_UNITS, "batch.slice"]]
                + ["/etc/systemd/system/%s.d" % name for name in [*units, "worker@.service"]]
                + ["/usr/local/lib/oomguard-examples", "/run/license-server.pid"],
            },
            {"name": "Reload systemd", "ansible.builtin.systemd_service": {"daemon_reload": True}},
        ]
    return {
        "name": "Clean up after the examples",
        "hosts": "all",
        "gather_facts": False,
        "become": True,
        "tasks": tasks,
    }


def examples_play(examples, systemd):
    tasks = []
    for source, task in examples:
        if needs_systemd(source, task) and not systemd:
            continue
        tasks.append(
            {
                "name": "Example of %s: %s" % (source, task["name"]),
                "block": [task],
                "rescue": [
                    {
                        "name": "Record the failure",
                        "ansible.builtin.set_fact": {
                            "example_failures": "{{ example_failures | default([]) + [{'source': %r, 'task': "
                            "ansible_failed_task.name, 'msg': ansible_failed_result.msg | default('')}] }}" % source
                        },
                    }
                ],
            }
        )
    tasks.append(
        {"name": "Report the example failures", "ansible.builtin.debug": {"var": "example_failures | default([])"}}
    )
    return {
        "name": "Run every example as written",
        "hosts": "all",
        "gather_facts": False,
        "vars": {"restart_ok": False},
        "handlers": [
            {"name": "Reload systemd", "ansible.builtin.systemd_service": {"daemon_reload": True}, "become": True}
        ],
        "tasks": tasks,
    }


def write_playbook(tmp_path, systemd):
    playbook = tmp_path / "examples.yml"
    plays = [setup_play(systemd), examples_play(all_examples(), systemd), cleanup_play(systemd)]
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False, width=1000))
    return playbook


def run_playbook(playbook, inventory, extra_args=()):
    variables = {"example_log": str(playbook.parent / "copied.log.gz"), "example_units": EXAMPLE_UNITS}
    with gzip.open(str(playbook.parent / "copied.log.gz"), "wb") as handle:
        handle.write(LOG_FIXTURE.read_bytes())
    return oomlab.run_playbook(playbook, inventory, *extra_args, "-e", json.dumps(variables))


def reported_failures(stdout):
    """{host: [failure, ...]} from the output of the task that reports them."""
    section = stdout.split("TASK [Report the example failures]", 1)[1].split("PLAY [", 1)[0]
    failures = {}
    for match in re.finditer(r"^ok: \[(?P<host>[^\]]+)\] => ", section, re.MULTILINE):
        result, _end = json.JSONDecoder().raw_decode(section[match.end() :])
        failures[match.group("host")] = result["example_failures | default([])"]
    return failures


def test_every_example_parses_and_the_playbook_is_valid(tmp_path):
    examples = all_examples()
    sources = {source for source, _task in examples}
    assert sources == {"oom_facts", "oom_score_adj", "systemd_memory", "README"}
    notified = {task["notify"] for _source, task in examples if "notify" in task}
    assert notified == {"Reload systemd"}
    playbook = write_playbook(tmp_path, systemd=True)
    completed = run_playbook(playbook, "localhost,", ["--syntax-check"])
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_last_hour_examples_name_host_pid_unit_and_time(lab, tmp_path):
    """On this machine, after a real OOM kill: every oom_facts example runs; the checks of the last hour (and of the
    README's last 7 days) fail, and say which host lost which pid in which cgroup, when."""
    group, hog = oomlab.oom_kill_once(lab, comm="oomguard-ex-hog")
    playbook = write_playbook(tmp_path, systemd=False)
    completed = run_playbook(
        playbook, "localhost,", ["-c", "local", "-e", "ansible_python_interpreter=%s" % oomlab.DEFAULT_INTERPRETER]
    )
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-3000:]
    failures = reported_failures(completed.stdout)["localhost"]
    assert sorted(failure["task"] for failure in failures) == [
        "Fail when a host lost processes to the OOM killer in the last 7 days",
        "Fail when a host lost processes to the OOM killer in the last hour",
    ]
    for failure in failures:
        message = failure["msg"]
        # this run's hog: an earlier run's kill of the same name may still be in the window
        assert "pid %d (oomguard-ex-hog)" % hog.pid in message, message
        at = message.index("pid %d (oomguard-ex-hog)" % hog.pid)
        hog_part = message[at - 60 : at + 100]
        assert message.startswith("localhost: "), message
        assert group.kernel_path in hog_part, hog_part
        assert STAMP.search(hog_part), hog_part
    assert (
        "None" not in completed.stdout.split("Show how many processes the OOM killer took", 1)[1].split("TASK [", 1)[0]
    )


def test_readme_shell_snippets_run_as_written():
    lines = [line for block in readme_blocks("sh") for line in block.replace("\\\n", " ").splitlines()]
    runnable = [
        line.split(" #", 1)[0].strip() for line in lines if any(pattern.match(line) for pattern in RUNNABLE_SHELL)
    ]
    assert runnable, "no README command runs ansible on this machine"
    shutil.copy(str(LOG_FIXTURE), "/tmp/vm-1-kern.log.2")
    subprocess.run(["gzip", "-f", "/tmp/vm-1-kern.log.2"], check=True)
    try:
        for command in runnable:
            completed = subprocess.run(
                ["bash", "-c", command],
                cwd=str(REPO),
                env=oomlab.ansible_env(),
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert completed.returncode == 0, (command, completed.stdout[-4000:], completed.stderr[-4000:])
            assert "FAILED" not in completed.stdout
            if "vm-1-kern.log.2.gz" in command:
                assert '"kill_count": 5' in completed.stdout, completed.stdout[-4000:]
    finally:
        os.unlink(COPIED_LOG)


@pytest.mark.skipif(
    not os.environ.get("OOMGUARD_EXAMPLES_INVENTORY"), reason="needs OOMGUARD_EXAMPLES_INVENTORY (systemd hosts)"
)
def test_every_example_on_systemd_hosts(tmp_path):
    """Every example, the protection modules' included, on real systemd hosts (the lab's VMs)."""
    playbook = write_playbook(tmp_path, systemd=True)
    extra = ["--limit", os.environ["OOMGUARD_EXAMPLES_LIMIT"]] if os.environ.get("OOMGUARD_EXAMPLES_LIMIT") else []
    completed = run_playbook(playbook, os.environ["OOMGUARD_EXAMPLES_INVENTORY"], extra)
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-3000:]
    for host, failures in reported_failures(completed.stdout).items():
        for failure in failures:
            # Only the OOM checks may fail (when the host had kills in the window), and then they say what happened.
            assert failure["task"].startswith("Fail when a host lost processes"), (host, failure)
            assert failure["msg"].startswith(host + ": ") and STAMP.search(failure["msg"]), (host, failure)


def test_readme_role_variables_pass_the_role_argument_specs(tmp_path):
    """README snippets of role variables (group_vars) are valid input of the role they name by prefix."""
    blocks = readme_variable_blocks()
    assert blocks, "the README has no role-variable snippet"
    plays = []
    for block in blocks:
        roles = {name.split("_", 2)[0] + "_" + name.split("_", 2)[1] for name in block}
        assert len(roles) == 1 and (REPO / "roles" / next(iter(roles))).is_dir(), sorted(block)
        role = next(iter(roles))
        specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
        plays.append(
            {
                "name": "README variables of %s" % role,
                "hosts": "localhost",
                "gather_facts": False,
                "tasks": [
                    {
                        "name": "Validate them against the role's argument specs",
                        "ansible.builtin.validate_argument_spec": {
                            "argument_spec": specs["argument_specs"]["main"]["options"],
                            "provided_arguments": block,
                        },
                    }
                ],
            }
        )
    playbook = tmp_path / "readme-variables.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False, width=1000))
    completed = oomlab.run_playbook(playbook, "localhost,", "-c", "local", timeout=300)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
