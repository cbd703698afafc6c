# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the streaming OOM log parser against every format of the parser reference.

Every log line here is invented (pid 4242, comm worker, host vm-1, uid 1001).
"""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import (
    ALL_NEEDLES,
    JOURNAL_GREP_PATTERN,
    KILL_KEYS,
    KINDS,
    MAX_KILLS_LIMIT,
    SCAN_NEEDLES,
    Line,
    OomLogParser,
    YearGuesser,
    line_may_matter,
    month_number,
    parse_dmesg_t,
    parse_header,
    parse_iso,
    parse_summary,
    strip_prefix,
)

UTC = datetime.timezone.utc
REFERENCE = datetime.datetime(2026, 3, 10, 12, 0, 0)
HEX = "4f0c2a9d8b7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"
POD = "0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b"

KILLED_54 = (
    "Out of memory: Killed process 4242 (worker) total-vm:2097152kB, anon-rss:1048576kB, file-rss:512kB,"
    " shmem-rss:0kB, UID:1001 pgtables:2100kB oom_score_adj:0"
)
FULL_54 = (4242, "worker", 1001, 2097152, 1048576, 512, 0, 2100, 0)
KILL_FIELDS = (
    "pid",
    "comm",
    "uid",
    "total_vm_kb",
    "anon_rss_kb",
    "file_rss_kb",
    "shmem_rss_kb",
    "pgtables_kb",
    "oom_score_adj",
)
NONE7 = (None,) * 7


# Log times without a zone are read in the local zone: these tests read them in UTC (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("utc_zone")


def parse(lines, source="test", kernel_only=False, **kwargs):
    parser = OomLogParser(**kwargs)
    years = YearGuesser(REFERENCE)
    for text in lines:
        parser.feed_text(text, source, kernel_only=kernel_only, years=years)
    return parser.result()


def only_kill(result):
    assert result["kill_count"] == 1, result["kills"]
    assert len(result["kills"]) == 1
    return result["kills"][0]


def fields(kill):
    return tuple(kill[name] for name in KILL_FIELDS)


# §2 prefixes


@pytest.mark.parametrize(
    ("raw", "kernel_only", "message", "kernel", "ident", "uptime", "stamp"),
    [
        pytest.param(
            "6,2051,5123456789,-;Killed process 4242 (worker)", True, None, True, None, 5123.456789, None, id="kmsg"
        ),
        pytest.param(
            "4,2052,5123456800,-,caller=T4242;Killed process 4242 (worker)",
            True,
            None,
            True,
            None,
            5123.4568,
            None,
            id="kmsg-caller",
        ),
        pytest.param(
            "14,2053,5123456900,-;backup[77]: Killed process 4242 (worker)",
            True,
            "backup[77]: Killed process 4242 (worker)",
            False,
            None,
            None,
            None,
            id="kmsg-user-facility",
        ),
        pytest.param(
            "[ 5123.456789] Killed process 4242 (worker)", True, None, True, None, 5123.456789, None, id="dmesg"
        ),
        pytest.param(
            "[    5.000001] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),global_oom,task_memcg=/,task=w,"
            "pid=1,uid=0",
            True,
            "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),global_oom,task_memcg=/,task=w,pid=1,uid=0",
            True,
            None,
            5.000001,
            None,
            id="dmesg-summary-not-an-ident",
        ),
        pytest.param(
            "[ 5123.456789] CPU: 1 UID: 0 PID: 4242 Comm: worker Not tainted 6.18.0 #1",
            True,
            "CPU: 1 UID: 0 PID: 4242 Comm: worker Not tainted 6.18.0 #1",
            True,
            None,
            5123.456789,
            None,
            id="dmesg-banner-not-an-ident",
        ),
        pytest.param(
            "[ 5123.456789] oom_reaper: reaped process 4242 (worker), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB",
            True,
            "oom_reaper: reaped process 4242 (worker), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB",
            True,
            None,
            5123.456789,
            None,
            id="dmesg-reaper-not-an-ident",
        ),
        pytest.param(
            "[Tue Mar  3 10:11:12 2026] Killed process 4242 (worker)",
            True,
            None,
            True,
            None,
            None,
            "2026-03-03T10:11:12+00:00",
            id="dmesg-T-en",
        ),
        pytest.param(
            "[Di Mär  3 10:11:12 2026] Killed process 4242 (worker)",
            True,
            None,
            True,
            None,
            None,
            "2026-03-03T10:11:12+00:00",
            id="dmesg-T-de",
        ),
        pytest.param(
            "[mar. mars  3 10:11:12 2026] Killed process 4242 (worker)",
            True,
            None,
            True,
            None,
            None,
            "2026-03-03T10:11:12+00:00",
            id="dmesg-T-fr",
        ),
        pytest.param(
            "[sam. déc. 12 23:59:01 2025] Killed process 4242 (worker)",
            True,
            None,
            True,
            None,
            None,
            "2025-12-12T23:59:01+00:00",
            id="dmesg-T-fr-dec",
        ),
        pytest.param(
            "[Вт мар  3 10:11:12 2026] Killed process 4242 (worker)",
            True,
            None,
            True,
            None,
            None,
            "2026-03-03T10:11:12+00:00",
            id="dmesg-T-ru",
        ),
        pytest.param(
            "[火  3月  3 10:11:12 2026] Killed process 4242 (worker)",
            True,
            None,
            True,
            None,
            None,
            "2026-03-03T10:11:12+00:00",
            id="dmesg-T-ja",
        ),
        pytest.param(
            "Mar 03 10:11:12 vm-1 kernel: Killed process 4242 (worker)",
            False,
            None,
            True,
            "kernel",
            None,
            "2026-03-03T10:11:12+00:00",
            id="journal-short",
        ),
        pytest.param(
            "мар 03 10:11:12 vm-1 kernel: Killed process 4242 (worker)",
            False,
            None,
            True,
            "kernel",
            None,
            "2026-03-03T10:11:12+00:00",
            id="journal-short-ru",
        ),
        pytest.param(
            "mars 03 10:11:12 vm-1 kernel: Killed process 4242 (worker)",
            False,
            None,
            True,
            "kernel",
            None,
            "2026-03-03T10:11:12+00:00",
            id="journal-short-fr",
        ),
        pytest.param(
            "Mär 03 10:11:12 vm-1 kernel: Killed process 4242 (worker)",
            False,
            None,
            True,
            "kernel",
            None,
            "2026-03-03T10:11:12+00:00",
            id="journal-short-de",
        ),
        pytest.param(
            "3月 03 10:11:12 vm-1 kernel: Killed process 4242 (worker)",
            False,
            None,
            True,
            "kernel",
            None,
            "2026-03-03T10:11:12+00:00",
            id="journal-short-ja",
        ),
        pytest.param(
            "Mar 03 10:11:12.123456 vm-1 kernel: Killed process 4242 (worker)",
            False,
            None,
            True,
            "kernel",
            None,
            "2026-03-03T10:11:12.123456+00:00",
            id="journal-short-precise",
        ),
        pytest.param(
            "2026-03-03T10:11:12+0000 vm-1 kernel: Killed process 4242 (worker)",
            False,
            None,
            True,
            "kernel",
            None,
            "2026-03-03T10:11:12+00:00",
            id="short-iso-0000",
        ),
        pytest.param(
            "2026-03-03T10:11:12+00:00 vm-1 kernel: Killed process 4242 (worker)",
            False,
            None,
            True,
            "kernel",
            None,
            "2026-03-03T10:11:12+00:00",
            id="short-iso-colon",
        ),
        pytest.param(
            "2026-03-03T10:11:12Z vm-1 kernel: Killed process 4242 (worker)",
            False,
            None,
            True,
            "kernel",
            None,
            "2026-03-03T10:11:12+00:00",
            id="short-iso-Z",
        ),
        pytest.param(
            "2026-03-03T11:11:12.123456+0100 vm-1 kernel: Killed process 4242 (worker)",
            False,
            None,
            True,
            "kernel",
            None,
            "2026-03-03T11:11:12.123456+01:00",
            id="short-iso-precise-offset",
        ),
        pytest.param(
            "2026-03-03T10:11:12,5Z vm-1 kernel: Killed process 4242 (worker)",
            False,
            None,
            True,
            "kernel",
            None,
            "2026-03-03T10:11:12.500000+00:00",
            id="short-iso-comma-fraction",
        ),
        pytest.param(
            "[ 5123.456789] vm-1 kernel: Killed process 4242 (worker)",
            False,
            None,
            True,
            "kernel",
            5123.456789,
            None,
            id="short-monotonic",
        ),
        pytest.param(
            "Mar  3 10:11:12 vm-1 kernel: Killed process 4242 (worker)",
            False,
            None,
            True,
            "kernel",
            None,
            "2026-03-03T10:11:12+00:00",
            id="rsyslog",
        ),
        pytest.param(
            "Mar  3 10:11:12 kernel: Killed process 4242 (worker)",
            False,
            None,
            True,
            "kernel",
            None,
            "2026-03-03T10:11:12+00:00",
            id="rsyslog-no-host",
        ),
        pytest.param(
            "Mar  3 10:11:12 vm-1 kernel: [ 5123.456789] Killed process 4242 (worker)",
            False,
            None,
            True,
            "kernel",
            5123.456789,
            "2026-03-03T10:11:12+00:00",
            id="ubuntu-kernel-secs",
        ),
        pytest.param(
            "kernel: Killed process 4242 (worker)", False, None, True, "kernel", None, None, id="bare-kernel-tag"
        ),
        pytest.param("Killed process 4242 (worker)", True, None, True, None, None, None, id="bare-kernel-only"),
        pytest.param("Killed process 4242 (worker)", False, None, None, None, None, None, id="bare-unknown"),
    ],
)
def test_strip_prefix(raw, kernel_only, message, kernel, ident, uptime, stamp):
    line = strip_prefix(raw, "src", kernel_only=kernel_only, years=YearGuesser(REFERENCE))
    assert line.message == (message or "Killed process 4242 (worker)")
    assert line.kernel is kernel
    assert line.ident == ident
    assert line.uptime == (pytest.approx(uptime) if uptime is not None else None)
    assert (line.timestamp.isoformat() if line.timestamp else None) == stamp
    assert line.source == "src"


def test_strip_prefix_userspace_idents():
    line = strip_prefix(
        "[ 5123.456789] vm-1 systemd-oomd[612]: Killed /a.service due to memory used (1) / total (2)", "j"
    )
    # a userspace record's [secs] is when the journal got it, not kernel time: every reader leaves it out
    assert (line.kernel, line.ident, line.uptime) == (False, "systemd-oomd", None)
    assert line.message == "Killed /a.service due to memory used (1) / total (2)"
    line = strip_prefix("earlyoom[812]: sending SIGTERM to process 4242", "j")
    assert (line.kernel, line.ident, line.message) == (False, "earlyoom", "sending SIGTERM to process 4242")


def test_task_table_rows_keep_their_bracket():
    line = strip_prefix(
        "[ 5123.456789] [   4242]  1001  4242   524288   262144   2097152        0     0 worker", "d", True
    )
    assert line.message == "[   4242]  1001  4242   524288   262144   2097152        0     0 worker"


def test_unparsed_prefix_is_flagged():
    line = strip_prefix("Killed process 4242 (worker)", "x")
    assert line.prefix_parsed is False
    assert strip_prefix("[ 1.000000] Killed process 4242 (worker)", "x").prefix_parsed is True


# Time helpers


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("Mar", 3),
        ("mär", 3),
        ("mars", 3),
        ("мар", 3),
        ("3月", 3),
        ("12월", 12),
        ("janv.", 1),
        ("févr.", 2),
        ("déc.", 12),
        ("Dez", 12),
        ("okt", 10),
        ("мая", 5),
        ("Sept.", 9),
        ("11", 11),
        ("13", None),
        ("Foo", None),
    ],
)
def test_month_number(name, number):
    assert month_number(name) == number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-03T10:11:12+0000", "2026-03-03T10:11:12+00:00"),
        ("2026-03-03T10:11:12+00:00", "2026-03-03T10:11:12+00:00"),
        ("2026-03-03T10:11:12Z", "2026-03-03T10:11:12+00:00"),
        ("2026-03-03T10:11:12.123456789-0530", "2026-03-03T10:11:12.123456-05:30"),
        ("2026-03-03T10:11:12.5+0200", "2026-03-03T10:11:12.500000+02:00"),
        ("2026-03-03T10:11:12", "2026-03-03T10:11:12+00:00"),
        ("2026-13-03T10:11:12Z", None),
    ],
)
def test_parse_iso(text, expected):
    stamp = parse_iso(text)
    assert (stamp.isoformat() if stamp else None) == expected


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("Tue Mar  3 10:11:12 2026", "2026-03-03T10:11:12+00:00"),
        ("Di Mär  3 10:11:12 2026", "2026-03-03T10:11:12+00:00"),
        ("火  3月  3 10:11:12 2026", "2026-03-03T10:11:12+00:00"),
        ("Xyz Foo  3 10:11:12 2026", None),
        ("10:11:12 2026", None),
    ],
)
def test_parse_dmesg_t(stamp, expected):
    parsed = parse_dmesg_t(stamp)
    assert (parsed.isoformat() if parsed else None) == expected


def test_year_guesser():
    years = YearGuesser(datetime.datetime(2026, 1, 5, 8, 0, 0))
    assert years.stamp(12, 31, "23:59:59").isoformat() == "2025-12-31T23:59:59+00:00"
    assert years.stamp(1, 6, "07:00:00.25").isoformat() == "2026-01-06T07:00:00.250000+00:00"
    assert years.stamp(2, 30, "07:00:00") is None


def test_year_guesser_leap_day_in_previous_year():
    """Bug fixed: Feb 29 logged in 2024 but read in 2025 gave no timestamp (ValueError ended the search)."""
    years = YearGuesser(datetime.datetime(2025, 3, 10, 12, 0, 0))
    assert years.stamp(2, 29, "10:11:12").isoformat() == "2024-02-29T10:11:12+00:00"


# §3.3 Killed lines of every era and vendor variant


@pytest.mark.parametrize(
    ("message", "expected", "kind"),
    [
        pytest.param("Out of memory: Killed process 4242 (worker).", (4242, "worker", *NONE7), "global", id="2.6.2x"),
        pytest.param(
            "Memory cgroup out of memory: Killed process 4242 (worker).",
            (4242, "worker", *NONE7),
            "memcg",
            id="2.6.2x-memcg",
        ),
        pytest.param(
            "Killed process 4242, UID 1001, (worker) total-vm:2097152kB, anon-rss:1048576kB, file-rss:512kB",
            (4242, "worker", 1001, 2097152, 1048576, 512, None, None, None),
            "unknown",
            id="rhel6",
        ),
        pytest.param(
            "Killed process 4242 (worker), UID 1001, total-vm:2097152kB, anon-rss:1048576kB, file-rss:512kB,"
            " shmem-rss:64kB",
            (4242, "worker", 1001, 2097152, 1048576, 512, 64, None, None),
            "unknown",
            id="el7-uid",
        ),
        pytest.param(
            "Killed process 4242 (worker), UID 1001, total-vm:2097152kB, anon-rss:1048576kB, file-rss:512kB",
            (4242, "worker", 1001, 2097152, 1048576, 512, None, None, None),
            "unknown",
            id="el7-uid-no-shmem",
        ),
        pytest.param(
            "Killed process 4242 (worker) total-vm:2097152kB, anon-rss:1048576kB, file-rss:512kB",
            (4242, "worker", None, 2097152, 1048576, 512, None, None, None),
            "unknown",
            id="3.x-4.4",
        ),
        pytest.param(
            "Killed process 4242 (worker) total-vm:2097152kB, anon-rss:1048576kB, file-rss:512kB, shmem-rss:64kB",
            (4242, "worker", None, 2097152, 1048576, 512, 64, None, None),
            "unknown",
            id="4.5-5.0",
        ),
        pytest.param(
            "Out of memory: Killed process 4242 (worker) total-vm:2097152kB, anon-rss:1048576kB, file-rss:512kB,"
            " shmem-rss:64kB",
            (4242, "worker", None, 2097152, 1048576, 512, 64, None, None),
            "global",
            id="5.1-5.2",
        ),
        pytest.param(
            "Out of memory: Killed process 4242 (worker) total-vm:2097152kB, anon-rss:1048576kB, file-rss:512kB,"
            " shmem-rss:64kB, UID:1001",
            (4242, "worker", 1001, 2097152, 1048576, 512, 64, None, None),
            "global",
            id="5.3",
        ),
        pytest.param(KILLED_54, FULL_54, "global", id="5.4+"),
        pytest.param(
            "Memory cgroup out of memory: Killed process 4242 (worker) total-vm:2097152kB, anon-rss:1048576kB,"
            " file-rss:512kB, shmem-rss:0kB, UID:1001 pgtables:2100kB oom_score_adj:-500",
            (4242, "worker", 1001, 2097152, 1048576, 512, 0, 2100, -500),
            "memcg",
            id="5.4+-memcg-negative-adj",
        ),
        pytest.param(
            "Out of memory (oom_kill_allocating_task): Killed process 4242 (worker) total-vm:2097152kB,"
            " anon-rss:1048576kB, file-rss:512kB, shmem-rss:0kB, UID:1001 pgtables:2100kB oom_score_adj:0",
            FULL_54,
            "allocating_task",
            id="allocating-task",
        ),
        pytest.param(
            KILLED_54 + " some future field:7",
            FULL_54,
            "global",
            id="unknown-trailing-text",
        ),
    ],
)
def test_killed_line_eras(message, expected, kind):
    kill = only_kill(parse([message], kernel_only=True))
    assert fields(kill) == expected
    assert kill["killer"] == "kernel"
    assert kill["kind"] == kind
    assert kill["constraint"] == ("CONSTRAINT_MEMCG" if kind == "memcg" else None)
    assert kill["message"] == message


@pytest.mark.parametrize(
    ("comm", "tail"),
    [
        ("db writer", " total-vm:1kB, anon-rss:2kB, file-rss:3kB"),
        ("kworker/u8:2", " total-vm:1kB, anon-rss:2kB, file-rss:3kB"),
        ("[celery]", " total-vm:1kB, anon-rss:2kB, file-rss:3kB"),
        ("my) app", " total-vm:1kB, anon-rss:2kB, file-rss:3kB"),
        ("python (x)", " total-vm:1kB, anon-rss:2kB, file-rss:3kB"),
        ("app: main", " total-vm:1kB, anon-rss:2kB, file-rss:3kB"),
        ("a) b", "."),
        ("x (y) z", ""),
    ],
)
@pytest.mark.parametrize("context", ["", "Out of memory: ", "Memory cgroup out of memory: "])
def test_killed_comm_with_odd_characters(comm, tail, context):
    kill = only_kill(parse(["%sKilled process 4242 (%s)%s" % (context, comm, tail)], kernel_only=True))
    assert kill["pid"] == 4242
    assert kill["comm"] == comm
    if tail.startswith(" total-vm"):
        assert (kill["total_vm_kb"], kill["anon_rss_kb"], kill["file_rss_kb"]) == (1, 2, 3)


def test_el_variants_with_odd_comm():
    kill = only_kill(
        parse(["Killed process 4242, UID 0, (a) b: c) total-vm:1kB, anon-rss:2kB, file-rss:3kB"], "t", True)
    )
    assert (kill["comm"], kill["uid"]) == ("a) b: c", 0)
    kill = only_kill(parse(["Killed process 4242 (x (y)), UID 7, total-vm:1kB, anon-rss:2kB, file-rss:3kB"], "t", True))
    assert (kill["comm"], kill["uid"], kill["total_vm_kb"]) == ("x (y)", 7, 1)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            "Out of memory: Killed process 4242 (worker) total-vm:2097152kB, anon-rss:1048576kB, fi>",
            (4242, "worker", None, 2097152, 1048576, None, None, None, None),
            id="less-cut",
        ),
        pytest.param(
            "Out of memory: Killed process 4242 (worker) total-vm:2097152kB, anon-rss:10485…",
            (4242, "worker", None, 2097152, None, None, None, None, None),
            id="ellipsis-in-number",
        ),
        pytest.param(
            "Out of memory: Killed process 4242 (worker) total-vm:2097…",
            (4242, "worker", *NONE7),
            id="ellipsis-total-vm",
        ),
        pytest.param("Out of memory: Killed process 4242 (worker) tot…", (4242, "worker", *NONE7), id="ellipsis-field"),
        pytest.param("Out of memory: Killed process 4242 (db wri>", (4242, None, *NONE7), id="cut-in-comm"),
        pytest.param("Out of memory: Killed process 4242 (db wri…", (4242, None, *NONE7), id="cut-in-comm-ellipsis"),
        pytest.param("Killed process 4242", (4242, None, *NONE7), id="pid-only"),
        pytest.param("Out of memory: Killed process 42…", (42, None, *NONE7), id="cut-in-pid"),
    ],
)
def test_truncated_killed_lines_count(message, expected):
    kill = only_kill(parse(["[ 5123.456789] " + message], kernel_only=True))
    assert fields(kill) == expected
    assert kill["uptime_s"] == pytest.approx(5123.456789)


@pytest.mark.parametrize(
    "message",
    [
        "Out of memory: Kill process 4242 (worker) score 900 or sacrifice child",
        "Memory cgroup out of memory: Kill process 4242 (worker) score 900 or sacrifice child",
        "Out of memory (oom_kill_allocating_task): Kill process 4242 (worker) score 0 or sacrifice child",
        "Out of Memory: Kill process 4242 (worker) score 900 and children.",
        "Kill process 4243 (helper) sharing same memory",
        "Out of memory: OOM victim 4242 (worker) is already exiting. Skip killing the task",
        "Memory cgroup out of memory: OOM victim 4242 (worker) is already exiting. Skip killing the task",
        "oom killer 4242 (worker) has mm pinned by 4243 (helper)",
        "worker invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0",
        "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,"
        "task=worker,pid=4242,uid=1001",
        "oom_reaper: reaped process 4242 (worker), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB",
        "oom_reaper: unable to reap pid:4242 (worker)",
        "Task in /system.slice/worker.service killed as a result of limit of /system.slice/worker.service",
        "Memory limit reached of cgroup /system.slice/worker.service",
        "Tasks in /system.slice/worker.service are going to be killed due to memory.oom.group set",
        "Tasks state (memory values in pages):",
        "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name",
        "[   4242]  1001  4242   524288   262144  2150400        0             0 Killed proces",
        "[   4243]  1001  4243     2000      100    40960        0          1000 oom-kill:x",
        "worker: page allocation failure: order:4, mode:0x40dc0(GFP_KERNEL|__GFP_COMP|__GFP_ZERO), nodemask=(null)",
        "Huh VM_FAULT_OOM leaked out to the #PF handler. Retrying PF",
        "OOM killer enabled.",
        "OOM killer disabled.",
        "TCP: out of memory -- consider tuning tcp_mem",
        "worker.service: A process of this unit has been killed by the OOM killer.",
        "worker.service: Failed with result 'oom-kill'.",
        "Out of memory and no killable processes...",
    ],
)
def test_not_kills(message):
    result = parse(["[ 5123.456789] " + message], kernel_only=True)
    assert result["kill_count"] == 0
    assert result["kills"] == []
    assert result["oom_panics"] == []


def test_task_table_rows_are_ignored():
    rows = [
        "[ 5.000001] Tasks state (memory values in pages):",
        "[ 5.000002] [  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents"
        " oom_score_adj name",
        "[ 5.000003] [   4242]  1001  4242   524288   262144   262000      144         0  2150400        0"
        "             0 kill oom: x",
        "[ 5.000004] [   4243]     0  4243     2000      100       80       20         0    40960        0"
        "         -1000 invoked oom-k",
        "[ 5.000005] Killed process 4242 (kill oom: x)",
    ]
    kill = only_kill(parse(rows, kernel_only=True))
    assert (kill["pid"], kill["comm"], kill["trigger_comm"]) == (4242, "kill oom: x", None)


# §3.1 headers, dump_stack banners and trigger


@pytest.mark.parametrize(
    ("lines", "trigger_comm", "trigger_pid", "kind"),
    [
        pytest.param(
            [
                "worker invoked oom-killer: gfp_mask=0x201da, order=0, oomkilladj=0",
                "Pid: 4242, comm: worker Not tainted 2.6.18-419.el5 #1",
                "Out of Memory: Kill process 4242 (worker) score 900 and children.",
                "Out of memory: Killed process 4242 (worker).",
            ],
            "worker",
            4242,
            "global",
            id="2.6.2x",
        ),
        pytest.param(
            [
                "worker invoked oom-killer: gfp_mask=0x201da, order=0, oom_adj=0, oom_score_adj=0",
                "worker cpuset=/ mems_allowed=0",
                "Pid: 4242, comm: worker Not tainted 2.6.32-754.el6.x86_64 #1",
                "Out of memory: Kill process 4242 (worker) score 900 or sacrifice child",
                "Killed process 4242, UID 1001, (worker) total-vm:2097152kB, anon-rss:1048576kB, file-rss:512kB",
            ],
            "worker",
            4242,
            "global",
            id="rhel6",
        ),
        pytest.param(
            [
                "worker invoked oom-killer: gfp_mask=0x280da, order=0, oom_score_adj=0",
                "worker cpuset=/ mems_allowed=0-1,4",
                "CPU: 1 PID: 4242 Comm: worker Not tainted 3.10.0-1160.el7.x86_64 #1",
                "Out of memory: Kill process 4242 (worker) score 900 or sacrifice child",
                "Killed process 4242 (worker) total-vm:2097152kB, anon-rss:1048576kB, file-rss:512kB",
            ],
            "worker",
            4242,
            "global",
            id="3.x-4.4",
        ),
        pytest.param(
            [
                "worker invoked oom-killer: gfp_mask=0x24280ca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO), order=0,"
                " oom_score_adj=0",
                "CPU: 1 PID: 4000 Comm: worker Not tainted 4.7.0 #1",
                "Memory cgroup out of memory: Kill process 4242 (child) score 900 or sacrifice child",
                "Killed process 4242 (child) total-vm:2097152kB, anon-rss:1048576kB, file-rss:512kB, shmem-rss:0kB",
            ],
            "worker",
            4000,
            "memcg",
            id="4.5-4.8-memcg-candidate",
        ),
        pytest.param(
            [
                "worker invoked oom-killer: gfp_mask=0x6200ca(GFP_HIGHUSER_MOVABLE), nodemask=0-1,3,  order=0,"
                "  oom_score_adj=0",
                "CPU: 2 PID: 4242 Comm: worker Not tainted 4.19.0-25-amd64 #1 Debian 4.19.289-2",
                "Out of memory (oom_kill_allocating_task): Kill process 4242 (worker) score 0 or sacrifice child",
                "Killed process 4242 (worker) total-vm:2097152kB, anon-rss:1048576kB, file-rss:512kB, shmem-rss:0kB",
            ],
            "worker",
            4242,
            "allocating_task",
            id="4.9-4.20-two-spaces",
        ),
        pytest.param(
            [
                "worker invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0,"
                " oom_score_adj=0",
                "CPU: 3 PID: 4242 Comm: worker Not tainted 5.15.0-91-generic #101-Ubuntu",
                KILLED_54,
            ],
            "worker",
            4242,
            "global",
            id="5.x",
        ),
        pytest.param(
            [
                "my worker invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
                "CPU: 0 UID: 1001 PID: 4242 Comm: my worker Tainted: G        W          6.12.0 #1",
                KILLED_54,
            ],
            "my worker",
            4242,
            "global",
            id="6.11+-uid-banner-comm-with-space",
        ),
        pytest.param(
            [
                "kworker/0:1 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=-1, oom_score_adj=0",
                "CPU: 0 PID: 17 Comm: kworker/0:1 Not tainted 6.1.0 #1",
                KILLED_54,
            ],
            "kworker/0:1",
            17,
            "sysrq",
            id="sysrq",
        ),
        pytest.param(
            [
                "worker invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
                "CPU: 0 PID: 9999 Comm: other Not tainted 6.1.0 #1",
                KILLED_54,
            ],
            "worker",
            None,
            "global",
            id="banner-of-another-task",
        ),
    ],
)
def test_headers_and_trigger(lines, trigger_comm, trigger_pid, kind):
    kill = only_kill(parse(["[ 5123.%06d] %s" % (index, text) for index, text in enumerate(lines)], kernel_only=True))
    assert (kill["trigger_comm"], kill["trigger_pid"], kill["kind"]) == (trigger_comm, trigger_pid, kind)
    assert kill["pid"] == 4242


def test_parse_header_fields():
    assert parse_header(
        "a b:c invoked oom-killer: gfp_mask=0x6200ca(GFP_HIGHUSER_MOVABLE), nodemask=0-1,3,  order=2,"
        "  oom_score_adj=-17"
    ) == ("a b:c", 2)
    assert parse_header("worker invoked oom-killer: gfp_mask=0x201da, order=0, oom_adj=-17, oom_score_adj=-1000") == (
        "worker",
        0,
    )
    assert parse_header("worker invoked oom-killer: gfp_mask=0x0, order=-1, oom_score_adj=0") == ("worker", -1)
    assert parse_header("worker invoked oom-killer: not the kernel's words") is None


def test_rate_limited_kill_gets_no_stale_header():
    result = parse(
        [
            "[ 100.000000] worker invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
            "[ 100.000100] " + KILLED_54,
            "[ 900.000000] Out of memory: Killed process 5000 (other) total-vm:10kB, anon-rss:5kB, file-rss:1kB",
        ],
        kernel_only=True,
    )
    assert [kill["pid"] for kill in result["kills"]] == [4242, 5000]
    assert result["kills"][0]["trigger_comm"] == "worker"
    later = result["kills"][1]
    assert (later["trigger_comm"], later["trigger_pid"], later["kind"], later["constraint"]) == (
        None,
        None,
        "global",
        None,
    )


def test_header_of_a_no_kill_event_is_not_given_to_the_next_kill():
    result = parse(
        [
            "[ 100.000000] worker invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
            "[ 100.000100] Out of memory and no killable processes...",
            "[ 500.000000] Killed process 5000 (other) total-vm:10kB, anon-rss:5kB, file-rss:1kB",
        ],
        kernel_only=True,
    )
    kill = only_kill(result)
    assert (kill["pid"], kill["trigger_comm"], kill["kind"]) == (5000, None, "unknown")
    assert result["no_killable_count"] == 1


# §3.4 summary, §3.5 memcg context


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        (
            "oom-kill:constraint=CONSTRAINT_CPUSET,nodemask=0-1,4,cpuset=/batch,mems_allowed=0-1,4,global_oom,"
            "task_memcg=/system.slice/batch.service,task=worker,pid=4242,uid=1001",
            (
                "CONSTRAINT_CPUSET",
                "0-1,4",
                "/batch",
                "0-1,4",
                "global_oom",
                None,
                "/system.slice/batch.service",
                "worker",
            ),
        ),
        (
            "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
            "oom_memcg=/system.slice/worker.service,task_memcg=/system.slice/worker.service/sub,task=a,b,c,pid=4242,"
            "uid=1001",
            (
                "CONSTRAINT_MEMCG",
                "(null)",
                "/",
                "0",
                None,
                "/system.slice/worker.service",
                "/system.slice/worker.service/sub",
                "a,b,c",
            ),
        ),
        (
            "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),global_oom,task_memcg=/,task=w,pid=4242,uid=1001",
            ("CONSTRAINT_NONE", "(null)", None, None, "global_oom", None, "/", "w"),
        ),
        (
            "oom-kill:constraint=CONSTRAINT_MEMORY_POLICY,nodemask=1,cpuset=/,mems_allowed=0-3,global_oom,"
            "task_memcg=/user.slice,task=x,pid=y,pid=4242,uid=1001",
            ("CONSTRAINT_MEMORY_POLICY", "1", "/", "0-3", "global_oom", None, "/user.slice", "x,pid=y"),
        ),
    ],
)
def test_parse_summary(summary, expected):
    found = parse_summary(summary)
    assert (found["constraint"], found["global"], found["oom_memcg"], found["task_memcg"], found["task"]) == (
        expected[0],
        expected[4] == "global_oom",
        expected[5],
        expected[6],
        expected[7],
    )
    assert (found["pid"], found["uid"]) == (4242, 1001)


def test_summary_attached_to_the_kill_with_its_pid():
    result = parse(
        [
            "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0-1,4,"
            "oom_memcg=/system.slice/worker.service,task_memcg=/system.slice/worker.service,task=my, worker,pid=4242,"
            "uid=1001",
            "Memory cgroup out of memory: Killed process 4242 (my, worker)",
        ],
        kernel_only=True,
    )
    kill = only_kill(result)
    assert (kill["comm"], kill["uid"], kill["constraint"], kill["oom_memcg"], kill["task_memcg"]) == (
        "my, worker",
        1001,
        "CONSTRAINT_MEMCG",
        "/system.slice/worker.service",
        "/system.slice/worker.service",
    )
    assert (kill["unit"], kill["kind"], kill["container"]) == ("worker.service", "memcg", None)
    assert result["kill_count_by_unit"] == {"worker.service": 1}


def test_summary_of_another_pid_not_attached():
    kill = only_kill(
        parse(
            [
                "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
                "task_memcg=/system.slice/a.service,task=a,pid=4243,uid=0",
                "Killed process 4242 (worker)",
            ],
            kernel_only=True,
        )
    )
    assert (kill["constraint"], kill["task_memcg"], kill["unit"], kill["uid"]) == (None, None, None, None)


def test_summary_fills_comm_and_uid_of_a_cut_killed_line():
    kill = only_kill(
        parse(
            [
                "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
                "task_memcg=/system.slice/a.service,task=worker,pid=4242,uid=1001",
                "Out of memory: Killed process 4242 (wor…",
            ],
            kernel_only=True,
        )
    )
    assert (kill["comm"], kill["uid"], kill["unit"], kill["constraint"], kill["kind"]) == (
        "worker",
        1001,
        "a.service",
        "CONSTRAINT_NONE",
        "global",
    )


@pytest.mark.parametrize("second", [",global_oom", ",oom_memcg=/system.slice/worker.service"])
def test_split_summary_is_joined(second):
    rest = ",task_memcg=/system.slice/worker.service,task=worker,pid=4242,uid=1001"
    kill = only_kill(
        parse(
            [
                "[ 10.000001] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0",
                "[ 10.000002] " + second + rest,
                "[ 10.000003] Memory cgroup out of memory: Killed process 4242 (worker)",
            ],
            kernel_only=True,
        )
    )
    assert (kill["constraint"], kill["task_memcg"], kill["unit"]) == (
        "CONSTRAINT_MEMCG",
        "/system.slice/worker.service",
        "worker.service",
    )
    assert kill["oom_memcg"] == ("/system.slice/worker.service" if second.startswith(",oom_memcg") else None)


def test_task_in_memcg_before_4_20():
    cgroup = "/docker/" + HEX
    kill = only_kill(
        parse(
            [
                "worker invoked oom-killer: gfp_mask=0x14000c0(GFP_KERNEL), nodemask=(null), order=0, oom_score_adj=0",
                "worker cpuset=" + HEX + " mems_allowed=0",
                "CPU: 0 PID: 4242 Comm: worker Not tainted 4.15.0-213-generic #224-Ubuntu",
                "Task in %s killed as a result of limit of %s" % (cgroup, cgroup),
                "memory: usage 524288kB, limit 524288kB, failcnt 77",
                "Memory cgroup out of memory: Kill process 4242 (worker) score 1000 or sacrifice child",
                "Killed process 4242 (worker) total-vm:600000kB, anon-rss:520000kB, file-rss:1000kB, shmem-rss:0kB",
            ],
            kernel_only=True,
        )
    )
    assert (kill["constraint"], kill["task_memcg"], kill["oom_memcg"], kill["kind"]) == (
        "CONSTRAINT_MEMCG",
        cgroup,
        cgroup,
        "memcg",
    )
    assert kill["container"] == {"runtime": "docker", "id": HEX}
    assert kill["unit"] is None
    assert fields(kill) == (4242, "worker", None, 600000, 520000, 1000, 0, None, None)


# §3.6 memory.oom.group, §3.7 reaper


def test_oom_group_prints_the_victim_twice_counted_once():
    cgroup = "/system.slice/worker.service"
    lines = [
        "worker invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
        "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=%s,task_memcg=%s,"
        "task=worker,pid=4242,uid=1001" % (cgroup, cgroup),
        "Memory cgroup out of memory: Killed process 4242 (worker) total-vm:10kB, anon-rss:8kB, file-rss:1kB",
        "Tasks in %s are going to be killed due to memory.oom.group set" % cgroup,
        "Memory cgroup out of memory: Killed process 4242 (worker) total-vm:10kB, anon-rss:8kB, file-rss:1kB",
        "Memory cgroup out of memory: Killed process 4243 (helper) total-vm:20kB, anon-rss:9kB, file-rss:2kB",
        "Memory cgroup out of memory: Killed process 4244 (helper) total-vm:30kB, anon-rss:7kB, file-rss:3kB",
        "oom_reaper: reaped process 4243 (helper), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB",
    ]
    # No timestamps: only the oom.group logic can drop the re-print.
    result = parse(lines, kernel_only=True)
    assert result["kill_count"] == 3
    assert [kill["pid"] for kill in result["kills"]] == [4242, 4243, 4244]
    first, second, third = result["kills"]
    # The victim's first Killed line comes before the group line; it belongs to the group all the same.
    assert (first["oom_group"], second["oom_group"], third["oom_group"]) == (cgroup, cgroup, cgroup)
    assert [kill["unit"] for kill in result["kills"]] == ["worker.service"] * 3
    assert (second["trigger_comm"], second["kind"], second["total_vm_kb"]) == ("worker", "memcg", 20)
    assert second["reaped_anon_rss_kb"] == 0
    assert first["reaped_anon_rss_kb"] is None
    assert result["kill_count_by_unit"] == {"worker.service": 3}


def test_oom_group_ends_for_a_later_rate_limited_kill():
    lines = [
        "[ 100.000000] Memory cgroup out of memory: Killed process 4242 (worker)",
        "[ 100.000001] Tasks in /a.slice are going to be killed due to memory.oom.group set",
        "[ 100.000002] Memory cgroup out of memory: Killed process 4242 (worker)",
        "[ 100.000003] Memory cgroup out of memory: Killed process 4243 (helper)",
        "[ 700.000000] Out of memory: Killed process 5000 (other)",
    ]
    result = parse(lines, kernel_only=True)
    assert [kill["pid"] for kill in result["kills"]] == [4242, 4243, 5000]
    assert [kill["oom_group"] for kill in result["kills"]] == ["/a.slice", "/a.slice", None]
    assert result["kills"][2]["kind"] == "global"


def test_reaper_attached_by_pid_only():
    result = parse(
        [
            KILLED_54,
            "oom_reaper: reaped process 4243 (other), now anon-rss:99kB, file-rss:0kB, shmem-rss:0kB",
            "oom_reaper: reaped process 4242 (worker), now anon-rss:12kB, file-rss:0kB, shmem-rss:0kB",
        ],
        kernel_only=True,
    )
    assert only_kill(result)["reaped_anon_rss_kb"] == 12


# §3.9 panics and no victim


@pytest.mark.parametrize(
    ("lines", "reasons", "no_killable"),
    [
        (
            ["Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled"],
            ["Out of memory: system-wide panic_on_oom is enabled"],
            0,
        ),
        (
            ["Kernel panic - not syncing: Out of memory: compulsory panic_on_oom is enabled"],
            ["Out of memory: compulsory panic_on_oom is enabled"],
            0,
        ),
        (
            ["Kernel panic - not syncing: Out of memory and no killable processes..."],
            ["Out of memory and no killable processes..."],
            1,
        ),
        (
            [
                "Out of memory and no killable processes...",
                "Kernel panic - not syncing: System is deadlocked on memory",
            ],
            ["System is deadlocked on memory"],
            1,
        ),
        (["Out of memory and no killable processes..."], [], 1),
    ],
)
def test_panics_reported_not_counted(lines, reasons, no_killable):
    """A panic counts where it follows the OOM report (its header, or "no killable processes") with no kill after."""
    header = "w invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0"
    lines = [header, *lines]
    result = parse(["[ 77.%06d] %s" % (index, text) for index, text in enumerate(lines)], "dmesg", kernel_only=True)
    assert result["kill_count"] == 0
    assert result["kills"] == []
    assert [panic["reason"] for panic in result["oom_panics"]] == reasons
    assert [panic["uptime_s"] for panic in result["oom_panics"]] == [pytest.approx(77.0, abs=1e-3)] * len(reasons)
    assert all(panic["source"] == "dmesg" for panic in result["oom_panics"])
    assert result["no_killable_count"] == no_killable


def test_every_counted_line_passes_the_prefilter():
    """Bug fixed: 'System is deadlocked on memory' (the 4.19+ OOM panic) did not pass the prefilter."""
    for text in (
        "Kernel panic - not syncing: System is deadlocked on memory",
        "Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled",
        "Out of memory and no killable processes...",
        KILLED_54,
        ",global_oom,task_memcg=/,task=worker,pid=4242,uid=1001",
        "CPU: 0 PID: 4242 Comm: worker Not tainted 6.1.0 #1",
        "Marked /a.service for killing due to memory used (1) / total (2)",
        'earlyoom[99]: sending SIGTERM to process 4242 "worker": badness 900, VmRSS 1024 MiB',
        'sending SIGTERM to process 4242 uid 1001 "worker": oom_score 900, VmRSS 1024 MiB, cmdline "worker"',
        "Killing process 4242 worker",
        "a.service: systemd-oomd killed 3 process(es) in this unit.",
    ):
        assert line_may_matter(text), text
    assert not line_may_matter("EXT4-fs (vda1): mounted filesystem")
    assert SCAN_NEEDLES == ("ill", "sending SIG")
    assert ALL_NEEDLES == ("ill", "sending SIG", "omm: ", "reaped process", ",oom_memcg=", ",global_oom", "not syncing")
    assert JOURNAL_GREP_PATTERN == r"ill|sending\ SIG|omm:\ |reaped\ process|,oom_memcg=|,global_oom|not\ syncing"


def test_prefilter_keeps_what_every_source_keeps():
    """Bug fixed: the file prefilter was case-sensitive and dropped RHEL 6's banner and earlyoom's stdout lines,
    which the journal's case-insensitive pattern kept."""
    for text in (
        "Pid: 4242, comm: worker Not tainted 2.6.32 #1",
        'sending SIGTERM to process 4242 "worker": badness 900, VmRSS 1024 MiB',
    ):
        assert line_may_matter(text), text


# §4.1 systemd-oomd


OOMD_USER = "/user.slice/user-1001.slice/user@1001.service/app.slice/app-firefox-4242.scope"


@pytest.mark.parametrize(
    ("message", "reason", "pressure", "queued"),
    [
        pytest.param(
            "Killed %s due to memory pressure for /user.slice/user-1001.slice being 71.23%% > 50.00%% for > 20s"
            " with reclaim activity" % OOMD_USER,
            "memory_pressure",
            ("/user.slice/user-1001.slice", 71.23, 50.0, "20s"),
            False,
            id="v248-pressure",
        ),
        pytest.param(
            "Killed %s due to swap used (4294967296) / total (4294967296) being more than 90.00%%" % OOMD_USER,
            "swap",
            (None, None, None, None),
            False,
            id="v248-swap",
        ),
        pytest.param(
            "Killed %s due to memory used (16000000000) / total (16777216000) and swap used (4000000000) / total"
            " (4294967296) being more than 90.00%%" % OOMD_USER,
            "swap",
            (None, None, None, None),
            False,
            id="v25x-memory-and-swap",
        ),
        pytest.param(
            "Marked %s for killing due to memory pressure for /user.slice being 80.50%% > 60.00%% for > 1min 30s"
            " with reclaim activity" % OOMD_USER,
            "memory_pressure",
            ("/user.slice", 80.5, 60.0, "1min"),
            True,
            id="main-marked-pressure",
        ),
        pytest.param(
            "Marked %s for killing due to memory used (16000000000) / total (16777216000)" % OOMD_USER,
            "memory_used",
            (None, None, None, None),
            True,
            id="main-marked-memory-used",
        ),
    ],
)
def test_systemd_oomd_kills(message, reason, pressure, queued):
    result = parse(["2026-03-03T10:20:00+0000 vm-1 systemd-oomd[612]: " + message])
    kill = only_kill(result)
    assert (kill["killer"], kill["cgroup"], kill["unit"], kill["reason"], kill["queued"]) == (
        "systemd-oomd",
        OOMD_USER,
        "app-firefox-4242.scope",
        reason,
        queued,
    )
    assert (kill["pressure_cgroup"], kill["pressure_pct"], kill["pressure_limit_pct"], kill["pressure_duration"]) == (
        pressure
    )
    assert (kill["pid"], kill["processes"], kill["timestamp"]) == (None, None, "2026-03-03T10:20:00+00:00")
    assert result["kill_count_by_killer"] == {"kernel": 0, "systemd-oomd": 1, "earlyoom": 0}


def test_systemd_oomd_unit_line_attaches_process_count():
    result = parse(
        [
            "Mar  3 10:20:00 vm-1 systemd-oomd[612]: Marked /system.slice/build.service for killing due to memory"
            " pressure for /system.slice being 80.00% > 60.00% for > 30s with reclaim activity",
            "Mar  3 10:20:00 vm-1 systemd[1]: build.service: systemd-oomd killed 12 process(es) in this unit.",
            "Mar  3 10:20:01 vm-1 systemd[1]: other.service: systemd-oomd killed 3 process(es) in this unit.",
        ],
        "/var/log/syslog",
    )
    kill = only_kill(result)
    assert (kill["unit"], kill["processes"], kill["queued"], kill["timestamp"]) == (
        "build.service",
        12,
        False,
        "2026-03-03T10:20:00+00:00",
    )
    assert result["kill_count_by_unit"] == {"build.service": 1}
    assert result["kill_count_by_source"] == {"/var/log/syslog": 1}


@pytest.mark.parametrize(
    "message",
    [
        "Considered 3 cgroups for killing, top candidates were:",
        "        Path: /user.slice/user-1001.slice/user@1001.service/app.slice/app-firefox-4242.scope",
        "oomd attempting to kill 4242 with KILL",
        "Failed to kill any cgroup(s) under /user.slice based on pressure: Device or resource busy",
        "Failed to kill any cgroup(s) based on swap: No such process",
        "Memory pressure for /user.slice is greater than 50.00% for > 20s with reclaim activity",
        "Rule 'mem-high' conditions met for cgroup /system.slice/a.service for 30s, taking action kill",
    ],
)
def test_systemd_oomd_companion_lines_not_counted(message):
    assert parse(["Mar  3 10:20:00 vm-1 systemd-oomd[612]: " + message])["kill_count"] == 0


# §4.2 earlyoom


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param("Killing process 4242 worker", (4242, "worker", None, None, None, None, None, None), id="v1.0"),
        pytest.param(
            "Killing process: worker, pid: 4242, badness: 900, VmRSS: 1024 MiB",
            (4242, "worker", None, None, 1048576, 900, None, None),
            id="v1.1",
        ),
        pytest.param(
            "Killing process 'my worker' with signal 15, pid: 4242, badness: 900, VmRSS: 1024 MiB",
            (4242, "my worker", None, "SIGTERM", 1048576, 900, None, None),
            id="v1.2",
        ),
        pytest.param(
            'sending SIGTERM to process 4242 "worker": badness 900, VmRSS 1024 MiB',
            (4242, "worker", None, "SIGTERM", 1048576, 900, None, None),
            id="v1.3",
        ),
        pytest.param(
            'sending SIGKILL to process 4242 uid 1001 "worker": badness 900, VmRSS 1024 MiB',
            (4242, "worker", 1001, "SIGKILL", 1048576, 900, None, None),
            id="v1.4-v1.7",
        ),
        pytest.param(
            'sending SIGTERM to process 4242 uid 1001 "my worker": oom_score 900, VmRSS 1024 MiB, cmdline'
            ' "/usr/bin/worker --jobs 4"',
            (4242, "my worker", 1001, "SIGTERM", 1048576, 900, None, "/usr/bin/worker --jobs 4"),
            id="v1.8",
        ),
        pytest.param(
            'sending SIGTERM to process 4242 uid 1001 "worker": oom_score 900, oom_score_adj -100, VmRSS 1024 MiB,'
            ' cmdline "/usr/bin/worker"',
            (4242, "worker", 1001, "SIGTERM", 1048576, 900, -100, "/usr/bin/worker"),
            id="v1.9",
        ),
    ],
)
@pytest.mark.parametrize(
    "prefix",
    ["2026-03-03T10:30:00+00:00 vm-1 earlyoom[812]: ", "Mar  3 10:30:00 vm-1 earlyoom[812]: ", "earlyoom: "],
)
def test_earlyoom_versions(message, expected, prefix):
    kill = only_kill(parse([prefix + message]))
    assert kill["killer"] == "earlyoom"
    got = (kill["pid"], kill["comm"], kill["uid"], kill["signal"], kill["rss_kb"], kill["oom_score"])
    assert (*got, kill["oom_score_adj"], kill["cmdline"]) == expected
    assert kill["timestamp"] == (None if prefix.startswith("earlyoom") else "2026-03-03T10:30:00+00:00")


@pytest.mark.parametrize(
    "prefix",
    [
        "Mar  3 10:30:0%d vm-1 earlyoom[812]: ",
        "earlyoom[812]: ",  # no timestamps at all (-o cat): bug fixed, the SIGKILL was counted a second time
        "",
    ],
)
def test_earlyoom_sigterm_then_sigkill_is_one_kill(prefix):
    body = 'process 4242 uid 1001 "worker": oom_score 900, VmRSS 1024 MiB, cmdline "worker"'
    lines = [
        "sending 0 (no-op signal) to " + body,
        "low memory! at or below SIGTERM limits: mem 10.00%, swap  5.00%",
        "sending SIGTERM to " + body,
        "escalating to SIGKILL after 1.0 seconds",
        "sending SIGKILL to " + body,
        "process 4242 did not exit",
        "kill failed: Operation not permitted",
    ]
    result = parse([(prefix % index if "%d" in prefix else prefix) + text for index, text in enumerate(lines)])
    kill = only_kill(result)
    assert (kill["pid"], kill["signal"]) == (4242, "SIGTERM")
    assert result["kill_count_by_killer"]["earlyoom"] == 1


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param("", id="no-prefix"),
        pytest.param("[  812.345678] ", id="monotonic"),
        pytest.param("session-3.scope: ", id="unit-prefix"),
        pytest.param("Mar  3 10:30:00 vm-1 systemd[1]: ", id="syslog-systemd"),
        pytest.param("systemd[1]: ", id="identifier-only"),
    ],
)
def test_systemd_stopping_a_unit_is_no_earlyoom_kill(prefix):
    """Bug fixed (found by the formats work): systemd's "Killing process N (comm) with signal SIGKILL." as it stops
    a unit read as an earlyoom 1.0 kill where no identifier said who wrote it (journalctl -o cat, a capture)."""
    result = parse([prefix + "Killing process 4242 (worker) with signal SIGKILL."])
    assert (result["kill_count"], result["kills"]) == (0, [])


@pytest.mark.parametrize("prefix", ["", "[  812.345678] earlyoom[9]: ", "Mar  3 10:30:00 vm-1 earlyoom[9]: "])
@pytest.mark.parametrize("name", ["worker", "(sd-pam)", "(worker) with signal"])
def test_earlyoom_1_0_kills_still_count(prefix, name):
    """earlyoom 1.0's own line still counts, a name in parentheses too: only systemd's whole sentence is not one."""
    kill = only_kill(parse([prefix + "Killing process 4242 " + name]))
    assert (kill["killer"], kill["pid"], kill["comm"]) == ("earlyoom", 4242, name)


def test_earlyoom_no_op_signal_not_counted():
    result = parse(['earlyoom[812]: sending 0 (no-op signal) to process 4242 uid 1001 "w": badness 9, VmRSS 1 MiB'])
    assert result["kill_count"] == 0


# Event assembly: dedup, since, max_kills, rule 9


def test_same_kill_from_journal_and_syslog_counted_once():
    parser = OomLogParser()
    stamp = datetime.datetime(2026, 3, 3, 10, 11, 12, 345678, tzinfo=UTC)
    parser.feed(Line(KILLED_54, "journal", kernel=True, ident="kernel", timestamp=stamp, uptime=5123.4, boot="b1"))
    parser.feed_text(
        "Mar  3 10:11:12 vm-1 kernel: [ 5123.400000] " + KILLED_54, "/var/log/syslog", years=YearGuesser(REFERENCE)
    )
    parser.feed_text("Mar  3 10:11:13 vm-1 kernel: " + KILLED_54, "/var/log/syslog", years=YearGuesser(REFERENCE))
    result = parser.result()
    kill = only_kill(result)
    assert (kill["source"], kill["timestamp"]) == ("journal", "2026-03-03T10:11:12.345678+00:00")
    assert result["kill_count_by_source"] == {"journal": 1}
    assert result["kernel_kills_by_boot"] == {"b1": 1}


def test_same_pid_killed_again_later_counts_twice():
    result = parse(["[ 100.000000] " + KILLED_54, "[ 200.000000] " + KILLED_54], kernel_only=True)
    assert result["kill_count"] == 2
    assert [kill["uptime_s"] for kill in result["kills"]] == [100.0, 200.0]


def test_since_filters_by_timestamp_and_keeps_untimed():
    since = datetime.datetime(2026, 3, 3, 10, 30, tzinfo=UTC)
    result = parse(
        [
            "Mar  3 10:11:12 vm-1 kernel: Out of memory: Killed process 4242 (old)",
            "Mar  3 10:11:13 vm-1 kernel: w invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
            "Mar  3 10:11:13 vm-1 kernel: Kernel panic - not syncing: Out of memory: compulsory panic_on_oom"
            " is enabled",
            "Mar  3 10:40:00 vm-1 kernel: Out of memory: Killed process 4343 (new)",
            "kernel: Out of memory: Killed process 4444 (untimed)",
            "Mar  3 10:40:01 vm-1 kernel: Out of memory and no killable processes...",
            "Mar  3 10:40:01 vm-1 kernel: Kernel panic - not syncing: System is deadlocked on memory",
        ],
        since=since,
    )
    assert [kill["pid"] for kill in result["kills"]] == [4343, 4444]
    assert result["kill_count"] == 2
    assert [(panic["reason"], panic["timestamp"]) for panic in result["oom_panics"]] == [
        ("System is deadlocked on memory", "2026-03-03T10:40:01+00:00")
    ]


def test_max_kills_keeps_the_newest_and_counts_all():
    lines = ["Killed process %d (w%d)" % (4240 + index, index) for index in range(5)]
    result = parse(lines, kernel_only=True, max_kills=2)
    assert [kill["pid"] for kill in result["kills"]] == [4243, 4244]
    assert result["kill_count"] == 5


def test_max_kills_zero_keeps_none():
    """Bug fixed: max_kills=0 (documented 'keeps none') kept every kill."""
    result = parse(["Killed process 4242 (w)", "Killed process 4243 (w)"], kernel_only=True, max_kills=0)
    assert result["kills"] == []
    assert result["kill_count"] == 2


def test_rule9_userspace_killed_process_not_counted_in_syslog():
    result = parse(
        [
            "Mar  3 10:11:12 vm-1 backup.sh[3100]: Killed process 9999 (rsync) after timeout",
            "Mar  3 10:11:12 vm-1 sudo: Killed process 9998 (x) total-vm:1kB, anon-rss:1kB, file-rss:1kB",
            "2026-03-03T10:11:12+0000 vm-1 myapp[5]: Out of memory: Killed process 9997 (y)",
        ],
        "/var/log/syslog",
    )
    assert result["kill_count"] == 0


def test_rule9_unknown_prefix_of_kernel_only_source_still_counts_pid():
    result = parse(["vm-1 | 10:11:12 | Out of memory: Killed process 4242 (worker) total-vm:1kB"], kernel_only=True)
    kill = only_kill(result)
    assert (kill["pid"], kill["comm"], kill["total_vm_kb"]) == (4242, "worker", 1)
    assert result["unparsed_prefix_lines"] == 1


@pytest.mark.parametrize(
    ("cgroup", "unit", "container"),
    [
        ("/system.slice/worker.service", "worker.service", None),
        ("/user.slice/user-1001.slice/user@1001.service", "user@1001.service", None),
        ("/user.slice/user-1001.slice/user@1001.service/app.slice/app-x-4242.scope", "app-x-4242.scope", None),
        ("/system.slice/docker-%s.scope" % HEX, "docker-%s.scope" % HEX, {"runtime": "docker", "id": HEX}),
        (
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/cri-containerd-%s.scope"
            % (POD, HEX),
            "cri-containerd-%s.scope" % HEX,
            {"runtime": "containerd", "id": HEX, "pod_uid": POD.replace("_", "-")},
        ),
        (
            "/kubepods/burstable/pod%s/%s" % (POD.replace("_", "-"), HEX),
            None,
            {"runtime": "kubepods", "id": HEX, "pod_uid": POD.replace("_", "-")},
        ),
        (
            "/lxc.payload.lab-ct01/system.slice/oomtest-hog.service",
            "oomtest-hog.service",
            {"runtime": "lxc", "id": "lab-ct01"},
        ),
    ],
)
def test_unit_and_container_from_summary_cgroup(cgroup, unit, container):
    kill = only_kill(
        parse(
            [
                "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=%s,"
                "task_memcg=%s,task=worker,pid=4242,uid=1001" % (cgroup, cgroup),
                KILLED_54.replace("Out of memory", "Memory cgroup out of memory"),
            ],
            kernel_only=True,
        )
    )
    assert (kill["unit"], kill["container"], kill["task_memcg"]) == (unit, container, cgroup)


def test_events_are_kept_per_source():
    parser = OomLogParser()
    parser.feed_text(
        "[ 1.000000] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),global_oom,task_memcg=/a.service,task=w,"
        "pid=4242,uid=1",
        "a",
        kernel_only=True,
    )
    parser.feed_text("Killed process 4242 (w)", "b", kernel_only=True)
    parser.feed_text("[ 1.000100] Killed process 4242 (w)", "a", kernel_only=True)
    kills = parser.result()["kills"]
    assert [(kill["source"], kill["unit"]) for kill in kills] == [("b", None), ("a", "a.service")]


def test_one_pid_twice_within_a_second_in_one_source_is_one_kill():
    """Changed on purpose ([4/8] item 4): duplicates within one source count once (cat kern.log syslog)."""
    lines = [
        "[ 100.100000] Out of memory: Killed process 4242 (worker) total-vm:1kB, anon-rss:1kB, file-rss:1kB",
        "[ 100.600000] Out of memory: Killed process 4242 (worker) total-vm:1kB, anon-rss:1kB, file-rss:1kB",
    ]
    assert parse(lines, source="dmesg", kernel_only=True)["kill_count"] == 1


def test_one_kill_in_two_sources_counts_once():
    parser = OomLogParser()
    line = "[ 100.100000] Out of memory: Killed process 4242 (worker) total-vm:1kB, anon-rss:1kB, file-rss:1kB"
    parser.feed_text(line, "kmsg", kernel_only=True)
    parser.feed_text(line, "dmesg", kernel_only=True)
    assert parser.result()["kill_count"] == 1
    assert parser.result()["kill_count_by_source"] == {"kmsg": 1}


def test_stack_frames_and_task_table_are_not_records_and_a_comm_cannot_hide_a_kill():
    """Bug fixed: a comm holding "+0x" made its Killed line pass for a stack frame and vanish."""
    frame = "Oct 28 06:39:16 vm-1 kernel:  oom_kill_process.cold+0xb/0x10"
    table = "[ 5.1] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name"
    hidden = "[ 5.3] Out of memory: Killed process 4243 (a+0x1/0x2) total-vm:10kB, anon-rss:8kB, file-rss:1kB"
    result = parse([frame, table, "[ 5.2] " + KILLED_54, hidden], kernel_only=True)
    assert [kill["pid"] for kill in result["kills"]] == [4242, 4243]


# The kill record of the facts contract (1.1)


def mixed_result(**kwargs):
    return parse(
        [
            "Mar  3 10:11:10 vm-1 kernel: [ 5123.100500] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),"
            "cpuset=/,mems_allowed=0,oom_memcg=/lxc.payload.c1/system.slice/worker.service,"
            "task_memcg=/lxc.payload.c1/system.slice/worker.service,task=python3.11,pid=4242,uid=1001",
            "Mar  3 10:11:10 vm-1 kernel: [ 5123.100510] Memory cgroup out of memory: Killed process 4242 (python3.11)"
            " total-vm:10kB, anon-rss:8kB, file-rss:1kB, shmem-rss:1kB, UID:1001 pgtables:4kB oom_score_adj:0",
            "Mar  3 10:12:00 vm-1 kernel: [ 5173.000000] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),"
            "cpuset=/,mems_allowed=0,oom_memcg=/system.slice/db.service,task_memcg=/system.slice/db.service,"
            "task=postgres,pid=4300,uid=27",
            "Mar  3 10:12:00 vm-1 kernel: [ 5173.000010] Memory cgroup out of memory: Killed process 4300 (postgres)",
            "Mar  3 10:13:00 vm-1 kernel: [ 5233.000000] Out of memory: Killed process 4400 (pypy3)",
            "Mar  3 10:20:00 vm-1 systemd-oomd[612]: Killed /system.slice/batch.service due to memory used (1) /"
            " total (2)",
            'Mar  3 10:30:00 vm-2 earlyoom[812]: sending SIGTERM to process 4500 uid 1001 "chrome": oom_score 9,'
            " VmRSS 2 MiB",
        ],
        **kwargs,
    )


def test_every_kill_has_every_key_of_the_contract():
    result = mixed_result()
    assert [set(kill) for kill in result["kills"]] == [set(KILL_KEYS)] * 5
    assert [(kill["killer"], kill["kind"], kill["python"], kill["host"]) for kill in result["kills"]] == [
        ("kernel", "memcg", True, "vm-1"),
        ("kernel", "memcg", False, "vm-1"),
        ("kernel", "global", True, "vm-1"),
        ("systemd-oomd", "systemd-oomd", False, "vm-1"),
        ("earlyoom", "earlyoom", False, "vm-2"),
    ]
    first = result["kills"][0]
    assert (first["rss_kb"], first["cgroup"], first["scope"], first["id"]) == (
        10,
        "/lxc.payload.c1/system.slice/worker.service",
        "local",
        first["id"],
    )
    assert len(first["id"]) == 16
    assert result["kill_count_by_kind"] == {
        "global": 1,
        "memcg": 2,
        "allocating_task": 0,
        "sysrq": 0,
        "unknown": 0,
        "systemd-oomd": 1,
        "earlyoom": 1,
    }
    assert result["kill_count_by_host"] == {"vm-1": 4, "vm-2": 1}
    assert result["kill_count_by_unit"] == {"worker.service": 1, "db.service": 1, "batch.service": 1}
    assert (result["host_scope_kill_count"], result["kill_count"]) == (0, 5)


def test_every_counter_key_is_present_with_no_kill():
    result = OomLogParser().result()
    assert result["kill_count_by_kind"] == dict.fromkeys(KINDS, 0)
    assert result["kill_count_by_killer"] == {"kernel": 0, "systemd-oomd": 0, "earlyoom": 0}
    assert (result["kills"], result["kill_count"], result["untrusted_records"], result["oldest_record"]) == (
        [],
        0,
        0,
        None,
    )


def test_in_a_container_kills_of_other_cgroups_are_the_hosts():
    result = mixed_result(local_cgroup_prefixes=["/lxc.payload.c1"])
    assert [(kill["pid"], kill["scope"]) for kill in result["kills"]] == [
        (4242, "local"),
        (4300, "host"),
        (4400, "host"),  # no memcg known: not attributable to the container
        (None, "local"),
        (4500, "local"),
    ]
    assert (result["kill_count"], result["host_scope_kill_count"]) == (3, 2)
    assert result["kill_count_by_unit"] == {"worker.service": 1, "batch.service": 1}
    # only this host's kernel kills are compared with its own kill counters
    assert result["kernel_kills_by_boot"] == {None: 1}


def test_strings_in_records_are_capped():
    cgroup = "/" + "a" * 700
    result = parse(
        [
            "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),oom_memcg=%s,task_memcg=%s,task=w,pid=1,uid=0"
            % (cgroup, cgroup),
            "Memory cgroup out of memory: Killed process 1 (w) total-vm:1kB " + "x" * 2000,
            "Killed /" + "b" * 900 + " due to memory used (1) / total (2)",
            'sending SIGTERM to process 2 uid 0 "c": badness 1, VmRSS 1 MiB, cmdline "' + "y" * 900 + '"',
        ],
        kernel_only=False,
    )
    kernel, oomd, earlyoom = result["kills"]
    assert (len(kernel["task_memcg"]), len(kernel["message"]), len(oomd["cgroup"]), len(earlyoom["cmdline"])) == (
        512,
        512,
        512,
        512,
    )
    assert kernel["task_memcg"].endswith("…")


def test_max_kills_has_a_maximum():
    assert OomLogParser(max_kills=10**30).kills.maxlen == MAX_KILLS_LIMIT == 10000


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-03T10:11:12.",
        "2026-03-03T10:11:12.x",
        "0000-01-01T00:00:00",
        "99999-01-01T00:00:00",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+14:00",
        "2026-02-30T00:00:00",
        "2026-03-03T25:00:00",
        "2026-03-03T10:11:12+99:99",
        "2026-03-03T10:11",
        "",
        "x" * 1000,
        "٢٠٢٦-03-03T10:11:12",
        None,
        12345,
    ],
)
def test_parse_iso_is_total(text):
    stamp = parse_iso(text)
    assert stamp is None or stamp.tzinfo is not None


def test_syslog_and_dmesg_stamps_are_total():
    years = YearGuesser(datetime.datetime(1, 1, 1))
    assert years.stamp(1, 1, "00:00:00") is None or years.stamp(1, 1, "00:00:00").year == 1
    assert YearGuesser(REFERENCE).stamp(2, 30, "10:11:12") is None
    assert YearGuesser(REFERENCE).stamp(3, 3, "10:61:12") is None
    assert YearGuesser(REFERENCE).stamp(3, 3, "1x:00:00") is None
    assert parse_dmesg_t("Tue Mar  3 10:11:12 99999") is None
    assert parse_dmesg_t("Tue Foo  3 10:11:12 2026") is None
    assert parse_dmesg_t("Tue Mar 33 10:11:12 2026") is None
