# SPDX-License-Identifier: GPL-3.0-or-later
"""One real OOM kill on the machine that runs the containers, outside every container.

A hog named ``fleet-hostkill`` in a fresh 48 MiB memory cgroup of this machine (tests/lib/oomlab); the
kernel log every container reads through dmesg then holds a kill that belongs to the container host.
Prints ``{"pid": ..., "comm": ..., "memcg": ...}``.
"""

import json
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "lib"))

import oomlab

with oomlab.KernelLab() as lab:
    group, hog = oomlab.oom_kill_once(lab, comm="fleet-hostkill", limit_bytes=48 * oomlab.MiB)
    if hog.returncode != -signal.SIGKILL or group.oom_kill_count() != 1:
        raise SystemExit(f"no OOM kill of the host hog: returncode {hog.returncode}, {group.oom_counters()}")
    print(json.dumps({"pid": hog.pid, "comm": hog.comm, "memcg": group.kernel_path}))
