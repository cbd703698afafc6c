# SPDX-License-Identifier: GPL-3.0-or-later
"""``python3 tests/lab/lab.py COMMAND``: the lab's command line run as a script (same as ``python -m tests.lab``).

The lab itself lives beside this file, one module per concern: common.py, images.py, networking.py, hosts.py,
inventory.py, cleanup.py, hostlab.py (``HostLab``, one lab's state) and cli.py. See README.md.
"""

import sys
from pathlib import Path

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.lab.cli import main

if __name__ == "__main__":
    sys.exit(main())
