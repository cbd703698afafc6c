#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Render the docs site of every module, role and filter of this checkout, offline, into OUT_DIR/html:
#   docs/build.sh [OUT_DIR]          (default .cache/docs; needs tests/setup-env.sh --release)
# 1. antsibull-docs lint-collection-docs: schema, semantic markup and references of every plugin and role doc
#    and of docs/docsite/links.yml;
# 2. antsibull-docs collection: the RST pages (fails on any doc it cannot parse);
# 3. sphinx-build -W: the HTML site, warnings are errors.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:-$repo_root/.cache/docs}")
venv=$repo_root/.cache/venvs/release
[[ -x $venv/bin/antsibull-docs ]] || { echo "docs/build.sh: run tests/setup-env.sh --release first" >&2; exit 1; }
export PATH=$venv/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=$repo_root/.cache/collections
collection=$ANSIBLE_COLLECTIONS_PATH/ansible_collections/oomguard/memory
[[ -e $collection/galaxy.yml ]] || { echo "docs/build.sh: $collection missing (tests/setup-env.sh links it)" >&2; exit 1; }

antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs self "$collection"

rm -rf "$out"
mkdir -p "$out/rst"
chmod og-w "$out/rst" # antsibull-docs wants the directory writable by itself only
antsibull-docs --config-file "$repo_root/docs/antsibull-docs.cfg" collection --use-current --fail-on-error \
    --cleanup everything --dest-dir "$out/rst" oomguard.memory
cp "$repo_root/docs/index.rst" "$out/rst/index.rst"
sphinx-build -W --keep-going -q -b html -c "$repo_root/docs" "$out/rst" "$out/html"
echo "docs/build.sh: $out/html/index.html"
