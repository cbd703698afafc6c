# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Faults of the oom_report role through ansible-playbook: each ends in a clear error or a documented degraded result,
and writes nothing it should not.

* every variable of both entry points (main, merge) given wrong types: the play fails with a message that names the
  variable, from the argument specs or the role's preflight, before any host is contacted, and nothing is written;
* an oom_report_dir that cannot be written (a read-only file system, a path below a regular file): a message that
  names it, no host contacted;
* an empty inventory: an error, never "0 VMs, 0 OOMs";
* a host that cannot be reached and a host whose oom_facts fails, in one run: the others are reported, the two are
  "no data" rows with the reason, and the run succeeds.
"""

from __future__ import annotations

import json
import os
import subprocess

import oomlab
import pytest
import yaml

pytestmark = pytest.mark.integration

ROLE = oomlab.REPO_ROOT / "roles" / "oom_report"
INVENTORY = oomlab.REPO_ROOT / "playbooks" / "inventory" / "localhost.yml"
FACTS_TASK = "TASK [oomguard.memory.oom_report : Gather the OOM facts of each host]"

# Wrong values per type: the first of each is one the argument specs let through (a list or a dict given for a
# string becomes its text; a string given for a list, a dict or a number is converted for the check only and the
# variable keeps the string), the others are ones the specs refuse.
WRONG = {
    "str": [["a", "b"], {"k": "v"}],
    "int": ["many", [1], -5],
    "float": ["slow", [1.0]],
    "bool": ["maybe", [True]],
    "list": ["a,b", {"a": 1}, [{"a": 1}]],
    "dict": ["a=1", ["x"]],
}


def wrong_cases():
    """(entry point, variable, wrong value) for every variable of every entry point of the role."""
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return [
        (entry, name, value)
        for entry, spec in specs.items()
        for name, option in spec["options"].items()
        for value in WRONG[option["type"]]
    ]


def case_block(index, entry, variables):
    """One case: the role with these variables; its failure message (or NO FAILURE) recorded under its index."""
    record = "{{ __failures | combine({'%d': %s}) }}"
    return {
        "name": f"Case {index}",
        "block": [
            {
                "name": f"Run the role's {entry} entry point",
                "ansible.builtin.include_role": {"name": "oomguard.memory.oom_report", "tasks_from": entry},
                "vars": variables,
            },
            {
                "name": "Record that it did not fail",
                "ansible.builtin.set_fact": {"__failures": record % (index, "'NO FAILURE'")},
            },
        ],
        "rescue": [
            {
                "name": "Record the message",
                "ansible.builtin.set_fact": {"__failures": record % (index, "ansible_failed_result.msg")},
            }
        ],
    }


def test_every_variable_with_a_wrong_type_fails_clearly_and_writes_nothing(tmp_path):
    cases = wrong_cases()
    output = tmp_path / "out"
    output.mkdir()
    results = tmp_path / "results.json"
    tasks = []
    for index, (entry, name, value) in enumerate(cases):
        variables = {"oom_report_dir": str(output / f"case-{index}"), "oom_report_history": 0}
        if entry == "merge":
            variables["oom_report_merge_inputs"] = [str(tmp_path / "no-such-part.json")]
        variables[name] = value
        tasks.append(case_block(index, entry, variables))
    tasks.append(
        {
            "name": "Keep what each case said",
            "ansible.builtin.copy": {"content": "{{ __failures | to_json }}", "dest": str(results), "mode": "0644"},
        }
    )
    play = {"name": "oom_report with wrong variables", "hosts": "localhost", "gather_facts": False}
    play.update(vars={"__failures": {}}, tasks=tasks)
    playbook = tmp_path / "wrong.yml"
    # JSON is YAML: the wrong values reach ansible with their types (a list stays a list, "a,b" a string)
    playbook.write_text(json.dumps([play], indent=1))
    completed = oomlab.run_playbook(playbook, INVENTORY)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    said = json.loads(results.read_text())
    unclear = {}
    for index, (entry, name, value) in enumerate(cases):
        message = said[str(index)]
        if message == "NO FAILURE" or name not in message:
            unclear[f"{entry} {name}={value!r}"] = message
    assert not unclear, json.dumps(unclear, indent=1)
    assert FACTS_TASK not in completed.stdout, "a host was contacted"
    # nothing was written: no report directory, no stray directory named after a wrong value next to the playbook
    assert sorted(path.name for path in output.iterdir()) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out", "results.json", "wrong.yml"]


def test_the_wrong_cases_cover_every_variable():
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    covered = {(entry, name) for entry, name, _value in wrong_cases()}
    assert covered == {(entry, name) for entry, spec in specs.items() for name in spec["options"]}


@pytest.fixture
def read_only_dir(tmp_path):
    """A report directory (with its history/) on a file system mounted read-only."""
    mount = tmp_path / "ro"
    mount.mkdir()
    completed = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=False)
    if completed.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        (mount / "report" / "history").mkdir(parents=True)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount / "report"
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.parametrize("where", ["read-only file system", "below a regular file"])
def test_a_report_dir_that_cannot_be_written_stops_before_any_host(where, read_only_dir, tmp_path):
    if where == "read-only file system":
        directory = read_only_dir
    else:
        (tmp_path / "a-file").write_text("not a directory\n")
        directory = tmp_path / "a-file" / "report"
    completed = oomlab.run_playbook(
        oomlab.REPO_ROOT / "playbooks" / "report.yml", INVENTORY, "-e", json.dumps({"oom_report_dir": str(directory)})
    )
    assert completed.returncode != 0
    assert f"oom_report: oom_report_dir {directory} cannot be written on the controller" in completed.stdout
    assert FACTS_TASK not in completed.stdout, "oom_facts ran before the directory was checked"
    if where == "read-only file system":
        assert sorted(os.listdir(directory)) == ["history"]


def test_an_empty_inventory_is_an_error(tmp_path):
    inventory = tmp_path / "empty.yml"
    inventory.write_text("all:\n  hosts: {}\n")
    completed = oomlab.run_playbook(
        oomlab.REPO_ROOT / "playbooks" / "report.yml",
        inventory,
        "-e",
        json.dumps({"oom_report_dir": str(tmp_path / "r")}),
    )
    assert completed.returncode != 0
    assert "no host matches 'all' in the inventory: an empty inventory is an error, never" in completed.stdout
    assert not (tmp_path / "r").exists()


def test_unreachable_and_failing_hosts_never_stop_the_others(tmp_path):
    """One host refuses SSH, one has no Python where the inventory says: both are "no data" rows, localhost is
    reported, and the run succeeds."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  hosts:\n"
        "    gone.example: {ansible_host: 127.0.0.1, ansible_port: 1, ansible_connection: ssh, ansible_user: nobody}\n"
        "    broken.example: {ansible_connection: local, ansible_python_interpreter: /nonexistent/python3}\n"
        "    localhost: {ansible_connection: local, ansible_python_interpreter: /usr/bin/python3}\n"
    )
    directory = tmp_path / "r"
    completed = oomlab.run_playbook(
        oomlab.REPO_ROOT / "playbooks" / "report.yml",
        inventory,
        "-e",
        json.dumps({"oom_report_dir": str(directory), "oom_report_memory_history_days": 0}),
    )
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert "3 hosts, 2 without data" in completed.stdout
    report = json.loads((directory / "report.json").read_text())
    rows = {host["host"]: host for host in report["hosts"]}
    assert rows["gone.example"]["status"] == "no_data"
    assert rows["gone.example"]["no_data_reason"].startswith("unreachable:")
    assert rows["broken.example"]["status"] == "no_data"
    assert rows["broken.example"]["no_data_reason"].startswith("oom_facts failed:")
    assert rows["localhost"]["status"] == "ok"
    summary = report["summary"]
    assert (summary["hosts"], summary["hosts_with_data"], summary["hosts_no_data"]) == (3, 1, 2)
    assert summary["hosts_with_kills"] + summary["hosts_without_kills"] == 1
    markdown = (directory / "report.md").read_text()
    assert "| gone.example | **no data**: unreachable:" in markdown
    assert "| broken.example | **no data**: oom_facts failed:" in markdown
