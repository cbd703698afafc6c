#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Molecule prepare of the default scenario, in one SSH round trip (each Ansible task costs seconds in a
# TCG guest): installs and starts the two test services that run oomtest-app.py, and records their
# `systemctl show` before any module of the collection touched them (tests/test_systemd_memory.py
# compares with it). Usage: oomtest-setup.sh STATE_DIR UNIT...
set -eu
state_dir=$1
shift
mkdir -p "$state_dir"
for unit in "$@"; do
    cat >"/etc/systemd/system/$unit" <<UNIT
[Unit]
Description=oomguard.memory lab: $unit

[Service]
ExecStart=/usr/bin/python3 /usr/local/lib/oomtest/oomtest-app.py /run/${unit%.service}.grow
Restart=no
UNIT
    chmod 0644 "/etc/systemd/system/$unit"
done
systemctl daemon-reload
systemctl start "$@"
for unit in "$@"; do
    systemctl show "$unit" >"$state_dir/$unit.before"
done
