# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark of a default oom_facts run on this host with many extra processes, next to setup and ping.

    python tests/benchmarks/bench_oom_facts_processes.py                 # 5,000 extra processes, best of 3
    python tests/benchmarks/bench_oom_facts_processes.py --processes 1000 --repeat 5 --strict --json out.json

oom_facts reads one small file per process (stat and oom_score) to find the next victims, so its cost grows with
the number of processes. The benchmark times, in the same run and interleaved round by round:

* ``ansible -m ping`` (the floor of any module run), ``ansible -m setup`` and ``oom_facts`` with its defaults,
  first on the host as it is, then with --processes extra ``sleep`` processes that it starts in one process group
  and kills in ``finally`` (also on Ctrl-C or a failure);
* each run through an interpreter wrapper (tests/lib/oomlab.py) that reports the module process's own wall time,
  CPU time and peak RSS ("module" columns) besides the end-to-end time of the ansible command.

Target (PASS/FAIL printed; exit status 0 unless --strict): with the extra processes, oom_facts is still faster than
setup, both for the module process and end to end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

import oomlab

SPAWNER = r"""
import os, signal, sys, time
count = int(sys.argv[1])
for _ in range(count):
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "3600"])
print("ready", flush=True)
signal.pause()
"""


class Sleepers:
    """``count`` sleep processes in a process group of their own; ``close()`` kills the whole group."""

    def __init__(self, count):
        self.count = count
        self.process = subprocess.Popen(
            [sys.executable, "-c", SPAWNER, str(count)], stdout=subprocess.PIPE, start_new_session=True
        )

    def __enter__(self):
        try:
            line = self.process.stdout.readline()
            if line.strip() != b"ready":
                raise SystemExit("the sleepers did not start")
            deadline = time.monotonic() + 60
            while self.running() < self.count and time.monotonic() < deadline:
                time.sleep(0.2)
        except BaseException:
            self.close()
            raise
        return self

    def members(self):
        """Live (not zombie) processes in the group, the spawner included."""
        group = str(self.process.pid)
        found = 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry, encoding="ascii", errors="replace") as handle:
                        fields = handle.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                found += fields[2] == group and fields[0] != "Z"
        return found

    def running(self):
        """The sleepers that run (the group without its spawner)."""
        return max(self.members() - 1, 0)

    def close(self):
        """Kill the whole group and wait until none of it is left (the sleepers are reaped by init)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        deadline = time.monotonic() + 60
        while self.members() and time.monotonic() < deadline:
            time.sleep(0.2)

    def __exit__(self, *exc_info):
        self.close()


class Case:
    """One module through ansible, repeated: end-to-end wall time and the module process's own figures."""

    def __init__(self, name, module, args, directory):
        self.name, self.module, self.args = name, module, args
        self.wrapper, self.report = oomlab.rusage_interpreter(directory)
        self.walls = []
        self.records_before = 0

    def run(self):
        start = time.perf_counter()
        result = oomlab.run_module(self.module, self.args, interpreter=str(self.wrapper))
        self.walls.append(time.perf_counter() - start)
        if result.get("failed"):
            raise SystemExit("%s failed: %s" % (self.name, json.dumps(result)[:2000]))
        return result

    def figures(self, since=0):
        records = oomlab.read_rusage_reports(self.report)[since:]
        return {
            "end_to_end_s": min(self.walls[since:]),
            "module_wall_s": min(record["wall_s"] for record in records),
            "module_cpu_s": min(record["cpu_s"] for record in records),
            "module_peak_rss_mib": max(record["maxrss_kib"] for record in records) / 1024,
        }


def process_count():
    return sum(1 for entry in os.listdir("/proc") if entry.isdigit())


def rounds(cases, repeat):
    for _round in range(repeat):
        for case in cases:
            case.run()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=5000, help="extra sleep processes (default 5000)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs per timing (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    repeat = max(1, args.repeat)
    figures = {}
    with tempfile.TemporaryDirectory(prefix="oomguard-bench-") as tmp:
        cases = [
            Case("ping", "ansible.builtin.ping", None, Path(tmp)),
            Case("setup", "ansible.builtin.setup", None, Path(tmp)),
            Case("oom_facts", "oom_facts", None, Path(tmp)),
        ]
        baseline_processes = process_count()
        print("timing %d rounds on the host as it is (%d processes) ..." % (repeat, baseline_processes), flush=True)
        rounds(cases, repeat)
        figures["as_is"] = {case.name: case.figures() for case in cases}
        figures["as_is"]["processes"] = baseline_processes
        print("starting %d sleep processes ..." % args.processes, flush=True)
        with Sleepers(args.processes) as sleepers:
            loaded = process_count()
            print("timing %d rounds with %d processes ..." % (repeat, loaded), flush=True)
            rounds(cases, repeat)
            figures["loaded"] = {case.name: case.figures(since=repeat) for case in cases}
            figures["loaded"]["processes"] = loaded
            figures["loaded"]["sleepers_running"] = sleepers.running()
    print()
    print("%-26s %12s %12s %12s %12s" % ("", "end-to-end", "module wall", "module CPU", "module RSS"))
    for phase in ("as_is", "loaded"):
        print(
            "%s (%d processes)"
            % ("host as it is" if phase == "as_is" else "with the sleepers", figures[phase]["processes"])
        )
        for name in ("ping", "setup", "oom_facts"):
            row = figures[phase][name]
            print(
                "  %-24s %10.3f s %10.3f s %10.3f s %8.1f MiB"
                % (name, row["end_to_end_s"], row["module_wall_s"], row["module_cpu_s"], row["module_peak_rss_mib"])
            )
    loaded = figures["loaded"]
    added = loaded["oom_facts"]["module_wall_s"] - figures["as_is"]["oom_facts"]["module_wall_s"]
    print(
        "  oom_facts module time added by %d processes: %.3f s"
        % (loaded["processes"] - figures["as_is"]["processes"], added)
    )
    checks = [
        (
            "oom_facts faster than setup with the sleepers (module process)",
            loaded["oom_facts"]["module_wall_s"] < loaded["setup"]["module_wall_s"],
        ),
        (
            "oom_facts faster than setup with the sleepers (end-to-end)",
            loaded["oom_facts"]["end_to_end_s"] < loaded["setup"]["end_to_end_s"],
        ),
    ]
    for text, ok in checks:
        print("  %s  %s" % ("PASS" if ok else "FAIL", text))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 1 if args.strict and not all(ok for _text, ok in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
