#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The protect scenario's helper on the VMs, in one SSH round trip per call (each Ansible task costs seconds in a
# TCG guest).
#   oomtest-protect.sh setup STATE_DIR GROW_BASE64
#                                          (prepare) installs this script as /usr/local/lib/oomtest/oomtest-protect.sh
#                                          and the test program (oomtest-grow.py, base64) next to it, installs and
#                                          starts the two test services that run it, then takes the snapshot
#                                          STATE_DIR/before
#   oomtest-protect.sh snapshot DIR        records in DIR what the role may change: `systemctl show` of the test
#                                          services, system.slice, -.slice and both userspace killers' services, the
#                                          collection's drop-ins, the rollback record, earlyoom's options file, and
#                                          the live oom_score_adj of the test services' main processes
# tests/test_protect.py compares the snapshots (before, after check mode, after oom_protect_state=absent).
set -eu
units="oomtest-critical.service oomtest-hog.service system.slice -.slice earlyoom.service systemd-oomd.service systemd-oomd.socket"

snapshot() {
    dir=$1
    rm -rf "$dir"
    mkdir -p "$dir"
    for unit in $units; do
        systemctl show -- "$unit" >"$dir/$unit.show"
    done
    find /etc/systemd/system /run/systemd/system -path '*.d/50-oomguard-*' | sort >"$dir/dropins"
    if [ -e /var/lib/oomguard/oom_protect.json ]; then echo present; else echo absent; fi >"$dir/record"
    sha256sum /etc/default/earlyoom >"$dir/earlyoom.default"
    for unit in oomtest-critical.service oomtest-hog.service; do
        pid=$(systemctl show -p MainPID --value "$unit")
        if [ "$pid" -gt 0 ]; then echo "$unit $(cat "/proc/$pid/oom_score_adj")"; else echo "$unit -"; fi
    done >"$dir/oom_score_adj"
}

case $1 in
setup)
    state_dir=$2
    install -D -m 0755 "$0" /usr/local/lib/oomtest/oomtest-protect.sh
    printf '%s' "$3" | base64 -d >/usr/local/lib/oomtest/oomtest-grow.py
    chmod 0755 /usr/local/lib/oomtest/oomtest-grow.py
    for pair in oomtest-critical.service:oomtest-crit oomtest-hog.service:oomtest-hog; do
        unit=${pair%%:*}
        name=${pair#*:}
        cat >"/etc/systemd/system/$unit" <<UNIT
[Unit]
Description=oomguard.memory lab: $unit

[Service]
ExecStart=/usr/bin/python3 /usr/local/lib/oomtest/oomtest-grow.py /run/$name.grow $name
Restart=no
UNIT
        chmod 0644 "/etc/systemd/system/$unit"
    done
    systemctl daemon-reload
    systemctl start oomtest-critical.service oomtest-hog.service
    snapshot "$state_dir/before"
    ;;
snapshot)
    snapshot "$2"
    ;;
*)
    echo "usage: $0 setup STATE_DIR GROW_BASE64 | snapshot DIR" >&2
    exit 2
    ;;
esac
