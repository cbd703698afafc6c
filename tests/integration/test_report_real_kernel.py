# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""playbooks/report.yml against this machine after a REAL kernel OOM kill in a memory cgroup made by the test.

The report must count the kill, name the victim (pid, comm, RSS at death) and classify it as memcg; an unreachable
host is a "no data" row; an empty host pattern fails; the fact cache gives the same report without a live run;
report-merge.yml merges two partial reports. Every playbook runs through ansible-playbook, nothing is imported.

Needs root and a writable memory cgroup (skipped otherwise):
    pytest tests/integration/test_report_real_kernel.py -v
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import oomlab
import pytest

pytestmark = pytest.mark.integration

HOG_COMM = "oomrep-hog"
LIMIT_BYTES = 64 * oomlab.MiB
SCHEMA = oomlab.REPO_ROOT / "roles" / "oom_report" / "files" / "report.schema.json"
INVENTORY = oomlab.REPO_ROOT / "playbooks" / "inventory" / "localhost.yml"


def run_playbook(playbook, *args, env=None, timeout=600):
    """A playbook of playbooks/; the inventory, when there is one, is in ARGS."""
    return oomlab.run_playbook(oomlab.REPO_ROOT / "playbooks" / playbook, None, *args, env=env, timeout=timeout)


def read_report(directory):
    return json.loads((Path(directory) / "report.json").read_text())


def validate(report):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(report)


@pytest.fixture(scope="module")
def oom_kill():
    """A real memcg OOM kill of a hog named HOG_COMM; yields the hog (pid, comm)."""
    reason = oomlab.lab_unavailable_reason()
    if reason:
        pytest.skip(f"no real OOM kills on this machine: {reason}")
    with oomlab.Lab() as lab, oomlab.KmsgCursor() as kmsg:
        group = lab.memory_cgroup(LIMIT_BYTES)
        hog = lab.start_hog(HOG_COMM, cgroup=group, extra_args=["report-test"])
        assert hog.wait_for_death(timeout=60) == -signal.SIGKILL
        killed = kmsg.wait_for(lambda record: f"Killed process {hog.pid} ({HOG_COMM})" in record.message, timeout=10)
        assert killed is not None, "the kernel did not log the kill"
        yield hog


@pytest.fixture(scope="module")
def live_report(oom_kill, tmp_path_factory):
    directory = tmp_path_factory.mktemp("report-live")
    cache = tmp_path_factory.mktemp("fact-cache")
    completed = run_playbook(
        "report.yml",
        "-i",
        str(INVENTORY),
        "-e",
        json.dumps(
            {
                "oom_report_dir": str(directory),
                "oom_report_since": "2h",
                "oom_report_max_kills": 1000,
                # other tests on this machine may OOM-kill their own hogs meanwhile: list every victim
                "oom_report_max_victims": 1000,
            }
        ),
        env={"ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache)},
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    return directory, cache, completed.stdout


def test_the_report_counts_and_names_the_real_kill(oom_kill, live_report):
    directory, _cache, stdout = live_report
    report = read_report(directory)
    validate(report)
    assert report["summary"]["hosts"] == 1 and report["summary"]["hosts_no_data"] == 0
    host = report["hosts"][0]
    assert host["host"] == "localhost" and host["status"] == "ok"
    victims = [v for v in host["victims"] if v["pid"] == oom_kill.pid]
    assert len(victims) == 1, f"pid {oom_kill.pid} not among the newest victims {host['victims']}"
    victim = victims[0]
    assert victim["comm"] == HOG_COMM
    assert victim["kind"] == "memcg" and victim["killer"] == "kernel"
    assert victim["rss_kb"] > 16 * 1024  # the hog held tens of MiB when the kernel killed it
    assert victim["cgroup"].startswith("/oomguard-test-")
    assert host["kills"]["memcg"] >= 1 and host["kills"]["total"] >= 1
    assert report["summary"]["kills_by_category"]["memcg"] >= 1 and report["summary"]["hosts_with_kills"] == 1
    assert any(item["name"] == HOG_COMM for item in report["charts"]["top_commands"])
    # the play prints where the report is
    assert f"Fleet OOM report: {directory}/report.html" in stdout


def test_markdown_and_html_name_the_victim(oom_kill, live_report):
    directory = live_report[0]
    markdown = (directory / "report.md").read_text()
    assert "| localhost | ok |" in markdown and HOG_COMM in markdown
    page = (directory / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and HOG_COMM in page
    assert len(list((directory / "history").glob("report-*.json"))) == 1


def test_the_fact_cache_gives_the_same_report_without_a_live_run(oom_kill, live_report, tmp_path):
    live_directory, cache, _stdout = live_report
    completed = run_playbook(
        "report.yml",
        "-i",
        str(INVENTORY),
        "-e",
        json.dumps(
            {"oom_report_dir": str(tmp_path), "oom_report_facts_source": "cache", "oom_report_max_victims": 1000}
        ),
        env={"ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache)},
    )
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert "Gather the OOM facts of each host" in completed.stdout and "skipping: [localhost]" in completed.stdout
    cached, live = read_report(tmp_path), read_report(live_directory)
    assert cached["facts_source"] == "cache" and live["facts_source"] == "live"
    assert cached["hosts"][0]["kills"] == live["hosts"][0]["kills"]
    assert [v["pid"] for v in cached["hosts"][0]["victims"]] == [v["pid"] for v in live["hosts"][0]["victims"]]


def test_an_unreachable_host_is_a_no_data_row(tmp_path):
    inventory = tmp_path / "inventory.yml"
    # a port nobody listens on, on loopback: ssh fails at once with "Connection refused"
    inventory.write_text(
        "all:\n  hosts:\n"
        "    localhost: {ansible_connection: local, ansible_python_interpreter: /usr/bin/python3}\n"
        "    gone.example: {ansible_host: 127.0.0.1, ansible_port: 1, ansible_connection: ssh, ansible_user: nobody}\n"
    )
    variables = json.dumps({"oom_report_dir": str(tmp_path / "r")})
    completed = run_playbook("report.yml", "-i", str(inventory), "-e", variables)
    # the run succeeds: the host it could not reach is part of the report, as "no data"
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert "1 hosts without data" not in completed.stdout and "2 hosts, 1 without data" in completed.stdout
    report = read_report(tmp_path / "r")
    validate(report)
    rows = {h["host"]: h for h in report["hosts"]}
    assert rows["gone.example"]["status"] == "no_data"
    assert rows["gone.example"]["no_data_reason"].startswith("unreachable:")
    assert rows["localhost"]["status"] == "ok"
    summary = report["summary"]
    assert (summary["hosts"], summary["hosts_with_data"], summary["hosts_no_data"]) == (2, 1, 1)
    assert summary["hosts_with_kills"] + summary["hosts_without_kills"] == 1


def test_an_empty_host_pattern_is_an_error(tmp_path):
    variables = json.dumps({"target": "no-such-group", "oom_report_dir": str(tmp_path)})
    completed = run_playbook("report.yml", "-i", str(INVENTORY), "-e", variables)
    assert completed.returncode != 0
    assert "an empty inventory is an error, never" in completed.stdout
    assert not (tmp_path / "report.json").exists()


def test_report_merge_joins_partial_reports(oom_kill, live_report, tmp_path):
    part_dir = tmp_path / "part-b"
    part_variables = {"oom_report_dir": str(part_dir), "oom_report_label": "batch b"}
    inventory = tmp_path / "b.yml"
    inventory.write_text(
        "all:\n  hosts:\n"
        "    other.example: {ansible_host: 127.0.0.1, ansible_port: 1, ansible_connection: ssh, ansible_user: nobody}\n"
    )
    run_playbook("report.yml", "-i", str(inventory), "-e", json.dumps(part_variables))
    assert (part_dir / "report.json").exists()
    merged_dir = tmp_path / "fleet"
    inputs = [str(live_report[0] / "report.json"), str(tmp_path / "part-*" / "report.json")]
    completed = run_playbook(
        "report-merge.yml", "-e", json.dumps({"oom_report_merge_inputs": inputs, "oom_report_dir": str(merged_dir)})
    )
    assert completed.returncode == 0, completed.stdout[-4000:]
    merged = read_report(merged_dir)
    validate(merged)
    assert merged["merged_from"] == 2
    assert {h["host"]: h["status"] for h in merged["hosts"]} == {"localhost": "ok", "other.example": "no_data"}
    assert merged["summary"]["kills"] == read_report(live_report[0])["summary"]["kills"]
    assert (merged_dir / "report.html").exists() and (merged_dir / "report.md").exists()
