# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Structured log files for log_paths: journal JSON and export, Cloud Logging exports, GCE serial port output.

The fixtures are invented (written from the formats' documentation): hosts vm-j, vm-a, vm-serial and vm-capture,
project example-prod.
"""

from __future__ import annotations

import datetime
import gzip
import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.oomguard.memory.plugins.module_utils import _log_formats
from ansible_collections.oomguard.memory.plugins.module_utils._log_formats import (
    FORMAT_CLOUD_LOGGING,
    FORMAT_JOURNAL_EXPORT,
    FORMAT_JOURNAL_JSON,
    FORMAT_SERIAL_JSON,
    FORMAT_SERIAL_TEXT,
    FORMAT_TEXT,
    FORMAT_UNRECOGNIZED,
    FormatReport,
    describe_format,
    detect_format,
    iter_lines,
    journal_provenance,
    sniff_file,
)
from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import LAZY_NEEDLES, RECORD_MARKERS, OomLogParser
from ansible_collections.oomguard.memory.plugins.module_utils._oom_sources import SourceUnavailable, read_log_file
from ansible_collections.oomguard.memory.plugins.modules import oom_facts

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "oom_logs"
# The directory that holds ansible_collections/, as this test imported it.
COLLECTIONS = Path(_log_formats.__file__).parents[5]
MTIME = datetime.datetime(2026, 3, 10, 12, 0, 0, tzinfo=datetime.timezone.utc).timestamp()
BOOT = "5e1f3c2a9b8d4e7fa6c0d1e2f3a4b5c6"
VM_B = "4444555566667777888"


# Log times without a zone are read in the local zone: these tests read them in UTC (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("utc_zone")


def copy_fixture(tmp_path, name, compress=False, data=None):
    path = tmp_path / (name + (".gz" if compress else ""))
    data = (FIXTURES / name).read_bytes() if data is None else data
    path.write_bytes(gzip.compress(data) if compress else data)
    os.utime(path, (MTIME, MTIME))
    return str(path)


def read(path):
    parser = OomLogParser()
    report = read_log_file(parser, path, "f")
    return parser.result(), report


def brief(result):
    """The identity of each kill: killer, host, pid, comm, kind, timestamp, uptime."""
    return [
        (
            kill["killer"],
            kill.get("host"),
            kill["pid"],
            kill["comm"],
            kill.get("kind"),
            kill["timestamp"],
            kill["uptime_s"],
        )
        for kill in result["kills"]
    ]


# Detection


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("journal-vm-j.json", FORMAT_JOURNAL_JSON),
        ("journal-vm-j.export.bin", FORMAT_JOURNAL_EXPORT),
        ("cloud-logging-two-vms.json", FORMAT_CLOUD_LOGGING),
        ("serial-port-vm-serial.json", FORMAT_SERIAL_JSON),
        ("serial-port-vm-capture.bin", FORMAT_SERIAL_TEXT),
        ("syslog-debian.log", FORMAT_TEXT),
        ("dmesg-6.18-memcg-v1.log", FORMAT_TEXT),
        ("kmsg-raw.log", FORMAT_TEXT),
        ("random-bytes.bin", FORMAT_UNRECOGNIZED),
        ("unrelated.json", FORMAT_UNRECOGNIZED),
    ],
)
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_every_fixture_detected_by_content(tmp_path, name, expected, compress):
    path = copy_fixture(tmp_path, name, compress)
    assert sniff_file(path)[0] == expected
    assert detect_format((FIXTURES / name).read_bytes()[: _log_formats.HEAD_SIZE]) == expected


@pytest.mark.parametrize(
    ("head", "expected", "reason"),
    [
        (b"", FORMAT_TEXT, ""),
        (b"[]\n", FORMAT_CLOUD_LOGGING, ""),
        (b"[    0.000000] Linux version 6.1.0\n[    0.000000] Command line: ro\n", FORMAT_TEXT, ""),
        (b"[Tue Mar  3 10:11:12 2026] Out of memory: Killed process 4242 (worker)\n", FORMAT_TEXT, ""),
        (b'[{"id": 1, "name": "a"}]', FORMAT_UNRECOGNIZED, "JSON, but not"),
        (b'{\n\t"__CURSOR" : "s=1",\n\t"MESSAGE" : "x"\n}\n', FORMAT_JOURNAL_JSON, ""),
        (b'\x1e{"__REALTIME_TIMESTAMP":"1","MESSAGE":"x"}\n', FORMAT_JOURNAL_JSON, ""),
        (b'{"insertId":"a","logName":"projects/p/logs/syslog","textPayload":"x"}\n', FORMAT_CLOUD_LOGGING, ""),
        (b'{"kind": "compute#serialPortOutput", "contents": "", "selfLink": "x"}', FORMAT_SERIAL_JSON, ""),
        (b"\xfd7zXZ\x00\x00\x04", FORMAT_UNRECOGNIZED, "xz-compressed"),
        (b"\x28\xb5\x2f\xfd\x00", FORMAT_UNRECOGNIZED, "zstd-compressed"),
        (b"BZh91AY&SY\x00", FORMAT_UNRECOGNIZED, "bzip2-compressed"),
        (b"LPKSHHRH\x00\x00\x00\x00", FORMAT_UNRECOGNIZED, "journalctl --file=<path> -o export"),
        (b"[\x1b[0;32m  OK  \x1b[0m] Started ssh.service\r\n", FORMAT_SERIAL_TEXT, ""),
        (b"[ *** ] A start job is running\r\x1b[K[  130.5] Out of memory\n", FORMAT_SERIAL_TEXT, ""),
        # a service's coloured output in a syslog file does not make it a console capture
        (b"Mar  3 10:11:12 vm-1 app[7]: \x1b[0;32mINFO\x1b[0m ready\n", FORMAT_TEXT, ""),
        (b"Mar  3 10:11:12 vm-1 kernel: hello\r\nMar  3 10:11:13 vm-1 kernel: there\r\n", FORMAT_SERIAL_TEXT, ""),
    ],
)
def test_describe_format(head, expected, reason):
    fmt, why = describe_format(head)
    assert fmt == expected
    assert reason in why
    assert bool(why) == (expected == FORMAT_UNRECOGNIZED)


def test_detection_when_the_first_entry_is_longer_than_the_head():
    """The head ends inside the first value: the keys it shows decide."""
    big = "x" * (2 * _log_formats.HEAD_SIZE)
    cloud = json.dumps([{"insertId": "a", "logName": "projects/p/logs/syslog", "textPayload": big}], indent=2)
    serial = json.dumps({"contents": big, "kind": "compute#serialPortOutput"}, indent=2, sort_keys=True)
    journal = json.dumps({"__CURSOR": "s=1", "__REALTIME_TIMESTAMP": "1", "MESSAGE": big})
    for text, expected in ((cloud, FORMAT_CLOUD_LOGGING), (serial, FORMAT_SERIAL_JSON), (journal, FORMAT_JOURNAL_JSON)):
        assert detect_format(text.encode()[: _log_formats.HEAD_SIZE]) == expected


def test_text_with_binary_garbage_and_log_lines_stays_text():
    """A syslog file with NUL runs and stray bytes is still a log; only a head with no log line is binary."""
    garbage = b"\x00\x01\x02binary\xff\xfe\x00" * 30
    assert detect_format(garbage + b"\n[ 11.000000] Out of memory: Killed process 4242 (worker)\n") == FORMAT_TEXT
    assert detect_format(garbage + b"\nno log line here\n") == FORMAT_UNRECOGNIZED
    # A syslog file that starts with the NUL blocks an unclean shutdown left is a text log.
    assert detect_format(bytes(_log_formats.HEAD_SIZE)) == FORMAT_TEXT
    assert detect_format(bytes(9000) + b"Mar  3 10:11:12 vm-1 sshd[4]: Accepted publickey\n") == FORMAT_TEXT


# Journal: journalctl -o json and -o export

JOURNAL_KILLS = [
    ("kernel", "vm-j", 4242, "worker", "memcg", "2026-03-03T10:11:12.345678+00:00", 5123.456789),
    ("earlyoom", "vm-j", 4300, "chrome", "earlyoom", "2026-03-03T10:20:00.250000+00:00", None),
    ("systemd-oomd", "vm-j", None, None, "systemd-oomd", "2026-03-03T10:25:00+00:00", None),
    ("kernel", "vm-j", 4343, "w\\xffrker", "global", "2026-03-03T10:40:00+00:00", 7011.0),
]


@pytest.mark.parametrize("name", ["journal-vm-j.json", "journal-vm-j.export.bin"])
def test_journal_exports_give_exact_kills(tmp_path, name):
    result, report = read(copy_fixture(tmp_path, name))
    assert brief(result) == JOURNAL_KILLS
    memcg, earlyoom, oomd, binary = result["kills"]
    assert (memcg["constraint"], memcg["oom_memcg"], memcg["unit"], memcg["trigger_pid"]) == (
        "CONSTRAINT_MEMCG",
        "/system.slice/worker.service",
        "worker.service",
        4242,
    )
    assert (earlyoom["signal"], earlyoom["rss_kb"], earlyoom["uid"]) == ("SIGTERM", 1500 * 1024, 1001)
    assert (oomd["cgroup"], oomd["unit"], oomd["processes"], oomd["queued"]) == (
        "/system.slice/batch.service",
        "batch.service",
        3,
        False,
    )
    assert binary["anon_rss_kb"] == 524288
    assert result["kernel_kills_by_boot"] == {BOOT: 2}
    assert (report.format, report.entries, report.skipped, report.untrusted, report.truncated) == (
        detect_format((FIXTURES / name).read_bytes()),
        17,
        0,
        3,
        False,
    )


def test_journal_json_and_export_of_the_same_entries_agree(tmp_path):
    as_json = read(copy_fixture(tmp_path, "journal-vm-j.json"))[0]
    as_export = read(copy_fixture(tmp_path, "journal-vm-j.export.bin"))[0]
    for kill in as_json["kills"] + as_export["kills"]:
        kill.pop("source")
    assert as_json == as_export


def test_forged_journal_records_are_untrusted_not_kills(tmp_path):
    """The fixture has a kernel kill sent through syslog(3), earlyoom's line from a user session and PID 1's
    oomd line from another pid; PID 1 stopping a unit (Killing process 5151, 5152) is no kill either."""
    result, report = read(copy_fixture(tmp_path, "journal-vm-j.json"))
    assert {kill["pid"] for kill in result["kills"]}.isdisjoint({1, 777, 5151, 5152})
    assert "sshd.service" not in result["kill_count_by_unit"]
    assert report.untrusted == 3


EARLYOOM_UNIT = {"_TRANSPORT": "stdout", "_SYSTEMD_UNIT": "earlyoom.service", "SYSLOG_IDENTIFIER": "earlyoom"}
OOMD_UNIT = {"_TRANSPORT": "journal", "_SYSTEMD_UNIT": "systemd-oomd.service", "SYSLOG_IDENTIFIER": "systemd-oomd"}
USER_MANAGER = {"_PID": "1300", "_UID": "1001", "_SYSTEMD_UNIT": "user@1001.service"}
USER_MANAGER["_SYSTEMD_USER_UNIT"] = "init.scope"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"_TRANSPORT": "kernel"}, ("kernel", None), id="kernel-transport"),
        pytest.param({"_TRANSPORT": ["kernel", "syslog"]}, ("kernel", None), id="repeated-field"),
        pytest.param(
            {"_TRANSPORT": "syslog", "SYSLOG_IDENTIFIER": "kernel", "_UID": "1000"}, None, id="logger-t-kernel"
        ),
        pytest.param({**EARLYOOM_UNIT, "_UID": "0"}, ("earlyoom", None), id="earlyoom-root"),
        pytest.param({**EARLYOOM_UNIT, "_UID": "61234"}, ("earlyoom", None), id="earlyoom-dynamic-user"),
        pytest.param({**EARLYOOM_UNIT, "_UID": "1000"}, None, id="earlyoom-unit-as-a-login-user"),
        pytest.param(EARLYOOM_UNIT, None, id="earlyoom-unit-without-uid"),
        pytest.param({**OOMD_UNIT, "_UID": "996"}, ("systemd-oomd", None), id="oomd-system-user"),
        pytest.param(
            {"_SYSTEMD_UNIT": "session-3.scope", "SYSLOG_IDENTIFIER": "systemd-oomd", "_UID": "0"},
            None,
            id="oomd-identifier-elsewhere",
        ),
        pytest.param({"_PID": "1", "_UID": "0", "SYSLOG_IDENTIFIER": "systemd"}, ("manager", None), id="pid1"),
        pytest.param({"_PID": "1", "SYSLOG_IDENTIFIER": "systemd"}, None, id="pid1-without-uid"),
        pytest.param({"_PID": "4000", "_UID": "0", "SYSLOG_IDENTIFIER": "systemd"}, None, id="systemd-not-pid1"),
        pytest.param(
            USER_MANAGER,
            ("manager", "/user.slice/user-1001.slice/user@1001.service/"),
            id="user-manager",
        ),
        pytest.param({**USER_MANAGER, "_SYSTEMD_UNIT": "user@1002.service"}, None, id="other-users-manager"),
    ],
)
def test_journal_provenance(fields, expected):
    """One check for the live journal and every journal file: only fields journald sets itself count."""
    assert journal_provenance(fields) == (expected or (None, None))


def export_entry(fields):
    out = b""
    for key, value in fields.items():
        if isinstance(value, bytes):
            out += key.encode() + b"\n" + struct.pack("<Q", len(value)) + value + b"\n"
        else:
            out += key.encode() + b"=" + value.encode() + b"\n"
    return out + b"\n"


KERNEL_KILL = {
    "__CURSOR": "s=1",
    "__REALTIME_TIMESTAMP": "1772532672345678",
    "_BOOT_ID": BOOT,
    "_HOSTNAME": "vm-j",
    "_TRANSPORT": "kernel",
    "_SOURCE_MONOTONIC_TIMESTAMP": "5123456789",
    "MESSAGE": "Out of memory: Killed process 4242 (worker) total-vm:10kB, anon-rss:8kB, file-rss:1kB",
}


def test_export_skips_an_entry_with_an_oversized_message_and_reads_on(monkeypatch):
    monkeypatch.setattr(_log_formats, "MAX_FIELD_BYTES", 4096)
    data = (
        export_entry({**KERNEL_KILL, "MESSAGE": b"Killed process 1 (" + b"x" * 10000 + b")"})
        + export_entry({**KERNEL_KILL, "MESSAGE": "Killed process 2 (" + "y" * 10000 + ")"})
        + export_entry({**KERNEL_KILL, "COREDUMP": b"\x7fELF" + bytes(20000), "MESSAGE": "hello"})
        + export_entry(KERNEL_KILL)
    )
    report = FormatReport(FORMAT_JOURNAL_EXPORT)
    lines = list(iter_lines(io.BytesIO(data), FORMAT_JOURNAL_EXPORT, "f", report))
    assert [line.message for line in lines] == [KERNEL_KILL["MESSAGE"]]
    assert (report.entries, report.skipped, report.truncated) == (2, 2, False)


def test_export_cut_inside_a_binary_field_is_truncated():
    data = export_entry(KERNEL_KILL) + export_entry({**KERNEL_KILL, "MESSAGE": b"Killed process 3 (cut)"})[:-12]
    report = FormatReport(FORMAT_JOURNAL_EXPORT)
    lines = list(iter_lines(io.BytesIO(data), FORMAT_JOURNAL_EXPORT, "f", report))
    assert [line.message for line in lines] == [KERNEL_KILL["MESSAGE"]]
    assert report.truncated is True


def test_the_byte_prefilter_keeps_every_line_the_parser_uses():
    """JSON entries without a prefilter word are passed over undecoded: the words must cover every record marker
    and every line the parser waits for, in any case."""
    needles = _log_formats._BYTE_NEEDLES
    for word in (*RECORD_MARKERS, *LAZY_NEEDLES):
        assert any(needle in word.lower().encode() for needle in needles), word


def test_journal_json_lines_malformed_line_skipped_and_counted():
    good = json.dumps(KERNEL_KILL)
    broken = [good[:-10], '{"MESSAGE": "Killed process 9 (x)", "_TRANSPORT": "kernel",}', '["Killed process 1"]']
    data = "\n".join([good, *broken, "a line without any prefilter word", good]) + "\n"
    report = FormatReport(FORMAT_JOURNAL_JSON)
    lines = list(iter_lines(io.BytesIO(data.encode()), FORMAT_JOURNAL_JSON, "f", report))
    assert len(lines) == 2
    assert (lines[0].host, lines[0].boot, lines[0].uptime, lines[0].kernel) == ("vm-j", BOOT, 5123.456789, True)
    assert lines[0].timestamp == datetime.datetime(2026, 3, 3, 10, 11, 12, 345678, tzinfo=datetime.timezone.utc)
    # A line without any prefilter word is counted without being decoded.
    assert (report.entries, report.skipped) == (3, 3)


def test_journal_json_pretty_printed_malformed_entry_skipped_and_counted():
    pretty = json.dumps(KERNEL_KILL, indent=8)
    data = "\n".join([pretty, pretty.replace('"vm-j",', '"vm-j"'), "42", pretty]) + "\n"
    report = FormatReport(FORMAT_JOURNAL_JSON)
    lines = list(iter_lines(io.BytesIO(data.encode()), FORMAT_JOURNAL_JSON, "f", report))
    assert [line.message for line in lines] == [KERNEL_KILL["MESSAGE"]] * 2
    assert (report.entries, report.skipped) == (2, 2)


def test_deeply_nested_json_is_skipped_not_a_crash():
    data = b"[" * 200000 + b"]" * 200000 + b"\n" + json.dumps(KERNEL_KILL).encode() + b"\n"
    report = FormatReport(FORMAT_JOURNAL_JSON)
    lines = list(iter_lines(io.BytesIO(data), FORMAT_JOURNAL_JSON, "f", report))
    assert [line.message for line in lines] == [KERNEL_KILL["MESSAGE"]]
    assert report.skipped == 1


# Cloud Logging: gcloud logging read --format=json

CLOUD_KILLS = [
    ("kernel", "vm-a", 702, "apt-get", "global", "2026-03-03T09:00:45.123456+00:00", 45.123456),
    ("kernel", "vm-a", 4242, "worker", "global", "2026-03-03T10:11:12.417000+00:00", 4331.401),
    ("kernel", VM_B, 4242, "worker", "memcg", "2026-03-03T10:11:12.418000+00:00", 2201.105),
    ("earlyoom", VM_B, 4300, "chrome", "earlyoom", "2026-03-03T10:20:00.250000+00:00", None),
    ("kernel", "vm-a", 5150, "python3", "global", "2026-03-03T10:30:00.200000+00:00", 5459.1),
]


def test_cloud_logging_export_of_two_vms(tmp_path):
    """Newest first as gcloud writes it; vm-a's kill is in its serial port log (kernel console line and
    rsyslog's copy) and in the Ops Agent's syslog: counted once, with the context of one copy."""
    result, report = read(copy_fixture(tmp_path, "cloud-logging-two-vms.json"))
    assert brief(result) == CLOUD_KILLS
    kills = result["kills"]
    assert [kill.get("constraint") for kill in kills] == [None, "CONSTRAINT_NONE", "CONSTRAINT_MEMCG", None, None]
    assert (kills[1]["task_memcg"], kills[1]["trigger_comm"], kills[1]["trigger_pid"]) == (
        "/system.slice/worker.service",
        "worker",
        4242,
    )
    assert (kills[2]["oom_memcg"], kills[2]["unit"], kills[2]["anon_rss_kb"]) == (
        "/system.slice/worker.service",
        "worker.service",
        524288,
    )
    assert kills[0]["trigger_comm"] is None
    assert (report.entries, report.skipped, report.untrusted, report.duplicates) == (21, 1, 2, 6)
    assert "newest first" in report.detail()


def cloud_entries():
    """The fixture's entries, oldest first, without its malformed one."""
    text = (FIXTURES / "cloud-logging-two-vms.json").read_text()
    entries = []
    decoder = json.JSONDecoder()
    for chunk in text.strip()[1:-1].split("\n  },\n"):
        chunk = chunk.strip()
        chunk = chunk if chunk.endswith("}") else chunk + "}"
        try:
            entries.append(decoder.decode(chunk))
        except ValueError:
            continue
    return entries[::-1]


@pytest.mark.parametrize("layout", ["oldest-first", "json-lines"])
def test_cloud_logging_order_and_layout_do_not_change_the_kills(tmp_path, layout):
    entries = cloud_entries()
    assert len(entries) == 21
    if layout == "oldest-first":
        data = json.dumps(entries, indent=2).encode()
    else:
        # A log sink to Cloud Storage writes one LogEntry per line.
        data = "".join(json.dumps(entry) + "\n" for entry in entries).encode()
    assert detect_format(data[: _log_formats.HEAD_SIZE]) == FORMAT_CLOUD_LOGGING
    result, report = read(copy_fixture(tmp_path, "export.json", data=data))
    assert brief(result) == CLOUD_KILLS
    assert (report.entries, report.skipped, report.untrusted, report.duplicates) == (21, 0, 2, 6)
    assert "newest first" not in report.detail()


def test_cloud_logging_journald_payload_follows_journal_provenance():
    """The Ops Agent's systemd_journald receiver puts the journal fields in jsonPayload."""

    def log_entry(fields, stamp):
        return {
            "insertId": stamp,
            "logName": "projects/example-prod/logs/systemd_journald",
            "resource": {"type": "gce_instance", "labels": {"instance_id": "99"}},
            "timestamp": stamp,
            "jsonPayload": fields,
        }

    forged = {**KERNEL_KILL, "_TRANSPORT": "syslog", "MESSAGE": KERNEL_KILL["MESSAGE"].replace("4242", "1")}
    data = json.dumps(
        [
            log_entry(KERNEL_KILL, "2026-03-03T10:11:12.345678Z"),
            log_entry(forged, "2026-03-03T10:11:13Z"),
            log_entry({"_TRANSPORT": "kernel", "message": "Killed process 4343 (other)"}, "2026-03-03T10:11:14Z"),
        ]
    ).encode()
    report = FormatReport(FORMAT_CLOUD_LOGGING)
    lines = list(iter_lines(io.BytesIO(data), FORMAT_CLOUD_LOGGING, "f", report))
    assert [(line.message[-32:], line.host, line.kernel, line.boot) for line in lines] == [
        ("total-vm:10kB, anon-rss:8kB, file-rss:1kB"[-32:], "99", True, BOOT),
        ("Killed process 4343 (other)", "99", True, None),
    ]
    assert lines[1].timestamp == datetime.datetime(2026, 3, 3, 10, 11, 14, tzinfo=datetime.timezone.utc)
    assert report.untrusted == 1


def test_cloud_logging_cut_short_keeps_the_complete_entries(tmp_path):
    data = (FIXTURES / "cloud-logging-two-vms.json").read_bytes()
    cut = data[: data.index(b'"1x2y3z"')]
    result, report = read(copy_fixture(tmp_path, "cut.json", data=cut))
    assert report.truncated is True
    assert brief(result) == [CLOUD_KILLS[3], CLOUD_KILLS[4]]


@pytest.mark.parametrize(
    ("name", "cut_at", "kept"),
    [
        # spooled (newest first): what was read before the damage is replayed, then the damage is reported
        ("cloud-logging-two-vms.json", b'"1x2y3z"', [CLOUD_KILLS[3], CLOUD_KILLS[4]]),
        # read as it streams: the kills before the damage are fed
        ("journal-vm-j.json", b'"MESSAGE":[', JOURNAL_KILLS[:3]),
    ],
)
def test_damaged_gzip_export_gives_the_kills_before_the_damage(tmp_path, name, cut_at, kept):
    """The one gzip reader of every format: a gzip export cut short is partial, with a warning, and its kills
    read before the damage count."""
    data = (FIXTURES / name).read_bytes()
    compressed = gzip.compress(data[: data.index(cut_at)] + b" " * 300000, compresslevel=1)
    path = copy_fixture(tmp_path, name + ".gz", data=compressed[: len(compressed) - 200])
    parser = OomLogParser()
    warnings = []
    report = read_log_file(parser, path, "f", warnings=warnings)
    assert report.partial is True
    assert warnings[0].startswith("%s is truncated after " % path)
    assert brief(parser.result()) == kept


# Serial port output


def test_serial_port_api_object(tmp_path):
    """gcloud's key order (contents first, selfLink last): the VM is named by selfLink."""
    result, report = read(copy_fixture(tmp_path, "serial-port-vm-serial.json"))
    assert brief(result) == [
        ("kernel", "vm-serial", 3131, "java", "global", "2026-03-03T10:11:12+00:00", 812.345678),
        ("kernel", "vm-serial", 3300, "node", "memcg", None, 1500.000001),
    ]
    assert result["kills"][0]["constraint"] == "CONSTRAINT_NONE"
    assert result["kills"][0]["trigger_pid"] == 3131
    # The console's copy of the java kill is dropped; the bare line without the console prefix is untrusted.
    assert (report.entries, report.skipped, report.untrusted, report.duplicates) == (1, 0, 1, 1)


def test_serial_port_api_object_in_api_key_order(tmp_path):
    api = json.loads((FIXTURES / "serial-port-vm-serial.json").read_text())
    ordered = {key: api[key] for key in ("kind", "selfLink", "start", "next", "contents")}
    expected = read(copy_fixture(tmp_path, "serial-port-vm-serial.json"))[0]
    result = read(copy_fixture(tmp_path, "api.json", data=json.dumps(ordered).encode()))[0]
    assert brief(result) == brief(expected)


def test_serial_port_capture_with_crlf_and_terminal_escapes(tmp_path):
    result, report = read(copy_fixture(tmp_path, "serial-port-vm-capture.bin"))
    assert brief(result) == [
        ("kernel", "vm-capture", 1717, "mysqld", "global", None, 130.5),
        ("earlyoom", "vm-capture", 2424, "node", "earlyoom", "2026-03-03T11:00:00+00:00", None),
    ]
    assert result["kills"][0]["reaped_anon_rss_kb"] == 0
    assert result["kills"][1]["cmdline"] == "node server.js"
    assert (report.entries, report.untrusted) == (10, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x1b[0;32m  OK  \x1b[0m] Started", ["  OK  ] Started"]),
        ("[ *** ] A start job\r\x1b[K[  130.5] Out of memory", ["[ *** ] A start job", "[  130.5] Out of memory"]),
        ("\x1b]0;vm-1 title\x07[ 1.0] x\x1b(B\x1b[m\r", ["[ 1.0] x"]),
        ("a\x1b]unterminated title", ["a"]),
        ("\x1b[?25l\x1b[2J\x1b[1;1Hb\x08c\x00d\x1bMe", ["bcde"]),
        ("tab\tkept", ["tab\tkept"]),
    ],
)
def test_terminal_escapes_removed(text, expected):
    assert _log_formats._clean_terminal(text) == expected


def test_console_line_is_kernel_only_in_serial_output():
    """'[ secs] message' with no identifier: the kernel's on a serial console, untrusted in an application log."""
    line = "[  812.345678] Out of memory: Killed process 3131 (java) total-vm:10kB"
    report = FormatReport(FORMAT_CLOUD_LOGGING)
    assert _log_formats._text_line(line, "f", None, True, report).kernel is True
    assert _log_formats._text_line(line, "f", None, False, report) is None
    assert report.untrusted == 1


# Unrecognized files


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("random-bytes.bin", None, "binary data"),
        ("unrelated.json", None, "JSON, but not"),
        ("system.journal", b"LPKSHHRH" + bytes(4000), "-o export"),
        ("kern.log.xz", b"\xfd7zXZ\x00" + bytes(100), "xz-compressed"),
    ],
)
def test_unrecognized_file_is_reported_not_read_as_zero_kills(tmp_path, name, data, words):
    path = copy_fixture(tmp_path, name, data=data)
    parser = OomLogParser()
    with pytest.raises(SourceUnavailable) as caught:
        read_log_file(parser, path, path)
    assert caught.value.status == "unrecognized"
    assert path in caught.value.reason
    assert words in caught.value.reason
    assert parser.result()["kill_count"] == 0


def test_iter_lines_has_no_reader_for_text_or_unknown_formats():
    """Text logs are scanned by _oom_sources' block reader, never line by line here."""
    data = b"Mar  3 10:11:12 vm-1 kernel: Killed process 4242 (worker)\nplain\n"
    for fmt in (FORMAT_TEXT, FORMAT_UNRECOGNIZED):
        with pytest.raises(ValueError, match="no reader for log format %r" % fmt):
            list(iter_lines(io.BytesIO(data), fmt, "f"))


# Bounded memory: a huge single entry, gzip-compressed (small on disk), read in a subprocess under RLIMIT_AS

HUGE = 160 * 1024 * 1024
HEADROOM = 96 * 1024 * 1024
MEMORY_SCRIPT = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import LAZY_NEEDLES, RECORD_MARKERS, OomLogParser
from ansible_collections.oomguard.memory.plugins.module_utils._oom_sources import read_log_file
with open("/proc/self/status") as handle:
    size = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmSize:"))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
limit = size + int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
parser = OomLogParser()
report = read_log_file(parser, sys.argv[2], "f")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"pids": [kill["pid"] for kill in parser.result()["kills"]], "skipped": report.skipped,
                  "format": report.format, "grown_kb": after - before}))
"""
KILL_LINE = "Out of memory: Killed process 4242 (worker) total-vm:10kB, anon-rss:8kB, file-rss:1kB"


def huge_file(path, fmt):
    """Write a gzip file whose one entry (or line) is HUGE bytes long, followed by one ordinary kill."""
    filler = b"A" * (1024 * 1024)
    kill = json.dumps({**KERNEL_KILL, "MESSAGE": KILL_LINE}).encode()
    cloud_kill = json.dumps(
        {
            "insertId": "b",
            "logName": "projects/p/logs/syslog",
            "timestamp": "2026-03-03T10:11:12Z",
            "textPayload": "Mar  3 10:11:12 vm-1 kernel: " + KILL_LINE,
        }
    ).encode()
    head, tail = {
        FORMAT_CLOUD_LOGGING: (
            b'[{"insertId": "a", "logName": "projects/p/logs/syslog", "textPayload": "',
            b'"},\n' + cloud_kill + b"]\n",
        ),
        FORMAT_JOURNAL_JSON: (b'{"__CURSOR": "s=1", "_TRANSPORT": "kernel", "MESSAGE": "', b'"}\n' + kill + b"\n"),
        FORMAT_JOURNAL_EXPORT: (
            b"__CURSOR=s=1\n_TRANSPORT=kernel\nMESSAGE\n" + struct.pack("<Q", HUGE),
            b"\n\n" + export_entry(KERNEL_KILL),
        ),
        FORMAT_SERIAL_JSON: (
            b'{"contents": "',
            b"\\r\\n[   12.500000] " + KILL_LINE.encode() + b'\\r\\n",'
            b' "kind": "compute#serialPortOutput", "selfLink": "https://x/instances/vm-1/serialPort"}',
        ),
        FORMAT_SERIAL_TEXT: (b"\r\x1b[0m", b"\r\n[   12.500000] " + KILL_LINE.encode() + b"\r\n"),
    }[fmt]
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(head)
        for _chunk in range(HUGE // len(filler)):
            handle.write(filler)
        handle.write(tail)


@pytest.mark.parametrize(
    "fmt", [FORMAT_CLOUD_LOGGING, FORMAT_JOURNAL_JSON, FORMAT_JOURNAL_EXPORT, FORMAT_SERIAL_JSON, FORMAT_SERIAL_TEXT]
)
def test_bounded_memory_on_a_huge_single_entry(tmp_path, fmt):
    path = tmp_path / "huge.gz"
    huge_file(path, fmt)
    assert path.stat().st_size < 2 * 1024 * 1024
    run = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(COLLECTIONS), str(path), str(HEADROOM)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    outcome = json.loads(run.stdout)
    assert outcome["format"] == fmt
    assert outcome["pids"] == [4242]
    # The JSON and export entries are skipped whole; a huge text line is cut at MAX_LINE_CHARS.
    assert outcome["skipped"] == (0 if fmt in (FORMAT_SERIAL_JSON, FORMAT_SERIAL_TEXT) else 1)
    assert outcome["grown_kb"] < 48 * 1024


def test_terminal_escape_regex_is_linear():
    """Escapes that never end, and one long parameter run without its final byte: each is scanned once, so the
    line is cleaned at once (a backtracking pattern such as (?:[0-?]*)* would not finish in the timeout)."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from ansible_collections.oomguard.memory.plugins.module_utils._log_formats import _clean_terminal;"
        "text = ('\\x1b[1;2;3' + '\\x1b]' + 'x' * 5) * 400000 + ('\\x1b[' + '1;' * 40 + '\\x1b') * 10;"
        "print(len(''.join(_clean_terminal(text))))"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(COLLECTIONS)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "0"


# End to end: oom_facts with log_paths, in-process


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(module_warnings, "_global_warnings", {})
    monkeypatch.setattr(module_warnings, "_global_deprecations", {})


def run_module(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit):
        oom_facts.main()
    return json.loads(capsys.readouterr().out)


def warning_messages(result):
    return [item["event"]["msg"] if isinstance(item, dict) else item for item in result.get("warnings", [])]


@pytest.mark.usefixtures("fresh_warnings")
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("journal-vm-j.json", JOURNAL_KILLS),
        ("journal-vm-j.export.bin", JOURNAL_KILLS),
        ("cloud-logging-two-vms.json", CLOUD_KILLS),
        (
            "serial-port-vm-serial.json",
            [
                ("kernel", "vm-serial", 3131, "java", "global", "2026-03-03T10:11:12+00:00", 812.345678),
                ("kernel", "vm-serial", 3300, "node", "memcg", None, 1500.000001),
            ],
        ),
        (
            "serial-port-vm-capture.bin",
            [
                ("kernel", "vm-capture", 1717, "mysqld", "global", None, 130.5),
                ("earlyoom", "vm-capture", 2424, "node", "earlyoom", "2026-03-03T11:00:00+00:00", None),
            ],
        ),
    ],
)
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_oom_facts_reads_each_format_from_log_paths(tmp_path, capsys, name, expected, compress):
    path = copy_fixture(tmp_path, name, compress)
    result = run_module({"log_sources": [], "top_processes": 0, "log_paths": [path]}, capsys)
    oom = result["ansible_facts"]["oom"]
    assert brief(oom) == expected
    assert {kill["source"] for kill in oom["kills"]} == {path}
    assert oom["sources"][path]["status"] == "ok"
    assert oom["sources"][path]["kills"] == len(expected)
    assert warning_messages(result) == []


@pytest.mark.usefixtures("fresh_warnings")
def test_oom_facts_reports_an_unrecognized_file_with_a_warning(tmp_path, capsys):
    good = copy_fixture(tmp_path, "serial-port-vm-capture.bin")
    bad = copy_fixture(tmp_path, "unrelated.json")
    result = run_module({"log_sources": [], "top_processes": 0, "log_paths": [bad, good]}, capsys)
    oom = result["ansible_facts"]["oom"]
    assert oom["sources"][bad]["status"] == "unrecognized"
    assert (oom["sources"][bad]["kills"], oom["sources"][bad]["format"]) == (0, None)
    assert bad in oom["sources_unavailable"]
    assert oom["kill_count"] == 2
    assert any(bad in message and "JSON, but not" in message for message in warning_messages(result))
