# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the log sources: log_paths checks, the block reader, gzip, syslog rotation, journal provenance, dmesg.

Every log line here is invented (pid 4242, comm worker, host vm-1, uid 1001).
"""

from __future__ import annotations

import datetime
import gzip
import json
import os
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils import _log_file, _log_formats, _oom_sources
from ansible_collections.oomguard.memory.plugins.module_utils._log_formats import FormatReport, journal_lines
from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import MAX_LINE_CHARS, OomLogParser
from ansible_collections.oomguard.memory.plugins.module_utils._oom_sources import (
    LogPathError,
    SourceUnavailable,
    check_log_paths,
    read_dmesg,
    read_journal,
    read_kmsg,
    read_log_file,
    read_syslog,
    syslog_files,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "oom_logs"
MTIME = datetime.datetime(2026, 3, 10, 12, 0, 0, tzinfo=datetime.timezone.utc).timestamp()
KILLED = (
    "Out of memory: Killed process 4242 (worker) total-vm:2097152kB, anon-rss:1048576kB, file-rss:512kB,"
    " shmem-rss:0kB, UID:1001 pgtables:2100kB oom_score_adj:0"
)
# The whole file in one block, and blocks of 64 bytes: every line crosses a block boundary somewhere.
BLOCKS = [pytest.param(None, id="one-block"), pytest.param(64, id="64-byte-blocks")]


# Log times without a zone are read in the local zone: these tests read them in UTC (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("utc_zone")


@pytest.fixture(params=BLOCKS)
def block_size(request, monkeypatch):
    if request.param is not None:
        monkeypatch.setattr(_log_file, "BLOCK_SIZE", request.param)
    return request.param


def copy_fixture(name, directory, target=None, compress=False):
    path = directory / (target or name)
    data = (FIXTURES / name).read_bytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    os.utime(path, (MTIME, MTIME))
    return path


def read(path, kernel_only=False, source="f", **kwargs):
    parser = OomLogParser(**kwargs)
    report = read_log_file(parser, str(path), source, kernel_only=kernel_only)
    result = parser.result()
    result["status"] = "partial" if report.partial else "ok"
    return result


def brief(result):
    return [
        (kill["killer"], kill["pid"], kill["comm"], kill["timestamp"], kill["uptime_s"]) for kill in result["kills"]
    ]


def without_source(result):
    """A result with the keys that name the source or the reader removed, to compare readers."""
    kills = [{key: value for key, value in kill.items() if key not in ("source",)} for kill in result["kills"]]
    return kills, result["kill_count"], result["kill_count_by_kind"], result["oom_panics"] and len(result["oom_panics"])


# Fixtures: exact results, whatever the block size


@pytest.mark.usefixtures("block_size")
def test_dmesg_fixture_of_a_6_18_memcg_v1_report(tmp_path):
    result = read(copy_fixture("dmesg-6.18-memcg-v1.log", tmp_path), kernel_only=True, source="dmesg")
    assert result["kill_count"] == 2
    first, second = result["kills"]
    assert {key: value for key, value in first.items() if key not in ("message", "id")} == {
        "killer": "kernel",
        "kind": "memcg",
        "scope": "local",
        "host": None,
        "boot_id": None,
        "pid": 4242,
        "comm": "oomguard-hog",
        "uid": 0,
        "unit": None,
        "cgroup": "/oomguard-test-4242ab",
        "container": None,
        "python": False,
        "timestamp": None,
        "uptime_s": 212.400513,
        "source": "dmesg",
        "rss_kb": 73216 + 6648,
        "anon_rss_kb": 73216,
        "file_rss_kb": 6648,
        "shmem_rss_kb": 0,
        "total_vm_kb": 83628,
        "pgtables_kb": 204,
        "oom_score_adj": 0,
        "constraint": "CONSTRAINT_MEMCG",
        "oom_memcg": "/oomguard-test-4242ab",
        "task_memcg": "/oomguard-test-4242ab",
        "trigger_comm": "oomguard-hog",
        "trigger_pid": 4242,
        "oom_group": None,
        "reaped_anon_rss_kb": 0,
        "reason": None,
        "queued": None,
        "pressure_cgroup": None,
        "pressure_pct": None,
        "pressure_limit_pct": None,
        "pressure_duration": None,
        "processes": None,
        "signal": None,
        "oom_score": None,
        "cmdline": None,
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
    assert result["oom_panics"] == []
    assert result["status"] == "ok"


@pytest.mark.usefixtures("block_size")
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_syslog_fixture(tmp_path, compress):
    name = "syslog-debian.log"
    result = read(copy_fixture(name, tmp_path, name + (".gz" if compress else ""), compress), source="syslog")
    assert brief(result) == [
        ("kernel", 4242, "worker", "2026-03-03T10:11:10+00:00", 5123.10051),
        ("systemd-oomd", None, None, "2026-03-03T10:20:00+00:00", None),
        ("earlyoom", 4300, "chrome", "2026-03-03T10:30:00+00:00", None),
        ("kernel", 4400, "db writer", "2026-03-03T10:40:00+00:00", 6000.0),
    ]
    kernel, oomd, earlyoom, global_kill = result["kills"]
    assert (kernel["unit"], kernel["constraint"], kernel["trigger_pid"], kernel["kind"], kernel["host"]) == (
        "worker.service",
        "CONSTRAINT_MEMCG",
        4242,
        "memcg",
        "vm-1",
    )
    assert (oomd["unit"], oomd["processes"], oomd["pressure_pct"], oomd["kind"], oomd["queued"]) == (
        "app-build-4242.scope",
        7,
        71.23,
        "systemd-oomd",
        False,
    )
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
    assert result["kill_count_by_host"] == {"vm-1": 4}
    assert result["oldest_record"] == "2026-03-03T10:00:01+00:00"


@pytest.mark.usefixtures("block_size")
def test_kmsg_dump_skips_dictionary_lines_and_user_records(tmp_path):
    result = read(copy_fixture("kmsg-raw.log", tmp_path), kernel_only=True)
    kill = result["kills"][0]
    assert result["kill_count"] == 1
    assert (kill["pid"], kill["uptime_s"], kill["trigger_pid"], kill["unit"], kill["constraint"]) == (
        4242,
        5123.45701,
        4242,
        "session-3.scope",
        "CONSTRAINT_NONE",
    )


@pytest.mark.usefixtures("block_size")
def test_non_utf8_and_binary_garbage_is_tolerated(tmp_path):
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
    result = read(path, kernel_only=True)
    assert [(kill["pid"], kill["comm"], kill["total_vm_kb"]) for kill in result["kills"]] == [
        (4242, "w\\xffrk", 10),
        (4243, "ok", 1),
        (4244, "lasté", None),
    ]
    assert result["kills"][0]["uid"] == 1001


# Over-long lines: cut before parsing, memory bounded


@pytest.mark.usefixtures("block_size")
def test_over_long_line_is_cut_and_the_next_lines_still_read(tmp_path):
    long_killed = "[ 9.000000] Out of memory: Killed process 4241 (" + "x" * (3 * MAX_LINE_CHARS) + ") total-vm:1kB"
    late_needle = "[ 9.500000] " + "y" * MAX_LINE_CHARS + " Killed process 4999 (hidden)"
    path = tmp_path / "long.log"
    path.write_text("\n".join([long_killed, late_needle, "[ 10.000000] " + KILLED, ""]))
    result = read(path, kernel_only=True)
    # The first line counts from its first 16 KiB (comm cut); the needle beyond the cut is never read.
    assert [(kill["pid"], kill["comm"]) for kill in result["kills"]] == [(4241, None), (4242, "worker")]
    assert len(result["kills"][0]["message"]) == 512


# Unreadable, damaged and unrecognised files


@pytest.mark.usefixtures("block_size")
def test_damaged_gzip_gives_the_kills_before_the_damage(tmp_path):
    data = gzip.compress(("kernel: %s\n" % KILLED).encode() + b"noise line\n" * 20000)
    truncated = tmp_path / "kern.log.1.gz"
    truncated.write_bytes(data[: len(data) - 40])
    warnings = []
    parser = OomLogParser()
    assert read_log_file(parser, str(truncated), "f", warnings=warnings).partial is True
    assert parser.result()["kill_count"] == 1
    assert len(warnings) == 1
    assert warnings[0].startswith("%s is truncated after " % truncated)
    assert warnings[0].endswith("; the kills before the damage are counted")
    corrupt = tmp_path / "syslog.2.gz"
    corrupt.write_bytes(data[:200] + b"\xff" * 64 + data[264:])
    warnings = []
    parser = OomLogParser()
    assert read_log_file(parser, str(corrupt), "g", warnings=warnings).partial is True
    assert parser.result()["kill_count"] == 1
    assert "is corrupt after" in warnings[0] or "is truncated after" in warnings[0]


def test_gzip_that_is_only_garbage_is_unreadable(tmp_path):
    path = tmp_path / "syslog.2.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"this is not deflate data at all" * 10)
    with pytest.raises(SourceUnavailable) as caught:
        read_log_file(OomLogParser(), str(path), "f")
    assert caught.value.status == "unreadable"
    assert str(path) in caught.value.reason


def test_gzip_cap_stops_with_a_warning(tmp_path, monkeypatch):
    member = gzip.compress(("[ 1.000000] %s\n" % KILLED).encode() + b"filler line\n" * 5000)
    path = tmp_path / "big.gz"
    path.write_bytes(member + gzip.compress(b"[ 2.000000] Out of memory: Killed process 4243 (late)\n"))
    warnings = []
    parser = OomLogParser()
    assert read_log_file(parser, str(path), "f", warnings=warnings, gzip_limit=20000).partial is True
    assert [kill["pid"] for kill in parser.result()["kills"]] == [4242]
    assert warnings == [
        "%s: stopped after 20000 bytes of decompressed text (the cap for one gzip file); later records in it "
        "were not read" % path
    ]


def test_multi_member_gzip_is_read_whole(tmp_path):
    path = tmp_path / "cat.gz"
    path.write_bytes(
        gzip.compress(("[ 1.000000] %s\n" % KILLED).encode())
        + gzip.compress(b"[ 2.000000] Out of memory: Killed process 4243 (next)\n")
        + b"\x00" * 512
    )
    assert [kill["pid"] for kill in read(path, kernel_only=True)["kills"]] == [4242, 4243]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(bytes(range(256)) * 64, "binary data, not a text log", id="binary"),
        pytest.param(b'{"kind": "something else", "items": [1, 2, 3]}\n', "JSON, but not journalctl", id="other-json"),
        pytest.param(b"hello world\nthis is a text file\n", "no line with a log prefix or an OOM record", id="prose"),
    ],
)
def test_file_in_no_known_format_is_unrecognized(tmp_path, content, reason):
    path = tmp_path / "mystery.log"
    path.write_bytes(content)
    with pytest.raises(SourceUnavailable) as caught:
        read_log_file(OomLogParser(), str(path), "f")
    assert caught.value.status == "unrecognized"
    assert caught.value.reason.startswith(str(path) + " is in no log format this module reads: " + reason)


@pytest.mark.parametrize(
    ("content", "fmt"),
    [
        pytest.param(
            b'{"MESSAGE": "Out of memory: Killed process 4242 (worker)", "_TRANSPORT": "syslog"}\n',
            "journal-json",
            id="json",
        ),
        pytest.param(
            b"__CURSOR=s=1\nMESSAGE=Out of memory: Killed process 4242 (worker)\n", "journal-export", id="export"
        ),
    ],
)
def test_structured_file_is_read_as_its_format_never_scanned_as_text(tmp_path, content, fmt):
    """A journal record in JSON or export form is read by its provenance, not as a kernel line of text."""
    path = tmp_path / "export.log"
    path.write_bytes(content)
    parser = OomLogParser()
    report = read_log_file(parser, str(path), "f")
    assert (report.format, report.untrusted, report.partial) == (fmt, 1, False)
    assert (parser.result()["kill_count"], parser.result()["untrusted_by_source"]) == (0, {"f": 1})


def test_empty_file_is_ok_with_no_kills(tmp_path):
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    assert read(path)["status"] == "ok"


def test_file_with_a_known_prefix_and_no_kill_is_ok(tmp_path):
    path = tmp_path / "quiet.log"
    path.write_text("Mar  3 10:00:01 vm-1 CRON[1200]: (root) CMD (true)\n")
    assert (read(path)["status"], read(path)["kill_count"]) == ("ok", 0)


def test_unreadable_file_for_non_root(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads mode 000 files")
    path = tmp_path / "secret.log"
    path.write_text("kernel: " + KILLED + "\n")
    path.chmod(0)
    with pytest.raises(SourceUnavailable) as caught:
        read(path)
    assert caught.value.status == "unreadable"
    assert "permission denied" in caught.value.reason


# log_paths checks (the module-level refusals, with a timeout, are in test_oom_facts_hostile.py)


def test_check_log_paths_refuses_what_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind(str(tmp_path / "sock"))
        cases = {
            "relative.log": "log_paths: relative.log is a relative path",
            str(tmp_path / "missing.log"): "log_paths: %s does not exist" % (tmp_path / "missing.log"),
            str(tmp_path): "log_paths: %s is a directory; only regular log files (plain or .gz) can be read" % tmp_path,
            str(fifo): "log_paths: %s is a FIFO;" % fifo,
            str(tmp_path / "sock"): "log_paths: %s is a socket;" % (tmp_path / "sock"),
            "/dev/zero": "log_paths: /dev/zero is a character device;",
            "/dev/urandom": "log_paths: /dev/urandom is a character device;",
        }
        for path, message in cases.items():
            with pytest.raises(LogPathError) as caught:
                check_log_paths([path])
            assert str(caught.value).startswith(message), (path, str(caught.value))
    finally:
        listener.close()


def test_check_log_paths_reads_one_file_once(tmp_path):
    first = copy_fixture("kmsg-raw.log", tmp_path)
    hard = tmp_path / "hardlink.log"
    os.link(first, hard)
    symlink = tmp_path / "symlink.log"
    symlink.symlink_to(first)
    other = copy_fixture("syslog-debian.log", tmp_path)
    unique, duplicates = check_log_paths([str(first), str(other), str(first), str(hard), str(symlink)])
    assert unique == [str(first), str(other)]
    assert duplicates == {str(hard): str(first), str(symlink): str(first)}


def test_path_swapped_for_a_fifo_after_the_check_is_refused_at_open(tmp_path):
    """O_NONBLOCK + fstat: a FIFO put in place of a checked file does not block the read."""
    path = tmp_path / "swapped.log"
    path.write_text("kernel: " + KILLED + "\n")
    check_log_paths([str(path)])
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(SourceUnavailable) as caught:
        read_log_file(OomLogParser(), str(path), "f")
    assert (caught.value.status, caught.value.reason) == (
        "unreadable",
        "%s is a FIFO; only regular log files can be read" % path,
    )


# Duplicates


@pytest.mark.usefixtures("block_size")
def test_the_same_lines_twice_in_one_file_count_once(tmp_path):
    """cat kern.log syslog > all.log: every record is there twice."""
    data = (FIXTURES / "syslog-debian.log").read_bytes()
    path = tmp_path / "twice.log"
    path.write_bytes(data + data)
    os.utime(path, (MTIME, MTIME))
    once = read(copy_fixture("syslog-debian.log", tmp_path, "once.log"))
    twice = read(path)
    assert twice["kill_count"] == once["kill_count"] == 4
    assert [kill["id"] for kill in twice["kills"]] == [kill["id"] for kill in once["kills"]]


# Syslog rotation


def touch_log(directory, name, pid):
    line = "Mar  3 10:11:%02d vm-1 kernel: Out of memory: Killed process %d (w%d)\n" % (pid % 60, pid, pid)
    path = directory / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(line.encode()))
    else:
        path.write_text(line)
    os.utime(path, (MTIME, MTIME))


def test_rotated_syslog_read_oldest_first(tmp_path):
    for name, pid in (("syslog", 4000), ("syslog.1", 4001), ("syslog.2.gz", 4002), ("syslog.10.gz", 4010)):
        touch_log(tmp_path, name, pid)
    touch_log(tmp_path, "kern.log", 5000)
    touch_log(tmp_path, "syslog.bak", 5001)
    expected = [str(tmp_path / name) for name in ("syslog.10.gz", "syslog.2.gz", "syslog.1", "syslog")]
    assert syslog_files(log_dir=str(tmp_path)) == expected
    parser = OomLogParser()
    assert read_syslog(parser, log_dir=str(tmp_path)) == expected
    result = parser.result()
    assert [(kill["pid"], kill["source"]) for kill in result["kills"]] == [
        (4010, "syslog"),
        (4002, "syslog"),
        (4001, "syslog"),
        (4000, "syslog"),
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


def test_no_syslog_is_absent(tmp_path):
    assert syslog_files(log_dir=str(tmp_path)) == []
    with pytest.raises(SourceUnavailable) as caught:
        read_syslog(OomLogParser(), log_dir=str(tmp_path))
    assert (caught.value.status, caught.value.reason) == (
        "absent",
        "no syslog, messages or kern.log file in %s" % tmp_path,
    )


# Journal: provenance


def make_script(path, body):
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


STAMP = int(datetime.datetime(2026, 3, 3, 10, 11, 12, tzinfo=datetime.timezone.utc).timestamp() * 1e6)


def entry(message, **fields):
    found = {"MESSAGE": message, "_BOOT_ID": "b1", "__REALTIME_TIMESTAMP": str(STAMP), "_HOSTNAME": "vm-1"}
    found.update({key: str(value) for key, value in fields.items()})
    return found


KERNEL = {"_TRANSPORT": "kernel"}
EARLYOOM_UNIT = {"_TRANSPORT": "stdout", "_SYSTEMD_UNIT": "earlyoom.service", "SYSLOG_IDENTIFIER": "earlyoom"}
OOMD_UNIT = {"_TRANSPORT": "journal", "_SYSTEMD_UNIT": "systemd-oomd.service", "SYSLOG_IDENTIFIER": "systemd-oomd"}
EARLYOOM_LINE = 'sending SIGTERM to process 4300 uid 1001 "chrome": oom_score 900, VmRSS 2048 MiB, cmdline "c"'
OOMD_LINE = (
    "Killed /system.slice/batch.service due to memory pressure for /system.slice being 71.23% > 50.00%"
    " for > 20s with reclaim activity"
)


@pytest.fixture
def journal_files(tmp_path, monkeypatch):
    """read_journal first looks for journal files; this host has none, so point it at a fake one."""
    machine = tmp_path / "journal" / "0123456789abcdef0123456789abcdef"
    machine.mkdir(parents=True)
    (machine / "system.journal").write_bytes(b"LPKSHHRH")
    monkeypatch.setattr(_oom_sources, "JOURNAL_DIRS", (str(tmp_path / "journal"),))


def fake_journalctl(tmp_path, entries):
    (tmp_path / "out.json").write_text("".join(json.dumps(item) + "\n" for item in entries) + "not json\n")
    return make_script(
        tmp_path / "journalctl", 'printf "%%s\\n" "$@" >> "%s/argv"\ncat "%s/out.json"\n' % (tmp_path, tmp_path)
    )


@pytest.mark.usefixtures("journal_files")
def test_forged_journal_records_are_not_kills_and_are_counted(tmp_path):
    """A user's logger -t kernel and an earlyoom identifier on a user's process invent no kills."""
    entries = [
        entry(KILLED, _TRANSPORT="syslog", SYSLOG_IDENTIFIER="kernel", _UID=1000, _PID=777),
        entry(EARLYOOM_LINE, _TRANSPORT="syslog", SYSLOG_IDENTIFIER="earlyoom", _UID=1000, _SYSTEMD_UNIT="x.scope"),
        entry(OOMD_LINE, _TRANSPORT="journal", SYSLOG_IDENTIFIER="systemd-oomd", _UID=1000, _SYSTEMD_UNIT="y.scope"),
        entry("worker.service: A process of this unit has been killed by the OOM killer.", _PID=4321),
        entry(KILLED.replace("4242", "5000"), **KERNEL),
        entry(EARLYOOM_LINE, _UID=0, **EARLYOOM_UNIT),
        entry(OOMD_LINE, _UID=998, **OOMD_UNIT),
    ]
    parser = OomLogParser()
    assert read_journal(parser, fake_journalctl(tmp_path, entries)) == []
    result = parser.result()
    assert [(kill["killer"], kill["pid"], kill["host"]) for kill in result["kills"]] == [
        ("kernel", 5000, "vm-1"),
        ("earlyoom", 4300, "vm-1"),
        ("systemd-oomd", None, "vm-1"),
    ]
    # the lookalike from a process that is not PID 1 is neither a kill nor a forged record
    assert (result["untrusted_records"], result["untrusted_by_source"]) == (3, {"journal": 3})
    argv = (tmp_path / "argv").read_text().split("--no-pager\n")[1].splitlines()
    assert argv[:2] == ["--quiet", "--output=json"]
    assert argv[-15:] == [
        "_TRANSPORT=kernel",
        "+",
        "_SYSTEMD_UNIT=systemd-oomd.service",
        "+",
        "_SYSTEMD_UNIT=earlyoom.service",
        "+",
        "_PID=1",
        "+",
        "SYSLOG_IDENTIFIER=kernel",
        "+",
        "SYSLOG_IDENTIFIER=systemd-oomd",
        "+",
        "SYSLOG_IDENTIFIER=earlyoom",
        "+",
        "SYSLOG_IDENTIFIER=systemd",
    ]


@pytest.mark.usefixtures("journal_files")
def test_user_manager_confirms_only_its_own_units(tmp_path):
    user_kill = OOMD_LINE.replace(
        "/system.slice/batch.service", "/user.slice/user-1001.slice/user@1001.service/a.scope"
    )
    manager = {"_PID": 1300, "_UID": 1001, "_SYSTEMD_UNIT": "user@1001.service", "_SYSTEMD_USER_UNIT": "init.scope"}
    entries = [
        entry(OOMD_LINE, _UID=998, **OOMD_UNIT),
        entry(user_kill, _UID=998, **OOMD_UNIT),
        entry("batch.service: systemd-oomd killed 9 process(es) in this unit.", **manager),
        entry("a.scope: systemd-oomd killed 3 process(es) in this unit.", **manager),
    ]
    parser = OomLogParser()
    read_journal(parser, fake_journalctl(tmp_path, entries))
    system_kill, user_kill = parser.result()["kills"]
    assert (system_kill["processes"], system_kill["queued"]) == (None, False)
    assert (user_kill["processes"], user_kill["unit"]) == (3, "a.scope")


@pytest.mark.usefixtures("journal_files")
def test_read_journal_with_byte_array_message(tmp_path):
    message = "Out of memory: Killed process 4242 (w\xffrk) total-vm:10kB, anon-rss:8kB, file-rss:1kB".encode("latin-1")
    entries = [
        entry(
            "worker invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
            _SOURCE_MONOTONIC_TIMESTAMP=5123000000,
            **KERNEL,
        ),
        {**entry(list(message), _SOURCE_MONOTONIC_TIMESTAMP=5123000100, **KERNEL), "__REALTIME_TIMESTAMP": STAMP},
        {"MESSAGE": None, "_TRANSPORT": "kernel", "__REALTIME_TIMESTAMP": str(STAMP)},
    ]
    parser = OomLogParser()
    read_journal(parser, fake_journalctl(tmp_path, entries))
    result = parser.result()
    kill = result["kills"][0]
    assert (kill["pid"], kill["comm"], kill["trigger_comm"], kill["source"], kill["boot_id"]) == (
        4242,
        "w\\xffrk",
        "worker",
        "journal",
        "b1",
    )
    assert (kill["timestamp"], kill["uptime_s"]) == ("2026-03-03T10:11:12+00:00", 5123.0001)
    assert result["kernel_kills_by_boot"] == {"b1": 1}
    assert result["oldest_record"] == "2026-03-03T10:11:12+00:00"


@pytest.mark.usefixtures("journal_files")
def test_read_journal_retries_without_grep(tmp_path):
    line = json.dumps(entry(KILLED, **KERNEL))
    journalctl = make_script(
        tmp_path / "journalctl",
        'case "$*" in *--grep*) echo "Compiled without pattern matching support" >&2; exit 1;; esac\n'
        "echo '%s'\necho '%s'\n" % (line, json.dumps(entry("noise", **KERNEL))),
    )
    parser = OomLogParser()
    read_journal(parser, journalctl)
    assert [kill["pid"] for kill in parser.result()["kills"]] == [4242]


@pytest.mark.usefixtures("journal_files")
def test_a_journal_without_oom_records_is_read_not_unreadable(tmp_path):
    """journalctl --grep exits 1 without a word when no entry matches (systemd 252 and 257): no kills, not a failure."""
    journalctl = make_script(tmp_path / "journalctl", 'case "$*" in *--grep*) exit 1;; esac\necho "{}"\nexit 0\n')
    parser = OomLogParser()
    assert read_journal(parser, journalctl) == []
    assert parser.result()["kill_count"] == 0


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


@pytest.mark.usefixtures("journal_files")
def test_over_long_journal_line_is_skipped_not_held(tmp_path, monkeypatch):
    monkeypatch.setattr(_log_formats, "MAX_ENTRY_CHARS", 4096)
    huge = entry("x" * 10000 + " Killed process 1 (x)", **KERNEL)
    parser = OomLogParser()
    read_journal(parser, fake_journalctl(tmp_path, [huge, entry(KILLED, **KERNEL)]))
    assert [kill["pid"] for kill in parser.result()["kills"]] == [4242]


def test_no_journal_files_is_absent(tmp_path, monkeypatch):
    monkeypatch.setattr(_oom_sources, "JOURNAL_DIRS", (str(tmp_path / "run"), str(tmp_path / "var")))
    with pytest.raises(SourceUnavailable) as caught:
        read_journal(OomLogParser(), "/bin/false")
    assert (caught.value.status, caught.value.reason) == (
        "absent",
        "the journal has no files in %s or %s" % (tmp_path / "run", tmp_path / "var"),
    )


def test_journal_absent_binary():
    with pytest.raises(SourceUnavailable) as caught:
        read_journal(OomLogParser(), None)
    assert (caught.value.status, caught.value.reason) == ("absent", "journalctl is not installed")


def test_journal_lines_from_byte_array_and_odd_messages():
    report = FormatReport("journal")
    (line,) = journal_lines(entry(list(b"Killed process 4242 (w\xffrk)"), **KERNEL), "journal", report)
    assert line.message == "Killed process 4242 (w\\xffrk)"
    assert (line.kernel, line.ident, line.boot, line.host) == (True, "kernel", "b1", "vm-1")
    assert list(journal_lines({"MESSAGE": [300, 1], "_TRANSPORT": "kernel"}, "journal", report)) == []
    assert list(journal_lines({"MESSAGE": {"x": 1}, "_TRANSPORT": "kernel"}, "journal", report)) == []
    assert report.untrusted == 0


# dmesg and kmsg


def test_read_dmesg_with_a_fake_binary(tmp_path):
    dmesg = make_script(tmp_path / "dmesg", 'cat "%s"\n' % (FIXTURES / "dmesg-6.18-memcg-v1.log"))
    parser = OomLogParser()
    read_dmesg(parser, dmesg, host="vm-1")
    kills = parser.result()["kills"]
    assert [(kill["pid"], kill["source"], kill["trigger_pid"], kill["host"]) for kill in kills] == [
        (4242, "dmesg", 4242, "vm-1"),
        (4243, "dmesg", None, "vm-1"),
    ]
    assert all(kill["timestamp"] is not None for kill in kills)


def test_dmesg_userspace_lines_are_not_kills(tmp_path):
    """dmesg and /dev/kmsg hold kernel records; a userspace line printed there is not a kill."""
    text = tmp_path / "out.txt"
    text.write_text(
        '[   77.749670] earlyoom[812]: sending SIGTERM to process 4300 uid 1001 "chrome": badness 9, VmRSS 1 MiB\n'
        "[   78.000000] " + KILLED + "\n"
    )
    parser = OomLogParser()
    read_dmesg(parser, make_script(tmp_path / "dmesg", 'cat "%s"\n' % text))
    assert [(kill["killer"], kill["pid"]) for kill in parser.result()["kills"]] == [("kernel", 4242)]


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
def test_real_kmsg_and_dmesg_agree_and_kmsg_is_stable():
    """This machine's ring buffer read both ways gives the same kernel kills, and twice the same ids and times."""
    by_kmsg, again, by_dmesg = OomLogParser(), OomLogParser(), OomLogParser()
    read_kmsg(by_kmsg)
    read_kmsg(again)
    read_dmesg(by_dmesg, shutil.which("dmesg"))
    expected = subprocess.run(["dmesg"], capture_output=True, check=True).stdout.count(b"Killed process ")
    kmsg = [(kill["pid"], kill["id"], kill["timestamp"]) for kill in by_kmsg.result()["kills"]]
    dmesg = [(kill["pid"], kill["id"]) for kill in by_dmesg.result()["kills"]]
    assert [item[:2] for item in kmsg] == dmesg
    assert [(kill["pid"], kill["id"], kill["timestamp"]) for kill in again.result()["kills"]] == kmsg
    assert len({pid for pid, _id in dmesg}) <= expected


# [5/8] item 1: every real record counted


@pytest.mark.usefixtures("block_size")
def test_systemd_oomd_marked_confirmed_queued_and_cut_by_a_pager(tmp_path):
    result = read(copy_fixture("journal-oomd-marked.log", tmp_path), source="j")
    kills = result["kills"]
    assert [(kill["unit"], kill["reason"], kill["queued"], kill["processes"]) for kill in kills] == [
        ("app-build-4242.scope", "memory_pressure", False, 7),
        ("batch.service", "swap", True, None),
        ("app-gnome-firefox-4300.scope", "memory_pressure", False, None),
        ("vte-spawn-4400.scope", "memory_pressure", False, None),
        (None, None, False, None),
    ]
    first, _batch, firefox, terminal, cut_cgroup = kills
    assert (first["pressure_pct"], first["pressure_limit_pct"], first["pressure_duration"]) == (71.23, 50.0, "20s")
    assert first["pressure_cgroup"] == "/user.slice/user-1001.slice/user@1001.service"
    assert firefox["cgroup"] == "/user.slice/user-1001.slice/user@1001.service/app.slice/app-gnome-firefox-4300.scope"
    assert (terminal["pressure_cgroup"], terminal["pressure_pct"]) == (first["pressure_cgroup"], None)
    assert cut_cgroup["cgroup"] is None
    assert all(kill["killer"] == kill["kind"] == "systemd-oomd" for kill in kills)
    # backup.sh's "Killed /srv/backup due to ..." is not systemd-oomd's
    assert result["kill_count"] == 5


@pytest.mark.usefixtures("block_size")
@pytest.mark.parametrize("name", ["short-monotonic-userspace.log", "console-capture.log"])
def test_userspace_records_after_a_monotonic_prefix_are_userspace(tmp_path, name):
    result = read(copy_fixture(name, tmp_path), source="c")
    assert [(kill["killer"], kill["pid"], kill["unit"], kill["uptime_s"]) for kill in result["kills"]] == [
        ("systemd-oomd", None, "batch.service", None),
        ("earlyoom", 4300, None, None),
        ("kernel", 4242, "worker.service", 80.10051),
    ]
    oomd, earlyoom, kernel = result["kills"]
    assert (oomd["pressure_pct"], earlyoom["cmdline"], kernel["trigger_pid"], kernel["kind"]) == (
        62.5,
        "/opt/chrome/chrome",
        4242,
        "global",
    )
    # the manager's line in short-monotonic output confirms the oomd kill
    assert oomd["processes"] == (3 if name.startswith("short") else None)


@pytest.mark.usefixtures("block_size")
@pytest.mark.parametrize("name", ["earlyoom-stdout.log", "earlyoom-stdout-stamped.log"])
def test_earlyoom_output_without_identifier(tmp_path, name):
    """earlyoom 1.1 to 1.8 writing to a file: SIGTERM, escalation, "kill failed" and a second SIGTERM are one kill."""
    result = read(copy_fixture(name, tmp_path), source="e")
    assert [
        (kill["pid"], kill["comm"], kill["signal"], kill["rss_kb"], kill["oom_score"]) for kill in result["kills"]
    ] == [
        (4310, "chrome", None, 2048 * 1024, 900),
        (4320, "my worker", "SIGTERM", 1024 * 1024, 900),
        (4330, "node", "SIGTERM", 1536 * 1024, 870),
        (4300, "chrome", "SIGTERM", 2048 * 1024, 900),
    ]
    assert result["kills"][3]["cmdline"] == "/opt/chrome/chrome --type=renderer"
    assert result["kill_count_by_kind"]["earlyoom"] == 4
    stamped = name.endswith("stamped.log")
    assert (result["kills"][0]["timestamp"] is not None) is stamped


@pytest.mark.usefixtures("block_size")
def test_rhel6_banner_gives_the_trigger_pid(tmp_path):
    """Bug fixed: the case-sensitive file prefilter dropped RHEL 6's "Pid: N, comm: X" banner."""
    kill = read(copy_fixture("messages-rhel6.log", tmp_path))["kills"][0]
    assert (kill["pid"], kill["uid"], kill["trigger_comm"], kill["trigger_pid"], kill["kind"]) == (
        4242,
        1001,
        "worker",
        4242,
        "global",
    )
    assert (kill["total_vm_kb"], kill["anon_rss_kb"], kill["file_rss_kb"], kill["shmem_rss_kb"]) == (
        2097152,
        1048576,
        512,
        None,
    )


# One fixture through every reader: the same result

KERNEL_FIXTURE = FIXTURES / "kernel-events.log"
BASE_WALL = datetime.datetime(2026, 3, 3, 10, 0, 0, tzinfo=datetime.timezone.utc)


def kernel_records():
    """(microseconds since boot, message) of the kernel fixture."""
    for line in KERNEL_FIXTURE.read_text().splitlines()[1:]:
        secs, message = line[1:].split("] ", 1)
        whole, fraction = secs.strip().split(".")
        yield int(whole) * 1000000 + int(fraction), message


def render(form):
    """The kernel fixture as one source writes it."""
    lines = []
    for seq, (usec, message) in enumerate(kernel_records()):
        secs = "%5d.%06d" % divmod(usec, 1000000)
        wall = BASE_WALL + datetime.timedelta(microseconds=usec)
        if form == "dmesg":
            lines.append("[%s] %s" % (secs, message))
        elif form == "kmsg":
            lines.append("%d,%d,%d,-;%s" % (4 if "invoked" in message else 6, seq, usec, message))
        elif form == "syslog":
            lines.append("%s vm-1 kernel: [%s] %s" % (wall.strftime("%b %e %H:%M:%S"), secs, message))
        elif form == "short-monotonic":
            lines.append("[%s] vm-1 kernel: %s" % (secs, message))
        elif form == "journal-json":
            realtime = int(wall.timestamp() * 1e6)
            record = entry(message, _SOURCE_MONOTONIC_TIMESTAMP=usec, **KERNEL)
            lines.append(json.dumps({**record, "__REALTIME_TIMESTAMP": str(realtime)}))
    return "\n".join(lines) + "\n"


KERNEL_KEYS = (
    "id",
    "pid",
    "comm",
    "uid",
    "kind",
    "constraint",
    "oom_memcg",
    "task_memcg",
    "unit",
    "cgroup",
    "container",
    "trigger_comm",
    "trigger_pid",
    "oom_group",
    "reaped_anon_rss_kb",
    "uptime_s",
    "rss_kb",
    "anon_rss_kb",
    "total_vm_kb",
    "oom_score_adj",
    "python",
    "message",
)


def kernel_view(result):
    kills = [tuple(kill[key] for key in KERNEL_KEYS) for kill in result["kills"]]
    panics = [(panic["reason"], panic["uptime_s"]) for panic in result["oom_panics"]]
    return kills, panics, result["no_killable_count"], result["kill_count_by_kind"]


def read_form(tmp_path, form, compress=False, through_file=True):
    text = render(form)
    if not through_file:
        parser = OomLogParser()
        for line in text.splitlines():
            parser.feed_text(line, "all-lines", kernel_only=True)
        return parser.result()
    path = tmp_path / ("%s.log%s" % (form, ".gz" if compress else ""))
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    os.utime(path, (MTIME, MTIME))
    return read(path, kernel_only=form in ("dmesg", "kmsg"))


def test_one_kernel_fixture_through_every_reader_gives_one_result(tmp_path, monkeypatch):
    expected = kernel_view(read_form(tmp_path, "dmesg", through_file=False))
    kills, panics, no_killable, _kinds = expected
    assert [kill[1] for kill in kills] == [4242, 4243, 4300, 4301, 4400, 4500]
    assert [(kill[4], kill[12], kill[13], kill[14]) for kill in kills] == [
        ("memcg", 4242, None, 0),
        ("global", None, None, 12),
        ("memcg", 4300, "/system.slice/app.service", None),
        ("memcg", 4300, "/system.slice/app.service", 0),
        ("sysrq", 77, None, None),
        ("memcg", 4500, None, None),
    ]
    assert kills[2][7] == "/system.slice/app.service/sub"
    assert kills[5][10] == {
        "runtime": "docker",
        "id": "4f0c2a9d8b7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a",
    }
    assert (panics, no_killable) == ([("System is deadlocked on memory", 350.0005)], 1)
    views = {}
    for form in ("dmesg", "kmsg", "syslog", "short-monotonic"):
        views[form] = kernel_view(read_form(tmp_path, form))
        views[form + ".gz"] = kernel_view(read_form(tmp_path, form, compress=True))
    monkeypatch.setattr(_log_file, "BLOCK_SIZE", 97)
    views["syslog-97-byte-blocks"] = kernel_view(read_form(tmp_path, "syslog"))
    monkeypatch.undo()
    dmesg = tmp_path / "dmesg.txt"
    dmesg.write_text(render("dmesg"))
    by_dmesg = OomLogParser()
    read_dmesg(by_dmesg, make_script(tmp_path / "dmesg", 'cat "%s"\n' % dmesg))
    views["dmesg-command"] = kernel_view(by_dmesg.result())
    machine = tmp_path / "journal" / "m"
    machine.mkdir(parents=True)
    (machine / "system.journal").write_bytes(b"LPKSHHRH")
    monkeypatch.setattr(_oom_sources, "JOURNAL_DIRS", (str(tmp_path / "journal"),))
    (tmp_path / "entries.json").write_text(render("journal-json"))
    by_journal = OomLogParser()
    read_journal(by_journal, make_script(tmp_path / "journalctl", 'cat "%s/entries.json"\n' % tmp_path))
    views["journal"] = kernel_view(by_journal.result())
    for name, view in views.items():
        assert view == expected, name


USERSPACE_KEYS = (
    "killer",
    "pid",
    "comm",
    "uid",
    "cgroup",
    "unit",
    "reason",
    "queued",
    "processes",
    "signal",
    "cmdline",
)


def test_one_userspace_fixture_through_every_reader_gives_one_result(tmp_path, monkeypatch):
    """systemd-oomd, its manager's confirmation and earlyoom: syslog text, gzip, the journal, short-monotonic."""
    records = [
        ("systemd-oomd", 612, OOMD_LINE),
        ("systemd", 1, "batch.service: systemd-oomd killed 4 process(es) in this unit."),
        ("earlyoom", 812, EARLYOOM_LINE),
        ("earlyoom", 812, EARLYOOM_LINE.replace("SIGTERM", "SIGKILL")),
    ]
    syslog = "".join(
        "Mar  3 10:11:%02d vm-1 %s[%d]: %s\n" % (index, ident, pid, text)
        for index, (ident, pid, text) in enumerate(records)
    )
    mono = "".join(
        "[  77.%06d] vm-1 %s[%d]: %s\n" % (index, ident, pid, text) for index, (ident, pid, text) in enumerate(records)
    )
    trust = {
        "systemd-oomd": {**OOMD_UNIT, "_UID": 998},
        "systemd": {"_PID": 1, "_UID": 0, "SYSLOG_IDENTIFIER": "systemd"},
        "earlyoom": {**EARLYOOM_UNIT, "_UID": 0},
    }
    views = {}
    for name, text, compress in (("syslog", syslog, False), ("syslog.gz", syslog, True), ("mono", mono, False)):
        path = tmp_path / name
        path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
        os.utime(path, (MTIME, MTIME))
        views[name] = read(path)
    machine = tmp_path / "journal" / "m"
    machine.mkdir(parents=True)
    (machine / "system.journal").write_bytes(b"LPKSHHRH")
    monkeypatch.setattr(_oom_sources, "JOURNAL_DIRS", (str(tmp_path / "journal"),))
    entries = [
        {**entry(text, **trust[ident]), "__REALTIME_TIMESTAMP": str(STAMP + index)}
        for index, (ident, _pid, text) in enumerate(records)
    ]
    parser = OomLogParser()
    read_journal(parser, fake_journalctl(tmp_path, entries))
    views["journal"] = parser.result()
    expected = [
        ("systemd-oomd", None, None, None, "/system.slice/batch.service", "batch.service", "memory_pressure", False, 4),
        ("earlyoom", 4300, "chrome", 1001, None, None, None, None, None),
    ]
    for name, result in views.items():
        assert [tuple(kill[key] for key in USERSPACE_KEYS)[:9] for kill in result["kills"]] == expected, name
        assert [kill["signal"] for kill in result["kills"]] == [None, "SIGTERM"], name


def test_the_same_log_read_twice_gives_the_same_ids(tmp_path):
    first = read(copy_fixture("syslog-debian.log", tmp_path))
    time.sleep(0.01)
    second = read(copy_fixture("syslog-debian.log", tmp_path, "copy.log"))
    assert [kill["id"] for kill in first["kills"]] == [kill["id"] for kill in second["kills"]]
    assert len({kill["id"] for kill in first["kills"]}) == 4


# gather_logs: what oom_facts gets


class FakeModule:
    """The two AnsibleModule methods gather_logs uses."""

    def __init__(self, bins):
        self.bins = bins
        self.warnings = []

    def get_bin_path(self, name, required=False):
        return self.bins.get(name)

    def warn(self, message):
        self.warnings.append(message)


GATHER_KEYS = {
    "kills",
    "kill_count",
    "kill_count_by_killer",
    "kill_count_by_kind",
    "kill_count_by_unit",
    "kill_count_by_source",
    "kill_count_by_host",
    "host_scope_kill_count",
    "untrusted_records",
    "kernel_kills_by_boot",
    "kernel_kills_since_boot_without_id",
    "oom_panics",
    "no_killable_count",
    "oldest_record",
    "sources",
    "sources_unavailable",
}


def absent(*_args, **_kwargs):
    raise SourceUnavailable("absent", "not on this test host")


@pytest.mark.usefixtures("journal_files")
def test_gather_logs_auto_takes_the_journal_and_stops(tmp_path, monkeypatch):
    journalctl = fake_journalctl(tmp_path, [entry(KILLED, _SOURCE_MONOTONIC_TIMESTAMP=5123000100, **KERNEL)])
    dmesg = make_script(tmp_path / "dmesg", 'touch "%s/dmesg-ran"\n' % tmp_path)
    monkeypatch.setattr(_oom_sources, "read_kmsg", absent)
    module = FakeModule({"journalctl": journalctl, "dmesg": dmesg})
    logs = _oom_sources.gather_logs(module, ["auto"], [], None, 100)
    assert set(logs) == GATHER_KEYS
    assert logs["sources"] == {
        "journal": {"status": "ok", "detail": "", "kills": 1, "untrusted": 0, "format": "journal"}
    }
    assert not (tmp_path / "dmesg-ran").exists()
    assert (logs["kill_count"], logs["kills"][0]["host"], module.warnings) == (1, "vm-1", [])


def test_gather_logs_auto_falls_back_and_reads_explicit_sources_too(tmp_path, monkeypatch):
    monkeypatch.setattr(_oom_sources, "JOURNAL_DIRS", (str(tmp_path / "none"),))
    monkeypatch.setattr(_oom_sources, "read_kmsg", absent)
    syslog_calls = []

    def fake_syslog(parser, warnings=None):
        syslog_calls.append(parser)
        return ["/var/log/syslog"]

    monkeypatch.setattr(_oom_sources, "read_syslog", fake_syslog)
    text = tmp_path / "dmesg.txt"
    text.write_text("[ 5.000000] " + KILLED + "\n")
    module = FakeModule({"journalctl": "/bin/true", "dmesg": make_script(tmp_path / "dmesg", 'cat "%s"\n' % text)})
    logs = _oom_sources.gather_logs(module, ["auto"], [], None, 100)
    assert [(name, source["status"]) for name, source in logs["sources"].items()] == [
        ("journal", "absent"),
        ("kmsg", "absent"),
        ("dmesg", "ok"),
    ]
    assert logs["sources_unavailable"] == ["journal", "kmsg"]
    assert (syslog_calls, module.warnings) == ([], [])
    logs = _oom_sources.gather_logs(module, ["auto", "syslog"], [], None, 100)
    assert len(syslog_calls) == 1
    assert logs["sources"]["syslog"] == {
        "status": "ok",
        "detail": "read /var/log/syslog",
        "kills": 0,
        "untrusted": 0,
        "format": "syslog",
    }


def test_gather_logs_with_no_live_source_warns(tmp_path, monkeypatch):
    monkeypatch.setattr(_oom_sources, "JOURNAL_DIRS", (str(tmp_path / "none"),))
    monkeypatch.setattr(_oom_sources, "read_kmsg", absent)
    monkeypatch.setattr(_oom_sources, "read_syslog", absent)
    module = FakeModule({})
    logs = _oom_sources.gather_logs(module, ["auto"], [], None, 100)
    assert logs["sources_unavailable"] == ["journal", "kmsg", "dmesg", "syslog"]
    assert module.warnings == [
        "no live log source could be read (journalctl is not installed; not on this test host; the dmesg command "
        "is not installed; not on this test host); OOM kills before now are unknown"
    ]


@pytest.mark.usefixtures("journal_files")
def test_gather_logs_checks_every_path_before_reading_anything(tmp_path):
    journalctl = make_script(tmp_path / "journalctl", 'touch "%s/journal-ran"\n' % tmp_path)
    good = copy_fixture("kmsg-raw.log", tmp_path)
    with pytest.raises(LogPathError) as caught:
        _oom_sources.gather_logs(FakeModule({"journalctl": journalctl}), ["journal"], [str(good), "kern.log"], None, 1)
    assert str(caught.value).startswith("log_paths: kern.log is a relative path")
    assert not (tmp_path / "journal-ran").exists()


def test_gather_logs_files_statuses_and_duplicates(tmp_path):
    good = copy_fixture("syslog-debian.log", tmp_path)
    other_name = tmp_path / "same-file.log"
    os.link(good, other_name)
    mystery = tmp_path / "mystery.bin"
    mystery.write_bytes(bytes(range(256)) * 8)
    data = gzip.compress(("kernel: %s\n" % KILLED).encode() + b"kernel: filler\n" * 20000)
    damaged = tmp_path / "kern.log.2.gz"
    damaged.write_bytes(data[: len(data) // 2])
    module = FakeModule({})
    paths = [str(good), str(mystery), str(damaged), str(other_name), str(good)]
    logs = _oom_sources.gather_logs(module, [], paths, None, 2)
    sources = logs["sources"]
    assert [(name, source["status"], source["kills"]) for name, source in sources.items()] == [
        (str(good), "ok", 4),
        (str(mystery), "unrecognized", 0),
        (str(damaged), "partial", 1),
        (str(other_name), "ok", 0),
    ]
    assert sources[str(other_name)]["detail"] == "the same file as %s, read once" % good
    assert (sources[str(mystery)]["format"], sources[str(other_name)]["format"]) == (None, "text")
    assert sources[str(damaged)]["detail"].startswith("text; %s is truncated after " % damaged)
    assert logs["sources_unavailable"] == [str(mystery)]
    assert (logs["kill_count"], len(logs["kills"])) == (5, 2)
    assert module.warnings[
        0
    ] == "log source %s: %s is in no log format this module reads: binary data, not a text log" % (
        mystery,
        mystery,
    )
    assert module.warnings[1].startswith("%s is truncated after " % damaged)


# One kill, many sources; many VMs, one file


def central_syslog(path):
    """Two VMs' OOM reports interleaved line by line, as a central rsyslog server writes them: the same pid, the
    same second and the same kernel time on both, one a memcg kill, the other a global one."""
    header = "worker invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0"
    summaries = {
        "vm-a": "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
        "oom_memcg=/system.slice/worker.service,task_memcg=/system.slice/worker.service,task=worker,pid=4242,uid=1001",
        "vm-b": "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
        "task_memcg=/system.slice/worker.service,task=worker,pid=4242,uid=1001",
    }
    killed = {"vm-a": "Memory cgroup out of memory: " + KILLED.split(": ", 1)[1], "vm-b": KILLED}
    lines = []
    for messages in ({"vm-a": header, "vm-b": header}, summaries, killed):
        for host, message in messages.items():
            lines.append("Mar  3 10:11:12 %s kernel: [ 4331.401000] %s\n" % (host, message))
    path.write_text("".join(lines))
    os.utime(path, (MTIME, MTIME))
    return str(path)


@pytest.mark.usefixtures("journal_files")
def test_one_kill_in_two_local_sources_is_one_kill_and_two_vms_in_one_file_are_two(tmp_path, monkeypatch):
    """Dedup with the host: the same kill in the local journal and the local syslog file is one kill (the syslog
    host name may be the FQDN of the journal's), while two VMs' kills in one file never merge, even with the same
    pid at the same second and kernel time; their interleaved reports keep their own context."""
    journal = entry(KILLED, _SOURCE_MONOTONIC_TIMESTAMP=5123400000, _HOSTNAME="web-1", **KERNEL)
    journalctl = fake_journalctl(tmp_path, [journal])
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    (log_dir / "syslog").write_text(
        "Mar  3 10:11:12 web-1.c.example-prod.internal kernel: [ 5123.400000] %s\n" % KILLED
    )
    os.utime(log_dir / "syslog", (MTIME, MTIME))
    real_read_syslog = _oom_sources.read_syslog
    monkeypatch.setattr(
        _oom_sources, "read_syslog", lambda parser, warnings=None: real_read_syslog(parser, str(log_dir), warnings)
    )
    central = central_syslog(tmp_path / "central.log")
    module = FakeModule({"journalctl": journalctl})
    logs = _oom_sources.gather_logs(module, ["journal", "syslog"], [central], None, 100, hostname="web-1")
    assert [
        (kill["host"], kill["pid"], kill["kind"], kill["constraint"], kill["source"]) for kill in logs["kills"]
    ] == [
        ("web-1", 4242, "global", None, "journal"),
        ("vm-a", 4242, "memcg", "CONSTRAINT_MEMCG", central),
        ("vm-b", 4242, "global", "CONSTRAINT_NONE", central),
    ]
    assert [kill["oom_memcg"] for kill in logs["kills"][1:]] == ["/system.slice/worker.service", None]
    assert logs["kill_count_by_host"] == {"web-1": 1, "vm-a": 1, "vm-b": 1}
    assert logs["kill_count_by_source"] == {"journal": 1, central: 2}
    assert logs["sources"]["syslog"]["kills"] == 0
    assert module.warnings == []
    # a copied dmesg capture names no host: it may be any machine's, and is the journal's kill here
    dmesg = tmp_path / "dmesg.txt"
    dmesg.write_text("[ 5123.400000] %s\n" % KILLED)
    logs = _oom_sources.gather_logs(module, ["journal"], [str(dmesg)], None, 100, hostname="web-1")
    assert (logs["kill_count"], logs["kill_count_by_source"]) == (1, {"journal": 1})
