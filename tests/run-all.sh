#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Set up this checkout and run the whole test suite, stage by stage, as root on a Debian machine.
#
#   tests/run-all.sh                 every stage
#   tests/run-all.sh unit sanity     only the named stages (setup always runs first)
#
# Stages: lint sanity unit integration bench molecule
# Each stage's wall time is printed at the end. Exits non-zero when any stage failed.
set -uo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root" || exit 1

all_stages=(lint sanity unit integration bench molecule)
if (($#)); then
    stages=("$@")
else
    stages=("${all_stages[@]}")
fi
for stage in "${stages[@]}"; do
    [[ " ${all_stages[*]} " == *" $stage "* ]] || { echo "unknown stage: $stage (known: ${all_stages[*]})" >&2; exit 2; }
done

needs_lab=false
[[ " ${stages[*]} " == *" molecule "* ]] && needs_lab=true

declare -a summary=()
passed=0
failed=0

run_stage() {
    local name=$1
    shift
    local started=$SECONDS
    echo
    echo "===== stage: $name ====="
    if "$@"; then
        summary+=("$(printf '%-12s passed  %4ds' "$name" $((SECONDS - started)))")
        passed=$((passed + 1))
    else
        summary+=("$(printf '%-12s FAILED  %4ds' "$name" $((SECONDS - started)))")
        failed=$((failed + 1))
    fi
}

stage_setup() {
    if $needs_lab; then
        tests/setup-env.sh --lab
    else
        tests/setup-env.sh
    fi
}

stage_lint() {
    local rc=0
    ruff check . || rc=1
    ruff format --check . || rc=1
    ansible-lint --profile production || rc=1
    # The release artifact builds, installs, and documents every module from the installed copy.
    local work module
    work=$(mktemp -d)
    ansible-galaxy collection build --output-path "$work" . >/dev/null &&
        ANSIBLE_COLLECTIONS_PATH="$work/collections" ansible-galaxy collection install --offline --force \
            -p "$work/collections" "$work"/oomguard-memory-*.tar.gz >/dev/null || rc=1
    for module in plugins/modules/*.py; do
        module=$(basename "$module" .py)
        # ansible-doc exits 0 for a module it cannot load: require its JSON to hold the documentation.
        ANSIBLE_COLLECTIONS_PATH="$work/collections" ansible-doc --json "oomguard.memory.$module" 2>&1 |
            grep -q '"collection": "oomguard.memory"' || { echo "ansible-doc oomguard.memory.$module failed"; rc=1; }
    done
    rm -rf "$work"
    return $rc
}

# ansible-test needs the collection at ansible_collections/<namespace>/<name> in a git tree of its own,
# and bootstraps pip in its venvs with a script it downloads from a host CI cannot reach.
stage_sanity() {
    local sanity_venv=.cache/sanity-venv
    local core_pin
    core_pin=$(grep -E '^ansible-core==' requirements-test.txt)
    if [[ ! -x $sanity_venv/bin/ansible-test ]] || ! "$sanity_venv/bin/pip" freeze 2>/dev/null | grep -qx "$core_pin"; then
        python3 -m venv "$sanity_venv" && "$sanity_venv/bin/pip" install -q "$core_pin" || return 1
    fi
    local pip_version
    pip_version=$(grep -oE "pip='[0-9.]+'" "$sanity_venv"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -1 | tr -dc '0-9.')
    local bootstrap=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
    mkdir -p "$(dirname "$bootstrap")"
    cp tests/utils/ansible_test_pip_bootstrap.py "$bootstrap"

    local work
    work=$(mktemp -d)
    local tree=$work/ansible_collections/oomguard/memory
    mkdir -p "$tree"
    git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$tree" || return 1
    (
        cd "$tree" &&
            git init -q &&
            git add -A &&
            git -c user.name=sanity -c user.email=sanity@localhost commit -qm sanity &&
            "$repo_root/$sanity_venv/bin/ansible-test" sanity --venv --python 3.11 --color no
    )
    local rc=$?
    rm -rf "$work"
    return $rc
}

stage_unit() {
    python -m pytest tests/unit -q -p no:cacheprovider
}

stage_integration() {
    python -m pytest tests/integration -q -p no:cacheprovider
}

stage_bench() {
    python tests/benchmarks/bench_oom_facts.py --quick
}

# One scenario, timed; its output goes to this stage's output, or to a log file when one is given.
molecule_scenario() {
    local glob=$1 scenario=$2 log=${3:-} started=$SECONDS rc=0
    if [[ -n $log ]]; then
        MOLECULE_GLOB=$glob molecule test ${scenario:+-s "$scenario"} >>"$log" 2>&1 || rc=$?
    else
        MOLECULE_GLOB=$glob molecule test ${scenario:+-s "$scenario"} || rc=$?
    fi
    echo "molecule ${scenario:-$glob}: rc $rc in $((SECONDS - started))s" | tee -a "${log:-/dev/null}" >&2
    return $rc
}

# The scenarios on VMs (QEMU TCG: a core each while busy) run one after the other; the scenarios on
# containers (cheap) run beside them, one after the other, with their output kept until the end.
stage_molecule() {
    local rc=0 logs scenario vm_scenarios=() ct_scenarios=()
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
stage_setup || { echo "setup failed" >&2; exit 1; }
# shellcheck source=/dev/null
. .venv/bin/activate
export ANSIBLE_CONFIG=$repo_root/ansible.cfg

for stage in "${stages[@]}"; do
    run_stage "$stage" "stage_$stage"
done

echo
echo "===== summary ($((SECONDS - started_all))s in all) ====="
printf '%s\n' "${summary[@]}"
echo "stages: $passed passed, $failed failed"
((failed == 0))
