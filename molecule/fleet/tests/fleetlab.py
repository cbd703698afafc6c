# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab that runs the fleet, seen from the verify tests on the controller.

The verify tests run once, on this machine (testinfra's local backend), and ask the whole fleet at once with
``ansible`` against the lab's own inventory: one run per question, every host in parallel, instead of one
ansible run per host and test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

REPO = Path(__file__).resolve().parents[3]
LAB_NAME = os.environ.get("LAB_NAME", "molecule-fleet")
HOSTS = [f"ct{index:02d}" for index in range(1, 9)]  # molecule.yml platforms

# "ct01 | SUCCESS => {json}" for modules, "ct01 | CHANGED | rc=0 >>" + text for command and shell
RESULT = re.compile(r"^(?P<host>\S+) \| (?P<status>[A-Z]+)!?(?: \| rc=(?P<rc>-?\d+))? (?P<kind>=>|>>)", re.MULTILINE)


def lab(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the lab's command line (python -m tests.lab --name LAB_NAME ARGS) from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "tests.lab", "--name", LAB_NAME, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )


def inventory_path() -> str:
    return lab("inventory", "--format", "path").stdout.strip()


def ansible_env() -> Dict[str, str]:
    """This checkout's ansible.cfg and collection, none of Molecule's settings, one-line results."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "MOLECULE_"))}
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"),
        ANSIBLE_FORKS="16",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_HOST_KEY_CHECKING="0",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal",
        ANSIBLE_CALLBACK_RESULT_FORMAT="json",
        ANSIBLE_DEPRECATION_WARNINGS="0",
    )
    return env


def ansible(pattern: str, module: str, args: str = "", timeout: float = 600) -> Dict[str, Dict[str, Any]]:
    """Run one module on the hosts of ``pattern``; host -> result (``status``; ``stdout`` for command/shell)."""
    run = subprocess.run(
        ["ansible", pattern, "-i", inventory_path(), "-m", module, "-a", args],
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    results: Dict[str, Dict[str, Any]] = {}
    matches = list(RESULT.finditer(run.stdout))
    for match, following in zip(matches, [*matches[1:], None]):
        body = run.stdout[match.end() : following.start() if following else len(run.stdout)]
        if match["kind"] == "=>":
            result, _end = json.JSONDecoder().raw_decode(body.lstrip())
        else:
            result = {"rc": int(match["rc"]), "stdout": body.strip("\n")}
        result["status"] = match["status"]
        results[match["host"]] = result
    if not results:
        raise AssertionError(f"no result from ansible {pattern} -m {module}: {run.stdout[-2000:]}{run.stderr[-2000:]}")
    return results


def shell(pattern: str, command: str) -> Dict[str, str]:
    """stdout of a shell command on every host of ``pattern``, which must succeed everywhere."""
    results = ansible(pattern, "ansible.builtin.shell", command)
    failed = {host: result for host, result in results.items() if result.get("rc") != 0}
    assert not failed, failed
    return {host: result["stdout"] for host, result in results.items()}


def facts_of(results: Dict[str, Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """host -> ansible_facts.oom from the results of an oom_facts run, which must have worked on every host."""
    failed = {host: result for host, result in results.items() if result["status"] != "SUCCESS"}
    assert not failed, failed
    return {host: result["ansible_facts"]["oom"] for host, result in results.items()}
