# SPDX-License-Identifier: GPL-3.0-or-later
"""Test service for the oom_protect lab scenario: holds a little memory and grows when told to.

Usage: oomtest-grow.py CONTROL_FILE NAME. Sets its process name (comm) to NAME, so that earlyoom's --avoid and
--prefer can tell the services apart, and holds 4 MiB. CONTROL_FILE, when it exists, says how to grow:

- ``fast``: 16 MiB more every 0.1 s, populated at once (MAP_POPULATE), until the kernel kills it (a global OOM
  when the unit has no MemoryMax=);
- ``slow``: 8 MiB more every 0.5 s, so that a userspace killer polling MemAvailable sees it coming (earlyoom);
- ``pressure``: grow until MemAvailable is below 8% of MemTotal, then hold and keep touching the memory and
  reading the files under /usr/lib, so that reclaim stalls (memory pressure for systemd-oomd) without running out.
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


def meminfo():
    values = {}
    with open("/proc/meminfo") as handle:
        for line in handle:
            key, value = line.split(":", 1)
            values[key] = int(value.split()[0])
    return values


def block(mib):
    return mmap.mmap(-1, mib << 20, flags=FLAGS)


def touch(blocks):
    for held_block in blocks:
        for offset in range(0, len(held_block), 4096):
            held_block[offset] = (held_block[offset] + 1) % 256


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
        held.append(block(8))
        time.sleep(0.5)
    elif mode == "pressure":
        info = meminfo()
        if info["MemAvailable"] > info["MemTotal"] * 8 // 100:
            held.append(block(8))
            time.sleep(0.2)
            continue
        touch(held)
        reader = reader or read_files()
        if next(reader, "done") == "done":
            reader = None
    else:
        time.sleep(0.5)
