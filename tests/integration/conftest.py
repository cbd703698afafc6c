# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pytest fixtures for integration tests on the real kernel (see tests/lib/oomlab.py for the lab itself).

Fixtures:

``lab``
    An ``oomlab.Lab``: every cgroup and hog made through it is killed/removed after the test, pass or fail.
    Skips the test (with the reason) when this machine cannot make real OOM kills: not root, or no writable
    memory cgroup hierarchy.
``memory_cgroup``
    ``memory_cgroup(limit_bytes, **kwargs) -> oomlab.MemoryCgroup``: a fresh ``oomguard-test-<random>`` group
    (cgroup v1, or v2 on a pure v2 host) with that memory limit and no swap.
``start_hog``
    ``start_hog(comm="oomguard-hog", cgroup=None, oom_score_adj=None, go=True, max_bytes=None, ...) ->
    oomlab.Hog``: a memory hog that is set up (oom_score_adj, cgroup) before it allocates.
``can_lower_oom_score_adj``
    Skips the test when a negative ``oom_score_adj`` cannot be set from here (no CAP_SYS_RESOURCE and an
    inherited ``oom_score_adj_min`` above -1000: it depends on how the test process was started).
``kmsg``
    An ``oomlab.KmsgCursor`` opened at the start of the test: the kernel records printed during the test.
``run_module``
    ``run_module(module, args=None, check=False, **kwargs) -> dict``: runs a module through ansible
    (``oom_facts`` is short for ``oomguard.memory.oom_facts``).

Example, "protect one hog, the kernel kills the other"::

    @pytest.mark.integration
    def test_protected_hog_survives(memory_cgroup, start_hog, can_lower_oom_score_adj):
        group = memory_cgroup(64 * oomlab.MiB)
        keeper = start_hog("oomguard-keeper", cgroup=group, oom_score_adj=-1000, max_bytes=24 * oomlab.MiB)
        keeper.wait_holding()
        victim = start_hog("oomguard-victim", cgroup=group)
        assert victim.wait_for_death() == -signal.SIGKILL
        assert keeper.is_alive()
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

import oomlab


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "integration: runs on the real machine (real kernel OOM kills, ansible against localhost)"
    )


@pytest.fixture(scope="session")
def oom_lab_reason():
    """None when real OOM kills can be made here, else why not."""
    return oomlab.lab_unavailable_reason()


@pytest.fixture
def lab(oom_lab_reason):
    if oom_lab_reason:
        pytest.skip(f"no real OOM kills on this machine: {oom_lab_reason}")
    with oomlab.Lab() as the_lab:
        yield the_lab


@pytest.fixture
def memory_cgroup(lab):
    return lab.memory_cgroup


@pytest.fixture
def start_hog(lab):
    return lab.start_hog


@pytest.fixture
def can_lower_oom_score_adj(oom_lab_reason):
    """Skips the test unless hogs can be given a negative oom_score_adj (protected) from here."""
    reason = oomlab.oom_score_adj_lowering_reason(-1000)
    if reason:
        pytest.skip(reason)


@pytest.fixture
def kmsg(oom_lab_reason):
    if oom_lab_reason:
        pytest.skip(f"no real OOM kills on this machine: {oom_lab_reason}")
    with oomlab.KmsgCursor() as cursor:
        yield cursor


@pytest.fixture(scope="session")
def run_module():
    try:
        oomlab.ansible_executable()
    except oomlab.AnsibleRunError as exc:
        pytest.skip(str(exc))
    return oomlab.run_module
