# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One lock per host, so that two runs of the protection modules never interleave their changes.

PRIVATE to the oomguard.memory collection. No compatibility promise.

C(flock()) on /run/oomguard.lock: the kernel drops the lock when the holder exits, however it ends, so a
killed run never leaves the host locked. The holder writes its pid into the file, so that a run that
waited in vain can name it. A process that cannot open the file (not root) runs without the lock: it
cannot write drop-ins or other users' processes anyway.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

LOCK_PATH = "/run/oomguard.lock"
DEFAULT_TIMEOUT = 30
TIMEOUT_MAX = 3600
_POLL = 0.1


def timeout_error(timeout):
    """The message for a lock_timeout option that is not a whole number of seconds from 0 to TIMEOUT_MAX."""
    if isinstance(timeout, int) and not isinstance(timeout, bool) and 0 <= timeout <= TIMEOUT_MAX:
        return None
    text = repr(timeout) if len(repr(timeout)) <= 40 else repr(timeout)[:37] + "..."
    return "lock_timeout must be a number of seconds from 0 to %d; got %s" % (TIMEOUT_MAX, text)


class LockError(Exception):
    """The lock cannot be taken; the message says why."""


class LockTimeout(LockError):
    """Another run held the lock for the whole wait; the message names it."""


class HostLock:
    def __init__(self, path=None, timeout=DEFAULT_TIMEOUT):
        self.path = path or LOCK_PATH
        self.timeout = timeout
        self.fd = None

    def _holder(self):
        try:
            with open(self.path, "rb") as handle:
                pid = handle.read(32).decode("ascii", "replace").strip()
        except OSError:
            return "another process"
        if not pid.isdigit():
            return "another process"
        try:
            with open("/proc/%s/comm" % pid, encoding="utf-8", errors="replace") as handle:
                return "pid %s (%s)" % (pid, handle.read(64).strip())
        except OSError:
            return "pid %s" % pid

    def acquire(self):
        """Take the lock, waiting up to C(timeout) seconds. Returns False when the file cannot be opened.

        Raises LockTimeout when another process held it all the time, LockError when the file is unusable.
        """
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT):
                return False
            raise LockError("cannot open the lock file %s: %s" % (self.path, exc.strerror)) from None
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise LockError("cannot lock %s: %s" % (self.path, exc.strerror)) from None
            if time.monotonic() >= deadline:
                holder = self._holder()
                os.close(fd)
                raise LockTimeout(
                    "another oomguard.memory task is changing this host: %s holds %s and did not release it "
                    "within lock_timeout=%s seconds; run these tasks one after another, or raise lock_timeout"
                    % (holder, self.path, self.timeout)
                )
            time.sleep(_POLL)
        os.ftruncate(fd, 0)
        os.write(fd, ("%d\n" % os.getpid()).encode("ascii"))
        self.fd = fd
        return True

    def release(self):
        if self.fd is not None:
            os.close(self.fd)  # closing the last descriptor drops the flock
            self.fd = None
