# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""roles/oom_protect: the argument spec and the defaults say the same, value for value and type for type."""

from __future__ import annotations

from pathlib import Path

import yaml

from ansible_collections.oomguard.memory.plugins.plugin_utils._policy import DEFAULT_NEVER_TOUCH, KILLERS

ROLE = Path(__file__).resolve().parents[3] / "roles" / "oom_protect"


def load(relative):
    return yaml.safe_load((ROLE / relative).read_text())


def test_every_default_is_in_the_argument_spec_with_the_same_value_and_type():
    defaults = load("defaults/main.yml")
    options = load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    for name, value in defaults.items():
        spec = options[name]
        assert spec["default"] == value, name
        assert type(spec["default"]) is type(value), name
        if "choices" in spec:
            assert value in spec["choices"], name


def test_every_option_is_documented_and_typed():
    options = load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, spec in options.items():
        assert name.startswith("oom_protect_"), name
        assert spec.get("description") and spec.get("type"), name
        if spec["type"] == "list":
            assert "elements" in spec, name


def test_role_and_plugin_utils_agree():
    defaults = load("defaults/main.yml")
    options = load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert tuple(defaults["oom_protect_never_touch"]) == DEFAULT_NEVER_TOUCH
    assert tuple(options["oom_protect_userspace_killer"]["choices"]) == KILLERS
    policy = load("vars/main.yml")["__oom_protect_policy"]
    # every policy key the filter reads is fed from the public variable of the same name
    for key, value in policy.items():
        assert value == "{{ oom_protect_%s }}" % key, key
