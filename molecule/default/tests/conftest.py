# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify runs one pytest-xdist worker per VM (molecule.yml: verifier option n 2).

Every test of one VM goes to the same worker, in the order of the files, so that the module-scoped fixtures
(a kill made once per VM, the state read before it) are made once per VM, and the two VMs are tested at the
same time instead of one after the other. (xdist's own ``--dist loadgroup`` with ``xdist_group`` marks does
not group here: with pytest 9.2 and xdist 3.8 even statically marked tests were spread over both workers.)
"""

from __future__ import annotations


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerPerHost(LoadScopeScheduling):
        """The scope of a test is its testinfra host: ``test_x.py::test_y[ansible://vm-bookworm]``."""

        def _split_scope(self, nodeid):
            return nodeid.rpartition("[")[2].rstrip("]") if nodeid.endswith("]") else nodeid

    return OneWorkerPerHost(config, log)
