# SPDX-License-Identifier: GPL-3.0-or-later
"""Memory hog of the fleet scenario: allocates and touches 4 MiB blocks until the kernel OOM-kills it.

Run in a transient unit, either with its own MemoryMax= (a kill at the unit's limit) or without one (a kill at
the container's memory limit, which the container sees as its RAM). Gives up after 8 GiB, so that a host
without any limit is never eaten.
"""

import time

blocks = []
for _ in range(2048):
    blocks.append(b"\xa5" * (4 << 20))
    time.sleep(0.001)
raise SystemExit("fleet-hog: 8 GiB allocated and no OOM kill")
