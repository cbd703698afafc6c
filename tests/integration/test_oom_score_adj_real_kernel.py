# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""oom_score_adj against the REAL kernel OOM killer, run through ansible (module code is never imported).

Each trial puts two memory hogs into one fresh memory cgroup (64 MiB, no swap):

* the *keeper* allocates 36 MiB first and holds it: the bigger of the two, so without protection it is the
  kernel's own choice of victim;
* the *victim* then allocates up to 40 MiB, which together with the keeper exceeds the limit, so the kernel OOM
  killer must kill one of them.

With protection, ``oomguard.memory.oom_score_adj`` lowers the keeper's value by 500 before anything is allocated
(the selector rotates between ``pid``, ``name`` and ``pattern``); the kernel must then kill the victim, in every
one of ``OOMGUARD_TRIALS`` (default 20) trials. With CAP_SYS_RESOURCE both hogs start at 0 and the keeper goes to
-500. Without it (a container's root, for example) the kernel lets a process go no lower than the
``oom_score_adj_min`` it inherited (0 here), so both hogs start at +500 and the keeper is protected by going
down to 0: the same 500-point gap, and a real-world case (protecting a process in a fleet whose default is high).
Without protection the kernel must kill the keeper, the bigger process, in every control trial. Which pid the
kernel killed is taken from its own ``Killed process`` line in /dev/kmsg, and ``oom_facts`` must then report
that kill with the right pid.

Needs root and a writable memory cgroup; skipped otherwise. Every cgroup and hog is removed, also on failure.
Run with:  pytest tests/integration/test_oom_score_adj_real_kernel.py -v
"""

from __future__ import annotations

import os
import re
import secrets
import signal

import oomlab
import pytest

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


def scheme():
    """(start value of both hogs, protected value of the keeper), depending on CAP_SYS_RESOURCE."""
    if oomlab.oom_score_adj_lowering_reason(-GAP) is None:
        return 0, -GAP
    return GAP, 0


def protect(run_module, selector, keeper, tag, start, protected):
    """Protect the keeper through ansible with one of the selectors; return the module result."""
    if selector == "pid":
        args = {"pid": [keeper.pid]}
    elif selector == "name":
        args = {"name": KEEPER_COMM}
    else:
        args = {"pattern": re.escape(tag + "-keeper") + "$"}
    args["value"] = protected
    result = run_module("oom_score_adj", args)
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["processes"] == [{"pid": keeper.pid, "comm": KEEPER_COMM, "before": start, "after": protected}]
    assert keeper.oom_score_adj() == protected
    return result


def one_trial(lab, run_module, selector, number):
    """Run one trial (protected unless selector is None); return (keeper, victim, pid the kernel killed)."""
    tag = "oomguard-osa-%s-%d" % (RUN_ID, number)
    start, protected = scheme()
    group = lab.memory_cgroup(LIMIT_BYTES)
    keeper = lab.start_hog(
        KEEPER_COMM, cgroup=group, go=False, oom_score_adj=start, max_bytes=KEEPER_BYTES, extra_args=[tag + "-keeper"]
    )
    victim = lab.start_hog(
        VICTIM_COMM,
        cgroup=group,
        go=False,
        oom_score_adj=start,
        max_bytes=VICTIM_MAX_BYTES,
        extra_args=[tag + "-victim"],
    )
    if selector:
        protect(run_module, selector, keeper, tag, start, protected)
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
    assert reported[0]["oom_score_adj"] == scheme()[0]
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
    if oomlab.oom_score_adj_lowering_reason(-1) is None:
        pytest.skip("this test process may lower oom_score_adj (CAP_SYS_RESOURCE); nothing to refuse")
    hog = lab.start_hog(KEEPER_COMM, go=False)
    result = run_module("oom_score_adj", {"pid": [hog.pid], "value": -100})
    assert result.get("failed")
    assert result["msg"].startswith("cannot set oom_score_adj of pid %d (%s) from 0 to -100: " % (hog.pid, KEEPER_COMM))
    assert "needs CAP_SYS_RESOURCE" in result["msg"]
    assert hog.oom_score_adj() == 0


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
