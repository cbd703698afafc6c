# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""report.md and report.html: well-formed, self-contained, escaped, bounded in size at thousands of hosts."""

from __future__ import annotations

import copy
import html.parser
import json
import re

import pytest
from conftest import fleet_inputs, load_facts, report_of

from ansible_collections.oomguard.memory.plugins.plugin_utils import _render_html, _render_markdown
from ansible_collections.oomguard.memory.plugins.plugin_utils._report import HostInput

HOSTILE = "</script><script>alert(1)</script>|`*[x](http://evil.example/a.png)"
VOID = {"meta", "br", "input", "img", "hr", "link", "rect", "path", "circle", "line"}


class Checker(html.parser.HTMLParser):
    """Tag balance, the elements seen, and every URL-bearing attribute."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags, self.urls, self.script_text = [], [], {}, [], []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for name, value in attrs:
            if name in ("src", "href", "action", "xlink:href", "srcset", "data", "poster"):
                self.urls.append(value)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "script":
            self.script_text.append(data)


def check_html(page):
    checker = Checker()
    checker.feed(page)
    checker.close()
    assert not checker.errors, checker.errors[:5]
    assert not checker.stack, f"unclosed: {checker.stack}"
    return checker


def hostile_report():
    oom = load_facts("global-oom")
    for kill in oom["kills"]:
        kill["comm"] = HOSTILE
        kill["unit"] = HOSTILE + ".service"
    oom["kill_count_by_unit"] = {HOSTILE + ".service": 3}
    return report_of(
        HostInput(HOSTILE, oom, inventory={"machineType": "e2-medium", "zone": HOSTILE}),
        HostInput("down<b>", None, failure=HOSTILE),
    )


def synthetic_fleet(count):
    """``count`` hosts cycling through the fixtures, a tenth of them without data."""
    bases = [load_facts(name) for name in ("global-oom", "unit-limit", "quiet-oversized", "gke-node")]
    hosts = []
    for index in range(count):
        name = f"vm-{index:05d}.europe-west1-b.c.example-prod.internal"
        if index % 10 == 9:
            hosts.append(HostInput(name, None, failure="unreachable: timed out"))
            continue
        hosts.append(HostInput(name, copy.deepcopy(bases[index % 4]), inventory={"machineType": "e2-standard-4"}))
    return report_of(*hosts)


def test_html_is_well_formed_and_self_contained():
    page = _render_html.render(report_of(*fleet_inputs()))
    checker = check_html(page)
    assert page.startswith("<!DOCTYPE html>")
    assert checker.urls == [], "no external (or any) asset reference"
    assert not re.search(r"https?://", page), "no http(s) URL anywhere in the page"
    assert "default-src 'none'" in page  # the browser refuses any load from elsewhere
    assert checker.tags["svg"] == 6  # kills per host, per day, memory vs RAM, histogram, commands, units
    assert checker.tags.get("script") == 2
    rows = json.loads("".join(checker.script_text[:1]))
    assert {row["host"] for row in rows} == {"web-1", "worker-1", "db-2", "gke-pool-1-abcd", "down-1"}
    down = next(row for row in rows if row["host"] == "down-1")
    assert down["status"] == "no_data" and down["kills"] is None


def test_html_escapes_host_values_and_the_embedded_json():
    page = _render_html.render(hostile_report())
    checker = check_html(page)
    assert checker.tags.get("script") == 2, "a host value must not open a script element"
    assert "alert(1)" not in "".join(checker.script_text[1:])
    assert checker.urls == []
    assert "</script><script>alert" not in page
    rows = json.loads(checker.script_text[0])
    assert rows[0]["host"] == HOSTILE  # the data survive, as data


def test_markdown_counts_rules_and_no_data():
    text = _render_markdown.render(report_of(*fleet_inputs()))
    assert "**5 hosts**: 4 with data, **1 no data**" in text
    assert "**7 OOM kills**: 3 global, 4 memcg, 0 systemd-oomd, 0 earlyoom, 0 other." in text
    assert re.search(r"^Rules summary: \d+ failed, \d+ unknown, \d+ skipped, \d+ ok$", text, re.MULTILINE)
    assert "| down-1 | **no data**: unreachable: ssh: connect to host down-1 port 22: Connection timed out |" in text
    assert "gcloud compute instances set-machine-type web-1 --zone europe-west1-b --project example-prod" in text
    tables = [line for line in text.splitlines() if line.startswith("|")]
    header_cells = {}
    for line in tables:
        cells = len(re.split(r"(?<!\\)\|", line)) - 2
        if line.startswith(("|---", "| rule", "| host", "| killed")):
            header_cells = cells
        assert cells == header_cells, line


def test_markdown_escapes_host_values():
    text = _render_markdown.render(hostile_report())
    # snippets are fenced code (shell-quoted there); everywhere else a value must not become markup
    prose = re.sub(r"^ *(`{3,})\n.*?^ *\1$", "", text, flags=re.MULTILINE | re.DOTALL)
    assert "gcloud compute" in text and "gcloud compute" not in prose
    assert HOSTILE not in prose
    assert not re.search(r"(?<!\\)<", prose), "an unescaped < could open an HTML element"
    assert not re.search(r"(?<!\\)\]\(", prose), "an unescaped ]( could make a link"
    for line in text.splitlines():
        if line.startswith("|") and HOSTILE[:5] in line.replace("\\", ""):
            assert "\\|" in line  # a pipe in a value does not split the table row


@pytest.mark.parametrize("count", [2000])
def test_html_stays_small_and_light_at_thousands_of_hosts(count):
    report = synthetic_fleet(count)
    page = _render_html.render(report)
    checker = check_html(page)
    assert len(page) < 4 * 1024 * 1024, f"{len(page)} bytes"
    # the table is paginated in the browser: the static DOM has no per-host row
    assert checker.tags.get("tr", 0) < 100
    rows = json.loads(checker.script_text[0])
    assert len(rows) == count
    text = _render_markdown.render(report)
    assert f"... and {count - _render_markdown.MAX_HOST_ROWS} more hosts" in text
    assert len(text) < 512 * 1024


def test_markdown_keeps_shell_text_readable_and_neutralises_entities():
    assert _render_markdown.md("apt-get install sysstat && systemctl enable --now sysstat") == (
        "apt-get install sysstat && systemctl enable --now sysstat"
    )
    assert _render_markdown.md("a &lt;b&gt; &#60;") == "a \\&lt;b\\&gt; \\&#60;"
    assert _render_markdown.md("x|y\nz") == "x\\|y z"
