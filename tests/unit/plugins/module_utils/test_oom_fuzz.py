# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fuzz test ([4/8]): seeded random mutations of the real fixtures through the parser and the file reader.

For every seed: no exception, a bounded time per line, and the file reader (needle search plus the lazy search
for the lines the parser waits for, in blocks of any size, plain or gzip) gives exactly the result of feeding
every line to the parser. A failing seed reproduces with ``pytest -k "<seed>"``.
"""

from __future__ import annotations

import datetime
import gzip
import os
import random
import time
from pathlib import Path

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils import _log_file, _oom_sources
from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import OomLogParser, YearGuesser
from ansible_collections.oomguard.memory.plugins.module_utils._oom_sources import SourceUnavailable, read_log_file

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "oom_logs"
MTIME = datetime.datetime(2026, 3, 10, 12, 0, 0, tzinfo=datetime.timezone.utc).timestamp()
SEEDS = range(60)
MAX_SECONDS_PER_LINE = 1.0
# Pieces that steer mutations towards the parser's own words, separators and prefixes.
PIECES = (
    b"(",
    b")",
    b",",
    b"=",
    b":",
    b" ",
    b"  ",
    b"-",
    b"/",
    b"0",
    b"4242",
    b"-1",
    b"99999999999999999999999",
    b"\xff",
    b"\xc3",
    b"\xe2\x80\xa6",
    b">",
    b"\r",
    b"\x1b[31m",
    b"\x00",
    b"Killed process ",
    b"Kill process ",
    b"Killing process ",
    b"oom-kill:constraint=CONSTRAINT_MEMCG",
    b",pid=",
    b",uid=",
    b",task=",
    b",task_memcg=/",
    b",oom_memcg=/",
    b",global_oom",
    b" invoked oom-killer: gfp_mask=0x0, order=",
    b"CPU: 0 PID: 1 Comm: ",
    b"Pid: 1, comm: ",
    b"oom_reaper: reaped process ",
    b"Out of memory and no killable processes...",
    b"Kernel panic - not syncing: ",
    b"Out of memory: ",
    b"Memory cgroup out of memory: ",
    b"Killed /",
    b"Marked /",
    b" for killing due to ",
    b" due to memory pressure for /a being ",
    b": systemd-oomd killed 3 process(es) in this unit.",
    b'sending SIGTERM to process 1 uid 0 "',
    b'": oom_score ',
    b", VmRSS 1 MiB",
    b"Tasks in /a are going to be killed due to memory.oom.group set",
    b"Task in /a killed as a result of limit of /b",
    b"[ 12.345678] ",
    b"6,1,123456,-;",
    b"Mar  3 10:11:12 vm-1 kernel: ",
    b"2026-03-03T10:11:12+00:00 vm-1 systemd-oomd[1]: ",
    b"Mar 03 10:11:12: ",
    b"vm-1 earlyoom[2]: ",
    b"systemd[1]: ",
)


def fixture_lines():
    lines = []
    for path in sorted(FIXTURES.glob("*.log")):
        lines.extend(line for line in path.read_bytes().split(b"\n")[1:] if line)
    return lines


LINES = fixture_lines()


def mutate(rng, line):
    for _round in range(rng.randint(0, 4)):
        operation = rng.random()
        at = rng.randint(0, len(line))
        if operation < 0.25:
            line = line[:at] + line[at + rng.randint(1, 12) :]
        elif operation < 0.6:
            line = line[:at] + rng.choice(PIECES) + line[at:]
        elif operation < 0.7:
            piece = line[at : at + rng.randint(1, 40)]
            line = line[:at] + piece * rng.randint(2, 60) + line[at:]
        elif operation < 0.85:
            other = rng.choice(LINES)
            line = line[:at] + other[rng.randint(0, len(other)) :]
        else:
            line = bytes(rng.randrange(256) if rng.random() < 0.1 else byte for byte in line)
    return line.replace(b"\n", b" ")[:4000]


def mutated_log(seed):
    rng = random.Random(seed)
    start = rng.randrange(len(LINES))
    lines = []
    for index in range(rng.randint(40, 400)):
        # mostly runs of consecutive fixture lines (whole OOM reports), mutated now and then
        base = LINES[(start + index) % len(LINES)] if rng.random() < 0.7 else rng.choice(LINES)
        lines.append(mutate(rng, base) if rng.random() < 0.5 else base)
        if rng.random() < 0.05:
            lines.append(lines[-1])
    return b"\n".join(lines) + (b"\n" if rng.random() < 0.8 else b"")


def feed_every_line(data, source):
    """The reference: every line fed to the parser, as a reader that sees all lines does."""
    parser = OomLogParser()
    years = YearGuesser(datetime.datetime.fromtimestamp(MTIME))
    slowest = 0.0
    for raw in data.split(b"\n"):
        if not raw:
            continue
        start = time.perf_counter()
        parser.feed_text(raw.decode("utf-8", errors="backslashreplace"), source, years=years)
        slowest = max(slowest, time.perf_counter() - start)
    parser.end_source(source)
    # a file reader also notes the time of the file's first stamped line (for the oldest record read)
    parser.note_time(_oom_sources._first_time(data[: _log_file.HEAD_BYTES], source, years))
    return parser.result(), slowest


def read_file(path, source):
    parser = OomLogParser()
    try:
        read_log_file(parser, str(path), source)
    except SourceUnavailable as exc:
        assert exc.status == "unrecognized", exc.reason
        return None
    return parser.result()


def comparable(result):
    return {key: value for key, value in result.items() if key != "records_by_source"}


@pytest.mark.parametrize("seed", SEEDS, ids=lambda seed: "seed%d" % seed)
def test_mutated_logs(tmp_path, monkeypatch, seed):
    data = mutated_log(seed)
    expected, slowest = feed_every_line(data, "fuzz")
    assert slowest < MAX_SECONDS_PER_LINE
    plain = tmp_path / "fuzz.log"
    plain.write_bytes(data)
    compressed = tmp_path / "fuzz.log.gz"
    compressed.write_bytes(gzip.compress(data))
    for path in (plain, compressed):
        os.utime(path, (MTIME, MTIME))
    results = {"plain": read_file(plain, "fuzz"), "gzip": read_file(compressed, "fuzz")}
    monkeypatch.setattr(_log_file, "BLOCK_SIZE", random.Random(seed).randint(16, 512))
    results["small-blocks"] = read_file(plain, "fuzz")
    for name, result in results.items():
        if result is None:
            assert (expected["kill_count"], expected["host_scope_kill_count"]) == (0, 0), name
            assert sum(expected["records_by_source"].values()) == 0, name
        else:
            assert comparable(result) == comparable(expected), name
