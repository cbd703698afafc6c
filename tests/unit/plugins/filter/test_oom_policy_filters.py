# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The policy filters are thin: they check their arguments and hand over to plugin_utils."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.module_utils import _internal as module_utils_internal

# Importing controller code (ansible.errors) marks the whole pytest process as the controller, after which module
# warnings go to the controller's display instead of the module result, and the modules' unit tests that read their
# warnings fail. Put the flag back once the filters are imported; the filters do not depend on it.
_WAS_CONTROLLER = module_utils_internal.is_controller
from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.oomguard.memory.plugins.filter import (  # noqa: E402
    oom_policy_preview,
    oom_policy_resolve,
    oom_policy_restore,
    oom_policy_violations,
)


def _set_controller_flag(value):
    module_utils_internal.is_controller = value


_set_controller_flag(_WAS_CONTROLLER)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "protect"


@pytest.fixture
def web():
    return json.loads((FIXTURES / "protect-web-e2-small.json").read_text())


@pytest.mark.parametrize(
    "module, name",
    [
        (oom_policy_resolve, "oom_policy_resolve"),
        (oom_policy_violations, "oom_policy_violations"),
        (oom_policy_preview, "oom_policy_preview"),
        (oom_policy_restore, "oom_policy_restore"),
    ],
)
def test_each_file_registers_the_filter_it_documents(module, name):
    assert list(module.FilterModule().filters()) == [name]
    assert f"name: {name}\n" in module.DOCUMENTATION


def test_resolve_then_preview_then_violations(web):
    resolve = oom_policy_resolve.FilterModule().filters()["oom_policy_resolve"]
    plan = resolve(web, {"services": [{"name": "web.service", "class": "critical"}]}, host="web-1")
    assert plan["host"] == "web-1" and plan["units"][0]["settings"] == {"oom_score_adjust": -900}
    result = oom_policy_preview.oom_policy_preview(web, plan, top=2)
    assert len(result["before"]) == 2
    assert oom_policy_violations.oom_policy_violations({"web-1": {"__oom_protect_plan": plan}}, ["web-1"]) == []


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda web: oom_policy_resolve.oom_policy_resolve(web, "critical"), "policy must be a dict"),
        (lambda web: oom_policy_resolve.oom_policy_resolve(web, {}, probes="x"), "probes must be a list"),
        (lambda web: oom_policy_preview.oom_policy_preview(web, []), "plan must be the dict"),
        (lambda web: oom_policy_preview.oom_policy_preview(web, {}, top=-1), "top must be a non-negative"),
        (lambda web: oom_policy_preview.oom_policy_preview(web, {}, top=True), "top must be a non-negative"),
        (lambda web: oom_policy_violations.oom_policy_violations({}, "web-1"), "hosts must be a list"),
        (lambda web: oom_policy_restore.oom_policy_restore([]), "the state must be a dict"),
        (lambda web: oom_policy_restore.oom_policy_restore({}, probes={}), "probes must be a list"),
    ],
)
def test_bad_arguments_are_clear_errors(web, call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call(web)


def test_restore_of_no_state():
    assert oom_policy_restore.oom_policy_restore(None) == {
        "units": [],
        "process_groups": [],
        "patterns": [],
        "killer": None,
    }
