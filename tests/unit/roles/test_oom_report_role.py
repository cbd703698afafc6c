# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The oom_report role's argument specs match its defaults, and its option lists match the report's options."""

from __future__ import annotations

from pathlib import Path

import yaml

from ansible_collections.oomguard.memory.plugins.plugin_utils._report import DEFAULT_OPTIONS

ROLE = Path(__file__).resolve().parents[3] / "roles" / "oom_report"
TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}


def load(relative):
    return yaml.safe_load((ROLE / relative).read_text())


def test_argument_spec_defaults_are_identical_to_defaults_main_in_value_and_type():
    defaults = load("defaults/main.yml")
    specs = load("meta/argument_specs.yml")["argument_specs"]
    documented = {}
    for entry_point in specs.values():
        for name, option in entry_point["options"].items():
            assert name in defaults, f"{name} is documented but has no default in defaults/main.yml"
            assert option["default"] == defaults[name], name
            assert type(option["default"]) is type(defaults[name]), name
            assert option["type"] == TYPE_NAMES[type(defaults[name])], name
            documented[name] = option
    assert set(defaults) == set(documented), set(defaults) ^ set(documented)
    assert specs["main"]["options"]["oom_report_facts_source"]["choices"] == ["live", "cache"]


def test_every_report_option_is_a_role_variable():
    options = load("vars/main.yml")["__oom_report_options"]
    assert set(options) == set(DEFAULT_OPTIONS)
    defaults = load("defaults/main.yml")
    for name in DEFAULT_OPTIONS:
        assert f"oom_report_{name}" in defaults, name
        assert defaults[f"oom_report_{name}"] == DEFAULT_OPTIONS[name], name


def test_the_shipped_machine_type_table_loads():
    table = load("vars/gce_machine_types.yml")["__oom_report_gce_machine_types"]
    assert len(table) > 150 and table["e2-medium"] == {"vcpus": 2, "memory_mib": 4096, "shared_core": True}
