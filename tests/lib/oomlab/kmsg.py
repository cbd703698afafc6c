# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


"""The kernel log as a test sees it: ``KmsgCursor`` reads ``/dev/kmsg`` from "now" on, so a test gets exactly the
kernel records printed after it opened the cursor (``killed_processes()`` extracts the ``Killed process`` lines).
"""

from __future__ import annotations

import os
import re
import time
from typing import Dict, List, Optional


class KmsgRecord:
    """One /dev/kmsg record: ``level`` (0-7), ``facility``, ``seq``, ``usec`` (since boot) and ``message``."""

    def __init__(self, prio: int, seq: int, usec: int, message: str):
        self.level = prio & 7
        self.facility = prio >> 3
        self.seq = seq
        self.usec = usec
        self.message = message

    def __repr__(self):
        return f"KmsgRecord(seq={self.seq}, level={self.level}, {self.message!r})"


KILLED_PROCESS = re.compile(r"(?:(?P<context>[^:]*): )?Killed process (?P<pid>\d+) \((?P<comm>.*?)\)(?P<rest>.*)$")


class KmsgCursor:
    """Reads the kernel log records printed after the cursor was opened (needs CAP_SYSLOG, i.e. root).

    Use as a context manager, or call ``close()``. ``read()`` returns the records since the last ``read()``;
    ``wait_for(predicate, timeout)`` polls until a record matches.
    """

    def __init__(self, path: str = "/dev/kmsg"):
        self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self._fd, 0, os.SEEK_END)
        self.records: List[KmsgRecord] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def read(self) -> List[KmsgRecord]:
        new = []
        while True:
            try:
                raw = os.read(self._fd, 16384)
            except BlockingIOError:
                break
            except BrokenPipeError:  # records were overwritten before we read them; go on with the next one
                continue
            header, _sep, body = raw.decode("utf-8", "replace").partition(";")
            fields = header.split(",")
            message = body.split("\n", 1)[0]
            new.append(KmsgRecord(int(fields[0]), int(fields[1]), int(fields[2]), message))
        self.records.extend(new)
        return new

    def wait_for(self, predicate, timeout: float = 10.0) -> Optional[KmsgRecord]:
        """Poll until a record (seen before or new) satisfies ``predicate``; return it, or None on timeout."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            self.read()
            for record in self.records[seen:]:
                if predicate(record):
                    return record
            seen = len(self.records)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def killed_processes(self) -> List[Dict[str, object]]:
        """The ``Killed process`` records seen so far: dicts with pid, comm, context, message."""
        self.read()
        kills = []
        for record in self.records:
            match = KILLED_PROCESS.search(record.message)
            if match:
                kills.append(
                    {
                        "pid": int(match.group("pid")),
                        "comm": match.group("comm"),
                        "context": match.group("context"),
                        "message": record.message,
                    }
                )
        return kills
