# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark of the structured log_paths formats: journal JSON and export, Cloud Logging export, serial text.

    python tests/benchmarks/bench_log_formats.py             # 200,000 entries per format (about 100 MB each)
    python tests/benchmarks/bench_log_formats.py --quick     # 20,000 entries

For each format it writes a synthetic file (one kernel kill every 10,000 entries, the rest ordinary service
messages; seven VMs in the Cloud Logging export, newest entry first as gcloud writes it) into .cache/bench/,
then runs, each in its own process so that the peak RSS is the reader's own:

* ``grep -c 'Killed process' FILE``: the floor for reading the file at all;
* a naive reader of the same file: ``json.loads`` of every line (journal JSON), of the whole file (Cloud
  Logging), or ``readline`` of every line (export, serial text);
* ``read_log_file()`` of the collection's module_utils, as oom_facts runs it for a ``log_paths`` file.

It prints CPU time, wall time, MB/s and peak RSS of each, for the full file and for a tenth of it (the reader's
RSS must not grow with the file), and checks that the reader found exactly the kills that were written.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO_ROOT / ".cache" / "collections"
CACHE = REPO_ROOT / ".cache" / "bench"
KILL_EVERY = 10000
KILL = (
    "Out of memory: Killed process %d (worker) total-vm:2097152kB, anon-rss:1048576kB, file-rss:512kB,"
    " shmem-rss:0kB, UID:1001 pgtables:2100kB oom_score_adj:0"
)
NOISE = "Started session-%d.scope - Session %d of User alice; pam_unix(sshd:session): session opened for user alice"

MEASURE = r"""
import json, resource, sys, time
collections, fmt, path = sys.argv[1:4]
sys.path.insert(0, collections)
started, cpu = time.perf_counter(), time.process_time()
kills = None
if fmt == "grep":
    import subprocess
    subprocess.run(["grep", "-c", "Killed process", path], stdout=subprocess.DEVNULL, check=False)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_used = usage.ru_utime + usage.ru_stime
    rss = usage.ru_maxrss
elif fmt.startswith("naive-"):
    with open(path, "rb") as handle:
        if fmt == "naive-lines":
            for line in handle:
                json.loads(line)
        elif fmt == "naive-whole":
            json.loads(handle.read())
        else:
            for line in handle:
                pass
else:
    from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import OomLogParser
    from ansible_collections.oomguard.memory.plugins.module_utils._oom_sources import read_log_file
    parser = OomLogParser(max_kills=0)
    report = read_log_file(parser, path, path)
    kills = parser.result()["kill_count"]
if fmt != "grep":
    cpu_used = time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall": time.perf_counter() - started, "cpu": cpu_used, "rss_kb": rss, "kills": kills}))
"""


def journal_entry(index):
    kernel = index % KILL_EVERY == KILL_EVERY // 2
    entry = {
        "__CURSOR": "s=8f7e6d5c4b3a29188796a5b4c3d2e1f0;i=%x" % index,
        "__REALTIME_TIMESTAMP": str(1772532000000000 + index * 1000),
        "__MONOTONIC_TIMESTAMP": str(4000000000 + index * 1000),
        "_BOOT_ID": "5e1f3c2a9b8d4e7fa6c0d1e2f3a4b5c6",
        "_MACHINE_ID": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "_HOSTNAME": "vm-1",
        "PRIORITY": "3" if kernel else "6",
        "SYSLOG_FACILITY": "0" if kernel else "4",
        "SYSLOG_IDENTIFIER": "kernel" if kernel else "systemd-logind",
        "_TRANSPORT": "kernel" if kernel else "journal",
    }
    if kernel:
        entry["_SOURCE_MONOTONIC_TIMESTAMP"] = entry["__MONOTONIC_TIMESTAMP"]
        entry["MESSAGE"] = KILL % (1000 + index // KILL_EVERY)
    else:
        entry.update(_PID="412", _UID="0", _COMM="systemd-logind", _SYSTEMD_UNIT="systemd-logind.service")
        entry["MESSAGE"] = NOISE % (index, index)
    return entry


def log_entry(index, journal):
    vm = index % 7
    stamp = 1772532000 + index // 1000
    tag = "kernel" if journal["_TRANSPORT"] == "kernel" else "systemd-logind[412]"
    return {
        "insertId": "%012x" % index,
        "labels": {"compute.googleapis.com/resource_name": "vm-%d" % vm},
        "logName": "projects/example-prod/logs/syslog",
        "receiveTimestamp": "2026-03-03T10:00:00.000000000Z",
        "resource": {
            "labels": {"instance_id": str(1000 + vm), "project_id": "example-prod", "zone": "us-central1-a"},
            "type": "gce_instance",
        },
        "textPayload": "Mar  3 10:11:12 vm-%d %s: %s" % (vm, tag, journal["MESSAGE"]),
        "timestamp": "2026-03-03T%02d:%02d:%02d.%06dZ"
        % (stamp // 3600 % 24, stamp // 60 % 60, stamp % 60, index % 1000 * 1000),
    }


def generate(directory, entries):
    """Write the four files (and their tenth-size variants) unless they exist; return {format: path}."""
    paths = {}
    for size, suffix in ((entries, ""), (entries // 10, "-tenth")):
        names = {fmt: directory / ("formats-%d%s.%s" % (size, suffix, ext)) for fmt, ext in EXTENSIONS.items()}
        paths[suffix] = names
        if all(path.exists() for path in names.values()):
            continue
        directory.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            as_json = stack.enter_context(open(names["journal-json"], "w"))
            export = stack.enter_context(open(names["journal-export"], "wb"))
            cloud = stack.enter_context(open(names["cloud-logging-json"], "w"))
            serial = stack.enter_context(open(names["serial-text"], "wb"))
            cloud.write("[\n")
            for index in reversed(range(size)):
                journal = journal_entry(index)
                as_json.write(json.dumps(journal, separators=(",", ":")) + "\n")
                export.write(b"".join(b"%s=%s\n" % (k.encode(), v.encode()) for k, v in journal.items()) + b"\n")
                text = json.dumps(log_entry(index, journal), indent=2, sort_keys=True)
                cloud.write(("" if index == size - 1 else ",\n") + "\n".join("  " + line for line in text.split("\n")))
                seconds = 4000 + index / 1000.0
                console = "[%12.6f] %s" % (seconds, journal["MESSAGE"]) if journal["_TRANSPORT"] == "kernel" else None
                line = console or "\x1b[0;32m  OK  \x1b[0m] %s" % journal["MESSAGE"]
                serial.write(line.encode() + b"\r\n")
            cloud.write("\n]\n")
    return paths


EXTENSIONS = {
    "journal-json": "json",
    "journal-export": "export",
    "cloud-logging-json": "cloud.json",
    "serial-text": "serial.txt",
}
NAIVE = {
    "journal-json": "naive-lines",
    "journal-export": "naive-readline",
    "cloud-logging-json": "naive-whole",
    "serial-text": "naive-readline",
}


def measure(kind, path):
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(COLLECTIONS), kind, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--entries", type=int, default=200000)
    parser.add_argument("--quick", action="store_true", help="20,000 entries")
    args = parser.parse_args()
    entries = 20000 if args.quick else args.entries
    paths = generate(CACHE, entries)
    sizes = {"": entries, "-tenth": entries // 10}
    expected = {suffix: len(range(KILL_EVERY // 2, size, KILL_EVERY)) for suffix, size in sizes.items()}
    failed = False
    print("%-20s %-16s %8s %8s %9s %9s %8s" % ("format", "reader", "MB", "cpu s", "wall s", "MB/s cpu", "RSS MB"))
    for fmt in EXTENSIONS:
        for suffix in ("", "-tenth"):
            path = paths[suffix][fmt]
            megabytes = os.path.getsize(path) / 1e6
            for kind in ("grep", NAIVE[fmt], "read_log_file"):
                result = measure(kind if kind != "read_log_file" else "reader", path)
                print(
                    "%-20s %-16s %8.1f %8.2f %9.2f %9.1f %8.1f"
                    % (
                        fmt + suffix,
                        kind,
                        megabytes,
                        result["cpu"],
                        result["wall"],
                        megabytes / max(result["cpu"], 1e-3),
                        result["rss_kb"] / 1024.0,
                    )
                )
                if result["kills"] is not None and result["kills"] != expected[suffix]:
                    print("  FAIL: %d kills found, %d written" % (result["kills"], expected[suffix]))
                    failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
