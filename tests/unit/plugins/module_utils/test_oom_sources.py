# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the log sources: files via grep and via the Python prefilter, gzip, syslog rotation, journal, dmesg."""

from __future__ import annotations

import datetime
import gzip
import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils import _oom_sources
from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import OomLogParser
from ansible_collections.oomguard.memory.plugins.module_utils._oom_sources import (
    SourceUnavailable,
    filtered_file_lines,
    read_dmesg,
    read_journal,
    read_kmsg,
    read_log_file,
    read_syslog,
    syslog_files,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "oom_logs"
GREP = shutil.which("grep")
GZIP = shutil.which("gzip")
MTIME = datetime.datetime(2026, 3, 10, 12, 0, 0, tzinfo=datetime.timezone.utc).timestamp()
KILLED = (
    "Out of memory: Killed process 4242 (worker) total-vm:2097152kB, anon-rss:1048576kB, file-rss:512kB,"
    " shmem-rss:0kB, UID:1001 pgtables:2100kB oom_score_adj:0"
)
READERS = [
    pytest.param({"grep": GREP, "gzip_bin": GZIP}, id="grep", marks=pytest.mark.skipif(not GREP, reason="no grep")),
    pytest.param({"grep": None, "gzip_bin": None}, id="python"),
]


@pytest.fixture(autouse=True)
def utc_zone(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def copy_fixture(name, directory, target=None, compress=False):
    path = directory / (target or name)
    data = (FIXTURES / name).read_bytes()
    if compress:
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)
    os.utime(path, (MTIME, MTIME))
    return path


def read(path, reader, kernel_only=False, source="f"):
    parser = OomLogParser()
    read_log_file(parser, str(path), source, kernel_only=kernel_only, **reader)
    return parser.result()


def brief(result):
    return [
        (kill["killer"], kill["pid"], kill["comm"], kill["timestamp"], kill["uptime_s"]) for kill in result["kills"]
    ]


# Fixtures: exact results, identical with grep and with the Python prefilter


@pytest.mark.skipif(not GREP or not GZIP, reason="needs grep and gzip")
@pytest.mark.parametrize(
    ("name", "kernel_only"),
    [("dmesg-6.18-memcg-v1.log", True), ("syslog-debian.log", False), ("kmsg-raw.log", True)],
)
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_grep_and_python_give_identical_results(tmp_path, name, kernel_only, compress):
    path = copy_fixture(name, tmp_path, name + (".gz" if compress else ""), compress)
    by_grep = read(path, {"grep": GREP, "gzip_bin": GZIP}, kernel_only)
    by_python = read(path, {"grep": None, "gzip_bin": None}, kernel_only)
    assert by_grep == by_python
    assert by_grep["kill_count"] >= 1
    grep_lines = list(filtered_file_lines(str(path), GREP, GZIP))
    python_lines = list(filtered_file_lines(str(path), None, None))
    assert grep_lines == python_lines


@pytest.mark.parametrize("reader", READERS)
def test_dmesg_fixture_of_a_6_18_memcg_v1_report(tmp_path, reader):
    result = read(copy_fixture("dmesg-6.18-memcg-v1.log", tmp_path), reader, kernel_only=True, source="dmesg")
    assert result["kill_count"] == 2
    first, second = result["kills"]
    assert {key: value for key, value in first.items() if key != "message"} == {
        "killer": "kernel",
        "pid": 4242,
        "comm": "oomguard-hog",
        "uid": 0,
        "anon_rss_kb": 73216,
        "file_rss_kb": 6648,
        "shmem_rss_kb": 0,
        "total_vm_kb": 83628,
        "pgtables_kb": 204,
        "oom_score_adj": 0,
        "constraint": "CONSTRAINT_MEMCG",
        "oom_memcg": "/oomguard-test-4242ab",
        "task_memcg": "/oomguard-test-4242ab",
        "unit": None,
        "container": None,
        "trigger_comm": "oomguard-hog",
        "trigger_pid": 4242,
        "kind": "memcg",
        "oom_group": None,
        "timestamp": None,
        "uptime_s": 212.400513,
        "source": "dmesg",
        "reaped_anon_rss_kb": 0,
    }
    # Rate-limited: no header, no summary; the context still says memcg.
    assert (second["pid"], second["uid"], second["oom_score_adj"], second["trigger_comm"], second["oom_memcg"]) == (
        4243,
        1001,
        500,
        None,
        None,
    )
    assert (second["kind"], second["constraint"], second["reaped_anon_rss_kb"]) == ("memcg", "CONSTRAINT_MEMCG", 12)
    assert result["panics"] == []


@pytest.mark.parametrize("reader", READERS)
def test_syslog_fixture(tmp_path, reader):
    result = read(copy_fixture("syslog-debian.log", tmp_path), reader, source="/var/log/syslog")
    assert brief(result) == [
        ("kernel", 4242, "worker", "2026-03-03T10:11:10+00:00", 5123.10051),
        ("systemd-oomd", None, None, "2026-03-03T10:20:00+00:00", None),
        ("earlyoom", 4300, "chrome", "2026-03-03T10:30:00+00:00", None),
        ("kernel", 4400, "db writer", "2026-03-03T10:40:00+00:00", 6000.0),
    ]
    kernel, oomd, earlyoom, global_kill = result["kills"]
    assert (kernel["unit"], kernel["constraint"], kernel["trigger_pid"], kernel["kind"]) == (
        "worker.service",
        "CONSTRAINT_MEMCG",
        4242,
        "memcg",
    )
    assert (oomd["unit"], oomd["processes"], oomd["pressure_pct"]) == ("app-build-4242.scope", 7, 71.23)
    assert (earlyoom["signal"], earlyoom["uid"], earlyoom["oom_score_adj"], earlyoom["rss_kb"]) == (
        "SIGTERM",
        1001,
        300,
        2097152,
    )
    assert (global_kill["uid"], global_kill["shmem_rss_kb"], global_kill["oom_score_adj"], global_kill["kind"]) == (
        27,
        4096,
        -100,
        "global",
    )
    assert result["kill_count_by_killer"] == {"kernel": 2, "systemd-oomd": 1, "earlyoom": 1}
    assert result["kill_count_by_unit"] == {"worker.service": 1, "app-build-4242.scope": 1}


@pytest.mark.parametrize("reader", READERS)
def test_kmsg_dump_skips_dictionary_lines_and_user_records(tmp_path, reader):
    result = read(copy_fixture("kmsg-raw.log", tmp_path), reader, kernel_only=True)
    kill = result["kills"][0]
    assert result["kill_count"] == 1
    assert (kill["pid"], kill["uptime_s"], kill["trigger_pid"], kill["unit"], kill["constraint"]) == (
        4242,
        5123.45701,
        4242,
        "session-3.scope",
        "CONSTRAINT_NONE",
    )


@pytest.mark.parametrize("reader", READERS)
def test_non_utf8_and_binary_garbage_is_tolerated(tmp_path, reader):
    path = tmp_path / "garbage.log"
    path.write_bytes(
        b"\x00\x01\x02binary\xff\xfe\x00 kill \x00\x00\n"
        + bytes(range(256))
        + b"\n[ 10.000000] caf\xe9 \xff\xfe started\n"
        + b"[ 11.000000] Out of memory: Killed process 4242 (w\xffrk) total-vm:10kB, anon-rss:8kB, file-rss:1kB,"
        b" shmem-rss:0kB, UID:1001 pgtables:4kB oom_score_adj:0\n"
        + b"\x00" * 100
        + b"\n[ 12.000000] Memory cgroup out of memory: Killed process 4243 (ok) total-vm:1kB\r\n"
        + b"[ 13.000000] Killed process 4244 (last\xc3\xa9)"  # no final newline
    )
    result = read(path, reader, kernel_only=True)
    assert [(kill["pid"], kill["comm"], kill["total_vm_kb"]) for kill in result["kills"]] == [
        (4242, "w\\xffrk", 10),
        (4243, "ok", 1),
        (4244, "lasté", None),
    ]
    assert result["kills"][0]["uid"] == 1001


@pytest.mark.skipif(not GREP, reason="no grep")
def test_prefilter_identical_on_unicode_case_folding(tmp_path):
    """Bug fixed: the last line (no newline) was matched with Unicode lower() (KELVIN SIGN: k), the rest as ASCII."""
    path = tmp_path / "kelvin.log"
    path.write_bytes("first \u212aill line\nlast \u212aill line".encode())
    assert list(filtered_file_lines(str(path), GREP)) == list(filtered_file_lines(str(path), None)) == []


# Unreadable and absent paths


@pytest.mark.parametrize("reader", READERS)
def test_absent_path(tmp_path, reader):
    with pytest.raises(SourceUnavailable) as caught:
        read(tmp_path / "missing.log", reader)
    assert caught.value.status == "absent"
    assert caught.value.reason == "%s does not exist" % (tmp_path / "missing.log")


@pytest.mark.parametrize("reader", READERS)
def test_directory_path(tmp_path, reader):
    """Bug fixed: open() ran before the directory check, so the reason was a bare 'Is a directory'."""
    with pytest.raises(SourceUnavailable) as caught:
        read(tmp_path, reader)
    assert caught.value.status == "unreadable"
    assert caught.value.reason == "%s is a directory, not a log file" % tmp_path


@pytest.mark.parametrize("reader", READERS)
def test_broken_gzip(tmp_path, reader):
    path = tmp_path / "syslog.2.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"this is not deflate data at all" * 10)
    with pytest.raises(SourceUnavailable) as caught:
        read(path, reader)
    assert caught.value.status == "unreadable"
    assert str(path) in caught.value.reason
    assert any(word in caught.value.reason for word in ("corrupt", "not a valid gzip", "truncated"))


@pytest.mark.parametrize("reader", READERS)
def test_truncated_gzip_keeps_lines_before_the_cut(tmp_path, reader):
    data = gzip.compress(("kernel: %s\n" % KILLED).encode() + b"noise line\n" * 20000)
    path = tmp_path / "kern.log.1.gz"
    path.write_bytes(data[: len(data) - 40])
    parser = OomLogParser()
    with pytest.raises(SourceUnavailable) as caught:
        read_log_file(parser, str(path), "f", **reader)
    assert caught.value.status == "unreadable"
    assert parser.result()["kill_count"] == 1


def test_unreadable_file_for_non_root(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads mode 000 files")
    path = tmp_path / "secret.log"
    path.write_text("kernel: " + KILLED + "\n")
    path.chmod(0)
    with pytest.raises(SourceUnavailable) as caught:
        read(path, {"grep": None, "gzip_bin": None})
    assert caught.value.status == "unreadable"
    assert "permission denied" in caught.value.reason


# Syslog rotation


def touch_log(directory, name, pid):
    line = "Mar  3 10:11:%02d vm-1 kernel: Out of memory: Killed process %d (w%d)\n" % (pid % 60, pid, pid)
    path = directory / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(line.encode()))
    else:
        path.write_text(line)
    os.utime(path, (MTIME, MTIME))


@pytest.mark.parametrize("reader", READERS)
def test_rotated_syslog_read_oldest_first(tmp_path, reader):
    for name, pid in (("syslog", 4000), ("syslog.1", 4001), ("syslog.2.gz", 4002), ("syslog.10.gz", 4010)):
        touch_log(tmp_path, name, pid)
    touch_log(tmp_path, "kern.log", 5000)
    touch_log(tmp_path, "syslog.bak", 5001)
    expected = [str(tmp_path / name) for name in ("syslog.10.gz", "syslog.2.gz", "syslog.1", "syslog")]
    assert syslog_files(log_dir=str(tmp_path)) == expected
    parser = OomLogParser()
    assert read_syslog(parser, log_dir=str(tmp_path), **reader) == expected
    result = parser.result()
    assert [(kill["pid"], kill["source"]) for kill in result["kills"]] == [
        (4010, expected[0]),
        (4002, expected[1]),
        (4001, expected[2]),
        (4000, expected[3]),
    ]


def test_rotated_messages_with_dateext(tmp_path):
    """Bug fixed: logrotate's dateext names (RHEL, Fedora: messages-20260301) were never read."""
    for name, pid in (("messages", 1), ("messages-20260222.gz", 2), ("messages-20260301", 3), ("messages-x", 4)):
        touch_log(tmp_path, name, pid)
    assert syslog_files(log_dir=str(tmp_path)) == [
        str(tmp_path / name) for name in ("messages-20260222.gz", "messages-20260301", "messages")
    ]


def test_kern_log_only_when_no_syslog_and_read_as_kernel_only(tmp_path):
    path = tmp_path / "kern.log"
    path.write_text("Mar  3 10:11:12 vm-1 kernel: %s\n[ 5.5] Killed process 4243 (bare)\n" % KILLED)
    os.utime(path, (MTIME, MTIME))
    assert syslog_files(log_dir=str(tmp_path)) == [str(path)]
    parser = OomLogParser()
    read_syslog(parser, log_dir=str(tmp_path))
    assert [kill["pid"] for kill in parser.result()["kills"]] == [4242, 4243]


def test_rotated_only_without_current(tmp_path):
    touch_log(tmp_path, "syslog.1", 1)
    assert syslog_files(log_dir=str(tmp_path)) == [str(tmp_path / "syslog.1")]


def test_no_syslog_is_absent(tmp_path):
    assert syslog_files(log_dir=str(tmp_path)) == []
    with pytest.raises(SourceUnavailable) as caught:
        read_syslog(OomLogParser(), log_dir=str(tmp_path))
    assert (caught.value.status, caught.value.reason) == (
        "absent",
        "no syslog, messages or kern.log file in %s" % tmp_path,
    )


# Journal


def make_script(path, body):
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def journal_entries():
    stamp = int(datetime.datetime(2026, 3, 3, 10, 11, 12, tzinfo=datetime.timezone.utc).timestamp() * 1e6)
    message = ("Out of memory: Killed process 4242 (w\xffrk) total-vm:10kB, anon-rss:8kB, file-rss:1kB").encode(
        "latin-1"
    )
    return [
        {
            "MESSAGE": "worker invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
            "_TRANSPORT": "kernel",
            "_BOOT_ID": "b1",
            "__REALTIME_TIMESTAMP": str(stamp - 100),
            "_SOURCE_MONOTONIC_TIMESTAMP": "5123000000",
        },
        {
            "MESSAGE": list(message),
            "_TRANSPORT": "kernel",
            "PRIORITY": "3",
            "_BOOT_ID": "b1",
            "__REALTIME_TIMESTAMP": str(stamp),
            "__MONOTONIC_TIMESTAMP": "5123999999",
            "_SOURCE_MONOTONIC_TIMESTAMP": "5123000100",
        },
        {
            "MESSAGE": 'sending SIGTERM to process 4300 uid 1001 "chrome": oom_score 900, VmRSS 2048 MiB, cmdline "c"',
            "SYSLOG_IDENTIFIER": "earlyoom",
            "_TRANSPORT": "stdout",
            "_BOOT_ID": "b1",
            "__REALTIME_TIMESTAMP": str(stamp + 5000000),
            "__MONOTONIC_TIMESTAMP": "5128000000",
        },
        {"MESSAGE": None, "_TRANSPORT": "kernel", "__REALTIME_TIMESTAMP": str(stamp)},
    ]


@pytest.fixture
def journal_files(tmp_path, monkeypatch):
    """read_journal first looks for journal files; this host has none, so point it at a fake one."""
    machine = tmp_path / "journal" / "0123456789abcdef0123456789abcdef"
    machine.mkdir(parents=True)
    (machine / "system.journal").write_bytes(b"LPKSHHRH")
    monkeypatch.setattr(_oom_sources, "JOURNAL_DIRS", (str(tmp_path / "journal"),))


def test_no_journal_files_is_absent(tmp_path, monkeypatch):
    monkeypatch.setattr(_oom_sources, "JOURNAL_DIRS", (str(tmp_path / "run"), str(tmp_path / "var")))
    with pytest.raises(SourceUnavailable) as caught:
        read_journal(OomLogParser(), "/bin/false")
    assert (caught.value.status, caught.value.reason) == (
        "absent",
        "the journal has no files in %s or %s" % (tmp_path / "run", tmp_path / "var"),
    )


@pytest.mark.usefixtures("journal_files")
def test_read_journal_json_with_byte_array_message(tmp_path):
    lines = "\n".join(json.dumps(entry) for entry in journal_entries()) + "\nnot json\n"
    (tmp_path / "out.json").write_text(lines)
    journalctl = make_script(
        tmp_path / "journalctl", 'printf "%%s\\n" "$@" > "%s/argv"\ncat "%s/out.json"\n' % (tmp_path, tmp_path)
    )
    parser = OomLogParser()
    assert read_journal(parser, journalctl) == []
    result = parser.result()
    kernel, earlyoom = result["kills"]
    assert (kernel["pid"], kernel["comm"], kernel["trigger_comm"], kernel["source"]) == (
        4242,
        "w\\xffrk",
        "worker",
        "journal",
    )
    assert (kernel["timestamp"], kernel["uptime_s"]) == ("2026-03-03T10:11:12+00:00", 5123.0001)
    assert result["kernel_kills_by_boot"] == {"b1": 1}
    assert (earlyoom["killer"], earlyoom["pid"], earlyoom["uptime_s"]) == ("earlyoom", 4300, None)
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[:3] == ["--no-pager", "--quiet", "--output=json"]
    assert "_TRANSPORT=kernel" in argv
    assert argv[-6:] == [
        "+",
        "SYSLOG_IDENTIFIER=systemd-oomd",
        "+",
        "SYSLOG_IDENTIFIER=earlyoom",
        "+",
        "SYSLOG_IDENTIFIER=systemd",
    ]


@pytest.mark.usefixtures("journal_files")
def test_read_journal_retries_without_grep(tmp_path):
    entry = json.dumps(journal_entries()[1])
    journalctl = make_script(
        tmp_path / "journalctl",
        'case "$*" in *--grep*) echo "Compiled without pattern matching support" >&2; exit 1;; esac\n'
        "echo '%s'\necho '%s'\n" % (entry, json.dumps({"MESSAGE": "noise", "_TRANSPORT": "kernel"})),
    )
    parser = OomLogParser()
    read_journal(parser, journalctl)
    assert [kill["pid"] for kill in parser.result()["kills"]] == [4242]


@pytest.mark.usefixtures("journal_files")
def test_read_journal_failures(tmp_path):
    absent = make_script(tmp_path / "j1", 'echo "No journal files were found." >&2\nexit 1\n')
    with pytest.raises(SourceUnavailable) as caught:
        read_journal(OomLogParser(), absent)
    assert caught.value.status == "absent"
    broken = make_script(tmp_path / "j2", 'echo "Failed to open journal: Bad message" >&2\nexit 1\n')
    with pytest.raises(SourceUnavailable) as caught:
        read_journal(OomLogParser(), broken)
    assert (caught.value.status, caught.value.reason) == (
        "unreadable",
        "journalctl failed (rc=1): Failed to open journal: Bad message",
    )
    partial = make_script(tmp_path / "j3", 'echo "Hint: You are currently not seeing messages from other users" >&2\n')
    assert read_journal(OomLogParser(), partial) == [
        "journal: only part of the journal is readable by this user; run as root for all of it"
    ]


def test_journal_absent_binary():
    with pytest.raises(SourceUnavailable) as caught:
        read_journal(OomLogParser(), None)
    assert (caught.value.status, caught.value.reason) == ("absent", "journalctl is not installed")


def test_journal_line_from_byte_array():
    entry = journal_entries()[1]
    line = _oom_sources._journal_line(entry)
    assert line.message == "Out of memory: Killed process 4242 (w\\xffrk) total-vm:10kB, anon-rss:8kB, file-rss:1kB"
    assert (line.kernel, line.ident, line.boot, line.uptime) == (True, "kernel", "b1", 5123.0001)
    assert _oom_sources._journal_line({"MESSAGE": [300, 1]}) is None
    assert _oom_sources._journal_line({"MESSAGE": {"x": 1}}) is None


# dmesg and kmsg


def test_read_dmesg_with_a_fake_binary(tmp_path):
    dmesg = make_script(tmp_path / "dmesg", 'cat "%s"\n' % (FIXTURES / "dmesg-6.18-memcg-v1.log"))
    parser = OomLogParser()
    read_dmesg(parser, dmesg)
    kills = parser.result()["kills"]
    assert [(kill["pid"], kill["source"], kill["trigger_pid"]) for kill in kills] == [
        (4242, "dmesg", 4242),
        (4243, "dmesg", None),
    ]
    assert all(kill["timestamp"] is not None for kill in kills)


def test_read_dmesg_failures(tmp_path):
    with pytest.raises(SourceUnavailable) as caught:
        read_dmesg(OomLogParser(), None)
    assert (caught.value.status, caught.value.reason) == ("absent", "the dmesg command is not installed")
    failing = make_script(
        tmp_path / "dmesg", 'echo "dmesg: read kernel buffer failed: Operation not permitted" >&2\nexit 1\n'
    )
    with pytest.raises(SourceUnavailable) as caught:
        read_dmesg(OomLogParser(), failing)
    assert caught.value.reason == "dmesg failed (rc=1): dmesg: read kernel buffer failed: Operation not permitted"


def test_read_kmsg_absent(tmp_path):
    with pytest.raises(SourceUnavailable) as caught:
        read_kmsg(OomLogParser(), str(tmp_path / "kmsg"))
    assert caught.value.status == "absent"


@pytest.mark.skipif(not os.access("/dev/kmsg", os.R_OK) or not shutil.which("dmesg"), reason="needs /dev/kmsg")
def test_real_kmsg_and_dmesg_agree():
    """This machine's ring buffer read both ways gives the same kernel kills."""
    by_kmsg, by_dmesg = OomLogParser(), OomLogParser()
    read_kmsg(by_kmsg)
    read_dmesg(by_dmesg, shutil.which("dmesg"))
    expected = subprocess.run(["dmesg"], capture_output=True, check=True).stdout.count(b"Killed process ")
    kmsg_pids = [kill["pid"] for kill in by_kmsg.result()["kills"]]
    dmesg_pids = [kill["pid"] for kill in by_dmesg.result()["kills"]]
    assert kmsg_pids == dmesg_pids
    assert len(set(dmesg_pids)) <= expected
