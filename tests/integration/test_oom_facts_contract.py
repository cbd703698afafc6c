# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The oom_facts 1.1 contract on this machine, through ansible: a real OOM kill, secrets, Ansible's own processes.

* A real memcg OOM kill (a hog in a memory cgroup the test creates) is reported once, with the same id on two
  runs, as a local memcg kill; the whole result matches RETURN key by key (tests/unit/plugins/modules/return_docs).
* A process started with ``--password=hunter2`` (and a token, a URL password and an AWS key id) on its command
  line is listed with those redacted; the secret appears nowhere in ansible's output.
* Neither the module's AnsiballZ process nor the ``ansible`` command running it is listed in ``processes``.
* The GCE metadata server is asked over real HTTP (a fake one on 127.0.0.1 started here).
* sysstat: a real ``sadc`` writes a small sa file, the module summarises it with the host's own ``sadf``.

``OOMGUARD_WRITE_FACTS_FIXTURES=1`` also writes the results, with the processes cut to the ones this test started,
to tests/unit/fixtures/facts/ (the shared facts fixtures the unit tests walk against RETURN).
"""

from __future__ import annotations

import datetime
import http.server
import json
import lzma
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import oomlab
import pytest

sys.path.insert(0, str(oomlab.REPO_ROOT / "tests" / "unit" / "plugins" / "modules"))
from return_docs import check_result

pytestmark = pytest.mark.integration

FIXTURES = oomlab.REPO_ROOT / "tests" / "unit" / "fixtures" / "facts"
MODULE_SOURCE = oomlab.REPO_ROOT / "plugins" / "modules" / "oom_facts.py"
SECRET_ARGS = [
    "--password=hunter2",
    "--db-password",
    "hunter3",
    "--url=https://bob:hunter4@db.example.com/x",
    "token=hunter5",
    "AKIAHUNTER6EXAMPLE00",
]
SECRETS = ("hunter2", "hunter3", "hunter4", "hunter5", "AKIAHUNTER6EXAMPLE00")


def return_doc():
    """RETURN of the module file, read without importing the module."""
    text = MODULE_SOURCE.read_text()
    start = text.index('RETURN = r"""') + len('RETURN = r"""')
    return text[start : text.index('"""', start)]


def record(name, result, keep_pids):
    """Write a result as a shared fixture, its processes cut to the ones this test started."""
    if os.environ.get("OOMGUARD_WRITE_FACTS_FIXTURES") != "1":
        return
    result = json.loads(json.dumps(result))
    for key in [key for key in result if key.startswith("_ansible") or key in ("warnings", "deprecations")]:
        result.pop(key)
    oom = result["ansible_facts"]["oom"]
    oom["processes"] = [process for process in oom["processes"] if process["pid"] in keep_pids]
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    assert str(oomlab.REPO_ROOT) not in text
    (FIXTURES / name).write_text(text)


@pytest.fixture
def secret_process():
    """A sleeping process with secrets on its command line, first in line for the OOM killer (adj 1000)."""
    process = subprocess.Popen(
        [oomlab.DEFAULT_INTERPRETER, "-c", "import time; time.sleep(600)", *SECRET_ARGS],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with open("/proc/%d/oom_score_adj" % process.pid, "w") as handle:
            handle.write("1000")
        yield process
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@pytest.fixture(scope="module")
def memcg_kill():
    """One real memcg OOM kill; yields (hog, group, the time just before it)."""
    reason = oomlab.lab_unavailable_reason()
    if reason:
        pytest.skip(f"no real OOM kills on this machine: {reason}")
    started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    with oomlab.Lab() as lab:
        group, hog = oomlab.oom_kill_once(lab, comm="oomguard-hog", oom_score_adj=321)
        yield hog, group, started


def test_a_real_memcg_kill_matches_the_contract(memcg_kill, secret_process):
    hog, group, started = memcg_kill
    args = {"log_sources": ["kmsg"], "since": started.isoformat(), "top_processes": 1000}
    first = oomlab.run_module("oom_facts", args)
    second = oomlab.run_module("oom_facts", args)
    for result in (first, second):
        assert not result.get("failed"), result
    oom = first["ansible_facts"]["oom"]
    (kill,) = [kill for kill in oom["kills"] if kill["pid"] == hog.pid]
    assert (kill["killer"], kill["kind"], kill["scope"], kill["comm"], kill["source"]) == (
        "kernel",
        "memcg",
        "local",
        "oomguard-hog",
        "kmsg",
    )
    assert (kill["cgroup"], kill["oom_memcg"], kill["oom_score_adj"]) == (group.kernel_path, group.kernel_path, 321)
    assert kill["rss_kb"] == kill["anon_rss_kb"] + kill["file_rss_kb"] + kill["shmem_rss_kb"] > 0
    assert (
        kill["boot_id"]
        == oom["host"]["boot_id"]
        == Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")
    )
    (again,) = [other for other in second["ansible_facts"]["oom"]["kills"] if other["pid"] == hog.pid]
    assert again["id"] == kill["id"]
    assert oom["kill_count_by_kind"]["memcg"] >= 1
    assert oom["counters"]["cgroups"][group.kernel_path]["oom_kill"] == group.oom_kill_count() >= 1
    assert oom["window"]["since"] == started.isoformat(timespec="microseconds")
    assert check_result(return_doc(), first) == []
    record("real-kernel-memcg-kill.json", first, {secret_process.pid})


def test_secrets_on_a_command_line_are_redacted(secret_process):
    result = oomlab.run_module("oom_facts", {"log_sources": [], "top_processes": 1000})
    assert not result.get("failed"), result
    (listed,) = [
        process for process in result["ansible_facts"]["oom"]["processes"] if process["pid"] == secret_process.pid
    ]
    assert listed["cmdline"] == (
        "%s -c import time; time.sleep(600) --password=<redacted> --db-password <redacted> "
        "--url=https://bob:<redacted>@db.example.com/x token=<redacted> <redacted>" % oomlab.DEFAULT_INTERPRETER
    )
    assert listed["python"] is True
    assert listed["oom_score_adj"] == 1000
    assert listed["hwm_kb"] >= listed["rss_kb"] > 0
    text = json.dumps(result)
    assert not [secret for secret in SECRETS if secret in text]
    assert check_result(return_doc(), result) == []
    record("this-machine-no-logs.json", result, {secret_process.pid})


def test_ansibles_own_processes_are_not_listed():
    """The ansible command (its main and worker processes) and its AnsiballZ process carry a marker of this run."""
    marker = secrets.token_hex(6)
    result = oomlab.run_module(
        "oom_facts",
        {"log_sources": [], "top_processes": 1000, "units": ["oomguard-%s.service" % marker]},
        extra_vars={"ansible_remote_tmp": "/tmp/oomguard-chain-%s" % marker},
    )
    processes = result["ansible_facts"]["oom"]["processes"]
    assert os.getpid() in {process["pid"] for process in processes}  # pytest is no part of Ansible's chain
    assert [process["cmdline"] for process in processes if marker in process["cmdline"]] == []


class FakeMetadata(http.server.BaseHTTPRequestHandler):
    VALUES = {
        "/computeMetadata/v1/instance/machine-type": "projects/123456789/machineTypes/n2-highmem-4",
        "/computeMetadata/v1/instance/zone": "projects/123456789/zones/us-central1-a",
        "/computeMetadata/v1/instance/id": "1234567890123456789",
        "/computeMetadata/v1/instance/name": "db-7",
        "/computeMetadata/v1/project/project-id": "example-prod",
    }

    def do_GET(self):
        body = self.VALUES.get(self.path) if self.headers.get("Metadata-Flavor") == "Google" else None
        self.send_response(200 if body else 404)
        self.send_header("Metadata-Flavor", "Google")
        self.end_headers()
        self.wfile.write((body or "").encode())

    def log_message(self, *args):
        pass


def test_gce_metadata_over_http():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeMetadata)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = "http://127.0.0.1:%d/computeMetadata/v1" % server.server_address[1]
        result = oomlab.run_module(
            "oom_facts", {"log_sources": [], "top_processes": 0, "gce_metadata": "always", "gce_metadata_url": url}
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert result["ansible_facts"]["oom"]["host"]["gce"] == {
        "machine_type": "n2-highmem-4",
        "zone": "us-central1-a",
        "instance_id": "1234567890123456789",
        "instance_name": "db-7",
        "project": "example-prod",
    }


def find_sadc():
    for path in ("/usr/lib/sysstat/sadc", "/usr/lib64/sa/sadc", "/usr/lib/sa/sadc"):
        if os.access(path, os.X_OK):
            return path
    return shutil.which("sadc")


def test_sysstat_history_from_a_real_sa_file(tmp_path):
    sadc = find_sadc()
    if not sadc or not shutil.which("sadf"):
        pytest.skip("sysstat is not installed (apt-get install sysstat)")
    sa_dir = tmp_path / "sa"
    sa_dir.mkdir()
    day = time.strftime("%d", time.gmtime())
    subprocess.run([sadc, "-S", "DISK", "1", "4", str(sa_dir / ("sa" + day))], check=True, timeout=30)
    meminfo = {line.split(":")[0]: int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()}
    result = oomlab.run_module(
        "oom_facts",
        {"log_sources": [], "top_processes": 0, "memory_history_days": 1, "sysstat_dirs": [str(sa_dir)]},
    )
    history = result["ansible_facts"]["oom"]["memory_history"]
    assert (history["available"], history["reason"], history["days"]) == (True, None, 1)
    assert history["files"] == [str(sa_dir / ("sa" + day))]
    assert 2 <= history["samples"] <= 4
    assert history["mem_total_kb"] == meminfo["MemTotal"]
    # used = MemTotal - MemAvailable, as it was within the last few seconds
    assert 0 < history["peak_used_kb"] < meminfo["MemTotal"]
    assert abs(history["peak_used_kb"] - (meminfo["MemTotal"] - meminfo["MemAvailable"])) < meminfo["MemTotal"] // 10
    assert history["daily_peaks"] == [
        {"date": time.strftime("%Y-%m-%d", time.gmtime()), "used_kb": history["peak_used_kb"]}
    ]
    assert history["coverage_pct"] == round(history["samples"] * 1 / 86400 * 100, 2)
    assert check_result(return_doc(), result) == []

    # the same day as sa2 leaves it after COMPRESSAFTER days (ZIP="xz" on Debian): the same summary
    plain = sa_dir / ("sa" + day)
    compressed = tmp_path / "sa-compressed" / ("sa" + day + ".xz")
    compressed.parent.mkdir()
    compressed.write_bytes(lzma.compress(plain.read_bytes()))
    result = oomlab.run_module(
        "oom_facts",
        {"log_sources": [], "top_processes": 0, "memory_history_days": 1, "sysstat_dirs": [str(compressed.parent)]},
    )
    from_compressed = result["ansible_facts"]["oom"]["memory_history"]
    assert from_compressed["files"] == [str(compressed)]
    assert {key: from_compressed[key] for key in ("samples", "peak_used_kb", "first", "last")} == {
        key: history[key] for key in ("samples", "peak_used_kb", "first", "last")
    }
