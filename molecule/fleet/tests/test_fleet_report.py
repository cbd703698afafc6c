# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/report.yml over the fleet, with one host taken away in the middle of the run.

One ansible-playbook run, on the controller, against the lab's own inventory: a play reaches every container
(its SSH connection is open), a play on the controller stops ct08 (``python -m tests.lab stop``), then
playbooks/report.yml runs over the fleet. Required:

* the run succeeds and the seven others go on (no failure, no unreachable);
* report.json counts the kills of side_effect.yml exactly per host (ct01 1, ct02 1, ct03 2, ct04 3, the others 0),
  all memcg, with the victims' units; the machine's own kill is nobody's;
* ct08 is a "no data" row (unreachable), in report.json, report.md and report.html, and is never counted as a host
  without OOM kills;
* report.html, opened in headless Chromium, runs without a console error and shows the eight hosts; a screenshot
  that is not blank. report.json/md/html and the screenshot stay in tests/output/fleet-report/ (CI artifacts).

ct08 is started again afterwards.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from fleetlab import HOSTS, LAB_NAME, REPO, ansible_env, inventory_path, lab, shell
from test_fleet_kills import UNITS

sys.path.insert(0, str(REPO / "tests" / "integration"))
import report_browser

testinfra_hosts = ["local://"]

GONE = "ct08"
OUTPUT = REPO / "tests" / "output" / "fleet-report"
RECAP = re.compile(
    r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
    r"failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)\s+ignored=(?P<ignored>\d+)",
    re.MULTILINE,
)

PLAYBOOK = """\
- name: Reach every host of the fleet (this run's SSH connections are open)
  hosts: containers
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:

- name: Take one host away in the middle of the run
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Stop {gone}
      ansible.builtin.command:
        argv: ["{{{{ ansible_playbook_python }}}}", -m, tests.lab, --name, {lab}, stop, {gone}]
        chdir: {repo}
      changed_when: true

- name: The fleet OOM report
  ansible.builtin.import_playbook: {repo}/playbooks/report.yml
"""


@pytest.fixture(scope="module")
def since():
    """The start of the window of side_effect.yml's kills, as every host recorded it."""
    records = shell("containers", "cat /var/lib/oomtest/fleet-kills.json")
    (value,) = {json.loads(text)["since"] for text in records.values()}
    return value


@pytest.fixture(scope="module")
def run(since, tmp_path_factory):
    """The playbook above; yields (completed process, recap per host, seconds)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for old in OUTPUT.iterdir():
        if old.is_file():
            old.unlink()
    playbook = tmp_path_factory.mktemp("fleet-report") / "report-one-host-gone.yml"
    playbook.write_text(PLAYBOOK.format(gone=GONE, lab=LAB_NAME, repo=REPO))
    variables = {"target": "containers", "oom_report_dir": str(OUTPUT), "oom_report_since": since}
    variables["oom_report_history"] = 0
    try:
        started = time.monotonic()
        completed = subprocess.run(
            ["ansible-playbook", "-i", inventory_path(), str(playbook), "-e", json.dumps(variables)],
            env=dict(ansible_env(), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default"),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        seconds = time.monotonic() - started
    finally:
        lab("start", GONE)
    (OUTPUT / "ansible-playbook.log").write_text(completed.stdout + completed.stderr)
    recap = {}
    for match in RECAP.finditer(completed.stdout):
        recap[match["host"]] = {key: int(value) for key, value in match.groupdict().items() if key != "host"}
    print(f"\nreport.yml over the fleet with {GONE} stopped mid-run: {seconds:.1f} s, rc {completed.returncode}")
    return completed, recap, seconds


@pytest.fixture(scope="module")
def report(run):
    return json.loads((OUTPUT / "report.json").read_text())


def test_the_run_goes_on_without_the_host(run):
    completed, recap, _seconds = run
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert recap[GONE]["unreachable"] == 0 and recap[GONE]["ignored"] == 1, recap[GONE]
    assert recap[GONE]["failed"] == 0
    for host in HOSTS:
        if host != GONE:
            assert (recap[host]["failed"], recap[host]["unreachable"], recap[host]["ignored"]) == (0, 0, 0), host
    assert f"Fleet OOM report: {OUTPUT}/report.html" in completed.stdout


def test_kills_are_counted_exactly_per_host(report):
    rows = {host["host"]: host for host in report["hosts"]}
    assert sorted(rows) == HOSTS
    for host in HOSTS:
        if host == GONE:
            continue
        row = rows[host]
        expected = UNITS.get(host, [])
        assert row["status"] == "ok", row
        assert row["kills"]["total"] == len(expected), (host, row["kills"], row["victims"])
        assert row["kills"]["memcg"] == len(expected) and row["kills"]["global"] == 0, (host, row["kills"])
        assert sorted(victim["unit"] for victim in row["victims"]) == sorted(expected), (host, row["victims"])
        assert {victim["comm"] for victim in row["victims"]} <= {"python3"}
        # the other hosts' kills and the machine's own are host-scope kills, never this host's
        assert row["kills"]["host_scope"] >= sum(len(u) for u in UNITS.values()) - len(expected)
    summary = report["summary"]
    assert summary["kills"] == sum(len(units) for units in UNITS.values())
    assert summary["kills_by_category"]["memcg"] == summary["kills"]
    assert summary["hosts_with_kills"] == len(UNITS)


def test_the_host_that_went_away_is_no_data_never_a_host_without_kills(report):
    gone = next(host for host in report["hosts"] if host["host"] == GONE)
    assert gone["status"] == "no_data"
    assert gone["no_data_reason"].startswith("unreachable:"), gone["no_data_reason"]
    summary = report["summary"]
    assert (summary["hosts"], summary["hosts_with_data"], summary["hosts_no_data"]) == (8, 7, 1)
    assert summary["hosts_without_kills"] == 7 - len(UNITS)


def test_the_markdown_marks_the_host_no_data(report):
    markdown = (OUTPUT / "report.md").read_text()
    assert re.search(rf"^\| {GONE} \| \*\*no data\*\*: unreachable:", markdown, re.MULTILINE), markdown[-3000:]
    assert "**1 no data**" in markdown


def test_the_fleet_page_in_chromium(report):
    if not report_browser.chromium_path():
        pytest.fail("chromium is not installed: tests/setup-env.sh --browser installs it")
    seen = report_browser.check_page(OUTPUT / "report.html")
    assert seen.errors == [], seen.errors
    assert not [line for line in seen.console_lines if "ERROR" in line or "Uncaught" in line], seen.console_lines
    assert seen.page == "page 1 of 1 (8 hosts)"
    # the host table: host, status, machine type, zone, RAM MiB, peak %, kills, ...
    rows = {cells[0]: cells for cells in seen.row_cells}
    assert sorted(rows) == HOSTS
    assert rows[GONE][1] == "no data" and rows[GONE][6] == "", rows[GONE]
    for host in HOSTS:
        if host != GONE:
            assert rows[host][1] == "ok" and rows[host][6] == str(len(UNITS.get(host, []))), rows[host]
    png = OUTPUT / "report.png"
    report_browser.screenshot(OUTPUT / "report.html", png, width=1280, height=1800)
    colours, dominant = report_browser.blankness(png)
    assert colours > 50, f"{colours} colours: the page looks blank"
    assert dominant < 0.9, f"one colour covers {dominant:.0%} of the screenshot"
