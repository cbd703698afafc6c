# SPDX-License-Identifier: GPL-3.0-or-later
"""Test service for the oomguard.memory lab: holds a little memory and grows on request.

Usage: oomtest-app.py GROW_FILE. Holds 4 MiB; while GROW_FILE exists it maps another 16 MiB every
0.1 s, until the kernel OOM-kills it at the unit's MemoryMax. The blocks are populated by the kernel
in the mmap call (MAP_POPULATE): one system call charges all 16 MiB to the cgroup, so the process
jumps past MemoryHigh to MemoryMax without being throttled page by page on the way (slow under TCG).
"""

import mmap
import os
import sys
import time

GROW_FILE = sys.argv[1]
FLAGS = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE


def block(mib):
    return mmap.mmap(-1, mib << 20, flags=FLAGS)


held = [block(4)]
while True:
    if os.path.exists(GROW_FILE):
        held.append(block(16))
        time.sleep(0.1)
    else:
        time.sleep(0.5)
