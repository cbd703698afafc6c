#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Prepare this checkout for the collection's tests on a Debian machine, as root:
#   (always)   Debian packages; .venv with the newest supported ansible-core and the pinned test tools
#              (requirements-test.txt); the collection made visible to ansible as oomguard.memory under
#              .cache/collections
#   --lab      also the lab's Debian packages (qemu, mmdebstrap, lxc, lxcfs, ...)
#   --browser  also chromium, which the tests of report.html and the report benchmark open it in (the report
#              itself needs no browser)
#   --matrix   also the oldest supported ansible-core in .cache/venvs/ansible-core-oldest, the release line between
#              the oldest and the newest in .cache/venvs/ansible-core-middle, and every managed-node Python that
#              ansible-test sanity checks the modules with, linked in .cache/pythons/bin
#   --release  also the release tools: .cache/venvs/release (antsibull-docs, Sphinx, ansible-builder) and
#              .cache/venvs/galaxy-importer
# Each venv is rebuilt only when its requirements file or its Python changes. Idempotent.
#
# Every requirements file names the Python its venv runs on in a "# python: X.Y" line. Interpreters come from
# pyenv (PYENV_ROOT, default ~/.pyenv) or from pythonX.Y on PATH.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

want_lab=false
want_browser=false
want_matrix=false
want_release=false
for arg in "$@"; do
    case "$arg" in
        --lab) want_lab=true ;;
        --browser) want_browser=true ;;
        --matrix) want_matrix=true ;;
        --release) want_release=true ;;
        *) echo "usage: $0 [--lab] [--browser] [--matrix] [--release]" >&2; exit 2 ;;
    esac
done

# One package a line: other areas add theirs here.
base_packages=(
    python3
    python3-venv
    python3-pip
    git
    gzip
    grep
    procps
    shellcheck
)
lab_packages=(
    qemu-system-x86
    qemu-utils
    mmdebstrap
    lxc
    lxcfs
    openssh-client
    e2fsprogs
    iproute2
    uidmap
)
# The managed-node Pythons ansible-test sanity checks the modules with: every version the claimed ansible-core
# releases support as a target. A version this machine does not have is reported by the sanity stage.
target_pythons=(3.8 3.9 3.10 3.11 3.12 3.13 3.14)

packages=("${base_packages[@]}")
if $want_lab; then
    packages+=("${lab_packages[@]}")
fi
if $want_browser; then
    packages+=(chromium)
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

# find_python X.Y: print the path of a working Python X.Y (pyenv's newest X.Y.*, else pythonX.Y on PATH).
find_python() {
    local version=$1 candidate
    local -a candidates=()
    local pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
    if [[ -d $pyenv_root/versions ]]; then
        while IFS= read -r candidate; do
            candidates+=("$candidate/bin/python$version")
        done < <(find "$pyenv_root/versions" -mindepth 1 -maxdepth 1 -name "$version.*" | sort -V -r)
    fi
    candidate=$(command -v "python$version" || true)
    [[ -n $candidate ]] && candidates+=("$candidate")
    # A pyenv shim exists for every installed version but only runs the ones selected with "pyenv global".
    for candidate in "${candidates[@]}"; do
        if [[ -x $candidate ]] && "$candidate" -c 'import sys' >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# pip_install VENV ARGS...: quiet; this machine's pip configuration adds local find-links that pip warns about
# for every package it does not hold.
pip_install() {
    local venv=$1
    shift
    "$venv/bin/python" -m pip install -q "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2)
}

requirements_python() {
    sed -n 's/^# python: *\([0-9][0-9.]*\) *$/\1/p' "$1" | head -n 1
}

# make_venv DIR REQUIREMENTS: a venv on the Python the requirements file names, with exactly those pins.
make_venv() {
    local venv=$1 requirements=$2
    local version python stamp wanted
    version=$(requirements_python "$requirements")
    [[ -n $version ]] || { echo "setup-env: $requirements has no '# python: X.Y' line" >&2; return 1; }
    if [[ -n ${PYTHON:-} && $venv == .venv ]]; then
        python=$PYTHON
    else
        python=$(find_python "$version") || {
            echo "setup-env: $venv needs Python $version (for $requirements), which this machine lacks;" \
                "install it with pyenv ('pyenv install $version') or from a Debian package" >&2
            return 1
        }
    fi
    stamp=$venv/.requirements.sha256
    wanted=$({ "$python" -c 'import sys; print(sys.version)'; cat "$requirements"; } | sha256sum | cut -d' ' -f1)
    if [[ -x $venv/bin/python && -f $stamp && $(cat "$stamp") == "$wanted" ]]; then
        return 0
    fi
    echo "setup-env: creating $venv (Python $version, $requirements)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    pip_install "$venv" --upgrade pip
    pip_install "$venv" -r "$requirements"
    echo "$wanted" >"$stamp"
}

# The venvs are independent: build them at once (mostly downloads), then wait for all of them.
venv_jobs=()
start_venv() {
    make_venv "$@" &
    venv_jobs+=($!)
}
start_venv .venv requirements-test.txt
if $want_matrix; then
    start_venv .cache/venvs/ansible-core-oldest tests/requirements/ansible-core-oldest.txt
    start_venv .cache/venvs/ansible-core-middle tests/requirements/ansible-core-middle.txt
fi
if $want_release; then
    start_venv .cache/venvs/release tests/requirements/release.txt
    start_venv .cache/venvs/galaxy-importer tests/requirements/galaxy-importer.txt
fi
venvs_ok=true
for job in "${venv_jobs[@]}"; do
    wait "$job" || venvs_ok=false
done
$venvs_ok || { echo "setup-env: a venv failed (above)" >&2; exit 1; }

if $want_matrix; then
    # ansible-test finds the target Pythons as pythonX.Y on PATH.
    mkdir -p .cache/pythons/bin
    for version in "${target_pythons[@]}"; do
        link=.cache/pythons/bin/python$version
        if python=$(find_python "$version"); then
            ln -sfn "$python" "$link"
        else
            rm -f "$link"
        fi
    done
fi

collection_link=.cache/collections/ansible_collections/oomguard/memory
mkdir -p "$(dirname "$collection_link")"
if [[ ! -L $collection_link ]]; then
    rm -rf "$collection_link"
    ln -s ../../../.. "$collection_link"
fi
echo "setup-env: ready (activate with: . .venv/bin/activate)"
