# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""oom_score_adj against the REAL kernel OOM killer, run through ansible (module code is never imported).

Each trial puts two memory hogs into one fresh memory cgroup (64 MiB, no swap):

* the *keeper* allocates 36 MiB first and holds it: the bigger of the two, so without protection it is the
  kernel's own choice of victim;
* the *victim* then allocates up to 40 MiB, which together with the keeper exceeds the limit, so the kernel OOM
  killer must kill one of them.

With protection, ``oomguard.memory.oom_score_adj`` opens a 500-point gap between the two before anything is
allocated (the selector rotates between ``pid``, ``name`` and ``pattern``); the kernel must then kill the victim,
in every one of ``OOMGUARD_TRIALS`` (default 20) trials. With CAP_SYS_RESOURCE the module lowers the keeper from
0 to -500. Without it (root in a container or a restricted VM, as on these machines) the module refuses to lower
any value, so it raises the victim from 0 to +500 instead: the same gap, from the other side. Without protection
the kernel must kill the keeper, the bigger process, in every control trial. Which pid the kernel killed is taken
from its own ``Killed process`` line in /dev/kmsg, and ``oom_facts`` must then report that kill with the right pid.

The other tests run the module against hostile processes: a 600 KB command line, a regular expression that
backtracks without end, a zombie, and a selection that contains the module's own process.

Needs root and a writable memory cgroup; skipped otherwise. Every cgroup and hog is removed, also on failure.
Run with:  pytest tests/integration/test_oom_score_adj_real_kernel.py -v
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time

import oomlab
import pytest
from unit_cgroups import UnitCgroup, systemd_hierarchy

pytestmark = pytest.mark.integration

TRIALS = int(os.environ.get("OOMGUARD_TRIALS", "20"))
LIMIT_BYTES = 64 * oomlab.MiB
KEEPER_BYTES = 36 * oomlab.MiB
VICTIM_MAX_BYTES = 40 * oomlab.MiB  # alone it fits the limit: after a control kill of the keeper it just holds
GAP = 500  # 500/1000 of the 64 MiB limit: 32 MiB off the keeper's badness; no allow_unkillable needed
SELECTORS = ("pid", "name", "pattern")
RUN_ID = secrets.token_hex(2)
KEEPER_COMM = "ogk-" + RUN_ID  # short and unique to this run, so that name= selects nothing else
VICTIM_COMM = "ogv-" + RUN_ID


def killed_pid(kmsg, pids, timeout=10.0):
    """The pid (one of ``pids``) in the kernel's first ``Killed process`` line since the cursor was opened."""
    pattern = re.compile(r"Killed process (%s) \(" % "|".join(str(pid) for pid in pids))
    record = kmsg.wait_for(lambda record: bool(pattern.search(record.message)), timeout=timeout)
    assert record is not None, "the kernel logged no kill of %s" % (pids,)
    return int(pattern.search(record.message).group(1))


def can_lower():
    return oomlab.has_capability(oomlab.CAP_SYS_RESOURCE)


def scheme():
    """(role of the hog the module changes, its new value): lower the keeper, or, without CAP_SYS_RESOURCE,
    raise the victim."""
    return ("keeper", -GAP) if can_lower() else ("victim", GAP)


def protect(run_module, selector, hog, comm, tag, value):
    """Open the gap through ansible with one of the selectors; return the module result."""
    if selector == "pid":
        args = {"pid": [hog.pid]}
    elif selector == "name":
        args = {"name": comm}
    else:
        args = {"pattern": re.escape(tag) + "$"}
    args["value"] = value
    result = run_module("oom_score_adj", args)
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["processes"] == [{"pid": hog.pid, "comm": comm, "before": 0, "after": value}]
    assert hog.oom_score_adj() == value
    return result


def one_trial(lab, run_module, selector, number):
    """Run one trial (protected unless selector is None); return (keeper, victim, pid the kernel killed)."""
    tag = "oomguard-osa-%s-%d" % (RUN_ID, number)
    group = lab.memory_cgroup(LIMIT_BYTES)
    keeper = lab.start_hog(KEEPER_COMM, cgroup=group, go=False, max_bytes=KEEPER_BYTES, extra_args=[tag + "-keeper"])
    victim = lab.start_hog(
        VICTIM_COMM, cgroup=group, go=False, max_bytes=VICTIM_MAX_BYTES, extra_args=[tag + "-victim"]
    )
    if selector:
        role, value = scheme()
        if role == "keeper":
            protect(run_module, selector, keeper, KEEPER_COMM, tag + "-keeper", value)
        else:
            protect(run_module, selector, victim, VICTIM_COMM, tag + "-victim", value)
    with oomlab.KmsgCursor() as kmsg:
        keeper.go()
        keeper.wait_holding()
        victim.go()
        killed = killed_pid(kmsg, (keeper.pid, victim.pid))
    dead = keeper if killed == keeper.pid else victim
    assert dead.wait_for_death(timeout=30) == -signal.SIGKILL
    assert group.oom_kill_count() >= 1
    return keeper, victim, killed


def finish(lab):
    """Kill the trial's hogs and remove its cgroup now, so trials do not pile up."""
    lab.close()


def test_protected_process_survives_every_trial(lab, run_module):
    outcomes = []
    last = None
    for number in range(TRIALS):
        selector = SELECTORS[number % len(SELECTORS)]
        keeper, victim, killed = one_trial(lab, run_module, selector, number)
        outcomes.append((selector, "victim" if killed == victim.pid else "KEEPER"))
        assert keeper.is_alive(), "trial %d (%s): the protected keeper died" % (number, selector)
        last = (victim.pid, keeper.pid)
        finish(lab)
    assert [outcome for _selector, outcome in outcomes] == ["victim"] * TRIALS, outcomes

    # oom_facts reports the last kill with the right pid, and no kill of the protected keeper
    victim_pid, keeper_pid = last
    facts = run_module("oom_facts", {"log_sources": ["kmsg"], "max_kills": 1000, "top_processes": 0})
    assert not facts.get("failed"), facts
    kills = facts["ansible_facts"]["oom"]["kills"]
    reported = [kill for kill in kills if kill["pid"] == victim_pid]
    assert len(reported) == 1, kills[-5:]
    assert reported[0]["comm"] == VICTIM_COMM
    assert reported[0]["killer"] == "kernel"
    assert reported[0]["oom_score_adj"] == (0 if can_lower() else GAP)
    assert not [kill for kill in kills if kill["pid"] == keeper_pid]


def test_without_protection_the_kernel_kills_the_bigger_process(lab, run_module):
    outcomes = []
    for number in range(TRIALS):
        keeper, victim, killed = one_trial(lab, run_module, None, 1000 + number)
        outcomes.append("keeper" if killed == keeper.pid else "VICTIM")
        assert victim.is_alive(), "control trial %d: the kernel killed the smaller process" % number
        finish(lab)
    assert outcomes == ["keeper"] * TRIALS, outcomes


def test_check_mode_diff_and_idempotence(lab, run_module):
    hog = lab.start_hog(KEEPER_COMM, go=False)
    args = {"pid": [hog.pid], "value": 700}
    result = run_module("oom_score_adj", args, check=True, diff=True)
    assert result["changed"] is True and result["processes"][0]["after"] == 700
    assert hog.oom_score_adj() == 0  # check mode wrote nothing
    result = run_module("oom_score_adj", args, diff=True)
    assert result["changed"] is True
    assert hog.oom_score_adj() == 700
    result = run_module("oom_score_adj", args)
    assert result["changed"] is False
    assert result["processes"] == [{"pid": hog.pid, "comm": KEEPER_COMM, "before": 700, "after": 700}]


def test_refusals_write_nothing(lab, run_module):
    hog = lab.start_hog(KEEPER_COMM, go=False)
    result = run_module("oom_score_adj", {"pid": [hog.pid], "value": -1000})
    assert result.get("failed") and "allow_unkillable" in result["msg"]
    result = run_module("oom_score_adj", {"pid": [2, hog.pid], "value": 300})  # pid 2 is kthreadd
    assert result["changed"] is True
    assert [entry["pid"] for entry in result["processes"]] == [hog.pid]
    assert result["excluded"][0]["pid"] == 2 and result["excluded"][0]["reason"] == "kernel thread"
    with open("/proc/2/oom_score_adj") as handle:
        assert int(handle.read()) == 0
    result = run_module("oom_score_adj", {"name": "ogx-" + RUN_ID, "value": 300})
    assert result.get("failed") and "no process matches name=ogx-" in result["msg"]
    result = run_module("oom_score_adj", {"name": "ogx-" + RUN_ID, "value": 300, "missing_ok": True})
    assert not result.get("failed") and result["changed"] is False


def test_lowering_without_cap_sys_resource_fails_clearly(lab, run_module):
    if can_lower():
        pytest.skip("this test process has CAP_SYS_RESOURCE; nothing to refuse")
    hog = lab.start_hog(KEEPER_COMM, go=False)
    other = lab.start_hog(VICTIM_COMM, go=False, oom_score_adj=300)
    args = {"pid": [hog.pid, other.pid], "value": -100}
    expected = (
        "cannot lower oom_score_adj to -100 for %d (%s) from 0, %d (%s) from 300: that needs CAP_SYS_RESOURCE, "
        "which this process lacks (root in a container or a restricted VM); nothing was changed"
        % (hog.pid, KEEPER_COMM, other.pid, VICTIM_COMM)
    )
    for check in (True, False):  # check mode reports the same failure instead of predicting a change
        result = run_module("oom_score_adj", args, check=check)
        assert result.get("failed") and result["msg"] == expected, result
        assert "become" not in result["msg"]
        assert (hog.oom_score_adj(), other.oom_score_adj()) == (0, 300)
    # raising needs no capability; lowering down to the inherited floor (0 here) is what the kernel allows
    result = run_module("oom_score_adj", {"pid": [hog.pid], "value": 5})
    assert result["changed"] is True and hog.oom_score_adj() == 5
    result = run_module("oom_score_adj", {"pid": [hog.pid, other.pid], "value": 0})
    assert result["changed"] is True and (hog.oom_score_adj(), other.oom_score_adj()) == (0, 0)


def test_cgroup_selector(lab, run_module):
    group = lab.memory_cgroup(LIMIT_BYTES)
    first = lab.start_hog(KEEPER_COMM, cgroup=group, go=False)
    second = lab.start_hog(VICTIM_COMM, cgroup=group, go=False)
    outsider = lab.start_hog(VICTIM_COMM, go=False)
    for path in (group.kernel_path, str(group.path)):  # as /proc/PID/cgroup prints it, or the directory
        result = run_module("oom_score_adj", {"cgroup": path, "value": 321})
        assert not result.get("failed"), result
        assert sorted(entry["pid"] for entry in result["processes"]) == sorted([first.pid, second.pid])
    assert first.oom_score_adj() == second.oom_score_adj() == 321
    assert outsider.oom_score_adj() == 0


# -- hostile processes -----------------------------------------------------------------------------------------

SLEEP = "import sys, time; time.sleep(600)"


@pytest.fixture
def sleepers():
    """start(*args) -> Popen: a python that sleeps, with ``args`` on its command line; all killed afterwards."""
    started = []

    def start(*args, **kwargs):
        process = subprocess.Popen(
            [sys.executable, "-c", SLEEP, *args], stdin=subprocess.DEVNULL, start_new_session=True, **kwargs
        )
        started.append(process)
        return process

    yield start
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def command_line_when_set(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            command_line = handle.read()
        if command_line or time.monotonic() > deadline:
            return command_line
        time.sleep(0.05)


def test_pattern_on_a_600_kb_command_line_ends_quickly(run_module, sleepers):
    """``java.*-Xmx`` over 600 KB of "java " took 42 s per process before the 4096-byte cap (and hours with no
    -Xmx at all): now only the first 4096 bytes are matched, well within the budget."""
    filler = ["java " * 24000] * 5  # five arguments of 120 KB (the kernel takes at most 128 KB per argument)
    far = sleepers(*filler, "-Xmx512m", RUN_ID)  # -Xmx after 600 KB: beyond what is matched
    near = sleepers("java", "-Xmx512m", RUN_ID, *filler)
    bare = sleepers(*filler, RUN_ID)  # no -Xmx anywhere: the slow case without the cap
    # Popen returns once the child has left the parent's memory (vfork), which can be before execve has set up the
    # new command line: /proc/PID/cmdline reads empty for that moment.
    for process in (far, near, bare):
        assert len(command_line_when_set(process.pid)) > 600000
    started = time.monotonic()
    result = run_module(
        "oom_score_adj", {"pattern": "java.*-Xmx", "value": 700, "missing_ok": True}, check=True, timeout=180
    )
    elapsed = time.monotonic() - started
    assert not result.get("failed"), result
    selected = {entry["pid"] for entry in result["processes"]}
    assert near.pid in selected
    assert far.pid not in selected and bare.pid not in selected
    print("pattern over 3 x 600 KB command lines: %.1f s through ansible" % elapsed)


def test_pattern_that_backtracks_without_end_fails_within_the_budget(run_module, sleepers):
    """``(a+)+$`` against 28 a's took 34 s (and doubles with each further a): now the selection stops at 10 s."""
    evil = sleepers("a" * 28 + "!")
    started = time.monotonic()
    result = run_module("oom_score_adj", {"pattern": "(a+)+$", "value": 700}, timeout=180)
    elapsed = time.monotonic() - started
    assert result.get("failed")
    assert result["msg"].startswith("pattern '(a+)+$' did not finish within 10 s over the command lines")
    assert result["msg"].endswith("simplify it. Nothing was changed")
    with open("/proc/%d/oom_score_adj" % evil.pid) as handle:
        assert int(handle.read()) == 0
    assert elapsed < 120, elapsed  # the budget plus ansible's own start-up, nowhere near the 34 s + doubling
    print("(a+)+$ stopped after %.1f s through ansible" % elapsed)


def test_a_zombie_is_vanished_not_changed(run_module):
    child = os.fork()
    if child == 0:
        os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while True:
            with open("/proc/%d/stat" % child) as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            assert time.monotonic() < deadline, "the child did not become a zombie"
            time.sleep(0.05)
        result = run_module("oom_score_adj", {"pid": [child], "value": 300})
        assert not result.get("failed"), result
        assert result["changed"] is False
        assert result["processes"] == []
        assert [entry["pid"] for entry in result["vanished"]] == [child]
    finally:
        os.waitpid(child, 0)


# -- the module's own process chain inside the selection --------------------------------------------------------


@pytest.fixture
def unit_cgroup(lab):
    """A cgroup named like a unit (``oomguard-test-XXXX.service``) in the systemd hierarchy, removed afterwards."""
    hierarchy = systemd_hierarchy()
    if not hierarchy:
        pytest.skip("no systemd cgroup hierarchy to make a unit's cgroup in")
    group = UnitCgroup(hierarchy)
    try:
        yield group
    finally:
        group.remove()


def interpreter_in(tmp_path, *procs_files):
    """An ansible_python_interpreter that moves itself and its parent (ansible's /bin/sh) into cgroups first."""
    wrapper = tmp_path / "python-in-cgroup"
    moves = "".join('echo $PPID > "%s"; echo $$ > "%s"\n' % (path, path) for path in procs_files)
    wrapper.write_text('#!/bin/sh\n%sexec %s "$@"\n' % (moves, oomlab.DEFAULT_INTERPRETER))
    wrapper.chmod(0o755)
    return str(wrapper)


def own_chain_excluded(result):
    reasons = sorted(entry["reason"] for entry in result["excluded"])
    assert reasons.count("runs this module") == 1, result["excluded"]
    assert "an ancestor of the process running this module" in reasons, result["excluded"]


@pytest.mark.parametrize("selector", ["cgroup", "unit", "pid"])
def test_children_never_reach_the_modules_own_processes(lab, run_module, unit_cgroup, tmp_path, selector):
    """The module runs inside the selected cgroup/unit (with its parent shell), or below the selected pid."""
    unit, unit_path = unit_cgroup.unit, unit_cgroup.path
    group = lab.memory_cgroup(512 * oomlab.MiB)
    hog = lab.start_hog(KEEPER_COMM, cgroup=group, go=False)
    with open(os.path.join(unit_path, "cgroup.procs"), "w") as handle:
        handle.write(str(hog.pid))
    # a parent in the cgroup whose child has left it: children=true reaches the child through the process tree
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, time\npid = os.fork()\nif pid:\n    print(pid, flush=True)\ntime.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        group.add(parent.pid)
        with open(os.path.join(unit_path, "cgroup.procs"), "w") as handle:
            handle.write(str(parent.pid))
        child = int(parent.stdout.readline())
        group_root = os.path.dirname(str(group.path))
        with open(os.path.join(group_root, "cgroup.procs"), "w") as handle:
            handle.write(str(child))
        with open(os.path.join(os.path.dirname(unit_path), "cgroup.procs"), "w") as handle:
            handle.write(str(child))
        interpreter = interpreter_in(
            tmp_path, os.path.join(str(group.path), "cgroup.procs"), os.path.join(unit_path, "cgroup.procs")
        )
        if selector == "cgroup":
            args = {"cgroup": group.kernel_path}
        elif selector == "unit":
            args = {"unit": unit}
        else:
            args = {"pid": [os.getpid()]}  # this test process: ansible and the module are its descendants
        args.update(children=True, value=300)
        result = run_module("oom_score_adj", args, check=(selector == "pid"), interpreter=interpreter)
        assert not result.get("failed"), result
        changed = {entry["pid"] for entry in result["processes"]}
        assert changed == {hog.pid, parent.pid, child}, result
        own_chain_excluded(result)
        if selector != "pid":
            for pid in (hog.pid, parent.pid, child):
                with open("/proc/%d/oom_score_adj" % pid) as handle:
                    assert int(handle.read()) == 300
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
