# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The journal's files as this user sees them: absent, the system journal refused (checked by the kernel, in a
child process that really is nobody), volatile or persistent."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils._journal_files import check_journal_files, is_volatile
from ansible_collections.oomguard.memory.plugins.module_utils._log_file import SourceUnavailable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from as_user import NOBODY, run_as

MACHINE = "3d1219c7c4c5404aaa1f6d2a48adfda4"
GROUP = 4242  # a group of the journal files, like systemd-journal


@pytest.fixture
def shared_tmp():
    """A temporary directory that other users may enter (pytest's own is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="oomguard-journal-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(str(path))


def journal(directory, *names, mode=0o640, gid=0):
    """Journal files NAMES in DIRECTORY/MACHINE, owned by root and C(gid), with C(mode); returns the directory."""
    machine = Path(directory) / MACHINE
    machine.mkdir(parents=True, exist_ok=True)
    os.chmod(str(directory), 0o755)
    os.chmod(str(machine), 0o755)
    for name in names:
        path = machine / name
        path.write_bytes(b"LPKSHHRH")
        os.chmod(str(path), mode)
        if os.geteuid() == 0:
            os.chown(str(path), 0, gid)
    return str(directory)


def test_no_file_is_an_absent_journal(tmp_path):
    (tmp_path / "run" / MACHINE).mkdir(parents=True)
    with pytest.raises(SourceUnavailable) as caught:
        check_journal_files([str(tmp_path / "run"), str(tmp_path / "var")])
    assert (caught.value.status, caught.value.reason) == (
        "absent",
        "the journal has no files in %s or %s" % (tmp_path / "run", tmp_path / "var"),
    )


def test_a_system_journal_the_user_may_not_read_is_unreadable(shared_tmp):
    """nobody may read only its own user journal: journalctl --quiet would say nothing and find no kill."""
    directory = journal(shared_tmp / "var", "system.journal", "system@0005f3-0000000000000001.journal~", gid=GROUP)
    journal(shared_tmp / "var", "user-65534.journal", mode=0o644)
    outcome = run_as(NOBODY, [], check_journal_files, [directory])
    assert outcome == (
        "raised",
        "SourceUnavailable",
        "unreadable",
        "uid 65534 may not read the system journal (2 file(s), such as %s/%s/system@0005f3-0000000000000001.journal~), "
        "which holds the kernel's, systemd-oomd's and earlyoom's records; run the task as root (become: true), or as "
        "a member of the systemd-journal or adm group" % (directory, MACHINE),
    )
    # a member of the files' group, and root, may read it
    assert run_as(NOBODY, [GROUP], check_journal_files, [directory]) == ("returned", None)
    assert check_journal_files([directory]) is None


def test_one_readable_system_file_is_enough(shared_tmp):
    directory = journal(shared_tmp / "var", "system@0005f3-0000000000000001.journal~", gid=GROUP)
    journal(shared_tmp / "var", "system.journal", mode=0o644)
    assert run_as(NOBODY, [], check_journal_files, [directory]) == ("returned", None)


@pytest.mark.parametrize(
    ("runtime", "persistent", "volatile"),
    [(True, False, True), (True, True, False), (False, True, False), (False, False, False)],
    ids=["runtime-only", "both", "persistent-only", "none"],
)
def test_volatile_is_a_system_journal_in_the_runtime_directory_only(tmp_path, runtime, persistent, volatile):
    run, var = tmp_path / "run", tmp_path / "var"
    for wanted, directory in ((runtime, run), (persistent, var)):
        if wanted:
            journal(directory, "system.journal")
    journal(var, "user-1000.journal")  # user journals do not make the journal persistent
    assert is_volatile(str(run), str(var)) is volatile
