# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sysstat history: ``sadf -j`` documents (shaped as sysstat 12.6 prints them, values invented) and the summary."""

from __future__ import annotations

import calendar
import gzip
import json
import lzma
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils import _sysstat as sysstat
from ansible_collections.oomguard.memory.plugins.module_utils._sysstat import (
    DECOMPRESSORS,
    memory_history,
    parse_sadf_json,
    sa_files,
    summarize,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from as_user import NOBODY, run_as

TOTAL = 1000000
# 2026-03-01 and 2026-03-02, UTC
DAY1 = calendar.timegm((2026, 3, 1, 0, 0, 0))
DAY2 = DAY1 + 86400


def document(entries):
    return json.dumps(
        {
            "sysstat": {
                "hosts": [
                    {
                        "nodename": "web-1",
                        "sysname": "Linux",
                        "release": "6.1.0",
                        "machine": "x86_64",
                        "number-of-cpus": 2,
                        "file-date": "2026-03-01",
                        "file-utc-time": "00:00:01",
                        "timezone": "UTC",
                        "statistics": entries,
                        "restarts": [{"boot": {"date": "2026-03-01", "time": "00:00:00", "utc": 1, "cpu_count": 2}}],
                    }
                ]
            }
        }
    )


def entry(epoch, avail, interval=600, utc=1):
    stamp = time.gmtime(epoch) if utc else time.localtime(epoch)
    return {
        "timestamp": {
            "date": time.strftime("%Y-%m-%d", stamp),
            "time": time.strftime("%H:%M:%S", stamp),
            "utc": utc,
            "interval": interval,
        },
        "memory": {"memfree": 1, "avail": avail, "memused": TOTAL - avail, "memused-percent": 1.0},
    }


def test_parse_sadf_json():
    text = document([entry(DAY1 + 600, 900000), entry(DAY1 + 1200, 100000, utc=0), {"timestamp": {}}, "junk"])
    assert parse_sadf_json(text) == [(DAY1 + 600, 600, 900000), (DAY1 + 1200, 600, 100000)]
    assert parse_sadf_json("not json") == []
    assert parse_sadf_json(json.dumps({"sysstat": {"hosts": "x"}})) == []
    # a sample without avail (older sysstat) or with a broken time is skipped
    broken = entry(DAY1, 5)
    broken["memory"].pop("avail")
    bad_time = entry(DAY1, 5)
    bad_time["timestamp"]["time"] = "25:61:00"
    assert parse_sadf_json(document([broken, bad_time])) == []


def test_summary_numbers():
    samples = [
        (DAY1 + 600, 600, 950000),  # used 50000
        (DAY1 + 1200, 600, 50000),  # used 950000 >= 90 %
        (DAY2 + 600, 600, 700000),  # used 300000
        (DAY2 + 1200, 600, 600000),  # used 400000
        (DAY2 + 1200, 600, 600000),  # the same sample twice (saDD and saYYYYMMDD) counts once
    ]
    history = summarize(samples, TOTAL, days=2, now=DAY2 + 86400)
    assert history == {
        "available": True,
        "reason": None,
        "window_days": 2,
        "days": 2,
        "samples": 4,
        "coverage_pct": round(2400 / (2 * 86400) * 100, 2),
        "first": "2026-03-01T00:10:00+00:00",
        "last": "2026-03-02T00:20:00+00:00",
        "mem_total_kb": TOTAL,
        "peak_used_kb": 950000,
        "p90_daily_peak_kb": 950000,
        "share_ge_90_pct": 25.0,
        "daily_peaks": [{"date": "2026-03-01", "used_kb": 950000}, {"date": "2026-03-02", "used_kb": 400000}],
        "files": [],
    }


def test_p90_of_ten_daily_peaks_is_the_ninth():
    samples = [(DAY1 + day * 86400 + 60, 600, TOTAL - (day + 1) * 1000) for day in range(10)]
    history = summarize(samples, TOTAL, days=10, now=DAY1 + 10 * 86400)
    assert (history["peak_used_kb"], history["p90_daily_peak_kb"], history["days"]) == (10000, 9000, 10)


def test_samples_outside_the_window_are_left_out():
    history = summarize([(DAY1, 600, 1)], TOTAL, days=1, now=DAY1 + 3 * 86400)
    assert (history["available"], history["reason"]) == (
        False,
        "the sysstat files hold no memory samples of the last 1 days",
    )


def test_sa_files_by_name_and_age(tmp_path):
    now = time.time()
    for name, age_days in (("sa01", 0), ("sa20260301", 1), ("sa02.xz", 0), ("sa04.zst", 0), ("sar01", 0), ("sa03", 30)):
        path = tmp_path / name
        path.write_bytes(b"x")
        os.utime(path, (now - age_days * 86400, now - age_days * 86400))
    assert sa_files([str(tmp_path), str(tmp_path / "absent")], 7, now) == [
        str(tmp_path / "sa20260301"),
        str(tmp_path / "sa01"),
        str(tmp_path / "sa02.xz"),
    ]


def test_memory_history_runs_sadf_per_file(tmp_path):
    (tmp_path / "sa01").write_bytes(b"x")
    (tmp_path / "sa02").write_bytes(b"x")
    calls = []

    def run_command(argv):
        calls.append(argv)
        if argv[2].endswith("sa02"):
            return 1, "", "Invalid system activity file: %s\n" % argv[2]
        return 0, document([entry(time.time() - 600, 400000)]), ""

    def no_temporary_directory():
        raise AssertionError("plain sa files need no temporary directory")

    history, warnings = memory_history(
        run_command, "/usr/bin/sadf", [str(tmp_path)], 1, TOTAL, tmpdir=no_temporary_directory
    )
    assert sorted(call[2] for call in calls) == [str(tmp_path / "sa01"), str(tmp_path / "sa02")]
    assert all(call[0] == "/usr/bin/sadf" and call[1] == "-j" and call[3:] == ["--", "-r"] for call in calls)
    assert (history["available"], history["samples"], history["peak_used_kb"]) == (True, 1, 600000)
    assert history["files"] == [str(tmp_path / "sa01")]
    broken = tmp_path / "sa02"
    assert warnings == ["sadf cannot read %s: Invalid system activity file: %s" % (broken, broken)]


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
def test_compressed_files_reach_sadf_decompressed_and_are_removed(tmp_path, suffix):
    content = b"sa file of one day" * 1000
    compressed = tmp_path / ("sa01" + suffix)
    with DECOMPRESSORS[suffix](str(compressed), "wb") as handle:
        handle.write(content)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    seen = []

    def run_command(argv):
        seen.append((argv[2], Path(argv[2]).read_bytes()))
        return 0, document([entry(time.time() - 600, 400000)]), ""

    history, warnings = memory_history(
        run_command, "/usr/bin/sadf", [str(tmp_path)], 1, TOTAL, tmpdir=lambda: str(scratch)
    )
    assert warnings == []
    assert [Path(path).parent for path, _data in seen] == [scratch]
    assert seen[0][1] == content
    assert (history["files"], history["samples"]) == ([str(compressed)], 1)
    assert list(scratch.iterdir()) == []


def test_compressed_files_that_cannot_be_read_are_named_and_left_out(tmp_path, monkeypatch):
    (tmp_path / "sa01.xz").write_bytes(b"not xz at all")
    (tmp_path / "sa02.lzo").write_bytes(b"x")
    with gzip.open(str(tmp_path / "sa03.gz"), "wb") as handle:
        handle.write(b"x" * (3 << 20))
    monkeypatch.setattr(sysstat, "MAX_SA_BYTES", 1 << 20)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    calls = []

    def run_command(argv):
        calls.append(argv)
        return 0, document([]), ""

    history, warnings = memory_history(
        run_command, "/usr/bin/sadf", [str(tmp_path)], 1, TOTAL, tmpdir=lambda: str(scratch)
    )
    assert calls == []
    assert history["files"] == []
    assert [warning for warning in warnings if warning.startswith("cannot decompress %s: " % (tmp_path / "sa01.xz"))]
    assert sorted(warning for warning in warnings if not warning.startswith("cannot")) == sorted(
        [
            "%s holds more than 1 MiB once decompressed; not summarised" % (tmp_path / "sa03.gz"),
            "%s is compressed with lzo, which has no reader here; not summarised" % (tmp_path / "sa02.lzo"),
        ]
    )
    assert list(scratch.iterdir()) == []


def test_sadf_errors_name_the_compressed_file_not_the_copy(tmp_path):
    with lzma.open(str(tmp_path / "sa01.xz"), "wb") as handle:
        handle.write(b"x")

    def run_command(argv):
        return 2, "", "Invalid system activity file: %s\n" % argv[2]

    _history, warnings = memory_history(run_command, "/usr/bin/sadf", [str(tmp_path)], 1, TOTAL)
    broken = tmp_path / "sa01.xz"
    assert warnings == ["sadf cannot read %s: Invalid system activity file: %s" % (broken, broken)]


def test_a_directory_the_user_may_not_list_is_named_with_the_fix():
    """A real refusal: the history is gathered by a child process that is nobody, in a directory only root may list."""
    directory = tempfile.mkdtemp(prefix="oomguard-sa-")  # mode 0700, root's
    try:
        (Path(directory) / "sa01").write_bytes(b"x")
        outcome = run_as(NOBODY, [], memory_history, None, "/usr/bin/sadf", [directory, "/nonexistent-sa"], 1, TOTAL)
    finally:
        shutil.rmtree(directory)
    assert outcome[0] == "returned", outcome
    history, warnings = outcome[1]
    assert (history["available"], history["reason"], warnings) == (
        False,
        "uid 65534 may not list %s (Permission denied); run the task as root (become: true)" % directory,
        [],
    )
