# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


"""Memory hogs: ``start_hog()`` runs ``hog_process.py`` under a chosen comm and argv[0] and returns a ``Hog``.

The hog stops before allocating, so the test can set its ``oom_score_adj`` and move it into a cgroup; it then
allocates and touches memory in steps until it is killed (or holds at ``max_bytes``). ``Hog`` watches the process
with psutil and tells how it died (``wait_for_death()``, ``exit_signal``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional, Sequence

import psutil

from .cgroups import CAP_SYS_RESOURCE, GiB, LabUnavailable, MemoryCgroup, MiB, has_capability

HOG_SCRIPT = Path(__file__).resolve().with_name("hog_process.py")
COMM_MAX = 15  # TASK_COMM_LEN - 1


class Hog:
    """A running ``hog_process.py``. Created by ``start_hog()``.

    ``pid``, ``comm``, ``popen`` (the subprocess.Popen) and ``process`` (its psutil.Process) are public. The
    hog's progress lines are in ``lines``; ``allocated_bytes`` is the last size it reported.
    """

    def __init__(self, popen: subprocess.Popen, comm: str):
        self.popen = popen
        self.pid = popen.pid
        self.comm = comm
        self.process = psutil.Process(popen.pid)
        self.lines: List[str] = []
        self.allocated_bytes = 0
        self.holding = False
        self._ready = threading.Event()
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read_stdout, name=f"hog-{self.pid}", daemon=True)
        self._reader.start()

    def __repr__(self):
        return f"Hog(pid={self.pid}, comm={self.comm!r}, returncode={self.popen.returncode!r})"

    def _read_stdout(self):
        for raw in self.popen.stdout:
            line = raw.decode("utf-8", "replace").strip()
            with self._changed:
                self.lines.append(line)
                word, _sep, value = line.partition(" ")
                if word == "ready":
                    self._ready.set()
                elif word in ("allocated", "holding", "cap"):
                    self.allocated_bytes = int(value)
                    self.holding = word == "holding"
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_ready(self, timeout: float = 10.0) -> None:
        if not self._ready.wait(timeout):
            raise TimeoutError(f"hog {self.pid} did not get ready within {timeout}s (lines: {self.lines})")

    def _send(self, text: str) -> None:
        try:
            self.popen.stdin.write(text.encode() + b"\n")
            self.popen.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def go(self) -> None:
        """Let the hog start allocating."""
        self._send("go")

    def release(self) -> None:
        """Make a waiting or holding hog exit 0 (closes its stdin)."""
        with contextlib.suppress(BrokenPipeError, OSError):
            self.popen.stdin.close()

    def set_oom_score_adj(self, value: int) -> None:
        """Write /proc/<pid>/oom_score_adj (-1000..1000).

        Lowering it below the minimum the process inherited needs CAP_SYS_RESOURCE: that raises
        ``LabUnavailable`` (see ``oom_score_adj_lowering_reason()``).
        """
        try:
            with open(f"/proc/{self.pid}/oom_score_adj", "w") as handle:
                handle.write(str(value))
        except PermissionError:
            raise LabUnavailable(
                f"cannot lower oom_score_adj of pid {self.pid} to {value}: needs CAP_SYS_RESOURCE, which this "
                f"process {'has' if has_capability(CAP_SYS_RESOURCE) else 'lacks'}, or an inherited "
                "oom_score_adj_min at or below the value"
            ) from None

    def oom_score_adj(self) -> int:
        with open(f"/proc/{self.pid}/oom_score_adj") as handle:
            return int(handle.read())

    def oom_score(self) -> int:
        with open(f"/proc/{self.pid}/oom_score") as handle:
            return int(handle.read())

    def rss_bytes(self) -> int:
        return self.process.memory_info().rss

    def _wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                if self.popen.poll() is not None:
                    raise RuntimeError(f"hog {self.pid} exited ({self.popen.returncode}) before {what}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"hog {self.pid}: no {what} within {timeout}s")
                self._changed.wait(min(remaining, 0.1))

    def wait_allocated(self, nbytes: int, timeout: float = 30.0) -> None:
        """Wait until the hog reported at least ``nbytes`` allocated."""
        self._wait_for(lambda: self.allocated_bytes >= nbytes, timeout, f"{nbytes} bytes allocated")

    def wait_holding(self, timeout: float = 30.0) -> None:
        """Wait until the hog reached ``max_bytes`` and holds it."""
        self._wait_for(lambda: self.holding, timeout, "holding state")

    def is_alive(self) -> bool:
        """True while the process runs (a zombie counts as dead)."""
        if self.popen.poll() is not None:
            return False
        try:
            return self.process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def wait_for_death(self, timeout: float = 60.0) -> int:
        """Wait for the hog to exit and return its returncode (``-signal.SIGKILL`` after an OOM kill).

        Raises TimeoutError (and leaves the hog alone) if it still lives after ``timeout`` seconds.
        """
        try:
            returncode = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"hog {self.pid} ({self.comm}) still alive after {timeout}s; allocated {self.allocated_bytes} bytes"
            ) from None
        self._reader.join(5)
        return returncode

    @property
    def returncode(self) -> Optional[int]:
        return self.popen.poll()

    @property
    def exit_signal(self) -> Optional[int]:
        """The signal that ended the hog (``signal.SIGKILL`` after an OOM kill), None if it exited or still runs."""
        code = self.popen.poll()
        return -code if code is not None and code < 0 else None

    @property
    def was_sigkilled(self) -> bool:
        return self.exit_signal == signal.SIGKILL

    def kill(self) -> None:
        """SIGKILL the hog if it still runs, and reap it."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        for stream in (self.popen.stdin, self.popen.stdout):
            with contextlib.suppress(OSError, ValueError):
                stream.close()


def start_hog(
    comm: str = "oomguard-hog",
    *,
    cgroup: Optional[MemoryCgroup] = None,
    oom_score_adj: Optional[int] = None,
    go: bool = True,
    step_bytes: int = 1 * MiB,
    interval: float = 0.005,
    max_bytes: Optional[int] = None,
    cap_bytes: int = 2 * GiB,
    argv0: Optional[str] = None,
    extra_args: Sequence[str] = (),
    python: Optional[str] = None,
    ready_timeout: float = 10.0,
) -> Hog:
    """Start a memory hog and return its ``Hog``. Prefer ``KernelLab.start_hog()``, which also cleans it up.

    ``comm``: the process name the kernel shows (``/proc/<pid>/comm``, the OOM report), at most 15 characters.
    ``argv0``: what ``ps``/``/proc/<pid>/cmdline`` show first (default: ``comm``); ``extra_args`` are appended
    after ``--tag`` so a test can recognise its hogs by command line. ``python`` defaults to this interpreter.

    Order of events: start -> ready (comm set) -> ``oom_score_adj`` written -> moved into ``cgroup`` -> ``go``
    (unless ``go=False``: then call ``hog.go()`` yourself). The hog allocates ``step_bytes`` every ``interval``
    seconds, touching each page, until it is killed, or until ``max_bytes`` (then it holds). Without
    ``max_bytes`` and without a cgroup, ``cap_bytes`` stops it with exit status 3.
    """
    if len(comm.encode()) > COMM_MAX:
        raise ValueError(f"comm {comm!r} is longer than {COMM_MAX} bytes; the kernel would cut it")
    argv = [
        argv0 or comm,
        str(HOG_SCRIPT),
        "--comm",
        comm,
        "--parent-pid",
        str(os.getpid()),
        "--step-bytes",
        str(step_bytes),
        "--interval",
        str(interval),
        "--max-bytes",
        str(max_bytes or 0),
        "--cap-bytes",
        str(cap_bytes),
    ]
    if extra_args:
        argv += ["--tag", " ".join(extra_args)]
    popen = subprocess.Popen(
        argv,
        executable=python or sys.executable,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
    )
    hog = Hog(popen, comm)
    try:
        hog.wait_ready(ready_timeout)
        if oom_score_adj is not None:
            hog.set_oom_score_adj(oom_score_adj)
        if cgroup is not None:
            cgroup.add(hog.pid)
        if go:
            hog.go()
    except BaseException:
        hog.kill()
        raise
    return hog
