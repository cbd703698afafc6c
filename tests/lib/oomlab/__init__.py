# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


"""A small lab for tests that need REAL kernel OOM kills, and a way to run modules through ansible.

One package, one file per concern, everything re-exported here (``import oomlab``; ``oomlab.MiB``):

- ``cgroups.py``: the memory hierarchy, ``MemoryCgroup``, capability and ``/proc/vmstat`` helpers;
- ``hogs.py``: ``Hog`` and ``start_hog()``, running ``hog_process.py`` (the hog itself, standard library only);
- ``kmsg.py``: ``KmsgCursor``, the kernel records printed during a test;
- ``kernel_lab.py``: ``KernelLab``, which owns a test's cgroups and hogs and removes them (``Lab`` is its old
  name, kept for the tests that use it);
- ``ansible_runner.py``: ``run_module()``, ``run_playbook()`` and the interpreter wrapper that measures a module
  process.

The lab hosts (QEMU VMs, LXC containers) are another thing: ``tests/lab``.

Everything here works on the machine itself (root, a writable memory cgroup); nothing is mocked.

Cgroups
    ``find_memory_hierarchy()`` picks the hierarchy that carries the memory controller: cgroup v1
    (``/sys/fs/cgroup/memory`` on a hybrid host) or cgroup v2 (pure v2 host, or a hybrid host whose memory
    controller sits on the unified mount). ``MemoryCgroup.create(limit_bytes)`` makes a fresh group named
    ``oomguard-test-<random>`` directly below that hierarchy's root, with swap disabled for it so that the limit
    produces an OOM kill instead of swapping. ``MemoryCgroup.remove()`` SIGKILLs whatever is still inside and
    rmdirs it. The lab only ever touches groups it created.

Hogs
    ``start_hog()`` runs ``hog_process.py`` (standard library only) under a chosen comm and argv[0]. The hog
    stops before allocating, so the test can set its ``oom_score_adj`` and move it into a cgroup; it then
    allocates and touches memory in steps until it is killed (or holds at ``max_bytes``). The returned ``Hog``
    watches the process with psutil and tells how it died (``wait_for_death()``, ``exit_signal``).

Kernel log
    ``KmsgCursor`` reads ``/dev/kmsg`` from "now" on, so a test sees exactly the kernel records printed after it
    opened the cursor (``killed_processes()`` extracts the ``Killed process`` lines).

Ansible
    ``run_module(module, args, check=False)`` runs ``ansible localhost -c local -m <fqcn> -a <json>`` with the
    JSON results on stdout and returns the host's result dict. Module code is never imported.

``KernelLab`` owns cgroups and hogs and cleans all of them up, also on failure. Typical use (the pytest fixtures in
``tests/integration/conftest.py`` wrap exactly this)::

    with KernelLab() as lab:
        group = lab.memory_cgroup(64 * MiB)
        victim = lab.start_hog("oomguard-victim", cgroup=group)             # allocates until killed
        keeper = lab.start_hog("oomguard-keeper", cgroup=group, oom_score_adj=-1000, max_bytes=24 * MiB, go=False)
        keeper.go(); keeper.wait_holding()
        victim.go()
        assert victim.wait_for_death() == -signal.SIGKILL
        assert keeper.is_alive() and group.oom_kill_count() >= 1

To compare two hogs (e.g. "protect one, the kernel kills the other"), start both with ``go=False``, let the
one that must hold its memory reach ``max_bytes`` first (``wait_holding()``), then release the other.

Sizing: besides its ``max_bytes``, each hog charges a few MiB of its own to the group (page tables, Python
heap after the move; its start-up memory stays charged to the group it came from). After the kernel killed
the victim, the survivors plus ~8 MiB must fit under the limit, or the kernel goes on killing (a bounded
trigger hog that keeps allocating is the usual culprit). A negative ``oom_score_adj`` needs CAP_SYS_RESOURCE or
a low inherited minimum: check ``oom_score_adj_lowering_reason()`` first and skip with it.
"""

from .ansible_runner import (
    COLLECTION_NAMESPACE,
    DEFAULT_INTERPRETER,
    REPO_ROOT,
    RUSAGE_WRAPPER,
    AnsibleRunError,
    ansible_env,
    ansible_executable,
    collections_path,
    fqcn,
    read_peak_rss_kib,
    read_rusage_reports,
    run_module,
    run_playbook,
    rusage_interpreter,
)
from .cgroups import (
    CAP_SYS_RESOURCE,
    CGROUP_PREFIX,
    GiB,
    KiB,
    LabUnavailable,
    MemoryCgroup,
    MemoryHierarchy,
    MiB,
    find_memory_hierarchy,
    has_capability,
    lab_unavailable_reason,
    oom_score_adj_lowering_reason,
    read_vmstat,
)
from .hogs import COMM_MAX, HOG_SCRIPT, Hog, start_hog
from .kernel_lab import KernelLab, oom_kill_once
from .kmsg import KILLED_PROCESS, KmsgCursor, KmsgRecord

Lab = KernelLab

__all__ = [
    "CAP_SYS_RESOURCE",
    "CGROUP_PREFIX",
    "COLLECTION_NAMESPACE",
    "COMM_MAX",
    "DEFAULT_INTERPRETER",
    "HOG_SCRIPT",
    "KILLED_PROCESS",
    "REPO_ROOT",
    "RUSAGE_WRAPPER",
    "AnsibleRunError",
    "GiB",
    "Hog",
    "KernelLab",
    "KiB",
    "KmsgCursor",
    "KmsgRecord",
    "Lab",
    "LabUnavailable",
    "MemoryCgroup",
    "MemoryHierarchy",
    "MiB",
    "ansible_env",
    "ansible_executable",
    "collections_path",
    "find_memory_hierarchy",
    "fqcn",
    "has_capability",
    "lab_unavailable_reason",
    "oom_kill_once",
    "oom_score_adj_lowering_reason",
    "read_peak_rss_kib",
    "read_rusage_reports",
    "read_vmstat",
    "run_module",
    "run_playbook",
    "rusage_interpreter",
    "start_hog",
]
