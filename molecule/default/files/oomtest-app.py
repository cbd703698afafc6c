#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test service for the oomguard.memory lab: holds a little memory and grows on request.

Usage: oomtest-app.py GROW_FILE. Holds 4 MiB; while GROW_FILE exists it adds 4 MiB (filled, so
the pages count) every 0.05 s, until the kernel OOM-kills it at the unit's MemoryMax.
"""

import os
import sys
import time

BLOCK = 4 << 20

grow_file = sys.argv[1]
held = [b"x" * BLOCK]
while True:
    if os.path.exists(grow_file):
        held.append(os.urandom(16) * (BLOCK // 16))
        time.sleep(0.05)
    else:
        time.sleep(0.5)
