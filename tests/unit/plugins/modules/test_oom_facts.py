# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run oom_facts' main() in-process against fixture logs and a fake journalctl."""

from __future__ import annotations

import datetime
import gzip
import json
import os
import shutil
import stat
import time
from pathlib import Path

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.oomguard.memory.plugins.module_utils import _oom_sources
from ansible_collections.oomguard.memory.plugins.modules import oom_facts

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "oom_logs"
MTIME = datetime.datetime(2026, 3, 10, 12, 0, 0, tzinfo=datetime.timezone.utc).timestamp()


@pytest.fixture(autouse=True)
def utc_zone(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    """Warnings are collected process-wide; start every in-process module run with none."""
    monkeypatch.setattr(module_warnings, "_global_warnings", {})
    monkeypatch.setattr(module_warnings, "_global_deprecations", {})


def run_module(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit) as caught:
        oom_facts.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = caught.value.code
    return result


def warning_messages(result):
    """Warnings as text: plain strings, or WarningSummary dicts as ansible-core 2.19 prints them."""
    return [item["event"]["msg"] if isinstance(item, dict) else item for item in result.get("warnings", [])]


def fixture_copy(tmp_path, name, compress=False):
    path = tmp_path / (name + (".gz" if compress else ""))
    data = (FIXTURES / name).read_bytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    os.utime(path, (MTIME, MTIME))
    return str(path)


BASE = {"log_sources": [], "top_processes": 0}


@pytest.mark.parametrize("since", ["yesterday", "24x", "2026-13-45", "-5h"])
def test_bad_since_fails_clearly(capsys, since):
    result = run_module({**BASE, "since": since}, capsys)
    assert result["failed"] is True
    assert result["rc"] == 1
    assert result["msg"] == (
        "since=%r is neither a duration such as 90m, 24h, 7d or 2w nor an ISO 8601 time such as "
        "2026-03-01T00:00:00+00:00" % since
    )


def test_negative_max_kills_fails(capsys):
    result = run_module({**BASE, "max_kills": -1}, capsys)
    assert (result["failed"], result["msg"]) == (True, "max_kills must be 0 or more; got -1")


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_log_paths_only_gives_exact_kills(tmp_path, capsys, compress):
    path = fixture_copy(tmp_path, "syslog-debian.log", compress)
    result = run_module({**BASE, "log_paths": [path]}, capsys)
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
    assert oom["kill_count"] == 4
    assert oom["kill_count_by_killer"] == {"kernel": 2, "systemd-oomd": 1, "earlyoom": 1}
    assert oom["sources"] == {path: {"status": "ok", "detail": "", "kills": 4, "untrusted": 0, "format": "text"}}
    assert oom["sources_unavailable"] == []
    assert oom["kills_missing_from_logs"] is None
    assert oom["oom_panics"] == []
    assert oom["since"] is None
    assert oom["processes"] == []
    assert warning_messages(result) == []


def test_max_kills_and_since(tmp_path, capsys):
    path = fixture_copy(tmp_path, "syslog-debian.log")
    result = run_module({**BASE, "log_paths": [path], "max_kills": 1, "since": "2026-03-03T10:15:00+00:00"}, capsys)
    oom = result["ansible_facts"]["oom"]
    assert [kill["pid"] for kill in oom["kills"]] == [4400]
    assert oom["kill_count"] == 3
    assert oom["since"] == "2026-03-03T10:15:00+00:00"


def test_max_kills_zero_keeps_none(tmp_path, capsys):
    path = fixture_copy(tmp_path, "dmesg-6.18-memcg-v1.log")
    oom = run_module({**BASE, "log_paths": [path], "max_kills": 0}, capsys)["ansible_facts"]["oom"]
    assert (oom["kills"], oom["kill_count"]) == ([], 2)


def test_absent_log_path_fails_naming_it(tmp_path, capsys):
    """Changed on purpose ([4/8] item 3): a missing log_paths entry fails the task; it used to read as no kills."""
    present = fixture_copy(tmp_path, "dmesg-6.18-memcg-v1.log")
    missing = str(tmp_path / "missing.log")
    result = run_module({**BASE, "log_paths": [present, missing]}, capsys)
    assert (result["rc"], result["failed"]) == (1, True)
    assert result["msg"] == "log_paths: %s does not exist" % missing
    assert "ansible_facts" not in result


def test_check_mode_changes_nothing(tmp_path, capsys):
    path = fixture_copy(tmp_path, "kmsg-raw.log")
    result = run_module({**BASE, "log_paths": [path], "_ansible_check_mode": True}, capsys)
    assert result["changed"] is False
    assert result["rc"] == 0
    assert [kill["pid"] for kill in result["ansible_facts"]["oom"]["kills"]] == [4242]


def fake_journal(tmp_path, monkeypatch, script):
    """A journal directory with one file, and a journalctl that runs the shell C(script) instead."""
    fake = tmp_path / "journalctl"
    fake.write_text("#!/bin/sh\n%s\n" % script)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    journal = tmp_path / "journal" / "m"
    journal.mkdir(parents=True)
    (journal / "system.journal").write_bytes(b"LPKSHHRH")
    monkeypatch.setattr(_oom_sources, "JOURNAL_DIRS", (str(tmp_path / "journal"),))
    real_get_bin_path = AnsibleModule.get_bin_path

    def get_bin_path(self, name, *args, **kwargs):
        return str(fake) if name == "journalctl" else real_get_bin_path(self, name, *args, **kwargs)

    monkeypatch.setattr(AnsibleModule, "get_bin_path", get_bin_path)


def test_journal_source_with_a_fake_journalctl(tmp_path, capsys, monkeypatch):
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
        {
            "MESSAGE": "worker.service: A process of this unit has been killed by the OOM killer.",
            "SYSLOG_IDENTIFIER": "systemd",
            "_TRANSPORT": "journal",
            "_BOOT_ID": "b0",
            "__REALTIME_TIMESTAMP": str(stamp + 2),
        },
    ]
    (tmp_path / "entries.json").write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    fake_journal(tmp_path, monkeypatch, 'cat "%s"' % (tmp_path / "entries.json"))
    result = run_module({"log_sources": ["journal"], "top_processes": 0}, capsys)
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
    assert oom["sources"]["journal"] == {"status": "ok", "detail": "", "kills": 1, "untrusted": 0, "format": "journal"}
    assert oom["sources_unavailable"] == []


@pytest.mark.skipif(shutil.which("journalctl") is None, reason="no journalctl")
def test_no_live_source_warns(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(_oom_sources, "JOURNAL_DIRS", (str(tmp_path / "none"),))
    result = run_module({"log_sources": ["journal"], "top_processes": 0}, capsys)
    oom = result["ansible_facts"]["oom"]
    assert oom["sources_unavailable"] == ["journal"]
    assert oom["sources"]["journal"]["status"] == "absent"
    assert warning_messages(result) == ["log source journal: the journal has no files in %s" % (tmp_path / "none")]


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        ("foo;rm -rf /", "contains '/'"),
        ("worker", "has no valid type suffix"),
        ("bad name.service", "contains characters systemd does not allow"),
    ],
)
def test_bad_unit_names_fail_clearly(capsys, unit, message):
    result = run_module({**BASE, "units": [unit]}, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("units: unit name %r" % unit)
    assert message in result["msg"]


def test_journal_without_matches_is_ok_not_unreadable(tmp_path, capsys, monkeypatch):
    """journalctl --grep exits 1 without a word when nothing matches: that is a journal with no OOM kill."""
    fake_journal(tmp_path, monkeypatch, "exit 1")
    facts = run_module({**BASE, "log_sources": ["journal"]}, capsys)["ansible_facts"]["oom"]
    journal = {"status": "ok", "detail": "", "kills": 0, "untrusted": 0, "format": "journal"}
    assert facts["sources"]["journal"] == journal
    assert facts["sources_unavailable"] == []
    assert facts["kill_count"] == 0
