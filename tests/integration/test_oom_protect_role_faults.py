# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Faults of the oom_protect role through ansible-playbook against this machine: each ends in a clear error that
names what is wrong, and nothing is changed (no rollback record written, no process touched).

* every variable of the role given wrong types: the argument specs refuse it, or (for what the specs let through:
  a list given for a string becomes its text, a string given for a list is converted for the check only) the
  role's own variable check in the preflight;
* an unknown class and an empty policy: the preflight;
* a policy file that is not YAML (``-e @policy.yml``): ansible-playbook refuses it before any task.

One valid case in the same playbook (it writes its rollback record) shows that the cases can pass at all.
"""

from __future__ import annotations

import json
import secrets

import oomlab
import pytest
import yaml

pytestmark = pytest.mark.integration

ROLE = oomlab.REPO_ROOT / "roles" / "oom_protect"
INVENTORY = oomlab.REPO_ROOT / "playbooks" / "inventory" / "localhost.yml"
PROTECT = oomlab.REPO_ROOT / "playbooks" / "protect.yml"
NO_FAILURE = "NO FAILURE"

# Wrong values per type: some the argument specs let through (a string given for a list or a dict is converted for
# the check only and the variable keeps the string; -5 is an int), which the role's own check must refuse, and some
# the specs refuse.
WRONG = {
    "str": [["a", "b"], {"k": "v"}],
    "path": [["a", "b"], {"k": "v"}],
    "int": ["many", [1], -5],
    "bool": ["maybe", [True]],
    "list": ["a,b", {"a": 1}, [{"a": 1}]],
    "dict": ["a=1", ["x"]],
}


def specs():
    return yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]


def wrong_cases():
    """(variable, wrong value, text the message must hold) for every variable of the role."""
    return [(name, value, name) for name, option in specs().items() for value in WRONG[option["type"]]]


def other_cases(tag):
    return [
        (
            "oom_protect_services",
            [{"name": "%s.service" % tag, "class": "nosuch"}],
            "class 'nosuch' is not defined",
        ),
        ("oom_protect_processes", [], "the policy is empty"),
        # a str the spec takes, but written into /etc/default/earlyoom, which a shell may read
        ("oom_protect_earlyoom_args", "-r 60; reboot", "oom_protect_earlyoom_args '-r 60; reboot'"),
        ("oom_protect_oomd_pressure_limit", "20", "oom_protect_oomd_pressure_limit must be a percentage"),
    ]


def case_block(index, variables):
    """One case: the role with these variables; its failure message (or NO FAILURE) recorded under its index."""
    record = "{{ __failures | combine({'%d': %s}) }}"
    return {
        "name": "Case %d" % index,
        "block": [
            {
                "name": "Run the role",
                "ansible.builtin.include_role": {"name": "oomguard.memory.oom_protect"},
                "vars": variables,
            },
            {
                "name": "Record that it did not fail",
                "ansible.builtin.set_fact": {"__failures": record % (index, "'%s'" % NO_FAILURE)},
            },
        ],
        "rescue": [
            {
                "name": "Record the message",
                "ansible.builtin.set_fact": {
                    "__failures": record % (index, "ansible_failed_result.msg | default('') | string")
                },
            }
        ],
    }


@pytest.fixture
def tag():
    return "oomguard-faults-" + secrets.token_hex(3)


def test_wrong_variables_unknown_class_and_empty_policy_fail_clearly_and_change_nothing(tmp_path, tag):
    cases = [("(valid)", None, None), *wrong_cases(), *other_cases(tag)]
    results = tmp_path / "results.json"
    records = tmp_path / "records"
    records.mkdir()
    tasks = []
    for index, (name, value, _expected) in enumerate(cases):
        # a valid policy (one rule that matches no process) with one wrong variable
        variables = {
            "oom_protect_state_file": str(records / ("case-%d.json" % index)),
            "oom_protect_processes": [{"pattern": "^%s$" % tag, "class": "standard"}],
            "oom_protect_facts_top_processes": 20,
        }
        if name != "(valid)":
            variables[name] = value
        tasks.append(case_block(index, variables))
    tasks.append(
        {
            "name": "Keep what each case said",
            "ansible.builtin.copy": {"content": "{{ __failures | to_json }}", "dest": str(results), "mode": "0644"},
        }
    )
    play = {"name": "oom_protect with wrong variables", "hosts": "localhost", "gather_facts": False}
    play.update(vars={"__failures": {}}, tasks=tasks)
    playbook = tmp_path / "wrong.yml"
    # JSON is YAML: the wrong values reach ansible with their types (a list stays a list, "a,b" a string)
    playbook.write_text(json.dumps([play], indent=1))
    completed = oomlab.run_playbook(playbook, INVENTORY)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    said = json.loads(results.read_text())
    assert said["0"] == NO_FAILURE, said["0"]
    unclear = {}
    for index, (name, value, expected) in enumerate(cases[1:], start=1):
        message = said[str(index)]
        if message == NO_FAILURE or expected not in message:
            unclear["%d %s=%r" % (index, name, value)] = message
    assert not unclear, json.dumps(unclear, indent=1)
    # only the valid case wrote its rollback record; no stray file named after a wrong state file
    assert sorted(path.name for path in records.iterdir()) == ["case-0.json"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["records", "results.json", "wrong.yml"]
    assert not (oomlab.REPO_ROOT / "['a', 'b']").exists()


def test_the_wrong_cases_cover_every_variable():
    assert {name for name, _value, _expected in wrong_cases()} == set(specs())


@pytest.mark.parametrize(
    "content",
    ["oom_protect_services: [{name: web.service, class: critical}\n", "\tnot: yaml: at: all\n"],
    ids=["unclosed", "tab"],
)
def test_a_policy_file_that_is_not_yaml_stops_before_any_task(tmp_path, content):
    policy = tmp_path / "policy.yml"
    policy.write_text(content)
    state_file = tmp_path / "state.json"
    completed = oomlab.run_playbook(
        PROTECT,
        INVENTORY,
        "-e",
        "@%s" % policy,
        "-e",
        json.dumps({"oom_protect_state_file": str(state_file)}),
        timeout=120,
    )
    assert completed.returncode != 0
    text = completed.stdout + completed.stderr
    assert str(policy) in text
    assert "TASK [" not in completed.stdout
    assert not state_file.exists()
