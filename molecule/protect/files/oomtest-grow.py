# SPDX-License-Identifier: GPL-3.0-or-later
"""Test service for the oom_protect lab scenario: holds a little memory and grows when told to.

Usage: oomtest-grow.py CONTROL_FILE NAME. Sets its process name (comm) to NAME, so that earlyoom's --avoid and
--prefer can tell the services apart, and holds 4 MiB. CONTROL_FILE, when it exists, says how to grow:

- ``fast``: 16 MiB more every 0.1 s, populated at once (MAP_POPULATE), until the kernel kills it (a global OOM
  when the unit has no MemoryMax=);
- ``slow``: 16 MiB more every 0.5 s, so that a userspace killer polling MemAvailable sees it coming (earlyoom);
- ``pressure``: hold 256 MiB, set its own cgroup's memory.high to half of that (a write to the cgroup file, not a
  unit property: systemd still shows MemoryHigh=infinity), then keep allocating and freeing 4 MiB and reading the
  files under /usr/lib. Anonymous memory cannot be reclaimed without swap, so every allocation is throttled over
  memory.high (a memory stall: pressure on system.slice for systemd-oomd) while the page cache it reads is
  reclaimed (the reclaim activity systemd-oomd also asks for); the VM itself never runs short of memory.
"""

import ctypes
import mmap
import os
import sys
import time

CONTROL, NAME = sys.argv[1], sys.argv[2]
FLAGS = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE
PR_SET_NAME = 15

ctypes.CDLL(None).prctl(PR_SET_NAME, NAME.encode()[:15], 0, 0, 0)


def throttle(limit):
    """Set memory.high of this process's own cgroup (v2)."""
    with open("/proc/self/cgroup") as handle:
        path = handle.read().strip().split("::", 1)[1]
    with open("/sys/fs/cgroup%s/memory.high" % path, "w") as handle:
        handle.write(str(limit))


def block(mib):
    return mmap.mmap(-1, mib << 20, flags=FLAGS)


def read_files(root="/usr/lib"):
    for directory, _dirs, files in os.walk(root):
        for name in files[:20]:
            try:
                with open(os.path.join(directory, name), "rb") as handle:
                    while handle.read(1 << 20):
                        pass
            except OSError:
                pass
        yield


held = [block(4)]
reader = None
throttled = False
while True:
    try:
        with open(CONTROL) as handle:
            mode = handle.read().strip()
    except OSError:
        mode = ""
    if mode == "fast":
        held.append(block(16))
        time.sleep(0.1)
    elif mode == "slow":
        held.append(block(16))
        time.sleep(0.5)
    elif mode == "pressure":
        if not throttled:
            held.extend(block(16) for _block in range(16))
            throttle(128 << 20)
            throttled = True
        block(4).close()
        reader = reader or read_files()
        if next(reader, "done") == "done":
            reader = None
    else:
        time.sleep(0.5)
