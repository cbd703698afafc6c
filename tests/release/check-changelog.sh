#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The changelog is valid and complete for the version in galaxy.yml:
#   - antsibull-changelog lint: every fragment and changelogs/changelog.yaml are well-formed;
#   - CHANGELOG.md is exactly what antsibull-changelog generates from changelogs/changelog.yaml (no hand edits);
#   - once galaxy.yml's version is in changelogs/changelog.yaml, no fragment is left out of it.
# Run from the repository root with antsibull-changelog on PATH and the collection in ANSIBLE_COLLECTIONS_PATH.
set -euo pipefail

antsibull-changelog lint

version=$(sed -n 's/^version: *\([^ ]*\) *$/\1/p' galaxy.yml)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r galaxy.yml changelogs "$work"/
(cd "$work" && antsibull-changelog generate >/dev/null)
if ! diff -u CHANGELOG.md "$work/CHANGELOG.md"; then
    echo "CHANGELOG.md differs from what antsibull-changelog generates (above): run 'antsibull-changelog generate'" >&2
    exit 1
fi

pending=$(find changelogs/fragments -maxdepth 1 -type f -name '*.y*ml' -printf '%f\n' | sort)
if [[ -n $pending ]] && grep -qE "^  ['\"]?${version//./\\.}['\"]?:" changelogs/changelog.yaml; then
    echo "fragments not in the changelog of $version, which changelogs/changelog.yaml already releases:" >&2
    echo "$pending" >&2
    echo "fold them in: antsibull-changelog release --version $version --update-existing" >&2
    exit 1
fi
echo "changelog: $version ok${pending:+ (unreleased fragments: $(echo "$pending" | tr '\n' ' '))}"
