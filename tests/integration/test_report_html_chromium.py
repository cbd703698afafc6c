# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""report.html in headless Chromium: no console error, the script renders and pages the host table, and a
screenshot that is not blank (kept in tests/output/report-html/ for CI artifacts).

Needs the Debian package chromium (tests/setup-env.sh --browser installs it); skipped without it.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / ".cache" / "collections"))

import report_browser  # noqa: E402

from ansible_collections.oomguard.memory.plugins.plugin_utils import _render_html  # noqa: E402
from ansible_collections.oomguard.memory.plugins.plugin_utils._report import HostInput, build_report  # noqa: E402

pytestmark = pytest.mark.integration

FIXTURES = REPO / "tests" / "unit" / "fixtures" / "report"
OUTPUT = REPO / "tests" / "output" / "report-html"
NAMES = ("global-oom", "unit-limit", "quiet-oversized", "gke-node")


@pytest.fixture(scope="module", autouse=True)
def chromium():
    if not report_browser.chromium_path():
        pytest.skip("chromium is not installed (tests/setup-env.sh --browser installs it)")


def fleet(count):
    bases = [json.loads((FIXTURES / f"facts-{name}.json").read_text()) for name in NAMES]
    hosts = []
    for index in range(count):
        name = f"vm-{index:05d}"
        if index % 10 == 9:
            hosts.append(HostInput(name, None, failure="unreachable: ssh: connect to host: Connection timed out"))
        else:
            oom = copy.deepcopy(bases[index % len(bases)])
            hosts.append(HostInput(name, oom, inventory={"machineType": "e2-medium", "zone": "europe-west1-b"}))
    return build_report(hosts)


@pytest.mark.parametrize("count", [5, 2000])
def test_the_page_runs_without_console_errors(count, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(_render_html.render(fleet(count)))
    seen = report_browser.check_page(page)
    assert seen.errors == [], seen.errors
    assert not [line for line in seen.console_lines if "ERROR" in line or "Uncaught" in line], seen.console_lines
    assert seen.rows == min(count, _render_html.PAGE_SIZE)
    pages = -(-count // _render_html.PAGE_SIZE)
    assert seen.page == f"page 1 of {pages} ({count} hosts)"
    assert seen.page_after_next == f"page {min(2, pages)} of {pages} ({count} hosts)"
    assert seen.first_after_sort.startswith("vm-")  # sorting by kills put a host with the most kills first
    assert 0 < seen.dom_nodes < 3000, "the DOM stays small: one page of rows"


def test_the_screenshot_is_not_blank():
    page = OUTPUT / "report.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(_render_html.render(fleet(40)))
    png = OUTPUT / "report.png"
    png.unlink(missing_ok=True)
    report_browser.screenshot(page, png, width=1280, height=1600)
    colours, dominant = report_browser.blankness(png)
    assert colours > 50, f"{colours} colours: the page looks blank"
    assert dominant < 0.9, f"one colour covers {dominant:.0%} of the screenshot"


def test_blankness_tells_a_blank_page(tmp_path):
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><html><body style='background:#fff'></body></html>")
    png = tmp_path / "blank.png"
    report_browser.screenshot(page, png, width=320, height=240)
    colours, dominant = report_browser.blankness(png)
    assert colours <= 2 and dominant > 0.99
