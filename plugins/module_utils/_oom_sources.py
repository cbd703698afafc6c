# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Log sources for the OOM parser: the journal, /dev/kmsg, dmesg, syslog files and copied log files.

PRIVATE to the oomguard.memory collection. No compatibility promise.

Bounds, whatever the input: files are read in fixed-size blocks and a line is never held beyond
MAX_LINE_CHARS bytes (the rest of an over-long line is skipped); gzip files are streamed and stop after
MAX_GZIP_BYTES decompressed bytes (with a warning); command output is read the same way. Only regular
files are read (O_NONBLOCK and fstat after open, so a path swapped for a FIFO or a device is refused).

A reader raises SourceUnavailable with a status (C(absent), C(unreadable), C(unrecognized)) and a reason
when it cannot read its source at all, and records a C(partial) status with a warning when it could read
only the start (a truncated or corrupt gzip file, a gzip file over the cap).
"""

from __future__ import annotations

import datetime
import errno
import glob
import io
import json
import os
import stat
import subprocess
import tempfile
import zlib

from ansible_collections.oomguard.memory.plugins.module_utils._host import read_boot_id, read_boot_time, read_hostname
from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import (
    JOURNAL_GREP_PATTERN,
    KILLER_EARLYOOM,
    KILLER_OOMD,
    MAX_KILLS_LIMIT,
    MAX_LINE_CHARS,
    RECORD_MARKERS,
    SCAN_NEEDLES,
    Line,
    OomLogParser,
    YearGuesser,
    line_may_matter,
    looks_like_record,
)

C_LOCALE = {"LC_ALL": "C", "LANGUAGE": "C", "LANG": "C"}
BLOCK_SIZE = 1 << 22
MAX_GZIP_BYTES = 1 << 30
MAX_JSON_LINE_BYTES = 1 << 20
HEAD_BYTES = 1 << 16
SYSLOG_NAMES = ("syslog", "messages", "kern.log")
AUTO_ORDER = ("journal", "kmsg", "dmesg", "syslog")
# The live sources that carry the kernel's own records of this boot.
KERNEL_LOG_SOURCES = ("journal", "kmsg", "dmesg")
JOURNAL_DIRS = ("/run/log/journal", "/var/log/journal")
JOURNAL_FIELDS = (
    "MESSAGE",
    "SYSLOG_IDENTIFIER",
    "_TRANSPORT",
    "_SOURCE_MONOTONIC_TIMESTAMP",
    "_SYSTEMD_UNIT",
    "_SYSTEMD_USER_UNIT",
    "_UID",
    "_PID",
    "_HOSTNAME",
)
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
KILLER_UNITS = {"systemd-oomd.service": KILLER_OOMD, "earlyoom.service": KILLER_EARLYOOM}
# systemd-oomd runs as its own system user (systemd-oom), earlyoom's upstream unit as a DynamicUser.
SYSTEM_UID_MAX = 999
DYNAMIC_UID_RANGE = (61184, 65519)

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


class SourceUnavailable(Exception):
    """A log source that cannot be read; C(status) is 'absent', 'unreadable' or 'unrecognized'."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class LogPathError(ValueError):
    """A log_paths entry that must not be read (relative, missing, not a regular file); the message names it."""


def _env():
    env = dict(os.environ)
    env.update(C_LOCALE)
    return env


def _decode(raw):
    if isinstance(raw, memoryview):
        raw = raw.tobytes()
    return raw.decode("utf-8", errors="backslashreplace")


def _needle(text):
    found = _NEEDLE_BYTES.get(text)
    if found is None:
        found = _NEEDLE_BYTES[text] = text.encode("utf-8")
    return found


# log_paths: what may be read


def _kind_of_mode(mode):
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


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
                % (path, _kind_of_mode(found.st_mode))
            )
        identity = (found.st_dev, found.st_ino)
        if identity in seen:
            if path != seen[identity]:
                duplicates[path] = seen[identity]
            continue
        seen[identity] = path
        unique.append(path)
    return unique, duplicates


def _open_error(path, exc):
    if exc.errno == errno.ENOENT:
        return SourceUnavailable("absent", "%s does not exist" % path)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return SourceUnavailable("unreadable", "cannot read %s: permission denied (run as root)" % path)
    return SourceUnavailable("unreadable", "cannot read %s: %s" % (path, exc.strerror or exc))


def open_regular_file(path):
    """Open a file for reading without blocking on FIFOs or devices; (fd, stat) of a regular file only."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _open_error(path, exc) from None
    try:
        found = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise _open_error(path, exc) from None
    if not stat.S_ISREG(found.st_mode):
        os.close(fd)
        raise SourceUnavailable(
            "unreadable", "%s is %s; only regular log files can be read" % (path, _kind_of_mode(found.st_mode))
        )
    return fd, found


# Block readers: complete lines in a buffer, over-long lines cut, bounded memory


class _Damage(Exception):
    """The readable start of a file ended early; C(reason) says why."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class _GzipReader:
    """readinto() for a gzip file (several members too), at most C(limit) decompressed bytes.

    Damage (a truncated file, a corrupt stream, garbage after the last member) ends the text with _Damage after
    everything before it was returned: the decompressor is copied before each step, and a step that fails is
    replayed in small slices, so the text up to the damage is the same whatever the read sizes.
    """

    STEP_IN = 1 << 16
    STEP_OUT = 1 << 20
    REPLAY_SLICE = 256

    def __init__(self, fd, path, limit, warnings):
        self.fd = fd
        self.path = path
        self.limit = limit
        self.warnings = warnings
        self.total = 0
        self.decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.member_started = False
        self.pending = b""
        self.out = b""
        self.file_done = False
        self.damage = None

    def _read_input(self):
        if not self.file_done:
            try:
                data = os.read(self.fd, self.STEP_IN)
            except BlockingIOError:
                data = b""
            if data:
                return data
            self.file_done = True
        return b""

    def _step(self):
        if not self.pending:
            self.pending = self._read_input()
            if not self.pending:
                if self.member_started and not self.decompressor.eof:
                    self.damage = "%s is truncated after %d bytes of text" % (self.path, self.total + len(self.out))
                return False
        if self.decompressor.eof:
            rest = self.pending.lstrip(b"\x00")
            if not rest:
                self.pending = b""
                return True
            if not rest.startswith(b"\x1f\x8b"[: len(rest)]):
                self.damage = "%s has data that is not gzip after %d bytes of text" % (self.path, self.total)
                return False
            self.decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self.pending = rest
        self.member_started = True
        snapshot = self.decompressor.copy()
        try:
            data = self.decompressor.decompress(self.pending, self.STEP_OUT)
        except zlib.error as exc:
            self.decompressor = snapshot
            self._replay(exc)
            return False
        self.pending = self.decompressor.unconsumed_tail or self.decompressor.unused_data
        self.out += data
        return True

    def _replay(self, exc):
        """Feed the failed step again in small slices and keep what comes out before the damage."""
        pending, kept = self.pending, []
        size = sum(len(piece) for piece in kept)
        while pending and size < self.STEP_OUT:
            piece, pending = pending[: self.REPLAY_SLICE], pending[self.REPLAY_SLICE :]
            try:
                data = self.decompressor.decompress(piece, self.STEP_OUT - size)
            except zlib.error:
                break
            kept.append(data)
            size += len(data)
            pending = self.decompressor.unconsumed_tail + pending
        self.out += b"".join(kept)
        self.damage = "%s is corrupt after %d bytes of text (%s)" % (self.path, self.total + len(self.out), exc)

    def readinto(self, view):
        while not self.out and self.damage is None and self._step():
            pass
        if not self.out:
            if self.damage is not None:
                raise _Damage(self.damage)
            return 0
        room = min(len(view), self.limit - self.total)
        if room <= 0:
            self.warnings.append(
                "%s: stopped after %d bytes of decompressed text (the cap for one gzip file); later "
                "records in it were not read" % (self.path, self.limit)
            )
            self.out = b""
            self.damage = None
            self.file_done = True
            self.pending = b""
            self.member_started = False
            return 0
        data, self.out = self.out[:room], self.out[room:]
        view[: len(data)] = data
        self.total += len(data)
        return len(data)


def _blocks(readinto):
    """Blocks of complete lines, read with C(readinto(view)) into one reused buffer.

    Yields (buffer, low, high): buffer[low:high] holds whole lines (the last line of the input may lack its
    newline). A line longer than MAX_LINE_CHARS is yielded cut to its first MAX_LINE_CHARS bytes, in a block of
    its own, and the rest of it, up to its newline, is skipped, so memory stays bounded.
    """
    buffer = bytearray(BLOCK_SIZE + MAX_LINE_CHARS + 1)
    view = memoryview(buffer)
    filled = 0
    skipping = False
    eof = False
    while not eof:
        count = readinto(view[filled:])
        if not count:
            eof = True
        else:
            filled += count
        if skipping:
            newline = buffer.find(b"\n", 0, filled)
            if newline == -1:
                filled = 0
                continue
            buffer[0 : filled - newline - 1] = buffer[newline + 1 : filled]
            filled -= newline + 1
            skipping = False
        end = filled if eof else buffer.rfind(b"\n", 0, filled) + 1
        if end:
            yield buffer, 0, end
        rest = filled - end
        if rest > MAX_LINE_CHARS:
            yield buffer, end, end + MAX_LINE_CHARS
            skipping = True
            filled = 0
        elif rest:
            buffer[0:rest] = buffer[end:filled]
            filled = rest
        else:
            filled = 0


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
        return _decode(block[start : min(end, start + MAX_LINE_CHARS)]), end + 1

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

        def next_is_kill(position):
            # Whether the next kill, header or "no killable" line from here on is a kill: a panic line is only
            # kept when no kill follows it, so it need not be looked for before a kill.
            for ahead in range(position, len(lines)):
                role = roles.get(ahead)
                if role is None:
                    role = roles[ahead] = parser.classify(lines[ahead][2])
                if role != "other":
                    return role == "kill"
            return None

        done = low
        waiting = parser.waiting
        for position, (start, after, line) in enumerate(lines):
            if waiting(source):
                self._lazy(block, done, start, next_is_kill(position) if parser.panic_waiting(source) else True)
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


def _detect_structured(head):
    """The structured format of a log file from its first bytes, or None for text.

    Dispatch point for the structured formats (journal JSON and export, Cloud Logging exports, serial port API
    output): _log_formats provides their detector and readers. Until they are wired here, such a file is only
    recognised as structured, so that its JSON is never scanned as text (a MESSAGE would pass for a kernel line).
    """
    start = head.lstrip()[:64]
    if start.startswith(b"{") or (start.startswith(b"[") and start[1:].lstrip()[:1] in (b"{", b"]")):
        # a JSON object, or an array of them (a dmesg line starts with "[" too: "[   12.345678] ...")
        return "json"
    if start.startswith(b"__CURSOR=") or start.startswith(b"__REALTIME_TIMESTAMP="):
        return "journal-export"
    return None


def _recognised_prefix(head, source):
    """True when one of the first lines of a text file has a log prefix the parser knows."""
    parser = OomLogParser(max_kills=0)
    for raw in head.split(b"\n")[:200]:
        line = parser.prepare(_decode(raw[:MAX_LINE_CHARS]), source)
        if line is not None and line.prefix_parsed:
            return True
    return False


def _first_time(head, source, years):
    """The time of the first line of a text file that carries one."""
    parser = OomLogParser(max_kills=0)
    for raw in head.split(b"\n")[:50]:
        line = parser.prepare(_decode(raw[:MAX_LINE_CHARS]), source, years=years)
        if line is not None and line.prefix_parsed and line.timestamp is not None:
            return line.timestamp
    return None


def read_log_file(parser, path, source, kernel_only=False, warnings=None, gzip_limit=None):
    """Feed the OOM records of one plain or gzip-compressed log file to the parser.

    Returns the status: 'ok', or 'partial' when only the start could be read (the reason is appended to
    C(warnings)). Raises SourceUnavailable when nothing could be read, or when the file is in no known
    format (status 'unrecognized').
    """
    warnings = [] if warnings is None else warnings
    fd, found = open_regular_file(path)
    status = "ok"
    try:
        try:
            magic = os.pread(fd, 2, 0)
        except OSError as exc:
            raise _open_error(path, exc) from None
        years = YearGuesser(datetime.datetime.fromtimestamp(found.st_mtime))
        scanner = _TextScanner(parser, source, years, kernel_only)
        before = parser.records_by_source.get(source, 0)
        warned = len(warnings)
        if magic == b"\x1f\x8b":
            reader = _GzipReader(fd, path, MAX_GZIP_BYTES if gzip_limit is None else gzip_limit, warnings)
        else:
            reader = io.FileIO(fd, "rb", closefd=False)
        head = None
        try:
            for block, low, high in _blocks(reader.readinto):
                if head is None:
                    head = bytes(block[low : min(high, low + HEAD_BYTES)])
                    structured = _detect_structured(head)
                    if structured is not None:
                        raise SourceUnavailable(
                            "unrecognized",
                            "%s holds %s, a structured format this reader does not read" % (path, structured),
                        )
                scanner.feed_block(block, low, high)
        except _Damage as damage:
            warnings.append("%s; the kills before the damage are counted" % damage.reason)
            status = "partial"
        except OSError as exc:
            raise _open_error(path, exc) from None
        if len(warnings) > warned:
            status = "partial"
        parser.end_source(source)
        head = head or b""
        parser.note_time(_first_time(head, source, years))
        empty = not head.strip()
        if parser.records_by_source.get(source, 0) == before and not empty and not _recognised_prefix(head, source):
            raise SourceUnavailable(
                "unrecognized",
                "%s is in no log format this module knows (no line with a log prefix or an OOM record)" % path,
            )
        if empty and status == "partial":
            raise SourceUnavailable("unreadable", warnings[-1])
    finally:
        os.close(fd)
    return status


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
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            env=_env(),
            close_fds=True,
        )

    def lines(self, limit):
        """Lines of at most C(limit) bytes; (line, True) when it was cut."""
        carry = b""
        skipping = False
        stream = self.process.stdout
        while True:
            chunk = stream.read1(1 << 16) if hasattr(stream, "read1") else stream.read(1 << 16)
            if not chunk:
                break
            data = carry + chunk if carry else chunk
            start = 0
            while True:
                newline = data.find(b"\n", start)
                if newline == -1:
                    break
                if skipping:
                    skipping = False
                else:
                    line = data[start:newline]
                    yield (line[:limit], len(line) > limit)
                start = newline + 1
            carry = data[start:]
            if len(carry) > limit:
                if not skipping:
                    yield (carry[:limit], True)
                skipping = True
                carry = b""
        if carry and not skipping:
            yield (carry, False)

    def finish(self):
        self.process.stdout.close()
        rc = self.process.wait()
        self.errors.seek(0)
        message = _decode(self.errors.read(4096)).strip()
        self.errors.close()
        return rc, message


def _stamp_from_uptime(line, epoch):
    if line.timestamp is None and line.uptime_us is not None and epoch is not None:
        line.timestamp = datetime.datetime.fromtimestamp(
            epoch + line.uptime_us / 1e6, datetime.timezone.utc
        ).astimezone()


def read_kmsg(parser, path="/dev/kmsg", host=None, boot=None):
    """Feed the kernel ring buffer from /dev/kmsg (one record per read) to the parser: kernel records only."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise SourceUnavailable(
                "unreadable", "cannot read %s: needs CAP_SYSLOG or root (kernel.dmesg_restrict)" % path
            ) from None
        raise _open_error(path, exc) from None
    epoch = read_boot_time()
    boot = boot or read_boot_id()
    first = True
    try:
        while True:
            try:
                record = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    continue
                if exc.errno in (errno.EACCES, errno.EPERM):
                    raise SourceUnavailable("unreadable", "cannot read %s: permission denied" % path) from None
                raise SourceUnavailable("unreadable", "error reading %s: %s" % (path, exc.strerror)) from None
            if not record:
                break
            text = _decode(record.split(b"\n", 1)[0][:MAX_LINE_CHARS])
            if first:
                first = False
                line = parser.prepare(text, "kmsg", kernel_only=True)
                if line is not None:
                    _stamp_from_uptime(line, epoch)
                    parser.note_time(line.timestamp)
            if not line_may_matter(text):
                continue
            line = parser.prepare(text, "kmsg", kernel_only=True)
            if line is None or line.kernel is not True:
                continue
            line.boot = boot
            line.host = host
            _stamp_from_uptime(line, epoch)
            parser.feed(line)
    finally:
        os.close(fd)
        parser.end_source("kmsg")


def read_dmesg(parser, dmesg, host=None, boot=None):
    """Feed the output of C(dmesg) to the parser: kernel records only."""
    if not dmesg:
        raise SourceUnavailable("absent", "the dmesg command is not installed")
    pipeline = _Pipeline([dmesg])
    epoch = read_boot_time()
    boot = boot or read_boot_id()
    first = True
    try:
        for raw, _cut in pipeline.lines(MAX_LINE_CHARS):
            text = _decode(raw)
            if first:
                first = False
                line = parser.prepare(text, "dmesg", kernel_only=True)
                if line is not None:
                    _stamp_from_uptime(line, epoch)
                    parser.note_time(line.timestamp)
            if not line_may_matter(text):
                continue
            line = parser.prepare(text, "dmesg", kernel_only=True)
            if line is None or line.kernel is not True:
                continue
            line.boot = boot
            line.host = host
            _stamp_from_uptime(line, epoch)
            parser.feed(line)
    finally:
        rc, message = pipeline.finish()
        parser.end_source("dmesg")
    if rc != 0:
        raise SourceUnavailable(
            "unreadable", "dmesg failed (rc=%d): %s" % (rc, message or "no message; kernel.dmesg_restrict=1?")
        )


# The journal


def _journal_message(value):
    if isinstance(value, list):
        if len(value) > MAX_LINE_CHARS * 4:
            value = value[: MAX_LINE_CHARS * 4]
        try:
            return _decode(bytes(value))
        except (TypeError, ValueError):
            return None
    return value if isinstance(value, str) else None


def _field_int(entry, key):
    value = entry.get(key)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return None


def _system_uid(uid):
    return uid is not None and (uid <= SYSTEM_UID_MAX or DYNAMIC_UID_RANGE[0] <= uid <= DYNAMIC_UID_RANGE[1])


def journal_provenance(entry):
    """Who wrote a journal entry, from the fields journald sets itself (clients cannot forge them).

    Returns (role, confirm_scope): role 'kernel' (_TRANSPORT=kernel), 'systemd-oomd' or 'earlyoom' (their own
    system unit, run by a system user: root, systemd-oom, or a DynamicUser), 'manager' (PID 1, or a user's
    service manager, whose unit lines then only count for units below its own cgroup: confirm_scope), or
    (None, None) for anything else: a user's C(logger -t kernel), an C(earlyoom) identifier on a user's process.
    """
    if entry.get("_TRANSPORT") == "kernel":
        return "kernel", None
    unit = entry.get("_SYSTEMD_UNIT")
    uid = _field_int(entry, "_UID")
    if unit in KILLER_UNITS and _system_uid(uid):
        return KILLER_UNITS[unit], None
    if entry.get("_PID") == "1" and uid == 0:
        return "manager", None
    if uid is not None and unit == "user@%d.service" % uid and entry.get("_SYSTEMD_USER_UNIT") == "init.scope":
        return "manager", "/user.slice/user-%d.slice/user@%d.service/" % (uid, uid)
    return None, None


def journal_line(entry, source="journal"):
    """The Line of a trusted journal entry, or (None, trusted) for entries without text or from others.

    Returns (line, trusted)."""
    message = _journal_message(entry.get("MESSAGE"))
    if message is None:
        return None, True
    role, confirm_scope = journal_provenance(entry)
    if role is None:
        return None, False
    try:
        realtime = int(entry["__REALTIME_TIMESTAMP"]) / 1e6
        stamp = datetime.datetime.fromtimestamp(realtime, datetime.timezone.utc).astimezone()
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        stamp = None
    host = entry.get("_HOSTNAME") if isinstance(entry.get("_HOSTNAME"), str) else None
    boot = entry.get("_BOOT_ID") if isinstance(entry.get("_BOOT_ID"), str) else None
    kernel = role == "kernel"
    line = Line(
        message.rstrip("\n"),
        source,
        kernel=kernel,
        ident="kernel" if kernel else ("systemd" if role == "manager" else role),
        timestamp=stamp,
        boot=boot,
        host=host,
    )
    if kernel:
        line.uptime_us = _field_int(entry, "_SOURCE_MONOTONIC_TIMESTAMP")
    line.confirm_scope = confirm_scope
    return line, True


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
        for raw, cut in pipeline.lines(MAX_JSON_LINE_BYTES):
            if not cut:
                try:
                    realtime = int(json.loads(raw)["__REALTIME_TIMESTAMP"]) / 1e6
                    stamp = datetime.datetime.fromtimestamp(realtime, datetime.timezone.utc).astimezone()
                except (ValueError, KeyError, TypeError, OverflowError, OSError):
                    stamp = None
            break
    finally:
        pipeline.process.terminate()
        pipeline.finish()
    return stamp


def read_journal(parser, journalctl, since=None, host=None):
    """Feed kernel, systemd-oomd, earlyoom and service-manager records of every retained boot from the journal.

    Only records whose provenance holds are fed (see journal_provenance()); the others are counted as
    untrusted when they look like OOM records. Returns a list of warnings (for example when only part of the
    journal is readable).
    """
    if not journalctl:
        raise SourceUnavailable("absent", "journalctl is not installed")
    if not any(glob.glob(os.path.join(path, "*", "*.journal*")) for path in JOURNAL_DIRS):
        raise SourceUnavailable("absent", "the journal has no files in %s" % " or ".join(JOURNAL_DIRS))
    warnings = []
    for with_grep in (True, False):
        pipeline = _Pipeline(_journal_argv(journalctl, since, with_grep))
        fed = 0
        try:
            for raw, cut in pipeline.lines(MAX_JSON_LINE_BYTES):
                if cut:
                    continue
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(entry, dict):
                    continue
                line, trusted = journal_line(entry)
                if not trusted:
                    message = _journal_message(entry.get("MESSAGE"))
                    if message is not None and looks_like_record(message[:MAX_LINE_CHARS]):
                        parser.note_untrusted("journal")
                    continue
                if line is None or not line_may_matter(line.message):
                    continue
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
    module, log_sources, log_paths, since, max_kills, local_cgroup_prefixes=None, hostname=None, boot_id=None
):
    """Read the live log sources and the log files, and return the log part of the OOM facts.

    C(log_sources): names of AUTO_ORDER or 'auto' (the first of them the host has and can be read; in a
    container, C(local_cgroup_prefixes) not None, the journal and the first readable kernel log, since journald
    there has no kernel messages); C(log_paths): absolute paths of regular files (checked first: LogPathError).
    C(hostname) and C(boot_id) (default: this host's) are given to records of the live sources that do not name
    their own. Warnings go through C(module.warn()). Returns a dict with kills, kill_count,
    kill_count_by_killer, kill_count_by_kind, kill_count_by_unit, kill_count_by_source, kill_count_by_host,
    host_scope_kill_count, untrusted_records, kernel_kills_by_boot (local kernel kills per boot id, None for
    kills without one), oom_panics, no_killable_count, oldest_record, sources and sources_unavailable.
    """
    paths, duplicates = check_log_paths(log_paths or [])
    bins = {name: module.get_bin_path(name) for name in ("journalctl", "dmesg")}
    parser = OomLogParser(
        max_kills=min(max_kills, MAX_KILLS_LIMIT), since=since, local_cgroup_prefixes=local_cgroup_prefixes
    )
    local = {"host": hostname or read_hostname(), "boot": boot_id or read_boot_id()}
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
    for path in paths:
        file_warnings = []
        try:
            status = read_log_file(parser, path, path, warnings=file_warnings)
            sources[path] = {"status": status, "detail": "; ".join(file_warnings)}
        except SourceUnavailable as exc:
            sources[path] = {"status": exc.status, "detail": exc.reason}
        warnings.extend(file_warnings)
    for path, first in duplicates.items():
        sources[path] = {"status": "ok", "detail": "the same file as %s, read once" % first}
    parsed = parser.result()
    for name, status in sources.items():
        status["kills"] = parsed["kill_count_by_source"].get(name, 0) if status["status"] in ("ok", "partial") else 0
        status["untrusted"] = parsed["untrusted_by_source"].get(name, 0)
        readable = status["status"] in ("ok", "partial")
        status["format"] = None if not readable else ("text" if name in paths or name in duplicates else name)
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
        "oom_panics": parsed["oom_panics"],
        "no_killable_count": parsed["no_killable_count"],
        "oldest_record": parsed["oldest_record"],
        "sources": sources,
        "sources_unavailable": unavailable,
    }
