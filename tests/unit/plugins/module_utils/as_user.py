# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a function as another user, for real: in a forked child that drops root (the kernel checks every access).

Only root can do this; ``require_root()`` skips the test otherwise.
"""

from __future__ import annotations

import json
import os

import pytest

NOBODY = 65534


def require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root, to run a child process as another user")


def run_as(uid, groups, function, *args):
    """``function(*args)`` in a child process with uid, gid and supplementary groups set to ``uid``, ``uid`` and
    ``groups``. Returns ``("returned", value)`` (value as JSON gives it back) or ``("raised", type name, status,
    message)`` (``status``: the exception's status attribute, or None)."""
    require_root()
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's result comes back through the pipe
        try:
            os.close(reader)
            try:
                os.setgroups(list(groups))
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                outcome = ["returned", function(*args)]
            except Exception as exc:
                outcome = ["raised", type(exc).__name__, getattr(exc, "status", None), str(exc)]
            with os.fdopen(writer, "w") as handle:
                json.dump(outcome, handle, default=repr)
        finally:
            os._exit(0)  # never back into pytest
    os.close(writer)
    with os.fdopen(reader) as handle:
        text = handle.read()
    os.waitpid(child, 0)
    return tuple(json.loads(text))
