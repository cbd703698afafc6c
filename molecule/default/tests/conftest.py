# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify runs one pytest-xdist worker per VM (molecule.yml: n 2, dist loadgroup).

Every test of one VM goes to the same worker, in the order of the files, so that the module-scoped fixtures
(a kill made once per VM, the state read before it) are made once per VM and the two VMs are tested at the
same time instead of one after the other.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        host = getattr(item, "callspec", None) and item.callspec.params.get("_testinfra_host")
        if host is not None:
            item.add_marker(pytest.mark.xdist_group(name=host.backend.get_pytest_id()))
