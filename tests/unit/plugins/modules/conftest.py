# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The modules' unit tests: the helpers harness.py, fakehost.py, return_docs.py (here) and fakeproc.py
(../module_utils) are importable by name, and no run takes the host's lock."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils import _host_lock

HERE = Path(__file__).resolve().parent
for directory in (HERE, HERE.parent / "module_utils"):
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))


@pytest.fixture(autouse=True)
def lock_path(tmp_path, monkeypatch):
    """Every run locks a lock file of its own test, never the host's /run/oomguard.lock."""
    path = str(tmp_path / "oomguard.lock")
    monkeypatch.setattr(_host_lock, "LOCK_PATH", path)
    return path
