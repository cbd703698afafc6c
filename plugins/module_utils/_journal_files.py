# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The journal's files: whether there are any, whether this user may read the system journal, and whether
journald keeps it across reboots.

PRIVATE to the oomguard.memory collection. No compatibility promise.

journalctl alone cannot tell these apart: with C(--quiet), a user who may read only their own user journal gets
exit status 0 and no word that the system journal (the kernel's, systemd-oomd's and earlyoom's records) was
left out, and one who may read no file at all is told "No journal files were opened".
"""

from __future__ import annotations

import errno
import glob
import os
import re

from ansible_collections.oomguard.memory.plugins.module_utils._log_file import SourceUnavailable

RUNTIME_DIR = "/run/log/journal"
PERSISTENT_DIR = "/var/log/journal"
# system.journal, and the archived system@<...>.journal and system@<...>.journal~ files
_SYSTEM_FILE = re.compile(r"^system(?:@[^/]*)?\.journal~?$")
_DENIED = (errno.EACCES, errno.EPERM)


def journal_files(directories):
    """The journal files below the directories (one machine-id directory deep), sorted."""
    found = []
    for directory in directories:
        found.extend(glob.glob(os.path.join(glob.escape(directory), "*", "*.journal*")))
    return sorted(found)


def system_files(paths):
    return [path for path in paths if _SYSTEM_FILE.match(os.path.basename(path))]


def _denied(path):
    """True when opening C(path) for reading is refused (a file that has gone meanwhile is not)."""
    try:
        os.close(os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)))
    except OSError as exc:
        return exc.errno in _DENIED
    return False


def check_journal_files(directories):
    """Raise SourceUnavailable when the journal has no files ('absent'), or when every file of the system journal
    is refused to this user ('unreadable'): what journalctl would read then holds no OOM record worth trusting."""
    files = journal_files(directories)
    if not files:
        raise SourceUnavailable("absent", "the journal has no files in %s" % " or ".join(directories))
    system = system_files(files)
    if system and all(_denied(path) for path in system):
        raise SourceUnavailable(
            "unreadable",
            "uid %d may not read the system journal (%d file(s), such as %s), which holds the kernel's, "
            "systemd-oomd's and earlyoom's records; run the task as root (become: true), or as a member of the "
            "systemd-journal or adm group" % (os.geteuid(), len(system), system[-1]),
        )


def is_volatile(runtime_dir=RUNTIME_DIR, persistent_dir=PERSISTENT_DIR):
    """True when journald keeps the system journal in C(runtime_dir) only (Storage=volatile, or Storage=auto
    without C(persistent_dir)): it starts empty at every boot."""
    return bool(system_files(journal_files([runtime_dir]))) and not system_files(journal_files([persistent_dir]))
