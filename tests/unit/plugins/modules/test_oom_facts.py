# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""oom_facts in-process: options, a whole fake host (fake /proc, /sys, systemctl, sadf, metadata server), containers.

The fake host tree is built by fakehost.FakeHost; the module reads it through OomFacts(module, root=...). Log
files are real files run through the real parser. Nothing reads this machine's /proc except where a test says so.
"""

from __future__ import annotations

import datetime
import gzip
import http.server
import json
import os
import random
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import yaml
from fakehost import MODULE_PID, FakeHost, executable, gather, sadf_document
from harness import run_module, warning_messages
from return_docs import check_result

from ansible_collections.oomguard.memory.plugins.module_utils import _oom_sources
from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import KILL_KEYS
from ansible_collections.oomguard.memory.plugins.modules import oom_facts

HERE = Path(__file__).resolve().parent

FIXTURES = HERE.parents[1] / "fixtures"
LOGS = FIXTURES / "oom_logs"
FACTS = FIXTURES / "facts"
MTIME = datetime.datetime(2026, 3, 10, 12, 0, 0, tzinfo=datetime.timezone.utc).timestamp()
# kill_count_by_kind always has every kind of the contract
NO_KILLS_BY_KIND = dict.fromkeys(
    ("global", "memcg", "allocating_task", "sysrq", "unknown", "systemd-oomd", "earlyoom"), 0
)
BASE = {"log_sources": [], "top_processes": 0, "gce_metadata": "never"}
HOG = "a" * 64
LIMITED = "b" * 64
POD_LIMITED = "c" * 64
POD_OPEN = "d" * 64
POD_UID = "0f5b0a4c-7d1e-4c3a-9a57-6f0e2d3c4b5a"


# Log times without a zone are read in the local zone: these tests read them in UTC (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("utc_zone")


def run_main(args, commands=None):
    """main() in-process, as ansible would run it (harness.run_module); the printed result with rc."""
    return run_module(oom_facts.main, args, commands=commands)[0]


def vmstat_oom_kill():
    """This machine's /proc/vmstat oom_kill, or None."""
    with open("/proc/vmstat", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    return None


def assert_missing_is_this_machines_count(oom, before):
    """kills_missing_from_logs is this machine's vmstat oom_kill (other jobs may add kills while the test runs)."""
    after = vmstat_oom_kill()
    if before is None:
        assert (oom["kills_missing_from_logs"], oom["kills_missing_known"]) == (0, False)
    else:
        assert oom["kills_missing_known"] is True
        assert before <= oom["kills_missing_from_logs"] == oom["counters"]["vmstat_oom_kill"] <= after


def fixture_copy(tmp_path, source, compress=False):
    path = tmp_path / (source.name + (".gz" if compress else ""))
    data = source.read_bytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    os.utime(path, (MTIME, MTIME))
    return str(path)


# --------------------------------------------------------------------------------------------------------------
# Options: every value ends in a result or a clear failure (issue [4/8] item 7)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"since": "yesterday"}, oom_facts._SINCE_HELP % "yesterday"),
        ({"since": "24x"}, oom_facts._SINCE_HELP % "24x"),
        ({"since": "-5h"}, oom_facts._SINCE_HELP % "-5h"),
        ({"since": "2026-03-03T10:11:12."}, oom_facts._SINCE_HELP % "2026-03-03T10:11:12."),
        ({"since": ""}, oom_facts._SINCE_HELP % ""),
        ({"since": "1" * 40 + "d"}, oom_facts._SINCE_HELP % ("1" * 40 + "d")),
        ({"since": "99999999d"}, "since='99999999d' reaches back before 1970"),
        ({"since": "999999999999w"}, "since='999999999999w' reaches back before 1970"),
        ({"since": "30000d"}, "since='30000d' reaches back before 1970"),
        ({"since": "2026-13-45"}, "since='2026-13-45' is not a valid time: month must be in 1..12"),
        ({"since": "2026-02-30T10:00"}, "since='2026-02-30T10:00' is not a valid time: day is out of range for month"),
        ({"since": "2026-03-03T25:00:00"}, "since='2026-03-03T25:00:00' is not a valid time: hour must be in 0..23"),
        ({"since": "1969-12-31T23:59:59+00:00"}, "since='1969-12-31T23:59:59+00:00' is before 1970"),
        ({"since": "0001-01-01"}, "since='0001-01-01' is before 1970"),
        ({"max_kills": -1}, "max_kills must be from 0 to 10000; got -1"),
        ({"max_kills": 10001}, "max_kills must be from 0 to 10000; got 10001"),
        ({"max_kills": 99999999999999999999}, "max_kills must be from 0 to 10000; got 99999999999999999999"),
        ({"top_processes": -3}, "top_processes must be from 0 to 1000; got -3"),
        ({"top_processes": 10**30}, "top_processes must be from 0 to 1000; got %d" % 10**30),
        ({"memory_history_days": 32}, "memory_history_days must be from 0 to 31; got 32"),
        ({"memory_history_days": -1}, "memory_history_days must be from 0 to 31; got -1"),
        ({"units": ["a.service"] * 1001}, "units lists 1001 units; at most 1000 are allowed"),
        ({"gce_metadata_timeout": 0}, "gce_metadata_timeout must be from 0.1 to 30.0 seconds; got 0.0"),
        ({"gce_metadata_timeout": "nan"}, "gce_metadata_timeout must be from 0.1 to 30.0 seconds; got nan"),
        (
            {"gce_metadata_url": "file:///etc/passwd"},
            "gce_metadata_url must be an http:// or https:// URL; got 'file:///etc/passwd'",
        ),
        ({"sysstat_dirs": ["var/log/sa"]}, "sysstat_dirs must be at most 16 absolute paths; got ['var/log/sa']"),
    ],
)
def test_bad_option_values_fail_clearly(args, message):
    result = run_main({**BASE, **args})
    assert (result["rc"], result["failed"], result["msg"]) == (1, True, message)
    assert "exception" not in result


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        ("foo;rm -rf /", "contains '/'"),
        ("worker", "has no valid type suffix"),
        ("bad name.service", "contains characters systemd does not allow"),
    ],
)
def test_bad_unit_names_fail_clearly(unit, message):
    result = run_main({**BASE, "units": [unit]})
    assert result["failed"] is True
    assert result["msg"].startswith("units: unit name %r" % unit)
    assert message in result["msg"]


NOW = datetime.datetime(2026, 3, 10, 12, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("90m", "2026-03-10T10:30:00+00:00"),
        (" 7d ", "2026-03-03T12:00:00+00:00"),
        ("2w", "2026-02-24T12:00:00+00:00"),
        ("0s", "2026-03-10T12:00:00+00:00"),
        ("20000d", "1971-06-07T12:00:00+00:00"),
        ("2026-03-03", "2026-03-03T00:00:00+00:00"),
        ("2026-03-03T10:11", "2026-03-03T10:11:00+00:00"),
        ("2026-03-03T10:11:12.5", "2026-03-03T10:11:12.500000+00:00"),
        ("2026-03-03 10:11:12.123456789Z", "2026-03-03T10:11:12.123456+00:00"),
        ("2026-03-03T10:11:12+0100", "2026-03-03T10:11:12+01:00"),
        ("2099-01-01T00:00:00-05:00", "2099-01-01T00:00:00-05:00"),
    ],
)
def test_since_values_that_are_accepted(value, expected):
    assert oom_facts.parse_since(value, NOW).isoformat() == expected


def test_since_never_raises_anything_but_value_error():
    """A seeded stream of odd values: parse_since gives a time or a ValueError, nothing else."""
    rng = random.Random(20261201)
    alphabet = "0123456789-:T.Z+ dwhms"
    parsed = 0
    for _attempt in range(3000):
        value = "".join(rng.choice(alphabet) for _position in range(rng.randint(0, 32)))
        if rng.random() < 0.3:
            value = "2026-03-03T" + value
        try:
            oom_facts.parse_since(value, NOW)
            parsed += 1
        except ValueError as exc:
            assert str(exc).startswith("since=")
    assert parsed > 0


# --------------------------------------------------------------------------------------------------------------
# Log kills through the module (the parser is tested on its own in test_oom_log.py / test_oom_sources.py)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_log_paths_only_gives_exact_kills(tmp_path, compress):
    path = fixture_copy(tmp_path, LOGS / "syslog-debian.log", compress)
    before = vmstat_oom_kill()
    result = run_main({**BASE, "log_paths": [path]})
    assert result["rc"] == 0
    assert result["changed"] is False
    oom = result["ansible_facts"]["oom"]
    assert [(kill["killer"], kill["pid"], kill["comm"], kill["timestamp"]) for kill in oom["kills"]] == [
        ("kernel", 4242, "worker", "2026-03-03T10:11:10+00:00"),
        ("systemd-oomd", None, None, "2026-03-03T10:20:00+00:00"),
        ("earlyoom", 4300, "chrome", "2026-03-03T10:30:00+00:00"),
        ("kernel", 4400, "db writer", "2026-03-03T10:40:00+00:00"),
    ]
    first = oom["kills"][0]
    assert (first["unit"], first["constraint"], first["oom_memcg"], first["uid"], first["anon_rss_kb"]) == (
        "worker.service",
        "CONSTRAINT_MEMCG",
        "/system.slice/worker.service",
        1001,
        1048576,
    )
    assert first["rss_kb"] == 1048576 + 512 + 0
    assert oom["kill_count"] == 4
    assert oom["kill_count_by_killer"] == {"kernel": 2, "systemd-oomd": 1, "earlyoom": 1}
    assert oom["kill_count_by_kind"] == {**NO_KILLS_BY_KIND, "global": 1, "memcg": 1, "systemd-oomd": 1, "earlyoom": 1}
    assert oom["sources"] == {path: {"status": "ok", "detail": "text", "kills": 4, "format": "text", "untrusted": 0}}
    assert oom["sources_unavailable"] == []
    # This machine's kernel counted kills since its boot; a log copied from March shows none of them.
    assert_missing_is_this_machines_count(oom, before)
    assert oom["since"] is None
    assert oom["window"]["since"] is None
    assert oom["processes"] == []
    assert warning_messages(result) == []


def test_max_kills_and_since(tmp_path):
    path = fixture_copy(tmp_path, LOGS / "syslog-debian.log")
    result = run_main({**BASE, "log_paths": [path], "max_kills": 1, "since": "2026-03-03T10:15:00+00:00"})
    oom = result["ansible_facts"]["oom"]
    assert [kill["pid"] for kill in oom["kills"]] == [4400]
    assert oom["kill_count"] == 3
    assert oom["since"] == oom["window"]["since"] == "2026-03-03T10:15:00+00:00"


def test_max_kills_zero_keeps_none(tmp_path):
    path = fixture_copy(tmp_path, LOGS / "dmesg-6.18-memcg-v1.log")
    oom = run_main({**BASE, "log_paths": [path], "max_kills": 0})["ansible_facts"]["oom"]
    assert (oom["kills"], oom["kill_count"]) == ([], 2)


def test_the_same_log_gives_the_same_kill_ids(tmp_path):
    path = fixture_copy(tmp_path, FACTS / "web-1-syslog.log")
    first = run_main({**BASE, "log_paths": [path]})["ansible_facts"]["oom"]["kills"]
    second = run_main({**BASE, "log_paths": [path]})["ansible_facts"]["oom"]["kills"]
    ids = [kill["id"] for kill in first]
    assert ids == [kill["id"] for kill in second]
    assert len(set(ids)) == len(ids) == 5


def test_absent_log_path_fails_naming_it(tmp_path):
    """Changed on purpose ([4/8] item 3): a missing log_paths entry fails the task; it used to read as no kills."""
    present = fixture_copy(tmp_path, LOGS / "dmesg-6.18-memcg-v1.log")
    missing = str(tmp_path / "missing.log")
    result = run_main({**BASE, "log_paths": [present, missing]})
    assert (result["rc"], result["failed"]) == (1, True)
    assert result["msg"] == "log_paths: %s does not exist" % missing
    assert "ansible_facts" not in result


def test_earlyoom_command_lines_are_redacted(tmp_path):
    path = fixture_copy(tmp_path, FACTS / "web-1-syslog.log")
    oom = run_main({**BASE, "log_paths": [path]})["ansible_facts"]["oom"]
    (kill,) = [kill for kill in oom["kills"] if kill["killer"] == "earlyoom"]
    assert kill["cmdline"] == "/opt/report/report --db-password <redacted> --api-token=<redacted>"
    assert "hunter2" not in json.dumps(oom) and "s3cr3t" not in json.dumps(oom)


def test_check_mode_changes_nothing(tmp_path):
    path = fixture_copy(tmp_path, LOGS / "kmsg-raw.log")
    result = run_main({**BASE, "log_paths": [path], "_ansible_check_mode": True})
    assert result["changed"] is False
    assert result["rc"] == 0
    assert [kill["pid"] for kill in result["ansible_facts"]["oom"]["kills"]] == [4242]


def fake_journal(tmp_path, monkeypatch, script):
    """A journal directory with one file, and a journalctl that runs the shell C(script) instead; returns the
    commands for harness.run_module()."""
    journal = tmp_path / "journal" / "m"
    journal.mkdir(parents=True)
    (journal / "system.journal").write_bytes(b"LPKSHHRH")
    monkeypatch.setattr(_oom_sources, "JOURNAL_DIRS", (str(tmp_path / "journal"),))
    return {"journalctl": executable(tmp_path / "journalctl", "#!/bin/sh\n%s\n" % script)}


def test_journal_source_with_a_fake_journalctl(tmp_path, monkeypatch):
    stamp = int(datetime.datetime(2026, 3, 3, 10, 11, 12, tzinfo=datetime.timezone.utc).timestamp() * 1e6)
    entries = [
        {
            "MESSAGE": "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
            "oom_memcg=/system.slice/worker.service,task_memcg=/system.slice/worker.service,task=worker,pid=4242,"
            "uid=1001",
            "_TRANSPORT": "kernel",
            "_BOOT_ID": "b0",
            "__REALTIME_TIMESTAMP": str(stamp),
        },
        {
            "MESSAGE": list(b"Memory cgroup out of memory: Killed process 4242 (w\xffrker) total-vm:10kB"),
            "_TRANSPORT": "kernel",
            "_BOOT_ID": "b0",
            "__REALTIME_TIMESTAMP": str(stamp + 1),
            "_SOURCE_MONOTONIC_TIMESTAMP": "5123000000",
        },
    ]
    (tmp_path / "entries.json").write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    commands = fake_journal(tmp_path, monkeypatch, 'cat "%s"' % (tmp_path / "entries.json"))
    result = run_main({**BASE, "log_sources": ["journal"]}, commands)
    oom = result["ansible_facts"]["oom"]
    kill = oom["kills"][0]
    assert oom["kill_count"] == 1
    assert (kill["pid"], kill["comm"], kill["unit"], kill["kind"], kill["source"], kill["timestamp"]) == (
        4242,
        "w\\xffrker",
        "worker.service",
        "memcg",
        "journal",
        "2026-03-03T10:11:12.000001+00:00",
    )
    assert (kill["boot_id"], kill["uptime_s"], kill["scope"]) == ("b0", 5123.0, "local")
    # the kernel's own time gives the kill the same id in the journal and in a dmesg capture of it
    dmesg = tmp_path / "dmesg.log"
    dmesg.write_text("[ 5123.000000] Memory cgroup out of memory: Killed process 4242 (worker) total-vm:10kB\n")
    copied = run_main({**BASE, "log_paths": [str(dmesg)]})["ansible_facts"]["oom"]["kills"]
    assert [copied_kill["id"] for copied_kill in copied] == [kill["id"]]
    assert oom["sources"]["journal"] == {"status": "ok", "detail": "", "kills": 1, "format": "journal", "untrusted": 0}


def test_journal_without_matches_is_ok_not_unreadable(tmp_path, monkeypatch):
    """journalctl --grep exits 1 without a word when nothing matches: that is a journal with no OOM kill."""
    commands = fake_journal(tmp_path, monkeypatch, "exit 1")
    oom = run_main({**BASE, "log_sources": ["journal"]}, commands)["ansible_facts"]["oom"]
    assert oom["sources"]["journal"] == {"status": "ok", "detail": "", "kills": 0, "format": "journal", "untrusted": 0}
    assert (oom["sources_unavailable"], oom["kill_count"]) == ([], 0)


@pytest.mark.skipif(shutil.which("journalctl") is None, reason="no journalctl")
def test_no_live_source_warns(tmp_path, monkeypatch):
    monkeypatch.setattr(_oom_sources, "JOURNAL_DIRS", (str(tmp_path / "none"),))
    result = run_main({**BASE, "log_sources": ["journal"]})
    oom = result["ansible_facts"]["oom"]
    assert oom["sources_unavailable"] == ["journal"]
    assert oom["sources"]["journal"]["status"] == "absent"
    assert oom["sources"]["journal"]["kills"] == 0
    assert warning_messages(result) == ["log source journal: the journal has no files in %s" % (tmp_path / "none")]


# --------------------------------------------------------------------------------------------------------------
# A whole fake host


class MetadataServer:
    """A fake GCE metadata server on 127.0.0.1: answers the five paths oom_facts asks for and records requests."""

    VALUES = {
        "/computeMetadata/v1/instance/machine-type": "projects/123456789/machineTypes/e2-medium",
        "/computeMetadata/v1/instance/zone": "projects/123456789/zones/europe-west1-b",
        "/computeMetadata/v1/instance/id": "4512337890123456789",
        "/computeMetadata/v1/instance/name": "web-1",
        "/computeMetadata/v1/project/project-id": "example-prod",
    }

    def __init__(self, flavor="Google", values=None):
        self.requests = []
        values = dict(self.VALUES, **(values or {}))
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Metadata-Flavor")))
                body = values.get(self.path)
                if body is None or self.headers.get("Metadata-Flavor") != "Google":
                    self.send_response(404)
                    body = "not found"
                else:
                    self.send_response(200)
                if flavor:
                    self.send_header("Metadata-Flavor", flavor)
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/computeMetadata/v1" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def metadata_server():
    servers = []

    def start(**kwargs):
        servers.append(MetadataServer(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


UNITS = {
    "worker.service": {
        "LoadState": "loaded",
        "ActiveState": "active",
        "ControlGroup": "/system.slice/worker.service",
        "MemoryMax": "1073741824",
        "MemoryHigh": "infinity",
        "MemoryLow": "0",
        "MemoryMin": "0",
        "MemorySwapMax": "infinity",
        "MemoryCurrent": "52428800",
        "MemoryPeak": "1073000000",
        "OOMPolicy": "stop",
        "OOMScoreAdjust": "0",
        "ManagedOOMMemoryPressure": "auto",
        "ManagedOOMMemoryPressureLimit": "0",
        "ManagedOOMSwap": "auto",
        "ManagedOOMPreference": "none",
        "Result": "oom-kill",
    },
    "postgresql.service": {
        "LoadState": "loaded",
        "ActiveState": "active",
        "ControlGroup": "/system.slice/postgresql.service",
        "MemoryMax": "infinity",
        "OOMScoreAdjust": "-900",
        "OOMPolicy": "stop",
        "Result": "success",
    },
    "cron.service": {"LoadState": "loaded", "ActiveState": "active", "ControlGroup": "/system.slice/cron.service"},
    "earlyoom.service": {
        "LoadState": "loaded",
        "ActiveState": "active",
        "ControlGroup": "/system.slice/earlyoom.service",
    },
}


def build_vm(tmp_path, gce_url=None):
    """A GCE VM (cgroup v1 memory + unified), systemd with three units, a module run over SSH with sudo,
    containers with and without limits, sysstat files and the fixture log. Returns (host, args)."""
    host = FakeHost(tmp_path / "host")
    host.identity(hostname="web-1", uptime=6000.0)
    host.vmstat(oom_kill=3)
    host.pressure()
    host.dmi()
    host.mounts()
    # The module's chain: sshd listener > sshd [priv] > sshd root@notty > sh > sudo > sh > python3 (the module).
    host.process(1, "systemd", ppid=0, cmdline=["/sbin/init"])
    host.process(800, "sshd", cmdline=["sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"], adj=-1000)
    host.process(4989, "sshd", ppid=800, cmdline=["sshd: root [priv]"])
    host.process(4990, "sshd", ppid=4989, cmdline=["sshd: root@notty"])
    host.process(4997, "sh", ppid=4990, cmdline=["/bin/sh", "-c", "sudo -H -S -n -u root /bin/sh -c 'echo BECOME'"])
    host.process(4998, "sudo", ppid=4997, cmdline=["sudo", "-H", "-S", "-n", "-u", "root", "/bin/sh", "-c", "x"])
    host.process(4999, "sh", ppid=4998, cmdline=["/bin/sh", "-c", "echo BECOME-SUCCESS; /usr/bin/python3"])
    host.process(MODULE_PID, "python3", ppid=4999, cmdline=["/usr/bin/python3"], score=990, rss_kb=30000)
    host.process(
        2100,
        "postgres",
        cmdline=["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/15/main", "--password=hunter2"],
        cgroup="/system.slice/postgresql.service",
        adj=-900,
        score=650,
        rss_kb=500000,
        hwm_kb=800000,
        swap_kb=1024,
        uid=105,
    )
    host.process(
        2200,
        "python3",
        cmdline=["/usr/bin/python3", "-m", "worker", "https://bob:s3cr3t@db.example.com/x", "AKIAIOSFODNN7EXAMPLE"],
        cgroup="/system.slice/worker.service",
        score=600,
        rss_kb=300000,
        uid=1001,
    )
    host.process(2300, "kworker/0:1", kthread=True, score=999)
    host.cgroup(
        "/system.slice/worker.service",
        memory__oom_control="oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        memory__max_usage_in_bytes="1073741824\n",
        memory__limit_in_bytes="1073741824\n",
    )
    host.cgroup("/system.slice/postgresql.service", memory__max_usage_in_bytes="900000000\n")
    host.cgroup("/docker/" + HOG, memory__limit_in_bytes="9223372036854771712\n", memory__usage_in_bytes="52428800\n")
    host.cgroup("/docker/" + LIMITED, memory__limit_in_bytes="536870912\n", memory__usage_in_bytes="1000\n")
    pod = "/kubepods/burstable/pod" + POD_UID
    host.cgroup(pod, memory__limit_in_bytes="1073741824\n")
    host.cgroup(pod + "/" + POD_LIMITED, memory__limit_in_bytes="9223372036854771712\n")
    open_pod = "/kubepods/besteffort/pod" + POD_UID.replace("0f5b", "1f5b")
    host.cgroup(open_pod, memory__limit_in_bytes="9223372036854771712\n")
    host.cgroup(
        open_pod + "/" + POD_OPEN, memory__limit_in_bytes="9223372036854771712\n", memory__usage_in_bytes="2048\n"
    )
    host.cgroup("/lxc.monitor.ct01", memory__limit_in_bytes="9223372036854771712\n")
    host.systemd(UNITS)
    host.sadf()
    sa_dir = tmp_path / "sa"
    sa_dir.mkdir()
    # noon (UTC) two days and one day ago: inside the 3-day window and on two days whatever the time of day
    noon = int(time.time()) // 86400 * 86400 + 43200
    stamps = [noon - 2 * 86400, noon - 2 * 86400 + 600, noon - 86400, noon - 86400 + 600]
    avail = [3000000, 400000, 2025152, 1025152]
    samples = [
        (time.strftime("%Y-%m-%d", time.gmtime(stamp)), time.strftime("%H:%M:%S", time.gmtime(stamp)), value)
        for stamp, value in zip(stamps, avail)
    ]
    (sa_dir / "sa01").write_bytes(b"binary")
    (sa_dir / "sa01.json").write_text(json.dumps(sadf_document(samples[:2])))
    (sa_dir / "sa02").write_bytes(b"binary")
    (sa_dir / "sa02.json").write_text(json.dumps(sadf_document(samples[2:])))
    log = fixture_copy(tmp_path, FACTS / "web-1-syslog.log")
    args = {
        "log_sources": [],
        "log_paths": [log],
        "top_processes": 2,
        "memory_history_days": 3,
        "sysstat_dirs": [str(sa_dir)],
        "gce_metadata_url": gce_url or "http://127.0.0.1:9/computeMetadata/v1",
    }
    return host, args


def test_a_whole_vm(tmp_path, metadata_server):
    server = metadata_server()
    host, args = build_vm(tmp_path, server.url)
    facts, warnings = gather(args, host)
    assert warnings == []
    assert facts["facts_version"] == "1.1"
    assert facts["host"] == {
        "hostname": "web-1",
        "boot_id": "3f0c5b1e2a4d4c7e9b1a0d2e4f6a8b0c",
        "uptime_s": 6000.0,
        "kernel": "6.1.0",
        "container": {"detected": False, "runtime": None, "cgroup_prefixes": None},
        "dmi": {"vendor": "Google", "product": "Google Compute Engine"},
        "gce": {
            "machine_type": "e2-medium",
            "zone": "europe-west1-b",
            "instance_id": "4512337890123456789",
            "instance_name": "web-1",
            "project": "example-prod",
        },
    }
    assert [flavor for _path, flavor in server.requests] == ["Google"] * 5
    assert facts["window"]["since"] is None
    assert facts["window"]["oldest_record"] == "2026-03-03T10:11:10+00:00"

    # kills: every local, the panic apart, counters per kind, unit and source
    assert [(kill["killer"], kill["kind"], kill["pid"], kill["unit"]) for kill in facts["kills"]] == [
        ("kernel", "memcg", 4242, "worker.service"),
        ("systemd-oomd", "systemd-oomd", None, "batch-7.scope"),
        ("earlyoom", "earlyoom", 4300, None),
        ("kernel", "global", 4400, "session-3.scope"),
        ("kernel", "memcg", 5500, "hog.service"),
    ]
    assert {kill["scope"] for kill in facts["kills"]} == {"local"}
    assert [kill["python"] for kill in facts["kills"]] == [False, False, False, True, False]
    assert facts["kills"][4]["container"] == {"runtime": "lxc", "id": "ct01"}
    assert all(set(kill) == set(KILL_KEYS) for kill in facts["kills"])
    assert facts["kill_count"] == 5
    assert facts["kill_count_by_kind"] == {
        **NO_KILLS_BY_KIND,
        "global": 1,
        "memcg": 2,
        "systemd-oomd": 1,
        "earlyoom": 1,
    }
    assert facts["kill_count_by_unit"] == {
        "worker.service": 1,
        "batch-7.scope": 1,
        "session-3.scope": 1,
        "hog.service": 1,
    }
    assert facts["kill_count_by_source"] == {args["log_paths"][0]: 5}
    assert sum(facts["kill_count_by_host"].values()) == 5
    assert (facts["host_scope_kill_count"], facts["untrusted_records"], facts["no_killable_count"]) == (0, 0, 0)
    assert [panic["reason"] for panic in facts["oom_panics"]] == ["Out of memory: compulsory panic_on_oom is enabled"]
    # the kernel counted 3 kills since this boot; the log's kills are from March, before the boot
    assert (facts["kills_missing_from_logs"], facts["kills_missing_known"]) == (3, True)

    # processes: the module's chain is left out, secrets are redacted, peaks and swap are read
    assert facts["processes"] == [
        {
            "pid": 2100,
            "comm": "postgres",
            "cmdline": "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main --password=<redacted>",
            "oom_score": 650,
            "oom_score_adj": -900,
            "rss_kb": 500000,
            "hwm_kb": 800000,
            "swap_kb": 1024,
            "uid": 105,
            "unit": "postgresql.service",
            "cgroup": "/system.slice/postgresql.service",
            "python": False,
        },
        {
            "pid": 2200,
            "comm": "python3",
            "cmdline": "/usr/bin/python3 -m worker https://bob:<redacted>@db.example.com/x <redacted>",
            "oom_score": 600,
            "oom_score_adj": 0,
            "rss_kb": 300000,
            "hwm_kb": 300000,
            "swap_kb": 0,
            "uid": 1001,
            "unit": "worker.service",
            "cgroup": "/system.slice/worker.service",
            "python": True,
        },
    ]

    # units: the ones with memory settings and kills, every property present, the kernel's peak
    # hog.service, batch-7.scope and session-3.scope had kills but systemd does not know them; cron has no setting
    assert sorted(facts["units"]) == ["postgresql.service", "worker.service"]
    worker = facts["units"]["worker.service"]
    assert (worker["MemoryMax"], worker["MemoryHigh"], worker["MemoryPeak"], worker["Result"]) == (
        1073741824,
        "infinity",
        1073000000,
        "oom-kill",
    )
    assert (worker["memory_peak"], worker["oom_kills"], worker["OOMKills"]) == (1073741824, 1, None)
    postgres = facts["units"]["postgresql.service"]
    assert (postgres["OOMScoreAdjust"], postgres["memory_peak"], postgres["MemoryPeak"], postgres["oom_kills"]) == (
        -900,
        900000000,
        None,
        0,
    )
    assert set(postgres) == set(worker)
    assert facts["systemd_running"] is True
    assert facts["userspace_killers"] == {
        "systemd-oomd": {"installed": False, "active": False},
        "earlyoom": {"installed": True, "active": True},
    }
    assert facts["counters"] == {
        "vmstat_oom_kill": 3,
        "vmstat_oom_kill_known": True,
        "cgroups": {
            "/system.slice/worker.service": {"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 3, "hierarchy": "v1"}
        },
    }

    # memory, pressure, sysctls
    assert facts["memory"]["MemTotal"] == 4025152
    assert facts["pressure"]["available"] is True
    assert facts["pressure"]["some"] == {"avg10": 0.0, "avg60": 1.25, "avg300": 0.4, "total": 123456}
    assert facts["sysctl"]["kernel.panic"] == 10
    assert facts["cgroup_version"] == "hybrid"

    # sysstat: MemTotal 4025152; used = MemTotal - avail
    history = facts["memory_history"]
    assert (history["available"], history["reason"], history["days"], history["samples"]) == (True, None, 2, 4)
    assert history["daily_peaks"] == [
        {"date": time.strftime("%Y-%m-%d", time.gmtime(time.time() - 2 * 86400)), "used_kb": 4025152 - 400000},
        {"date": time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400)), "used_kb": 4025152 - 1025152},
    ]
    assert (history["peak_used_kb"], history["p90_daily_peak_kb"], history["share_ge_90_pct"]) == (
        3625152,
        3625152,
        25.0,
    )
    assert history["coverage_pct"] == round(4 * 600 / (3 * 86400) * 100, 2) == 0.93

    # containers without a memory limit: the limited docker one and the pod with a limit are not listed
    assert facts["containers_unlimited"] == [
        {"runtime": "docker", "id": HOG, "cgroup": "/docker/" + HOG, "memory_current": 52428800, "pod_uid": None},
        {
            "runtime": "containerd",
            "id": POD_OPEN,
            "cgroup": "/kubepods/besteffort/pod%s/%s" % (POD_UID.replace("0f5b", "1f5b"), POD_OPEN),
            "memory_current": 2048,
            "pod_uid": POD_UID.replace("0f5b", "1f5b"),
        },
    ]


def test_the_whole_vm_result_matches_the_return_documentation(tmp_path, metadata_server):
    host, args = build_vm(tmp_path, metadata_server().url)
    facts, _warnings = gather(args, host)
    result = {"changed": False, "ansible_facts": {"oom": facts}}
    assert check_result(oom_facts.RETURN, result) == []
    if os.environ.get("OOMGUARD_WRITE_FACTS_FIXTURES") == "1":
        text = json.dumps(result, indent=1, sort_keys=True).replace(str(tmp_path), "/var/log") + "\n"
        (FACTS / "fake-gce-vm.json").write_text(text)


@pytest.mark.parametrize("name", sorted(path.name for path in FACTS.glob("*.json")))
def test_recorded_real_results_match_the_return_documentation(name):
    """Results recorded on real hosts (tests/integration/test_oom_facts_contract.py writes them), and the synthetic
    hosts the protect and report tests use, which hold the oom fact alone."""
    result = json.loads((FACTS / name).read_text())
    if "ansible_facts" not in result:
        result = {"ansible_facts": {"oom": result}}
    assert result["ansible_facts"]["oom"]["facts_version"] == oom_facts.FACTS_VERSION
    assert check_result(oom_facts.RETURN, result) == []


LOG_FORMATS = {
    "cloud-logging-two-vms.json": "cloud-logging-json",
    "journal-vm-j.export.bin": "journal-export",
    "journal-vm-j.json": "journal-json",
    "serial-port-vm-capture.bin": "serial-text",
    "serial-port-vm-serial.json": "serial-port-json",
    **{path.name: "text" for path in LOGS.glob("*.log")},
}


@pytest.mark.parametrize("name", sorted(LOG_FORMATS))
def test_results_from_every_log_format_match_the_return_documentation(tmp_path, name):
    """Every log fixture, whatever its format, read by the module: its result is what RETURN documents."""
    path = fixture_copy(tmp_path, LOGS / name)
    result = run_main({**BASE, "log_paths": [path]})
    assert result["rc"] == 0
    oom = result["ansible_facts"]["oom"]
    assert oom["sources"][path]["format"] == LOG_FORMATS[name]
    assert oom["kill_count"] + oom["host_scope_kill_count"] + len(oom["oom_panics"]) > 0
    assert check_result(oom_facts.RETURN, result) == []


def test_the_return_check_fails_on_any_difference():
    doc = yaml.safe_load(oom_facts.RETURN)
    assert check_result(oom_facts.RETURN, {"ansible_facts": {"oom": {}}})  # every "always" key is missing
    facts = json.loads((FACTS / "real-kernel-memcg-kill.json").read_text())
    facts["ansible_facts"]["oom"]["surprise"] = 1
    assert check_result(oom_facts.RETURN, facts) == ["ansible_facts.oom.surprise: in the result, not documented"]
    del doc["ansible_facts"]["contains"]["oom"]["contains"]["kills"]["contains"]["id"]
    facts["ansible_facts"]["oom"].pop("surprise")
    assert check_result(yaml.safe_dump(doc), facts)[0].endswith(".id: in the result, not documented")


def test_gce_metadata_only_on_gce_unless_asked(tmp_path, metadata_server):
    server = metadata_server()
    host, args = build_vm(tmp_path, server.url)
    host.dmi(vendor="QEMU", product="Standard PC (i440FX + PIIX, 1996)")
    facts, _warnings = gather({**args, "log_paths": []}, host)
    assert (facts["host"]["gce"], server.requests) == (None, [])
    facts, _warnings = gather({**args, "log_paths": [], "gce_metadata": "always"}, host)
    assert facts["host"]["gce"]["machine_type"] == "e2-medium"
    host.dmi()
    server.requests.clear()
    facts, _warnings = gather({**args, "log_paths": [], "gce_metadata": "never"}, host)
    assert (facts["host"]["gce"], server.requests) == (None, [])


def test_gce_metadata_without_the_google_header_is_not_believed(tmp_path, metadata_server):
    server = metadata_server(flavor=None)
    host, args = build_vm(tmp_path, server.url)
    facts, warnings = gather({**args, "log_paths": []}, host)
    assert facts["host"]["gce"] is None
    assert warnings == [
        "GCE metadata server: %s/instance/machine-type: the answer lacks the Metadata-Flavor: Google header"
        % server.url
    ]
    assert len(server.requests) == 1


def test_gce_metadata_odd_values_are_null(tmp_path, metadata_server):
    server = metadata_server(values={"/computeMetadata/v1/instance/name": "<script>"})
    host, args = build_vm(tmp_path, server.url)
    facts, _warnings = gather({**args, "log_paths": []}, host)
    assert (facts["host"]["gce"]["instance_name"], facts["host"]["gce"]["zone"]) == (None, "europe-west1-b")


def test_a_silent_metadata_server_costs_one_timeout(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (in the backlog) and never answers
    try:
        host, args = build_vm(tmp_path, "http://127.0.0.1:%d/v1" % listener.getsockname()[1])
        started = time.monotonic()
        facts, warnings = gather({**args, "log_paths": [], "gce_metadata_timeout": 0.3}, host)
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert facts["host"]["gce"] is None
    assert len(warnings) == 1 and warnings[0].startswith("GCE metadata server: http://127.0.0.1:")
    assert elapsed < 1.4  # one 0.3 s timeout (plus the rest of the run), not five


def test_no_systemd_no_units(tmp_path):
    host, args = build_vm(tmp_path)
    shutil.rmtree(host.path("/run/systemd"))
    facts, _warnings = gather({**args, "gce_metadata": "never"}, host)
    assert (facts["systemd_running"], facts["units"]) == (False, {})
    assert host.systemctl_calls() == []


def test_explicit_units_are_asked_for_in_one_call(tmp_path):
    host, args = build_vm(tmp_path)
    facts, _warnings = gather({**args, "gce_metadata": "never", "units": ["cron.service", "gone.service"]}, host)
    assert sorted(facts["units"]) == ["cron.service"]
    assert facts["units"]["cron.service"]["MemoryMax"] is None
    calls = host.systemctl_calls()
    assert len(calls) == 1
    assert calls[0][-4:] == ["cron.service", "gone.service", "systemd-oomd.service", "earlyoom.service"]


def test_kills_missing_from_logs(tmp_path):
    host, args = build_vm(tmp_path)
    args = {**args, "gce_metadata": "never"}
    host.vmstat(oom_kill=7)
    facts, _warnings = gather(args, host)
    assert (facts["kills_missing_from_logs"], facts["kills_missing_known"]) == (7, True)
    # a window that starts after boot cannot be compared with counters that count since boot
    facts, _warnings = gather({**args, "since": "1h"}, host)
    assert (facts["kills_missing_from_logs"], facts["kills_missing_known"]) == (0, False)
    # a window that covers the whole boot can (uptime is 6000 s)
    facts, _warnings = gather({**args, "since": "2h"}, host)
    assert (facts["kills_missing_from_logs"], facts["kills_missing_known"]) == (7, True)
    # a unit that ended with Result=oom-kill without a logged kill is at least one kill missing
    host.vmstat(oom_kill=0)
    facts, _warnings = gather({**args, "log_paths": []}, host)
    assert (facts["kills_missing_from_logs"], facts["kills_missing_known"]) == (1, False)
    host.vmstat(oom_kill=None)
    facts, _warnings = gather(args, host)
    assert (facts["kills_missing_from_logs"], facts["kills_missing_known"]) == (0, False)
    assert (facts["counters"]["vmstat_oom_kill"], facts["counters"]["vmstat_oom_kill_known"]) == (0, False)


def test_syslog_kills_of_this_boot_are_not_missing(tmp_path):
    """Where only syslog files can be read, the kernel kills this host logged since boot count as logged, whether
    the syslog host name is the short one or the FQDN; another host's kill in the same file does not."""
    host, args = build_vm(tmp_path)
    # postgresql.service only: worker.service's Result=oom-kill would count as a kill no log shows
    args = {**args, "gce_metadata": "never", "units": ["postgresql.service"]}
    host.vmstat(oom_kill=2)
    stamp = time.strftime("%b %e %H:%M:%S", time.gmtime(time.time() - 600))
    log = tmp_path / "syslog"
    log.write_text(
        "".join(
            "%s %s kernel: [ 5400.00000%d] Out of memory: Killed process %d (worker) total-vm:10kB\n"
            % (stamp, name, index, 4242 + index)
            for index, name in enumerate(("web-1", "web-1.c.example-prod.internal", "web-2"))
        )
    )
    facts, _warnings = gather({**args, "log_paths": [str(log)]}, host)
    assert facts["kill_count_by_host"] == {"web-1": 1, "web-1.c.example-prod.internal": 1, "web-2": 1}
    assert (facts["kills_missing_from_logs"], facts["kills_missing_known"]) == (0, True)
    host.vmstat(oom_kill=3)
    facts, _warnings = gather({**args, "log_paths": [str(log)]}, host)
    assert (facts["kills_missing_from_logs"], facts["kills_missing_known"]) == (1, True)


def test_syslog_kills_of_this_boot_beyond_max_kills_are_not_missing(tmp_path):
    """The kernel kills logged since boot are counted whatever max_kills keeps in the kills list."""
    host, args = build_vm(tmp_path)
    args = {**args, "gce_metadata": "never", "units": ["postgresql.service"], "max_kills": 1}
    host.vmstat(oom_kill=5)
    stamp = time.strftime("%b %e %H:%M:%S", time.gmtime(time.time() - 600))
    before_boot = time.strftime("%b %e %H:%M:%S", time.gmtime(time.time() - 7200))
    log = tmp_path / "syslog"
    log.write_text(
        "%s web-1 kernel: [ 9.000000] Out of memory: Killed process 4100 (worker) total-vm:10kB\n" % before_boot
        + "".join(
            "%s web-1 kernel: [ 5400.00000%d] Out of memory: Killed process %d (worker) total-vm:10kB\n"
            % (stamp, index, 4242 + index)
            for index in range(4)
        )
    )
    facts, _warnings = gather({**args, "log_paths": [str(log)]}, host)
    assert (facts["kill_count"], len(facts["kills"])) == (5, 1)
    assert (facts["kills_missing_from_logs"], facts["kills_missing_known"]) == (1, True)


def test_pressure_off_and_no_dmi(tmp_path):
    host, args = build_vm(tmp_path)
    host.path("/proc/pressure/memory").unlink()
    shutil.rmtree(host.path("/sys/class/dmi"))
    facts, _warnings = gather({**args, "log_paths": []}, host)
    assert facts["pressure"] == {
        "available": False,
        "some": {"avg10": 0.0, "avg60": 0.0, "avg300": 0.0, "total": 0},
        "full": {"avg10": 0.0, "avg60": 0.0, "avg300": 0.0, "total": 0},
    }
    assert facts["host"]["dmi"] == {"vendor": None, "product": None}
    assert facts["host"]["gce"] is None


def test_sysstat_history_reasons(tmp_path):
    host, args = build_vm(tmp_path)
    args = {**args, "log_paths": [], "gce_metadata": "never"}
    facts, _warnings = gather({**args, "memory_history_days": 0}, host)
    assert facts["memory_history"]["reason"] == "not gathered (memory_history_days is 0)"
    host.commands["sadf"] = None
    facts, _warnings = gather(args, host)
    assert facts["memory_history"]["reason"] == "sysstat is not installed (no sadf command)"
    host.sadf()
    facts, _warnings = gather({**args, "sysstat_dirs": [str(tmp_path / "none")]}, host)
    assert facts["memory_history"]["reason"].startswith(
        "no sysstat file of the last 3 days in %s" % (tmp_path / "none")
    )
    assert facts["memory_history"]["available"] is False
    # a file sadf cannot read is skipped with a warning; the others still count
    (tmp_path / "sa" / "sa03").write_bytes(b"from another sysstat version")
    facts, warnings = gather(args, host)
    assert facts["memory_history"]["samples"] == 4
    broken = tmp_path / "sa" / "sa03"
    assert warnings == ["sadf cannot read %s: Invalid system activity file: %s" % (broken, broken)]


# --------------------------------------------------------------------------------------------------------------
# Containers


def build_container(tmp_path, runtime="lxc", v2=False, upperdir="/var/lib/lxc/web1/delta0"):
    """An LXC system container named web1 (host name ct-web) in its own pid and cgroup namespaces."""
    host, args = build_vm(tmp_path)
    host.identity(hostname="ct-web", uptime=6000.0)
    host.pid_namespace(initial=False)
    host.write("/run/systemd/container", runtime + "\n")
    host.self_cgroup("9:name=systemd:/init.scope\n4:memory:/\n0::/init.scope\n")
    root_mount = (
        "20 1 0:40 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/lxc/images/base/rootfs,"
        "upperdir=%s,workdir=/var/lib/lxc/web1/olwork\n" % upperdir
    )
    if v2:
        host.mounts(v1_memory=False, unified=True, extra_mountinfo=root_mount)
        host.write("/sys/fs/cgroup/memory.events", "low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\noom_group_kill 0\n")
    else:
        host.mounts(extra_mountinfo=root_mount)
    return host, {**args, "gce_metadata": "never"}


def test_a_container_counts_only_its_own_kernel_kills(tmp_path):
    host, args = build_container(tmp_path, upperdir="/var/lib/lxc/ct01/delta0")
    host.cgroup("/system.slice/hog.service", memory__oom_control="oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    facts, _warnings = gather(args, host)
    assert facts["host"]["container"] == {
        "detected": True,
        "runtime": "lxc",
        "cgroup_prefixes": [
            "/lxc.payload.ct-web",
            "/lxc/ct-web",
            "/lxc.payload.base",
            "/lxc/base",
            "/lxc.payload.ct01",
            "/lxc/ct01",
        ],
    }
    scopes = [(kill["killer"], kill["pid"], kill["scope"]) for kill in facts["kills"]]
    assert scopes == [
        ("kernel", 4242, "host"),
        ("systemd-oomd", None, "local"),
        ("earlyoom", 4300, "local"),
        ("kernel", 4400, "host"),
        ("kernel", 5500, "local"),
    ]
    assert (facts["kill_count"], facts["host_scope_kill_count"]) == (3, 2)
    assert facts["kill_count_by_killer"] == {"kernel": 1, "systemd-oomd": 1, "earlyoom": 1}
    assert facts["kill_count_by_kind"]["memcg"] == 1 and facts["kill_count_by_kind"]["global"] == 0
    assert facts["kill_count_by_unit"] == {"batch-7.scope": 1, "hog.service": 1}
    # the local kill's cgroup, as the kernel printed it, is read where the container sees it
    assert facts["counters"]["cgroups"]["/lxc.payload.ct01/system.slice/hog.service"] == {
        "oom_kill_disable": 0,
        "under_oom": 0,
        "oom_kill": 1,
        "hierarchy": "v1",
    }
    # the host's kill in its own worker.service is not this container's: only the container's unit is read
    assert "/system.slice/worker.service" in facts["counters"]["cgroups"]
    assert not any(path.startswith("/lxc.payload.ct01/system.slice/worker") for path in facts["counters"]["cgroups"])


def test_a_container_without_a_known_prefix_makes_every_kernel_kill_the_hosts(tmp_path):
    host, args = build_container(tmp_path, runtime="other", upperdir="/srv/overlay/upper")
    facts, _warnings = gather(args, host)
    assert facts["host"]["container"] == {"detected": True, "runtime": "other", "cgroup_prefixes": []}
    assert [kill["scope"] for kill in facts["kills"] if kill["killer"] == "kernel"] == ["host"] * 3
    assert (facts["kill_count"], facts["host_scope_kill_count"]) == (2, 3)


def test_a_container_counts_kills_its_cgroup_saw_but_no_log_shows(tmp_path):
    """cgroup v2: the container's own memory.events counts 2 kills; no readable log shows them."""
    host, args = build_container(tmp_path, v2=True)
    # a newer kernel's extra memory.events key is left out; memory.events.local fills "local"
    host.write(
        "/sys/fs/cgroup/system.slice/worker.service/memory.events",
        "low 0\nhigh 7\nmax 9\noom 2\noom_kill 2\noom_group_kill 0\nsock_throttled 4\n",
    )
    host.write("/sys/fs/cgroup/system.slice/worker.service/memory.events.local", "oom 1\noom_kill 1\n")
    facts, _warnings = gather({**args, "log_paths": []}, host)
    assert facts["kill_count"] == 0
    assert (facts["kills_missing_from_logs"], facts["kills_missing_known"]) == (2, True)
    assert facts["counters"]["cgroups"]["/system.slice/worker.service"] == {
        "low": 0,
        "high": 7,
        "max": 9,
        "oom": 2,
        "oom_kill": 2,
        "oom_group_kill": 0,
        "local": {"low": 0, "high": 0, "max": 0, "oom": 1, "oom_kill": 1, "oom_group_kill": 0},
        "hierarchy": "v2",
    }
    assert check_result(oom_facts.RETURN, {"ansible_facts": {"oom": facts}}) == []


def test_a_v1_container_counts_its_cgroups_and_units_as_a_lower_bound(tmp_path):
    host, args = build_container(tmp_path)
    # worker.service ended with Result=oom-kill and its cgroup counted 3; no readable log shows them
    facts, _warnings = gather({**args, "log_paths": []}, host)
    assert facts["units"]["worker.service"]["Result"] == "oom-kill"
    assert (facts["kills_missing_from_logs"], facts["kills_missing_known"]) == (3, False)
    shutil.rmtree(host.path("/sys/fs/cgroup/memory/system.slice/worker.service"))
    facts, _warnings = gather({**args, "log_paths": []}, host)
    assert (facts["kills_missing_from_logs"], facts["kills_missing_known"]) == (1, False)


def test_auto_in_a_container_reads_the_kernel_log_beside_the_journal(tmp_path, monkeypatch):
    """journald in a container has no kernel messages: auto reads the journal and then dmesg (no /dev/kmsg)."""
    host, args = build_container(tmp_path, upperdir="/var/lib/lxc/ct01/delta0")
    host.commands.update(fake_journal(tmp_path, monkeypatch, "exit 1"))
    host.commands["dmesg"] = executable(
        tmp_path / "dmesg",
        "#!/bin/sh\ncat <<'EOF'\n"
        "[ 6200.000400] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
        "oom_memcg=/lxc.payload.ct01/system.slice/hog.service,task_memcg=/lxc.payload.ct01/system.slice/hog.service,"
        "task=hog,pid=5500,uid=0\n"
        "[ 6200.000500] Memory cgroup out of memory: Killed process 5500 (hog) total-vm:102400kB, anon-rss:65536kB, "
        "file-rss:1024kB, shmem-rss:0kB, UID:0 pgtables:200kB oom_score_adj:0\nEOF\n",
    )

    def no_kmsg(*_args, **_kwargs):
        raise _oom_sources.SourceUnavailable("absent", "/dev/kmsg does not exist")

    monkeypatch.setattr(_oom_sources, "read_kmsg", no_kmsg)
    facts, _warnings = gather({**args, "log_paths": [], "log_sources": ["auto"]}, host)
    assert {name: source["status"] for name, source in facts["sources"].items()} == {
        "journal": "ok",
        "kmsg": "absent",
        "dmesg": "ok",
    }
    assert [(kill["pid"], kill["scope"], kill["source"]) for kill in facts["kills"]] == [(5500, "local", "dmesg")]
    # outside a container, auto stops at the first source it can read
    host.pid_namespace(initial=True)
    facts, _warnings = gather({**args, "log_paths": [], "log_sources": ["auto"]}, host)
    assert list(facts["sources"]) == ["journal"]


def test_a_stale_dockerenv_in_a_vm_is_no_container(tmp_path):
    host, args = build_vm(tmp_path)
    host.write("/.dockerenv", "")
    facts, _warnings = gather({**args, "gce_metadata": "never"}, host)
    assert facts["host"]["container"] == {"detected": False, "runtime": None, "cgroup_prefixes": None}
    assert {kill["scope"] for kill in facts["kills"]} == {"local"}


def test_main_on_this_machine_lists_neither_itself_nor_its_parents():
    """The real /proc: the pytest process runs main(); neither it nor its shell is a "next victim"."""
    result = run_main({**BASE, "top_processes": 1000})
    pids = {process["pid"] for process in result["ansible_facts"]["oom"]["processes"]}
    assert os.getpid() not in pids
    keys = {"pid", "comm", "cmdline", "oom_score", "oom_score_adj", "rss_kb", "hwm_kb", "swap_kb", "uid", "unit"}
    keys |= {"cgroup", "python"}
    assert all(set(process) == keys for process in result["ansible_facts"]["oom"]["processes"])
