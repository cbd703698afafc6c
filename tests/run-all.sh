#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Set up this checkout and run the whole test suite, stage by stage, as root on a Debian machine.
#
#   tests/run-all.sh                 every stage
#   tests/run-all.sh unit sanity     only the named stages (setup always runs first)
#
# Stages (CONTRIBUTING.md describes each):
#   lint         ruff check, ruff format --check, ansible-lint --profile production
#   sanity       ansible-test sanity with the oldest and the newest claimed ansible-core, both at once, each on
#                every managed-node Python it supports
#   unit         tests/unit with the oldest, the middle and the newest claimed ansible-core
#   release      the tarball: build, install, ansible-doc -l, galaxy-importer, changelog, docs site, EE context
#   install      the README's first command (./quickstart.sh): the user's install path, then ansible-doc -l
#   integration  tests/integration: real OOM kills by this machine's kernel
#   bench        tests/benchmarks (--quick)
#   molecule     the lab's Molecule scenarios, then a check that no lab host is left
# Each stage's wall time is printed at the end. Exits non-zero when any stage failed.
set -uo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root" || exit 1

all_stages=(lint sanity unit release install integration bench molecule)
if (($#)); then
    stages=("$@")
else
    stages=("${all_stages[@]}")
fi
for stage in "${stages[@]}"; do
    [[ " ${all_stages[*]} " == *" $stage "* ]] || { echo "unknown stage: $stage (known: ${all_stages[*]})" >&2; exit 2; }
done
wants() { [[ " ${stages[*]} " == *" $1 "* ]]; }

# The support matrix: the oldest and the newest ansible-core of meta/runtime.yml's range, each in a venv on a
# Python it supports (the "# python:" line of its requirements file).
oldest_venv=.cache/venvs/ansible-core-oldest
newest_venv=.venv
# The release line between them: unit tests and the installed collection's ansible-doc pages only.
middle_venv=.cache/venvs/ansible-core-middle
# Target Pythons that ansible-core supports but this kind of machine lacks: their skip is reported, not failed.
sanity_pythons_not_here=(3.14)

logs=.cache/logs
# The PATH a user has, before .venv is activated: the install stage runs the README's first command with it.
user_path=$PATH
declare -a summary=()
molecule_times=$logs/molecule-times.txt
passed=0
failed=0

# CPU seconds used so far by the finished child processes of this script (user + system): next to the wall
# time it shows how much a stage waited (downloads, VMs, other jobs on the machine).
children_cpu_seconds() {
    local -a fields
    read -r -a fields <"/proc/$$/stat"
    # cutime and cstime are fields 16 and 17, in clock ticks; the comm field "(bash)" has no space.
    echo $(((fields[15] + fields[16]) / $(getconf CLK_TCK)))
}

record() { # record NAME RC STARTED_WALL STARTED_CPU
    local verdict=passed
    if (($2 == 0)); then passed=$((passed + 1)); else verdict=FAILED; failed=$((failed + 1)); fi
    summary+=("$(printf '%-12s %s  %5ds wall  %5ds cpu' "$1" "$verdict" $((SECONDS - $3)) \
        $(($(children_cpu_seconds) - $4)))")
}

run_stage() {
    local name=$1 started=$SECONDS started_cpu
    started_cpu=$(children_cpu_seconds)
    shift
    echo
    echo "===== stage: $name ====="
    "$@"
    record "$name" $? "$started" "$started_cpu"
}

# step NAME COMMAND...: one timed part of a stage.
step() {
    local name=$1 started=$SECONDS rc
    shift
    echo "--- $name"
    "$@"
    rc=$?
    printf -- '--- %s %s in %ds\n' "$name" "$([[ $rc == 0 ]] && echo passed || echo FAILED)" $((SECONDS - started))
    return $rc
}

core_version() { "$1/bin/python" -c 'import ansible.release; print(ansible.release.__version__)'; }
python_version() { "$1/bin/python" -c 'import platform; print(platform.python_version())'; }

stage_setup() {
    local -a options=()
    if wants sanity || wants unit || wants release; then options+=(--matrix); fi
    if wants release; then options+=(--release); fi
    # the fleet scenario opens its report.html in Chromium
    if wants molecule; then options+=(--lab --browser); fi
    if wants integration || wants bench; then options+=(--browser); fi
    tests/setup-env.sh "${options[@]}"
}

stage_lint() {
    local rc=0
    ruff check . || rc=1
    ruff format --check . || rc=1
    ansible-lint --profile production || rc=1
    return $rc
}

# sanity_run NAME VENV: ansible-test sanity of a copy of the tree (ansible-test wants it at
# ansible_collections/<namespace>/<name>, in a git tree of its own), logged to $logs/sanity-NAME.log.
# ansible-test bootstraps pip in its venvs with a script it downloads from a host CI cannot reach: an offline
# stand-in goes where it caches that download, in a HOME of its own under .cache (its venvs are cached there too).
sanity_run() {
    local name=$1 venv=$2
    local home=$repo_root/.cache/ansible-test/$name
    local pip_version
    pip_version=$(grep -ohE "pip='[0-9.]+'" "$venv"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py |
        head -n 1 | tr -dc '0-9.')
    mkdir -p "$home/.ansible/test/cache"
    cp tests/utils/ansible_test_pip_bootstrap.py "$home/.ansible/test/cache/get_pip_${pip_version//./_}.py"

    local tree=$work/$name/ansible_collections/oomguard/memory
    mkdir -p "$tree"
    git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$tree" || return 1
    (
        cd "$tree" &&
            git init -q &&
            git add -A &&
            git -c user.name=sanity -c user.email=sanity@localhost commit -qm sanity &&
            HOME=$home PATH=$repo_root/.cache/pythons/bin:$repo_root/$venv/bin:$PATH \
                "$repo_root/$venv/bin/ansible-test" sanity --venv --color no
    ) >"$logs/sanity-$name.log" 2>&1
}

stage_sanity() {
    local rc=0 name venv started
    local -A venv_of=([oldest]=$oldest_venv [newest]=$newest_venv) pid_of=()
    work=$(mktemp -d)
    mkdir -p "$logs"
    started=$SECONDS
    # Both at once: each ansible-test runs its tests one after the other, mostly on one core.
    for name in oldest newest; do
        sanity_run "$name" "${venv_of[$name]}" &
        pid_of[$name]=$!
    done
    for name in oldest newest; do
        venv=${venv_of[$name]}
        local run_rc=0
        wait "${pid_of[$name]}" || run_rc=$?
        echo "--- sanity $name: ansible-core $(core_version "$venv") on Python $(python_version "$venv"):" \
            "$([[ $run_rc == 0 ]] && echo passed || echo FAILED) (both runs: $((SECONDS - started))s; log $logs/sanity-$name.log)"
        grep -E '^(Running sanity test|WARNING|ERROR|FATAL)' "$logs/sanity-$name.log"
        ((run_rc == 0)) || { tail -n 60 "$logs/sanity-$name.log"; rc=1; }
        local skipped version
        skipped=$(sed -n 's/^WARNING: Skipping sanity test .* on Python \([0-9.]*\) because it could not be found.*/\1/p' \
            "$logs/sanity-$name.log" | sort -uV)
        for version in $skipped; do
            if [[ " ${sanity_pythons_not_here[*]} " != *" $version "* ]]; then
                echo "ERROR: sanity $name skipped Python $version: tests/setup-env.sh --matrix links it in .cache/pythons/bin"
                rc=1
            fi
        done
    done
    rm -rf "$work"
    return $rc
}

stage_unit() {
    local rc=0 venv
    for venv in "$oldest_venv" "$middle_venv" "$newest_venv"; do
        echo "--- unit: ansible-core $(core_version "$venv") on Python $(python_version "$venv")"
        "$venv/bin/python" -m pytest tests/unit -q -p no:cacheprovider || rc=1
    done
    return $rc
}

release_build() {
    rm -rf build .cache/release
    ansible-galaxy collection build --output-path build . &&
        ansible-galaxy collection install --offline --force -p .cache/release/collections build/oomguard-memory-*.tar.gz
}

release_installed_docs() {
    local rc=0 venv
    for venv in "$oldest_venv" "$middle_venv" "$newest_venv"; do
        echo "ansible-core $(core_version "$venv"):"
        "$venv/bin/python" tests/release/check_installed_docs.py --collections-path .cache/release/collections \
            --ansible-doc "$venv/bin/ansible-doc" "$@" || rc=1
    done
    return $rc
}

release_galaxy_importer() {
    local importer_venv=$repo_root/.cache/venvs/galaxy-importer tarball output rc=0
    tarball=$(ls "$repo_root"/build/oomguard-memory-*.tar.gz)
    mkdir -p .cache/release/importer
    output=$(
        cd .cache/release/importer &&
            GALAXY_IMPORTER_CONFIG=$repo_root/tests/release/galaxy-importer.cfg PATH=$importer_venv/bin:$PATH \
                python -m galaxy_importer.main "$tarball" 2>&1
    ) || rc=1
    echo "$output"
    if grep -qE '^(WARNING|ERROR|CRITICAL):' <<<"$output"; then
        echo "galaxy-importer reported the warnings or errors above"
        rc=1
    fi
    return $rc
}

release_changelog() {
    PATH=$repo_root/.cache/venvs/release/bin:$PATH ANSIBLE_COLLECTIONS_PATH=$repo_root/.cache/collections \
        tests/release/check-changelog.sh
}

release_execution_environment() {
    local context=.cache/release/ee-context
    rm -rf "$context"
    .cache/venvs/release/bin/ansible-builder create -f execution-environment.yml -c "$context" &&
        ls "$context"/_build/oomguard/oomguard-memory-*.tar.gz || return 1
    # A Containerfile for podman, a Dockerfile when only docker is installed
    local file found=false
    for file in "$context"/Containerfile "$context"/Dockerfile; do
        [[ -f $file ]] && grep "collection install .*oomguard-memory-" "$file" && found=true
    done
    $found
}

stage_release() {
    local rc=0
    step build release_build || return 1
    step changelog release_changelog || rc=1
    step docs-site docs/build.sh .cache/docs || rc=1
    step ansible-doc release_installed_docs --html-dir .cache/docs/html || rc=1
    step galaxy-importer release_galaxy_importer || rc=1
    step execution-environment release_execution_environment || rc=1
    return $rc
}

# The README's first command, as a user runs it; then the installed copy documents every module and filter.
stage_install() {
    PATH=$user_path ./quickstart.sh &&
        .cache/quickstart/venv/bin/python tests/release/check_installed_docs.py \
            --collections-path .cache/quickstart/collections --ansible-doc .cache/quickstart/venv/bin/ansible-doc
}

stage_integration() {
    python -m pytest tests/integration -q -p no:cacheprovider
}

stage_bench() {
    python tests/benchmarks/bench_oom_facts.py --quick && python tests/benchmarks/bench_report.py --quick
}

# One scenario, timed and bounded (a hung wait must not eat the CI's time: 25 minutes each unless
# MOLECULE_SCENARIO_TIMEOUT says otherwise); its output goes to this stage's output, or to a log file when one is
# given. Its time goes to the summary.
molecule_scenario() {
    local glob=$1 scenario=$2 log=${3:-} started=$SECONDS rc=0
    local -a run=(timeout --kill-after=60 "${MOLECULE_SCENARIO_TIMEOUT:-1500}" env MOLECULE_GLOB="$glob"
        molecule test ${scenario:+-s "$scenario"})
    if [[ -n $log ]]; then
        "${run[@]}" >>"$log" 2>&1 || rc=$?
    else
        "${run[@]}" || rc=$?
    fi
    local line
    line="molecule ${scenario:-$glob}: rc $rc in $((SECONDS - started))s$( ((rc == 124)) && echo ' (timed out)')"
    [[ $scenario == teardown-check ]] && line+=" (its verify fails on purpose: the lab must be gone after it)"
    echo "$line" | tee -a "${log:-/dev/null}" >&2
    echo "  $line" >>"$molecule_times"
    return $rc
}

# The scenarios on VMs (QEMU TCG: a core each while busy) run one after the other; the scenarios on
# containers (cheap) run beside them, one after the other, with their output kept until the end.
stage_molecule() {
    local rc=0 logs scenario vm_scenarios=() ct_scenarios=()
    mkdir -p "$(dirname "$molecule_times")"
    : >"$molecule_times"
    for scenario in molecule/*/molecule.yml; do
        scenario=$(basename "$(dirname "$scenario")")
        if grep -qE '^\s*LAB_UP_ARGS:.*--vms' "molecule/$scenario/molecule.yml"; then
            vm_scenarios+=("$scenario")
        else
            ct_scenarios+=("$scenario")
        fi
    done
    logs=$(mktemp -d)
    (
        side_rc=0
        for scenario in "${ct_scenarios[@]}"; do
            molecule_scenario 'molecule/*/molecule.yml' "$scenario" "$logs/$scenario.log" || side_rc=1
        done
        # A scenario whose verify fails on purpose must fail, and leave no host behind.
        if molecule_scenario 'tests/lab/molecule/*/molecule.yml' teardown-check "$logs/teardown-check.log"; then
            echo "the teardown scenario passed, but its verify step is meant to fail" >>"$logs/teardown-check.log"
            side_rc=1
        fi
        exit $side_rc
    ) &
    local side=$!
    for scenario in "${vm_scenarios[@]}"; do
        molecule_scenario 'molecule/*/molecule.yml' "$scenario" || rc=1
    done
    wait "$side" || rc=1
    for scenario in "${ct_scenarios[@]}" teardown-check; do
        echo "===== molecule $scenario (ran beside the VM scenarios) ====="
        cat "$logs/$scenario.log"
    done
    rm -rf "$logs"
    if ! python -m tests.lab check-clean; then
        rc=1
        python -m tests.lab down --all
    fi
    return $rc
}

started_all=$SECONDS
echo "===== stage: setup ====="
stage_setup || { echo "setup failed" >&2; exit 1; }
record setup 0 "$started_all" 0
# shellcheck source=/dev/null
. "$newest_venv/bin/activate"
export ANSIBLE_CONFIG=$repo_root/ansible.cfg

for stage in "${stages[@]}"; do
    run_stage "$stage" "stage_$stage"
done

echo
echo "===== summary ($((SECONDS - started_all))s in all, load average now $(cut -d' ' -f1-3 /proc/loadavg)) ====="
printf '%s\n' "${summary[@]}"
if wants molecule && [[ -s $molecule_times ]]; then cat "$molecule_times"; fi
echo "stages: $passed passed, $failed failed"
((failed == 0))
