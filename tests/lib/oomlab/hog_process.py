# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Memory hog for real kernel OOM tests. Started by ``oomlab.start_hog()`` (hogs.py); not meant to be imported.

Standard library only, so any python3 (the venv's or the system's) can run it.

Line protocol on stdin/stdout:

* hog -> ``ready <pid>``: the hog has set its comm and waits. The test now sets ``oom_score_adj`` and moves the
  pid into a cgroup, while nothing has been allocated yet (so no charge lands in the old cgroup).
* test -> ``go``: allocate. Any other line, or EOF (the test died), makes the hog exit 0 without allocating.
* hog -> ``allocated <bytes>`` after each step. Each step is ``b"\\xa5" * step``: memset touches every page, so
  the memory is really charged (a calloc'ed bytearray would stay on the shared zero page).
* hog -> ``holding <bytes>`` when ``--max-bytes`` is reached; it then waits on stdin and exits 0 at EOF or on any
  line (``Hog.release()``). Without ``--max-bytes`` it allocates until the kernel kills it.
* hog -> ``cap <bytes>`` and exit status 3 when the safety cap ``--cap-bytes`` is reached without a kill: a hog
  that is not in a limited cgroup must never eat the host.

The hog also asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG), so a crashed test leaves no
hog behind.
"""

import argparse
import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
EXIT_CAP_REACHED = 3


def _die_with_parent(parent_pid):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if parent_pid and os.getppid() != parent_pid:  # the parent died before prctl() took effect
        sys.exit(0)


def _set_comm(comm):
    if comm:
        with open("/proc/self/comm", "w") as handle:
            handle.write(comm[:15])


def _say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comm", default="")
    parser.add_argument("--parent-pid", type=int, default=0)
    parser.add_argument("--step-bytes", type=int, default=1 << 20)
    parser.add_argument("--interval", type=float, default=0.005)
    parser.add_argument("--max-bytes", type=int, default=0, help="stop and hold at this size; 0: until killed")
    parser.add_argument("--cap-bytes", type=int, default=2 << 30, help="safety cap for the until-killed mode")
    parser.add_argument("--tag", default="", help="free text, only visible in the command line")
    args = parser.parse_args()

    _die_with_parent(args.parent_pid)
    _set_comm(args.comm)
    _say(f"ready {os.getpid()}")
    if sys.stdin.readline().strip() != "go":
        return 0

    chunks = []
    total = 0
    limit = args.max_bytes or args.cap_bytes
    while total < limit:
        step = min(args.step_bytes, limit - total)
        chunks.append(b"\xa5" * step)
        total += step
        _say(f"allocated {total}")
        if args.interval > 0:
            time.sleep(args.interval)
    if not args.max_bytes:
        _say(f"cap {total}")
        return EXIT_CAP_REACHED
    _say(f"holding {total}")
    sys.stdin.readline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
