# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


"""Running modules THROUGH ANSIBLE against localhost (``run_module()``), and measuring the module process.

Module code is never imported: ``run_module()`` runs ``ansible localhost -c local -m <fqcn> -a <json>`` with the
JSON result on stdout; ``rusage_interpreter()`` writes an interpreter wrapper that records the module process's
peak RSS and CPU time.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO_ROOT = Path(__file__).resolve().parents[3]
COLLECTION_NAMESPACE = "oomguard.memory"
DEFAULT_INTERPRETER = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


class AnsibleRunError(RuntimeError):
    """ansible did not produce a parsable result (as opposed to a module that returned failed=True)."""


def fqcn(module: str) -> str:
    """``oom_facts`` -> ``oomguard.memory.oom_facts``; names that contain a dot are taken as they are."""
    return module if "." in module else f"{COLLECTION_NAMESPACE}.{module}"


_collections_dir: Optional[Path] = None


def collections_path() -> Path:
    """A directory in which ``ansible_collections/oomguard/memory`` is this checkout.

    That is ``.cache/collections`` when ``tests/setup-env.sh`` made it; otherwise a private temporary one.
    """
    global _collections_dir
    if _collections_dir is None:
        standard = REPO_ROOT / ".cache" / "collections"
        link = standard / "ansible_collections" / "oomguard" / "memory"
        if link.exists() and link.resolve() == REPO_ROOT:
            _collections_dir = standard
        else:
            temporary = Path(tempfile.mkdtemp(prefix="oomlab-collections-"))
            (temporary / "ansible_collections" / "oomguard").mkdir(parents=True)
            (temporary / "ansible_collections" / "oomguard" / "memory").symlink_to(REPO_ROOT)
            _collections_dir = temporary
    return _collections_dir


def ansible_executable(name: str = "ansible") -> str:
    """The ansible command next to the running python (the venv), else the one on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise AnsibleRunError(f"{name} not found (activate the venv: . .venv/bin/activate)")
    return found


def ansible_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment for ansible runs: the repo's ansible.cfg, JSON results on stdout, no colour or warnings.

    The stdout callback is ansible-core's ``minimal`` with ``callback_result_format=json``: it prints
    ``localhost | SUCCESS => {json}``. (The ``json`` callback lives in ansible.posix, which is not a test
    requirement.)
    """
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(collections_path()),
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.minimal",
            "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
        }
    )
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    if extra:
        env.update(extra)
    return env


def run_playbook(
    playbook: Path,
    inventory: Optional[object],
    *args: str,
    timeout: float = 900.0,
    env: Optional[Dict[str, str]] = None,
) -> subprocess.CompletedProcess:
    """``ansible-playbook -i INVENTORY PLAYBOOK ARGS...`` from the repository root with this checkout's collection
    and the default callback (plain text to match on); stdin closed; the completed process, whatever its status.

    ``inventory``: a path or an inventory string such as ``localhost,``; None for no ``-i`` (ansible's implicit
    localhost). ``env``: more environment variables, over ``ansible_env()``'s."""
    inventory_args = [] if inventory is None else ["-i", str(inventory)]
    return subprocess.run(
        [ansible_executable("ansible-playbook"), *inventory_args, str(playbook), *args],
        cwd=str(REPO_ROOT),
        env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default", **(env or {})}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


_RESULT_START = re.compile(r"^localhost \| (?P<status>[A-Z]+)!? => ", re.MULTILINE)


def run_module(
    module: str,
    args: Optional[Dict[str, object]] = None,
    check: bool = False,
    *,
    diff: bool = False,
    interpreter: Optional[str] = None,
    extra_vars: Optional[Dict[str, object]] = None,
    env: Optional[Dict[str, str]] = None,
    timeout: float = 600.0,
) -> Dict[str, object]:
    """Run a module on localhost THROUGH ANSIBLE and return its result dict.

    ``module``: ``oom_facts`` (this collection) or a FQCN such as ``ansible.builtin.ping``. ``args``: the module
    options, passed as JSON. ``check``/``diff``: ``--check``/``--diff``. ``interpreter`` sets
    ``ansible_python_interpreter``; the default is ``DEFAULT_INTERPRETER`` (the system python3, as on a managed
    host), not interpreter discovery, which may pick a broken pyenv shim on developer machines.

    A module failure is returned as a dict with ``failed: true``. The keys ``_ansible_status`` (SUCCESS,
    CHANGED, FAILED, ...), ``_ansible_rc`` (the ansible command's exit status) and ``_ansible_stderr`` (what
    ansible printed there: the module's warnings, as ``[WARNING]: ...``) are added. An ansible run that
    produced no parsable result raises ``AnsibleRunError`` (so do command-style modules such as
    ansible.builtin.command, which the minimal callback prints as text).
    """
    command = [ansible_executable(), "localhost", "-i", "localhost,", "-c", "local", "-m", fqcn(module)]
    if args:
        command += ["-a", json.dumps(args)]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    variables = dict(extra_vars or {})
    variables["ansible_python_interpreter"] = interpreter or DEFAULT_INTERPRETER
    command += ["-e", json.dumps(variables)]
    completed = subprocess.run(
        command,
        cwd=str(REPO_ROOT),
        env=ansible_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    stdout = completed.stdout.decode("utf-8", "replace")
    try:
        match = _RESULT_START.search(stdout)
        if not match:
            raise ValueError("no 'localhost | STATUS => ' line")
        result = json.loads(stdout[match.end() :])
        if not isinstance(result, dict):
            raise ValueError("result is not a dict")
    except ValueError as exc:
        stderr = completed.stderr.decode("utf-8", "replace")
        raise AnsibleRunError(
            f"no result from {' '.join(command)} (rc={completed.returncode})\n"
            f"stdout: {stdout[-4000:]}\nstderr: {stderr[-4000:]}"
        ) from exc
    status = match.group("status")
    if status in ("FAILED", "UNREACHABLE"):  # the minimal callback prints the status, not the flag
        result.setdefault("failed", True)
    result["_ansible_status"] = status
    result["_ansible_rc"] = completed.returncode
    result["_ansible_stderr"] = completed.stderr.decode("utf-8", "replace")
    return result


RUSAGE_WRAPPER = """#!{python}
# Written by oomlab.rusage_interpreter(): runs the real interpreter, then appends one JSON line to {report!r}:
# the peak RSS (KiB) and CPU time of everything it waited for, and the wall time of the run.
import json
import resource
import subprocess
import sys
import time

start = time.perf_counter()
returncode = subprocess.call([{python!r}] + sys.argv[1:])
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open({report!r}, "a") as handle:
    record = {{"maxrss_kib": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall}}
    handle.write(json.dumps(record) + "\\n")
sys.exit(returncode)
"""


def rusage_interpreter(directory: Path, python: str = DEFAULT_INTERPRETER) -> Tuple[Path, Path]:
    """Write an interpreter wrapper for ``ansible_python_interpreter`` that measures the module process.

    Returns ``(wrapper, report)``. After each module run through the wrapper, ``report`` gets one JSON line:
    ``maxrss_kib``, the peak RSS of the real interpreter process (``getrusage(RUSAGE_CHILDREN).ru_maxrss``:
    exact, no sampling; commands the module ran count too, as the max), ``cpu_s`` (user + system) and
    ``wall_s``, the time the module process ran (without ansible's own start-up on the controller).
    Read it with ``read_rusage_reports(report)`` or ``read_peak_rss_kib(report)``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / (f"rusage-python-{secrets.token_hex(3)}")
    report = wrapper.with_suffix(".rusage")
    wrapper.write_text(RUSAGE_WRAPPER.format(python=python, report=str(report)))
    wrapper.chmod(0o755)
    return wrapper, report


def read_rusage_reports(report: Path) -> List[Dict[str, float]]:
    """The records a ``rusage_interpreter`` wrapper wrote, one dict per module run (oldest first)."""
    try:
        return [json.loads(line) for line in Path(report).read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def read_peak_rss_kib(report: Path) -> List[int]:
    """The peak RSS values (KiB) a ``rusage_interpreter`` wrapper reported, one per module run."""
    return [int(record["maxrss_kib"]) for record in read_rusage_reports(report)]
