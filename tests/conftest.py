# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the collection importable as ansible_collections.oomguard.memory for pytest.

tests/setup-env.sh links the repository into .cache/collections/ansible_collections/oomguard/memory.
"""

import sys
import time
from pathlib import Path

import pytest

COLLECTIONS = Path(__file__).resolve().parent.parent / ".cache" / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))


@pytest.fixture
def utc_zone(monkeypatch):
    """Run a test with TZ=UTC, for the log times that carry no zone; the zone of the run is restored after it."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
