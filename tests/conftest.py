# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the collection importable as ansible_collections.oomguard.memory for pytest.

tests/setup-env.sh links the repository into .cache/collections/ansible_collections/oomguard/memory.
"""

import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parent.parent / ".cache" / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
