# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Memory history from sysstat: ``sadf -j`` over the daily ``sa`` files, summarised on the managed host.

PRIVATE to the oomguard.memory collection. No compatibility promise.

The host's own ``sadf`` reads its own files (the binary format is bound to the sysstat version). Only the
memory activity (``-r``) is asked for; ``sadf -j`` prints it as::

    {"sysstat": {"hosts": [{"nodename": ..., "statistics": [
        {"timestamp": {"date": "2026-12-01", "time": "21:47:19", "utc": 1, "interval": 600},
         "memory": {"memfree": ..., "avail": ..., "memused": ..., ...}}, ...],
      "restarts": [...]}]}}

Memory in use is taken as MemTotal - avail (``memused`` changed meaning in sysstat 12.7.8, ``avail`` did not);
MemTotal is the host's current one. A day is a UTC day.

sysstat's sa2 compresses the files older than COMPRESSAFTER days (when HISTORY keeps them that long) with its ZIP
program. ``sadf`` reads only plain files, so a C(.gz), C(.bz2) or C(.xz) one is decompressed, in bounded chunks and
up to MAX_SA_BYTES, into a private temporary file that is removed after ``sadf`` read it; the other suffixes sa2
may leave (C(.Z), C(.lz), C(.lzo)) have no reader in the standard library and are named in a warning (so are C(.xz)
and C(.bz2) files under an interpreter built without lzma or bz2).
"""

from __future__ import annotations

import calendar
import contextlib
import datetime
import errno
import gzip
import json
import os
import re
import tempfile
import time
import zlib

# An interpreter built without liblzma or libbz2 lacks these modules; its files of that kind are named in a warning.
try:
    import bz2
except ImportError:
    bz2 = None
try:
    import lzma
except ImportError:
    lzma = None

SA_DIRS = ("/var/log/sysstat", "/var/log/sa")
DAYS_MAX = 31
HIGH_USE = 0.9
MAX_SA_BYTES = 256 << 20
_SA_NAME = re.compile(r"^sa(?:\d{2}|\d{8})(?P<suffix>\.(?:Z|gz|bz2|xz|lz|lzo))?$")
DECOMPRESSORS = {".gz": gzip.open}
DECOMPRESS_ERRORS = (OSError, EOFError, zlib.error)
if bz2 is not None:
    DECOMPRESSORS[".bz2"] = bz2.open
if lzma is not None:
    DECOMPRESSORS[".xz"] = lzma.open
    DECOMPRESS_ERRORS += (lzma.LZMAError,)
_CHUNK = 1 << 20
_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
_TIME = re.compile(r"^\d\d:\d\d:\d\d$")


def empty_history(days, reason):
    """The memory_history fact when there is nothing to summarise, with the reason."""
    return {
        "available": False,
        "reason": reason,
        "window_days": days,
        "days": 0,
        "samples": 0,
        "coverage_pct": 0.0,
        "first": None,
        "last": None,
        "mem_total_kb": 0,
        "peak_used_kb": 0,
        "p90_daily_peak_kb": 0,
        "share_ge_90_pct": 0.0,
        "daily_peaks": [],
        "files": [],
    }


def sa_files(directories, days, now, refused=None):
    """The daily sa files (``saDD``, ``saYYYYMMDD``, compressed or not) changed in the last C(days) + 1 days.

    Directories this user may not list are appended to the list C(refused) (when given) with the error.
    """
    cutoff = now - (days + 1) * 86400
    found = []
    for directory in directories:
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            if refused is not None and exc.errno in (errno.EACCES, errno.EPERM):
                refused.append("%s (%s)" % (directory, exc.strerror))
            continue
        for entry in entries:
            if not _SA_NAME.match(entry.name):
                continue
            try:
                if entry.is_file() and entry.stat().st_mtime >= cutoff:
                    found.append((entry.stat().st_mtime, entry.path))
            except OSError:
                continue
    return [path for _mtime, path in sorted(found)]


def _epoch(stamp):
    date, clock = stamp.get("date"), stamp.get("time")
    if not (isinstance(date, str) and isinstance(clock, str) and _DATE.match(date) and _TIME.match(clock)):
        return None
    try:
        parsed = datetime.datetime.strptime(date + " " + clock, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    if stamp.get("utc", 1):
        return calendar.timegm(parsed.timetuple())
    return time.mktime(parsed.timetuple())


def parse_sadf_json(text):
    """Return the samples of one ``sadf -j ... -- -r`` output as a list of (epoch seconds, interval, avail kB)."""
    try:
        document = json.loads(text)
        hosts = document["sysstat"]["hosts"]
    except (ValueError, KeyError, TypeError):
        return []
    samples = []
    for host in hosts if isinstance(hosts, list) else []:
        statistics = host.get("statistics") if isinstance(host, dict) else None
        for entry in statistics if isinstance(statistics, list) else []:
            if not isinstance(entry, dict):
                continue
            stamp, memory = entry.get("timestamp"), entry.get("memory")
            if not isinstance(stamp, dict) or not isinstance(memory, dict):
                continue
            epoch = _epoch(stamp)
            avail, interval = memory.get("avail"), stamp.get("interval", 0)
            if epoch is None or not isinstance(avail, int) or not isinstance(interval, int):
                continue
            samples.append((epoch, max(interval, 0), avail))
    return samples


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat()


def summarize(samples, mem_total_kb, days, now):
    """Summarise samples of the last C(days) days against MemTotal (kB) into the memory_history fact."""
    start = now - days * 86400
    unique = sorted({sample[0]: sample for sample in samples if start <= sample[0] <= now}.values())
    if not unique:
        return empty_history(days, "the sysstat files hold no memory samples of the last %d days" % days)
    if not mem_total_kb:
        return empty_history(days, "MemTotal is unknown")
    peaks = {}
    high = 0
    covered = 0
    for epoch, interval, avail in unique:
        used = max(mem_total_kb - avail, 0)
        day = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).date().isoformat()
        peaks[day] = max(peaks.get(day, 0), used)
        high += used >= HIGH_USE * mem_total_kb
        covered += interval
    ordered = sorted(peaks.values())
    p90 = ordered[max(-(-len(ordered) * 9 // 10) - 1, 0)]
    history = empty_history(days, None)
    history.update(
        {
            "available": True,
            "days": len(peaks),
            "samples": len(unique),
            "coverage_pct": round(min(covered / (days * 86400.0), 1.0) * 100, 2),
            "first": _iso(unique[0][0]),
            "last": _iso(unique[-1][0]),
            "mem_total_kb": mem_total_kb,
            "peak_used_kb": max(ordered),
            "p90_daily_peak_kb": p90,
            "share_ge_90_pct": round(high * 100.0 / len(unique), 1),
            "daily_peaks": [{"date": day, "used_kb": peaks[day]} for day in sorted(peaks)],
        }
    )
    return history


def memory_history(run_command, sadf, directories, days, mem_total_kb, now=None, tmpdir=None):
    """Run the host's C(sadf) over its sa files of the last C(days) days and summarise them.

    Compressed files are decompressed first into the directory that C(tmpdir()) returns, called only then (default:
    the system's temporary directory). Returns ``(history, warnings)``; the history says why when it is not
    available.
    """
    now = time.time() if now is None else now
    if days <= 0:
        return empty_history(days, "not gathered (memory_history_days is 0)"), []
    if not sadf:
        return empty_history(days, "sysstat is not installed (no sadf command)"), []
    refused = []
    files = sa_files(directories, days, now, refused)
    if not files and refused:
        return empty_history(
            days,
            "uid %d may not list %s; run the task as root (become: true)" % (os.geteuid(), ", ".join(refused)),
        ), []
    if not files:
        return empty_history(
            days,
            "no sysstat file of the last %d days in %s (is sysstat collecting? on Debian: "
            "systemctl enable --now sysstat sysstat-collect.timer)" % (days, ", ".join(directories)),
        ), []
    samples = []
    warnings = []
    read = []
    for path in files:
        with readable_by_sadf(path, tmpdir) as (plain, problem):
            if problem:
                warnings.append(problem)
                continue
            rc, out, err = run_command([sadf, "-j", plain, "--", "-r"])
        if rc != 0:
            reason = (err or out or "rc=%d" % rc).replace(plain, path).strip()[:200]
            warnings.append("sadf cannot read %s: %s" % (path, reason))
            continue
        samples.extend(parse_sadf_json(out))
        read.append(path)
    history = summarize(samples, mem_total_kb, days, now)
    history["files"] = read
    return history, warnings


@contextlib.contextmanager
def readable_by_sadf(path, tmpdir=None):
    """``(a path sadf can read, None)`` for a sa file, or ``(None, warning)``; a compressed file is decompressed
    into a temporary file in the directory C(tmpdir()) returns (None: the system's), removed on exit."""
    suffix = _SA_NAME.match(os.path.basename(path)).group("suffix")
    if not suffix:
        yield path, None
        return
    opener = DECOMPRESSORS.get(suffix)
    if opener is None:
        yield None, "%s is compressed with %s, which has no reader here; not summarised" % (path, suffix[1:])
        return
    try:
        fd, copy = tempfile.mkstemp(prefix="oomguard-sa-", dir=tmpdir() if tmpdir else None)
    except OSError as exc:
        yield None, "cannot decompress %s: no temporary file (%s)" % (path, exc)
        return
    try:
        problem = _decompress(opener, path, fd)
        yield (None, problem) if problem else (copy, None)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(copy)


def _decompress(opener, path, fd):
    """Decompress C(path) into the open file C(fd) (closed here), at most MAX_SA_BYTES; a warning, or None."""
    copied = 0
    try:
        with os.fdopen(fd, "wb") as target, opener(path, "rb") as source:
            while True:
                chunk = source.read(_CHUNK)
                if not chunk:
                    return None
                copied += len(chunk)
                if copied > MAX_SA_BYTES:
                    return "%s holds more than %d MiB once decompressed; not summarised" % (path, MAX_SA_BYTES >> 20)
                target.write(chunk)
    except DECOMPRESS_ERRORS as exc:
        return "cannot decompress %s: %s" % (path, exc)
