#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Prepare this checkout for running the collection and its tests on a Debian machine:
#   - Debian packages (with --lab: also the lab's qemu, mmdebstrap, lxc, lxcfs)
#   - a virtual environment in .venv with the pinned tools of requirements-test.txt
#   - the collection made visible to ansible as oomguard.memory under .cache/collections
# Idempotent; safe to run again. Needs root for apt-get (skipped when everything is present).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

want_lab=false
for arg in "$@"; do
    case "$arg" in
        --lab) want_lab=true ;;
        *) echo "usage: $0 [--lab]" >&2; exit 2 ;;
    esac
done

base_packages=(python3 python3-venv python3-pip git gzip grep procps shellcheck)
lab_packages=(qemu-system-x86 qemu-utils mmdebstrap lxc lxcfs openssh-client e2fsprogs iproute2 uidmap)
packages=("${base_packages[@]}")
if $want_lab; then
    packages+=("${lab_packages[@]}")
fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "setup-env: installing Debian packages: ${missing[*]}"
    apt_get=(apt-get)
    [[ $(id -u) -eq 0 ]] || apt_get=(sudo apt-get)
    "${apt_get[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
stamp=.venv/.requirements-test.sha256
wanted=$(sha256sum requirements-test.txt | cut -d' ' -f1)
if [[ ! -x .venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$wanted" ]]; then
    echo "setup-env: creating .venv with the pinned test tools"
    "$python" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -r requirements-test.txt
    echo "$wanted" >"$stamp"
fi

collection_link=.cache/collections/ansible_collections/oomguard/memory
mkdir -p "$(dirname "$collection_link")"
if [[ ! -L $collection_link ]]; then
    rm -rf "$collection_link"
    ln -s ../../../.. "$collection_link"
fi
echo "setup-env: ready (activate with: . .venv/bin/activate)"
