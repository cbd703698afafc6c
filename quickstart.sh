#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Install oomguard.memory from this checkout like any collection and report on this machine.
#
#   ./quickstart.sh [ansible-playbook options, e.g. -e since=7d]
#
# 1. Debian's python3 and python3-venv, if missing (apt-get, as root).
# 2. A venv with ansible-core only (the newest release meta/runtime.yml claims that this Python runs).
# 3. ansible-galaxy collection build of this checkout, then ansible-galaxy collection install of that tarball
#    into a collections path of its own (a copy: no link to the checkout).
# 4. The main job, the OOM report (playbooks/report.yml), from the installed collection against this machine.
# Everything lives under .cache/quickstart/ (OOMGUARD_QUICKSTART_DIR) and reports/ (OOMGUARD_REPORT_DIR) of this
# checkout; nothing else on the machine changes. Safe to run again.
set -euo pipefail

checkout=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=${OOMGUARD_QUICKSTART_DIR:-$checkout/.cache/quickstart}
report_dir=${OOMGUARD_REPORT_DIR:-$checkout/reports}
main_job=oomguard.memory.report

echo "quickstart: 1/4 python3 and venv"
if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    apt_get=(apt-get)
    [[ $(id -u) -eq 0 ]] || apt_get=(sudo apt-get)
    "${apt_get[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq --no-install-recommends python3 python3-venv >/dev/null
fi

echo "quickstart: 2/4 ansible-core in $work/venv"
requires_ansible=$(sed -n 's/^requires_ansible: *"\(.*\)" *$/\1/p' "$checkout/meta/runtime.yml")
[[ -x $work/venv/bin/ansible-playbook ]] || python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check "ansible-core$requires_ansible"

echo "quickstart: 3/4 build and install the collection into $work/collections"
rm -rf "$work/build"
"$work/venv/bin/ansible-galaxy" collection build --output-path "$work/build" "$checkout" >/dev/null
"$work/venv/bin/ansible-galaxy" collection install --offline --force -p "$work/collections" \
    "$work"/build/oomguard-memory-*.tar.gz >/dev/null
export ANSIBLE_COLLECTIONS_PATH=$work/collections

echo "quickstart: 4/4 $main_job on this machine"
mkdir -p "$report_dir"
# The checkout's ansible.cfg points at the tests' link to the checkout: run elsewhere, with the installed copy.
cd "$work"
env -u ANSIBLE_CONFIG ANSIBLE_NOCOLOR=1 "$work/venv/bin/ansible-playbook" \
    -i "$checkout/playbooks/inventory/localhost.yml" "$main_job" -e "oom_report_dir=$report_dir" "$@"
echo
echo "quickstart: the OOM report of $(hostname) is $report_dir/report.html (also report.md and report.json)"
echo "quickstart: run again with: ANSIBLE_COLLECTIONS_PATH=$work/collections" \
    "$work/venv/bin/ansible-playbook -i $checkout/playbooks/inventory/localhost.yml $main_job" \
    "-e oom_report_dir=$report_dir"
