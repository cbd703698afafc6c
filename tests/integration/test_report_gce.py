# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""playbooks/report.yml passes the oom_facts 1.1 options the role exposes, through ansible-playbook on this machine.

* ``oom_report_gce_metadata: always`` with ``oom_report_gce_metadata_url`` pointing at a fake metadata server on
  127.0.0.1: the report names the VM's machine type, zone and project from it (source ``gce_metadata``) and sizes
  it from the machine-type table;
* a ``machineType`` host var of the gcp_compute inventory wins, and the metadata server is then not asked at all;
* ``oom_report_memory_history_days`` reaches oom_facts: the report's memory history says what was asked for, and
  with 0 it was not gathered (oom/BP/001 UNKNOWN, not a missing sysstat).
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading

import oomlab
import pytest

pytestmark = pytest.mark.integration

ANSWERS = {
    "/computeMetadata/v1/instance/machine-type": "projects/123456/machineTypes/e2-standard-2",
    "/computeMetadata/v1/instance/zone": "projects/123456/zones/europe-west1-b",
    "/computeMetadata/v1/instance/id": "4512337890123456789",
    "/computeMetadata/v1/instance/name": "web-1",
    "/computeMetadata/v1/project/project-id": "example-prod",
}


class FakeMetadata(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        answer = ANSWERS.get(self.path)
        if answer is None or self.headers.get("Metadata-Flavor") != "Google":
            self.send_error(404)
            return
        body = answer.encode()
        self.send_response(200)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def metadata_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeMetadata)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def report_of(tmp_path, variables, host_vars=""):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: /usr/bin/python3\n" + host_vars
    )
    directory = tmp_path / "report"
    variables = dict(variables, oom_report_dir=str(directory), oom_report_since="1h", oom_report_top_processes=0)
    completed = subprocess.run(
        [
            oomlab.ansible_executable("ansible-playbook"),
            "-i",
            str(inventory),
            str(oomlab.REPO_ROOT / "playbooks" / "report.yml"),
            "-e",
            json.dumps(variables),
        ],
        cwd=str(oomlab.REPO_ROOT),
        env=oomlab.ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    report = json.loads((directory / "report.json").read_text())
    return report["hosts"][0]


def test_the_machine_type_comes_from_the_metadata_server(tmp_path, metadata_server):
    url = f"http://127.0.0.1:{metadata_server.server_port}/computeMetadata/v1"
    host = report_of(
        tmp_path,
        {"oom_report_gce_metadata": "always", "oom_report_gce_metadata_url": url, "oom_report_gce_metadata_timeout": 5},
    )
    assert host["status"] == "ok"
    machine = host["machine"]
    assert (machine["source"], machine["type"], machine["zone"]) == ("gce_metadata", "e2-standard-2", "europe-west1-b")
    assert (machine["project"], machine["instance"]) == ("example-prod", "web-1")
    assert (machine["vcpus"], machine["memory_mib"]) == (2, 8192)
    assert "/computeMetadata/v1/instance/machine-type" in metadata_server.requests


def test_the_inventory_machine_type_wins_and_the_server_is_not_asked(tmp_path, metadata_server):
    url = f"http://127.0.0.1:{metadata_server.server_port}/computeMetadata/v1"
    host = report_of(
        tmp_path,
        {"oom_report_gce_metadata": "always", "oom_report_gce_metadata_url": url},
        host_vars="      machineType: n2-highmem-4\n      zone: us-central1-a\n",
    )
    assert (host["machine"]["source"], host["machine"]["type"]) == ("gcp_compute", "n2-highmem-4")
    assert metadata_server.requests == []


def test_never_asks_nobody(tmp_path, metadata_server):
    url = f"http://127.0.0.1:{metadata_server.server_port}/computeMetadata/v1"
    host = report_of(tmp_path, {"oom_report_gce_metadata": "never", "oom_report_gce_metadata_url": url})
    assert host["machine"]["source"] == "unknown" and metadata_server.requests == []


@pytest.mark.parametrize("days", [3, 0])
def test_the_memory_history_days_reach_oom_facts(tmp_path, days):
    host = report_of(tmp_path, {"oom_report_memory_history_days": days, "oom_report_gce_metadata": "never"})
    history = host["memory_history"]
    assert history["window_days"] == days
    bp001 = next(f for f in host["findings"] if f["rule"] == "oom/BP/001")
    if days:
        # this machine keeps no sysstat files (or has no sadf): asked for, and the reason says why there is none
        assert history["available"] is False and history["reason"], history
        assert bp001["status"] == "FAIL" and history["reason"] in bp001["message"]
    else:
        assert history["reason"].startswith("not gathered") and bp001["status"] == "UNKNOWN"
