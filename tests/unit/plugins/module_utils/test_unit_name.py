# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils._unit_name import (
    UnitNameError,
    is_template,
    split_unit_name,
    validate_unit_name,
)


@pytest.mark.parametrize(
    "name, parts",
    [
        ("nginx.service", ("nginx", None, "service")),
        ("getty@.service", ("getty", "", "service")),
        ("getty@tty1.service", ("getty", "tty1", "service")),
        ("user@1000.service", ("user", "1000", "service")),
        ("app@a@b.service", ("app", "a@b", "service")),
        ("system-getty.slice", ("system-getty", None, "slice")),
        ("-.slice", ("-", None, "slice")),
        ("dev-disk-by\\x2duuid-1.swap", ("dev-disk-by\\x2duuid-1", None, "swap")),
        ("session-3.scope", ("session-3", None, "scope")),
        ("my.app.v2.service", ("my.app.v2", None, "service")),
        ("a:b_c.socket", ("a:b_c", None, "socket")),
    ],
)
def test_valid_names(name, parts):
    assert split_unit_name(name) == parts
    assert validate_unit_name(name) == parts[2]


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "empty"),
        ("nginx", "did you mean 'nginx.service'"),
        ("nginx.services", "no valid type suffix"),
        ("nginx.conf", "no valid type suffix"),
        ("../etc/passwd.service", "contains '/'"),
        ("/etc/systemd/system/x.service", "contains '/'"),
        ("foo bar.service", "characters systemd does not allow"),
        ("foo;rm -rf.service", "characters systemd does not allow"),
        ("$(reboot).service", "characters systemd does not allow"),
        ("foo`id`.service", "characters systemd does not allow"),
        ("föö.service", "characters systemd does not allow"),
        ("a@b c.service", "characters systemd does not allow"),
        ("@foo.service", "empty prefix"),
        (".service", "empty prefix"),
        ("a" * 250 + ".service", "at most 255"),
        ("foo\n.service", "characters systemd does not allow"),
    ],
)
def test_invalid_names(name, message):
    with pytest.raises(UnitNameError, match=message.replace("(", r"\(")):
        split_unit_name(name)


def test_max_length_is_accepted():
    name = "a" * (255 - len(".service")) + ".service"
    assert validate_unit_name(name) == "service"


def test_is_template():
    assert is_template("worker@.service")
    assert not is_template("worker@1.service")
    assert not is_template("worker.service")
