# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Log sources for the OOM parser: the journal, /dev/kmsg, dmesg, syslog files and copied log files.

PRIVATE to the oomguard.memory collection. No compatibility promise.

Bounds, whatever the input: files are read through _log_file (regular files only, fixed-size blocks, a line
never held beyond MAX_LINE_CHARS bytes, gzip streamed and capped at MAX_GZIP_BYTES decompressed bytes with a
warning); command output is read the same way. The format of a file is told by its content: text logs are
scanned here, structured exports go to _log_formats, which also reads the live journal's JSON.

A reader raises SourceUnavailable with a status (C(absent), C(unreadable), C(unrecognized)) and a reason
when it cannot read its source at all, and records a C(partial) status with a warning when it could read
only the start (a truncated or corrupt gzip file, a gzip file over the cap, an export cut inside an entry).
"""

from __future__ import annotations

import datetime
import errno
import glob
import json
import os
import stat
import subprocess
import tempfile

from ansible_collections.oomguard.memory.plugins.module_utils._host import read_boot_id, read_boot_time, read_hostname
from ansible_collections.oomguard.memory.plugins.module_utils._journal_files import check_journal_files
from ansible_collections.oomguard.memory.plugins.module_utils._log_file import (
    LogDamage,
    LogFile,
    SourceUnavailable,
    blocks,
    decode,
    kind_of_mode,
    lines,
    open_error,
)
from ansible_collections.oomguard.memory.plugins.module_utils._log_formats import (
    FORMAT_JOURNAL_JSON,
    FORMAT_TEXT,
    FORMAT_UNRECOGNIZED,
    HEAD_SIZE,
    JOURNAL_FIELDS,
    MAX_ENTRY_CHARS,
    FormatReport,
    describe_format,
    iter_lines,
    journal_stamp,
)
from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import (
    JOURNAL_GREP_PATTERN,
    MAX_KILLS_LIMIT,
    MAX_LINE_CHARS,
    RECORD_MARKERS,
    SCAN_NEEDLES,
    OomLogParser,
    YearGuesser,
    has_log_prefix,
    line_may_matter,
)

C_LOCALE = {"LC_ALL": "C", "LANGUAGE": "C", "LANG": "C"}
SYSLOG_NAMES = ("syslog", "messages", "kern.log")
AUTO_ORDER = ("journal", "kmsg", "dmesg", "syslog")
# The live sources that carry the kernel's own records of this boot.
KERNEL_LOG_SOURCES = ("journal", "kmsg", "dmesg")
JOURNAL_DIRS = ("/run/log/journal", "/var/log/journal")
# The journal matches: every record that could carry an OOM kill, trusted or forged; provenance decides.
JOURNAL_MATCHES = (
    "_TRANSPORT=kernel",
    "_SYSTEMD_UNIT=systemd-oomd.service",
    "_SYSTEMD_UNIT=earlyoom.service",
    "_PID=1",
    "SYSLOG_IDENTIFIER=kernel",
    "SYSLOG_IDENTIFIER=systemd-oomd",
    "SYSLOG_IDENTIFIER=earlyoom",
    "SYSLOG_IDENTIFIER=systemd",
)
_SCAN_BYTES = tuple(needle.encode("ascii") for needle in SCAN_NEEDLES)
_NEEDLE_BYTES = {}


def _markers_by_offset():
    """For each needle, the record markers holding it, grouped by the needle's offset in them."""
    table = {}
    for needle in _SCAN_BYTES:
        groups = {}
        for marker in RECORD_MARKERS:
            raw = marker.encode("ascii")
            offset = raw.find(needle)
            if offset != -1:
                groups.setdefault(offset, []).append(raw)
        table[needle] = tuple((offset, tuple(markers)) for offset, markers in sorted(groups.items()))
    return table


_MARKERS = _markers_by_offset()
_KILL_LETTERS = (ord("K"), ord("k"))


class LogPathError(ValueError):
    """A log_paths entry that must not be read (relative, missing, not a regular file); the message names it."""


def _env():
    env = dict(os.environ)
    env.update(C_LOCALE)
    return env


def _needle(text):
    found = _NEEDLE_BYTES.get(text)
    if found is None:
        found = _NEEDLE_BYTES[text] = text.encode("utf-8")
    return found


# log_paths: what may be read


def check_log_paths(paths):
    """Check every log_paths entry before anything is read; return the paths to read and the duplicates.

    Each entry must be an absolute path to a regular file (plain or gzip-compressed). Returns
    C((unique, duplicates)): the paths in order, each file once, and a dict from every other name of an
    already listed file to that first name. Raises LogPathError naming the first offending path.
    """
    unique, duplicates, seen = [], {}, {}
    for path in paths:
        if not isinstance(path, str) or not path:
            raise LogPathError("log_paths: %r is not a path" % (path,))
        if "\x00" in path:
            raise LogPathError("log_paths: %r contains a NUL byte" % path)
        if not os.path.isabs(path):
            raise LogPathError(
                "log_paths: %s is a relative path; give an absolute path (a relative one would resolve in "
                "Ansible's temporary directory on the managed host)" % path
            )
        try:
            found = os.stat(path)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                raise LogPathError("log_paths: %s does not exist" % path) from None
            raise LogPathError("log_paths: cannot read %s: %s" % (path, exc.strerror or exc)) from None
        if not stat.S_ISREG(found.st_mode):
            raise LogPathError(
                "log_paths: %s is %s; only regular log files (plain or .gz) can be read"
                % (path, kind_of_mode(found.st_mode))
            )
        identity = (found.st_dev, found.st_ino)
        if identity in seen:
            if path != seen[identity]:
                duplicates[path] = seen[identity]
            continue
        seen[identity] = path
        unique.append(path)
    return unique, duplicates


class _TextScanner:
    """Feed the lines of a text log to the parser: the lines holding SCAN_NEEDLES found with bytes.find, and
    before each of them the lines the parser waits for (C(OomLogParser.wanted_needles())) in the text since
    the line before."""

    def __init__(self, parser, source, years, kernel_only):
        self.parser = parser
        self.source = source
        self.years = years
        self.kernel_only = kernel_only

    def _anchor_starts(self, block, low, high):
        """Start offsets of the lines that hold a record marker within their first MAX_LINE_CHARS bytes, in order."""
        found = []
        for needle in _SCAN_BYTES:
            starts = []
            markers = _MARKERS[needle]
            size = len(needle)
            is_ill = needle == b"ill"
            index = block.find(needle, low, high)
            while index != -1:
                if is_ill and block[index - 1] not in _KILL_LETTERS:
                    # pgrefill, will, still: every marker holding "ill" has "Kill" or "kill"
                    index = block.find(needle, index + size, high)
                    continue
                for offset, prefixes in markers:
                    if index - offset >= low and block.startswith(prefixes, index - offset):
                        break
                else:
                    index = block.find(needle, index + size, high)
                    continue
                start = _line_start(block, low, index)
                if start < 0 or index + size > start + MAX_LINE_CHARS:
                    # beyond the cut of an over-long line
                    newline = block.find(b"\n", index, high)
                    index = block.find(needle, newline, high) if newline != -1 else -1
                    continue
                starts.append(start)
                newline = block.find(b"\n", index, high)
                if newline == -1:
                    break
                index = block.find(needle, newline, high)
            if starts:
                found.append(starts)
        if not found:
            return []
        if len(found) == 1:
            return found[0]
        return sorted(set(found[0]).union(*found[1:]))

    def _line_at(self, block, start, high):
        """The text of the line at C(start) (cut to MAX_LINE_CHARS) and the offset after it."""
        end = block.find(b"\n", start, high)
        if end == -1:
            end = high
        return decode(block[start : min(end, start + MAX_LINE_CHARS)]), end + 1

    def feed_block(self, block, low, high):
        parser = self.parser
        prepare = parser.prepare
        source = self.source
        lines = []
        for start in self._anchor_starts(block, low, high):
            text, after = self._line_at(block, start, high)
            line = prepare(text, source, self.kernel_only, self.years)
            if line is not None:
                lines.append((start, after, line))
        roles = {}

        def kill_ahead(position):
            def next_is_kill(host):
                # Whether the host's next kill, header or "no killable" line from here on is a kill: a panic line
                # is only kept when no kill of its host follows it, so it need not be looked for before one.
                for ahead in range(position, len(lines)):
                    line = lines[ahead][2]
                    if line.host != host:
                        continue
                    role = roles.get(ahead)
                    if role is None:
                        role = roles[ahead] = parser.classify(line)
                    if role != "other":
                        return role == "kill"
                return None

            return next_is_kill

        done = low
        waiting = parser.waiting
        for position, (start, after, line) in enumerate(lines):
            if waiting(source):
                self._lazy(block, done, start, kill_ahead(position))
            parser.feed(line)
            done = after
        if waiting(source):
            self._lazy(block, done, high, None)

    def _lazy(self, block, low, high, next_is_kill):
        """Feed the lines in block[low:high] that hold a needle the parser waits for, in order."""
        parser = self.parser
        while low < high:
            wanted = parser.wanted_needles(self.source, next_is_kill)
            if not wanted:
                return
            best, size = -1, 0
            for needle in wanted:
                raw = _needle(needle)
                index = block.find(raw, low, high)
                if index != -1 and (best == -1 or index < best):
                    best, size = index, len(raw)
            if best == -1:
                return
            start = _line_start(block, low, best)
            if start < 0:
                newline = block.find(b"\n", best, high)
                low = high if newline == -1 else newline + 1
                continue
            text, low = self._line_at(block, start, high)
            if best + size <= start + MAX_LINE_CHARS:
                parser.feed_text(text, self.source, self.kernel_only, self.years)


def _line_start(block, low, index):
    """The start of the line holding C(index), or -1 when it starts more than MAX_LINE_CHARS before it."""
    newline = block.rfind(b"\n", max(low, index - MAX_LINE_CHARS), index)
    if newline != -1:
        return newline + 1
    return low if index - low <= MAX_LINE_CHARS else -1


def _first_time(head, source, years):
    """The time of the first line of a text file that carries one."""
    parser = OomLogParser(max_kills=0)
    for raw in head.split(b"\n")[:50]:
        line = parser.prepare(decode(raw[:MAX_LINE_CHARS]), source, years=years)
        if line is not None and line.prefix_parsed and line.timestamp is not None:
            return line.timestamp
    return None


def read_log_file(parser, path, source, kernel_only=False, warnings=None, gzip_limit=None):
    """Feed the OOM records of one plain or gzip-compressed log file to the parser; return its FormatReport.

    The format is told by the content (_log_formats.describe_format()): text logs are scanned here, journal and
    Cloud Logging exports and serial port output are read by _log_formats.iter_lines(). The report's C(partial)
    is True when only the start could be read (the reason is appended to C(warnings)). Raises
    SourceUnavailable when nothing could be read, or when the file is in no known format ('unrecognized').
    """
    warnings = [] if warnings is None else warnings
    warned = len(warnings)
    with LogFile(path, warnings, gzip_limit) as log:
        fmt, reason = describe_format(log.head[:HEAD_SIZE])
        if fmt == FORMAT_UNRECOGNIZED:
            raise SourceUnavailable("unrecognized", "%s is in no log format this module reads: %s" % (path, reason))
        years = YearGuesser(datetime.datetime.fromtimestamp(log.stat.st_mtime))
        report = FormatReport(fmt)
        before = parser.records_by_source.get(source, 0)
        try:
            if fmt == FORMAT_TEXT:
                report.entries = None
                scanner = _TextScanner(parser, source, years, kernel_only)
                for block, low, high, _cut in blocks(log.readinto):
                    scanner.feed_block(block, low, high)
            else:
                for line in iter_lines(log, fmt, source, report, years):
                    parser.note_time(line.timestamp)
                    parser.feed(line)
        except LogDamage as damage:
            warnings.append("%s; the kills before the damage are counted" % damage.reason)
        except OSError as exc:
            raise open_error(path, exc) from None
        finally:
            parser.end_source(source)
        if report.truncated:
            warnings.append("%s ends inside an entry (cut short); the kills before it are counted" % path)
        report.partial = len(warnings) > warned
        if report.untrusted:
            parser.note_untrusted(source, report.untrusted)
        head = log.head
    empty = not head.strip()
    if fmt == FORMAT_TEXT:
        parser.note_time(_first_time(head, source, years))
        if (
            parser.records_by_source.get(source, 0) == before
            and not empty
            and not has_log_prefix(decode(raw[:MAX_LINE_CHARS]) for raw in head.split(b"\n")[:200])
        ):
            raise SourceUnavailable(
                "unrecognized",
                "%s is in no log format this module reads: no line with a log prefix or an OOM record" % path,
            )
    if empty and report.partial:
        raise SourceUnavailable("unreadable", warnings[-1])
    return report


# Syslog files of the host


def _rotation_key(path, current):
    suffix = path[len(current) :]
    if suffix.startswith("."):
        number = suffix[1:].split(".", 1)[0]
        if number.isdigit() and suffix[1 + len(number) :] in ("", ".gz"):
            return (1, -int(number))
    elif suffix.startswith("-"):
        date = suffix[1:].split(".", 1)[0]
        if len(date) == 8 and date.isdigit() and suffix[9:] in ("", ".gz"):
            return (0, int(date))
    return None


def syslog_files(log_dir="/var/log"):
    """Return the syslog files of the host, rotated ones included, oldest first, for the best-suited name.

    C(syslog) and C(messages) carry kernel and userspace lines (systemd-oomd, earlyoom); C(kern.log) only
    the kernel's, so it is used only where neither of the others exists. Rotated names: C(.1), C(.2.gz), and
    logrotate's dateext (C(-20260301), C(-20260301.gz)).
    """
    for name in SYSLOG_NAMES:
        current = os.path.join(log_dir, name)
        candidates = glob.glob(glob.escape(current) + ".*") + glob.glob(glob.escape(current) + "-*")
        keyed = sorted((key, path) for path in candidates for key in [_rotation_key(path, current)] if key)
        rotated = [path for _key, path in keyed]
        if os.path.exists(current):
            rotated.append(current)
        if rotated:
            return rotated
    return []


def read_syslog(parser, log_dir="/var/log", warnings=None):
    """Feed every syslog file (rotated and compressed ones first) to the parser; return the paths read."""
    paths = syslog_files(log_dir)
    if not paths:
        raise SourceUnavailable("absent", "no syslog, messages or kern.log file in %s" % log_dir)
    read = []
    for path in paths:
        kernel_only = os.path.basename(path).startswith("kern.log")
        try:
            read_log_file(parser, path, "syslog", kernel_only=kernel_only, warnings=warnings)
        except SourceUnavailable as exc:
            if exc.status == "unrecognized":
                read.append(path)
                continue
            if warnings is not None:
                warnings.append("syslog: %s" % exc.reason)
            continue
        read.append(path)
    if not read:
        raise SourceUnavailable("unreadable", "none of %s could be read" % ", ".join(paths))
    return read


# Commands


class _Pipeline:
    """Run a command and read its standard output in bounded lines; stderr goes to a temporary file."""

    def __init__(self, argv):
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 - lives until finish(), after the stream is read
        # run_command() buffers the whole output in memory; the journal and dmesg must be streamed in bounded lines.
        self.process = subprocess.Popen(  # pylint: disable=ansible-bad-function
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            env=_env(),
            close_fds=True,
        )

    def lines(self, limit):
        """Lines of at most C(limit) bytes; (line, True) when it was cut."""
        return lines(self.process.stdout.readinto1, limit)

    def finish(self):
        self.process.stdout.close()
        rc = self.process.wait()
        self.errors.seek(0)
        message = decode(self.errors.read(4096)).strip()
        self.errors.close()
        return rc, message


def _stamp_from_uptime(line, epoch):
    if line.timestamp is None and line.uptime_us is not None and epoch is not None:
        line.timestamp = datetime.datetime.fromtimestamp(
            epoch + line.uptime_us / 1e6, datetime.timezone.utc
        ).astimezone()


def _feed_kernel_records(parser, texts, source, host, boot):
    """Feed the records of /dev/kmsg or dmesg: kernel records only, with this boot's id, and their time from the
    boot time and the kernel's own. The first record's time is noted: how far back the ring buffer reaches."""
    epoch = read_boot_time()
    boot = boot or read_boot_id()
    first = True
    for text in texts:
        if first:
            first = False
            line = parser.prepare(text, source, kernel_only=True)
            if line is not None:
                _stamp_from_uptime(line, epoch)
                parser.note_time(line.timestamp)
        if not line_may_matter(text):
            continue
        line = parser.prepare(text, source, kernel_only=True)
        if line is None or line.kernel is not True:
            continue
        line.boot = boot
        line.host = host
        _stamp_from_uptime(line, epoch)
        parser.feed(line)


def _kmsg_records(fd, path):
    """The records of /dev/kmsg, one per read, until the ring buffer's end."""
    while True:
        try:
            record = os.read(fd, 8192)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                continue
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise SourceUnavailable("unreadable", "cannot read %s: permission denied" % path) from None
            raise SourceUnavailable("unreadable", "error reading %s: %s" % (path, exc.strerror)) from None
        if not record:
            return
        yield decode(record.split(b"\n", 1)[0][:MAX_LINE_CHARS])


def read_kmsg(parser, path="/dev/kmsg", host=None, boot=None):
    """Feed the kernel ring buffer from /dev/kmsg (one record per read) to the parser: kernel records only."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise SourceUnavailable(
                "unreadable", "cannot read %s: needs CAP_SYSLOG or root (kernel.dmesg_restrict)" % path
            ) from None
        raise open_error(path, exc) from None
    try:
        _feed_kernel_records(parser, _kmsg_records(fd, path), "kmsg", host, boot)
    finally:
        os.close(fd)
        parser.end_source("kmsg")


def read_dmesg(parser, dmesg, host=None, boot=None):
    """Feed the output of C(dmesg) to the parser: kernel records only."""
    if not dmesg:
        raise SourceUnavailable("absent", "the dmesg command is not installed")
    pipeline = _Pipeline([dmesg])
    try:
        texts = (decode(raw) for raw, _cut in pipeline.lines(MAX_LINE_CHARS))
        _feed_kernel_records(parser, texts, "dmesg", host, boot)
    finally:
        rc, message = pipeline.finish()
        parser.end_source("dmesg")
    if rc != 0:
        raise SourceUnavailable(
            "unreadable", "dmesg failed (rc=%d): %s" % (rc, message or "no message; kernel.dmesg_restrict=1?")
        )


# The journal


def _journal_argv(journalctl, since, with_grep):
    argv = [journalctl, "--no-pager", "--quiet", "--output=json", "--output-fields=" + ",".join(JOURNAL_FIELDS)]
    if since is not None:
        argv.append("--since=@%d" % int(since.timestamp()))
    if with_grep:
        argv.extend(["--grep=" + JOURNAL_GREP_PATTERN, "--case-sensitive=false"])
    for index, match in enumerate(JOURNAL_MATCHES):
        if index:
            argv.append("+")
        argv.append(match)
    return argv


def _journal_oldest(journalctl):
    """The time of the oldest entry the journal holds (reads one entry and stops)."""
    try:
        pipeline = _Pipeline([journalctl, "--no-pager", "--quiet", "--output=json", "--output-fields=MESSAGE"])
    except OSError:
        return None
    stamp = None
    try:
        for raw, cut in pipeline.lines(MAX_ENTRY_CHARS):
            if not cut:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    entry = None
                stamp = journal_stamp(entry) if isinstance(entry, dict) else None
            break
    finally:
        pipeline.process.terminate()
        pipeline.finish()
    return stamp


def read_journal(parser, journalctl, since=None, host=None):
    """Feed kernel, systemd-oomd, earlyoom and service-manager records of every retained boot from the journal.

    Only records whose provenance holds are fed (see _log_formats.journal_provenance()); the others are counted
    as untrusted when they look like OOM records. Returns a list of warnings (for example when only part of the
    journal is readable).
    """
    if not journalctl:
        raise SourceUnavailable("absent", "journalctl is not installed")
    check_journal_files(JOURNAL_DIRS)
    warnings = []
    report = FormatReport("journal")
    for with_grep in (True, False):
        pipeline = _Pipeline(_journal_argv(journalctl, since, with_grep))
        fed = 0
        try:
            for line in iter_lines(pipeline.process.stdout, FORMAT_JOURNAL_JSON, "journal", report):
                if line.host is None:
                    line.host = host
                parser.feed(line)
                fed += 1
        finally:
            rc, message = pipeline.finish()
            parser.end_source("journal")
        if rc != 0 and with_grep and fed == 0 and ("pattern" in message.lower() or "grep" in message.lower()):
            continue
        if rc == 1 and with_grep and fed == 0 and not message:
            # journalctl --grep exits 1, silently, when no entry matches: a journal without OOM kills.
            rc = 0
        break
    if rc != 0:
        if "No journal files" in message:
            raise SourceUnavailable("absent", "the journal holds no files: %s" % message)
        raise SourceUnavailable("unreadable", "journalctl failed (rc=%d): %s" % (rc, message))
    if "not seeing messages" in message or "Hint:" in message:
        warnings.append("journal: only part of the journal is readable by this user; run as root for all of it")
    if report.untrusted:
        parser.note_untrusted("journal", report.untrusted)
    parser.note_time(_journal_oldest(journalctl))
    return warnings


# Everything together, for oom_facts


def _live_source(parser, name, bins, since, local, warnings):
    detail = ""
    if name == "journal":
        warnings.extend(read_journal(parser, bins.get("journalctl"), since, host=local["host"]))
    elif name == "kmsg":
        read_kmsg(parser, host=local["host"], boot=local["boot"])
    elif name == "dmesg":
        read_dmesg(parser, bins.get("dmesg"), host=local["host"], boot=local["boot"])
    elif name == "syslog":
        detail = "read " + ", ".join(read_syslog(parser, warnings=warnings))
    return detail


def _try_live_source(parser, name, bins, since, local, warnings):
    try:
        return {"status": "ok", "detail": _live_source(parser, name, bins, since, local, warnings)}
    except SourceUnavailable as exc:
        return {"status": exc.status, "detail": exc.reason}


def gather_logs(
    module,
    log_sources,
    log_paths,
    since,
    max_kills,
    local_cgroup_prefixes=None,
    hostname=None,
    boot_id=None,
    booted=None,
):
    """Read the live log sources and the log files, and return the log part of the OOM facts.

    C(log_sources): names of AUTO_ORDER or 'auto' (the first of them the host has and can be read; in a
    container, C(local_cgroup_prefixes) not None, the journal and the first readable kernel log, since journald
    there has no kernel messages); C(log_paths): absolute paths of regular files (checked first: LogPathError).
    C(hostname) and C(boot_id) (default: this host's) are given to records of the live sources that do not name
    their own. Warnings go through C(module.warn()). Returns a dict with kills, kill_count,
    kill_count_by_killer, kill_count_by_kind, kill_count_by_unit, kill_count_by_source, kill_count_by_host,
    host_scope_kill_count, untrusted_records, kernel_kills_by_boot (local kernel kills per boot id, None for
    kills without one), kernel_kills_since_boot_without_id (those without one that this host logged since
    C(booted), when given), oom_panics, no_killable_count, oldest_record, sources and sources_unavailable.
    """
    paths, duplicates = check_log_paths(log_paths or [])
    bins = {name: module.get_bin_path(name) for name in ("journalctl", "dmesg")}
    local = {"host": hostname or read_hostname(), "boot": boot_id or read_boot_id()}
    parser = OomLogParser(
        max_kills=min(max_kills, MAX_KILLS_LIMIT),
        since=since,
        local_cgroup_prefixes=local_cgroup_prefixes,
        booted=booted,
        hostname=local["host"],
    )
    in_container = local_cgroup_prefixes is not None
    sources = {}
    warnings = []
    requested = list(log_sources or [])
    explicit = [name for index, name in enumerate(requested) if name != "auto" and name not in requested[:index]]
    for name in explicit:
        sources[name] = _try_live_source(parser, name, bins, since, local, warnings)
    if "auto" in requested:
        # the first of AUTO_ORDER the host has and can read: the journal or the ring buffer (kernel provenance)
        # where one is readable, syslog files only where neither is
        for name in AUTO_ORDER:
            if name not in sources:
                sources[name] = _try_live_source(parser, name, bins, since, local, warnings)
            if sources[name]["status"] == "ok" and not (in_container and name == "journal"):
                break
    auto = "auto" in requested
    for name, status in sources.items():
        status["format"] = name if status["status"] == "ok" else None
    for path in paths:
        file_warnings = []
        try:
            report = read_log_file(parser, path, path, warnings=file_warnings)
            sources[path] = {
                "status": "partial" if report.partial else "ok",
                "detail": "; ".join([report.detail(), *file_warnings]),
                "format": report.format,
            }
        except SourceUnavailable as exc:
            sources[path] = {"status": exc.status, "detail": exc.reason, "format": None}
        warnings.extend(file_warnings)
    for path, first in duplicates.items():
        sources[path] = {
            "status": "ok",
            "detail": "the same file as %s, read once" % first,
            "format": sources[first]["format"],
        }
    parsed = parser.result()
    for name, status in sources.items():
        status["kills"] = parsed["kill_count_by_source"].get(name, 0)
        status["untrusted"] = parsed["untrusted_by_source"].get(name, 0)
    unavailable = [name for name, status in sources.items() if status["status"] not in ("ok", "partial")]
    for name in unavailable:
        # the sources auto only tried are summed up below, when none of them could be read
        if name in paths or name in explicit:
            module.warn("log source %s: %s" % (name, sources[name]["detail"]))
    if auto and not any(sources.get(name, {}).get("status") in ("ok", "partial") for name in AUTO_ORDER):
        module.warn(
            "no live log source could be read (%s); OOM kills before now are unknown"
            % "; ".join(sources[name]["detail"] for name in AUTO_ORDER if name in sources)
        )
    for warning in warnings:
        module.warn(warning)
    return {
        "kills": parsed["kills"],
        "kill_count": parsed["kill_count"],
        "kill_count_by_killer": parsed["kill_count_by_killer"],
        "kill_count_by_kind": parsed["kill_count_by_kind"],
        "kill_count_by_unit": parsed["kill_count_by_unit"],
        "kill_count_by_source": parsed["kill_count_by_source"],
        "kill_count_by_host": parsed["kill_count_by_host"],
        "host_scope_kill_count": parsed["host_scope_kill_count"],
        "untrusted_records": parsed["untrusted_records"],
        "kernel_kills_by_boot": parsed["kernel_kills_by_boot"],
        "kernel_kills_since_boot_without_id": parsed["kernel_kills_since_boot_without_id"],
        "oom_panics": parsed["oom_panics"],
        "no_killable_count": parsed["no_killable_count"],
        "oldest_record": parsed["oldest_record"],
        "sources": sources,
        "sources_unavailable": unavailable,
    }
