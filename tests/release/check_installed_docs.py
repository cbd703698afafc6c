# SPDX-License-Identifier: GPL-3.0-or-later
"""Check that an installed copy of the collection documents every module, filter and role of this checkout.

    python tests/release/check_installed_docs.py --collections-path DIR [--ansible-doc BIN] [--html-dir DIR]

The expected content comes from the checkout's files, so new modules, filters and roles are checked without edits:
every plugins/modules/*.py, every roles/*/ and every filter documented in plugins/filter (a NAME.yml doc file or a
NAME.py with DOCUMENTATION). `ansible-doc -l` of the installed copy must list each of them, list nothing
undocumented (a filter a FilterModule exports without docs), and `ansible-doc --json` must render each one.
With --html-dir, the docs site (docs/build.sh) must have a page for each one too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

COLLECTION = "oomguard.memory"
REPO_ROOT = Path(__file__).resolve().parents[2]
UNDOCUMENTED = "UNDOCUMENTED"


def public_stems(directory: Path, suffixes: tuple[str, ...]) -> set[str]:
    if not directory.is_dir():
        return set()
    return {path.stem for path in directory.iterdir() if path.suffix in suffixes and not path.stem.startswith("_")}


def expected_content(repo: Path) -> dict[str, set[str]]:
    filter_dir = repo / "plugins" / "filter"
    documented_filters = public_stems(filter_dir, (".yml", ".yaml"))
    for stem in public_stems(filter_dir, (".py",)):
        if "DOCUMENTATION" in (filter_dir / f"{stem}.py").read_text(encoding="utf-8"):
            documented_filters.add(stem)
    roles_dir = repo / "roles"
    roles = {path.name for path in roles_dir.iterdir() if path.is_dir()} if roles_dir.is_dir() else set()
    return {
        "module": public_stems(repo / "plugins" / "modules", (".py",)),
        "filter": documented_filters,
        "role": roles,
    }


def is_documented(plugin_type: str, summary) -> bool:
    """Whether an entry of ansible-doc -l documents its plugin or role."""
    if plugin_type == "role":
        # A role's summary is {entry_points: {name: short_description}, description: ...}; ansible-core reads
        # "description" from meta/main.yml only when that file also holds the argument specs, and says
        # UNDOCUMENTED otherwise: the entry points' short descriptions are what tells.
        entry_points = summary.get("entry_points") or {}
        return bool(entry_points) and all(entry_points.values())
    return UNDOCUMENTED not in str(summary)


def run_ansible_doc(ansible_doc: str, env: dict[str, str], *arguments: str) -> dict:
    completed = subprocess.run(
        [ansible_doc, "--json", *arguments], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"ansible-doc {' '.join(arguments)} failed: {completed.stderr.strip()}")
    return json.loads(completed.stdout or "{}")


def check(collections_path: str, ansible_doc: str, html_dir: Path | None) -> list[str]:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CONFIG", None)
    problems = []
    for plugin_type, names in expected_content(REPO_ROOT).items():
        listed = run_ansible_doc(ansible_doc, env, "-t", plugin_type, "-l", COLLECTION)
        listed_names = {fqcn.rsplit(".", 1)[-1] for fqcn in listed}
        problems += [f"{plugin_type} {name}: not listed by ansible-doc -l" for name in sorted(names - listed_names)]
        for fqcn, summary in sorted(listed.items()):
            if not is_documented(plugin_type, summary):
                problems.append(f"{plugin_type} {fqcn}: listed by ansible-doc -l as undocumented")
        for name in sorted(names & listed_names):
            fqcn = f"{COLLECTION}.{name}"
            try:
                doc = run_ansible_doc(ansible_doc, env, "-t", plugin_type, fqcn)
            except RuntimeError as error:
                problems.append(f"{plugin_type} {fqcn}: {error}")
                continue
            if not doc.get(fqcn):
                problems.append(f"{plugin_type} {fqcn}: ansible-doc --json rendered no documentation")
            if html_dir is not None:
                page = html_dir / "collections" / "oomguard" / "memory" / f"{name}_{plugin_type}.html"
                if not page.is_file():
                    problems.append(f"{plugin_type} {fqcn}: no page {page} in the docs site")
        print(f"{plugin_type}s documented: {', '.join(sorted(names & listed_names)) or '(none in this checkout)'}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--collections-path", required=True, help="where the tarball was installed")
    parser.add_argument("--ansible-doc", default="ansible-doc", help="the ansible-doc of the ansible-core to check")
    parser.add_argument("--html-dir", type=Path, help="the docs site built by docs/build.sh")
    arguments = parser.parse_args()
    problems = check(arguments.collections_path, arguments.ansible_doc, arguments.html_dir)
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
