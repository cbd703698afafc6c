# SPDX-License-Identifier: GPL-3.0-or-later
"""Fails on purpose: the suite checks that a failing verify still tears the lab hosts down."""

from __future__ import annotations

testinfra_hosts = ["ansible://containers"]


def test_fails_on_purpose(host):
    assert host.run("true").rc == 1, "deliberate failure: the lab must be torn down after it"
