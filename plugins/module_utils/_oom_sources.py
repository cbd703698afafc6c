# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Log sources for the OOM parser: the journal, /dev/kmsg, dmesg, syslog files and copied log files.

PRIVATE to the oomguard.memory collection. No compatibility promise.

Every reader streams: lines are prefiltered (by grep where the host has it, which is several
times faster than Python, or in Python otherwise) and handed to the parser one at a time.
A reader raises SourceUnavailable with a status (C(absent) or C(unreadable)) and a reason
when it cannot read its source at all.
"""

from __future__ import annotations

import datetime
import errno
import glob
import gzip
import json
import os
import re
import subprocess
import tempfile
import time
import zlib

from ansible_collections.oomguard.memory.plugins.module_utils._log_formats import (
    FORMAT_TEXT,
    FORMAT_UNRECOGNIZED,
    FormatReport,
    feed_file,
    sniff_file,
)
from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import (
    GREP_PATTERN,
    JOURNAL_GREP_PATTERN,
    PREFILTER_NEEDLES,
    Line,
    YearGuesser,
    journal_line_may_matter,
    line_may_matter,
    strip_prefix,
)

C_LOCALE = {"LC_ALL": "C", "LANGUAGE": "C", "LANG": "C"}
CHUNK_SIZE = 1 << 16
SYSLOG_NAMES = ("syslog", "messages", "kern.log")
JOURNAL_IDENTIFIERS = ("systemd-oomd", "earlyoom", "systemd")
JOURNAL_DIRS = ("/run/log/journal", "/var/log/journal")
_ROTATED = re.compile(r"\.(\d+)(?:\.gz)?$")
# logrotate's dateext (the default on RHEL and Fedora): messages-20260301, messages-20260301.gz
_DATEEXT = re.compile(r"-(\d{8})(?:\.gz)?$")
_BYTE_NEEDLES = tuple(needle.encode("ascii") for needle in PREFILTER_NEEDLES)


class SourceUnavailable(Exception):
    """A log source that cannot be read; C(status) is 'absent' or 'unreadable'."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _env():
    env = dict(os.environ)
    env.update(C_LOCALE)
    return env


def _decode(raw):
    return raw.decode("utf-8", errors="backslashreplace")


def _python_filtered_lines(handle):
    """Yield decoded lines of a binary stream that pass the prefilter, reading it in chunks."""
    rest = b""
    while True:
        block = handle.read(CHUNK_SIZE)
        if not block:
            break
        block = rest + block if rest else block
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            rest = block
            continue
        rest = block[cut:]
        chunk = block[:cut]
        starts = set()
        for needle in _BYTE_NEEDLES:
            index = chunk.find(needle)
            while index != -1:
                start = chunk.rfind(b"\n", 0, index) + 1
                starts.add(start)
                end = chunk.find(b"\n", index)
                index = chunk.find(needle, end)
        for start in sorted(starts):
            yield _decode(chunk[start : chunk.find(b"\n", start)])
    if rest and any(needle in rest for needle in _BYTE_NEEDLES):
        yield _decode(rest)


class _Pipeline:
    """Run a command and stream its standard output line by line; stderr goes to a temporary file."""

    def __init__(self, argv, stdin=None):
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 - lives until finish(), after the stream is read
        self.process = subprocess.Popen(
            argv, stdin=stdin, stdout=subprocess.PIPE, stderr=self.errors, env=_env(), close_fds=True
        )

    def lines(self):
        for raw in self.process.stdout:
            yield raw.rstrip(b"\n")

    def finish(self):
        self.process.stdout.close()
        rc = self.process.wait()
        self.errors.seek(0)
        message = _decode(self.errors.read(4096)).strip()
        self.errors.close()
        return rc, message


def _open_error(path, exc):
    if exc.errno == errno.ENOENT:
        return SourceUnavailable("absent", "%s does not exist" % path)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return SourceUnavailable("unreadable", "cannot read %s: permission denied (run as root)" % path)
    return SourceUnavailable("unreadable", "cannot read %s: %s" % (path, exc.strerror or exc))


def _read_error(path, exc):
    if isinstance(exc, EOFError):
        return SourceUnavailable("unreadable", "%s is truncated: %s" % (path, exc))
    if isinstance(exc, OSError) and exc.errno is not None:
        return _open_error(path, exc)
    return SourceUnavailable("unreadable", "%s is corrupt: %s" % (path, exc))


def _is_gzip(path):
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def filtered_file_lines(path, grep=None, gzip_bin=None):
    """Yield the lines of a plain or gzip-compressed log file that may belong to an OOM report."""
    if os.path.isdir(path):
        raise SourceUnavailable("unreadable", "%s is a directory, not a log file" % path)
    try:
        compressed = _is_gzip(path)
    except OSError as exc:
        raise _open_error(path, exc) from None
    if grep and (gzip_bin or not compressed):
        yield from _grep_file_lines(path, compressed, grep, gzip_bin)
        return
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as handle:
            yield from _python_filtered_lines(handle)
    except EOFError as exc:
        raise SourceUnavailable("unreadable", "%s is truncated: %s" % (path, exc)) from None
    except zlib.error as exc:
        # A damaged deflate stream raises zlib.error, which is not an OSError.
        raise SourceUnavailable("unreadable", "%s is corrupt: %s" % (path, exc)) from None
    except OSError as exc:
        if exc.errno is not None:
            raise _open_error(path, exc) from None
        raise SourceUnavailable("unreadable", "%s is corrupt: %s" % (path, exc)) from None


def _grep_file_lines(path, compressed, grep, gzip_bin):
    grep_argv = [grep, "-a", "-E", "-e", GREP_PATTERN]
    decompress = None
    if compressed:
        decompress = subprocess.Popen(
            [gzip_bin, "-dc", "--", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_env()
        )
        pipeline = _Pipeline(grep_argv, stdin=decompress.stdout)
        decompress.stdout.close()
    else:
        pipeline = _Pipeline([*grep_argv, "--", path])
    try:
        for raw in pipeline.lines():
            yield _decode(raw)
    finally:
        rc, message = pipeline.finish()
        gzip_rc = decompress.wait() if decompress else 0
    if rc > 1:
        if "Permission denied" in message:
            raise SourceUnavailable("unreadable", "cannot read %s: permission denied (run as root)" % path)
        raise SourceUnavailable("unreadable", "cannot read %s: %s" % (path, message or "grep failed"))
    if gzip_rc not in (0, 2):
        raise SourceUnavailable("unreadable", "%s is not a valid gzip file" % path)


def read_log_file(parser, path, source, grep=None, gzip_bin=None, kernel_only=False):
    """Feed the OOM-related lines of one log file to the parser; return a FormatReport.

    The format is detected from the content: structured formats (journal and Cloud Logging exports, serial
    port output) are read by _log_formats, plain text logs by the prefilter here.
    """
    try:
        reference = datetime.datetime.fromtimestamp(os.stat(path).st_mtime)
    except OSError as exc:
        raise _open_error(path, exc) from None
    years = YearGuesser(reference)
    if os.path.isdir(path):
        raise SourceUnavailable("unreadable", "%s is a directory, not a log file" % path)
    try:
        fmt, reason = sniff_file(path)
        if fmt not in (FORMAT_TEXT, FORMAT_UNRECOGNIZED):
            return feed_file(parser, path, source, fmt, years)
    except (OSError, EOFError, zlib.error) as exc:
        raise _read_error(path, exc) from None
    if fmt == FORMAT_UNRECOGNIZED:
        raise SourceUnavailable("unrecognized", "%s is in no log format oom_facts reads: %s" % (path, reason))
    for text in filtered_file_lines(path, grep, gzip_bin):
        if text.startswith(" ") and "=" in text.split(None, 1)[0]:
            continue
        parser.feed_text(text, source, kernel_only=kernel_only, years=years)
    report = FormatReport(FORMAT_TEXT)
    report.entries = None
    return report


def syslog_files(log_dir="/var/log"):
    """Return the syslog files of the host, rotated ones included, oldest first, for the best-suited name.

    C(syslog) and C(messages) carry kernel and userspace lines (systemd-oomd, earlyoom); C(kern.log) only
    the kernel's, so it is used only where neither of the others exists.
    """
    for name in SYSLOG_NAMES:
        current = os.path.join(log_dir, name)
        rotated = [path for path in glob.glob(current + ".*") if _ROTATED.search(path)]
        rotated.sort(key=lambda path: -int(_ROTATED.search(path).group(1)))
        dated = sorted(
            (path for path in glob.glob(current + "-*") if _DATEEXT.search(path)),
            key=lambda path: _DATEEXT.search(path).group(1),
        )
        rotated = dated + rotated
        if not rotated and not os.path.exists(current):
            continue
        return [*rotated, current] if os.path.exists(current) else rotated
    return []


def read_syslog(parser, grep=None, gzip_bin=None, log_dir="/var/log"):
    """Feed every syslog file (rotated and compressed ones first) to the parser; return the paths read."""
    paths = syslog_files(log_dir)
    if not paths:
        raise SourceUnavailable("absent", "no syslog, messages or kern.log file in %s" % log_dir)
    read = []
    for path in paths:
        kernel_only = os.path.basename(path).startswith("kern.log")
        read_log_file(parser, path, path, grep, gzip_bin, kernel_only=kernel_only)
        read.append(path)
    return read


def boot_epoch():
    """Wall-clock time of boot, as printk's monotonic seconds count it (approximate across suspend)."""
    return time.time() - time.monotonic()


def _stamp_from_uptime(line, epoch):
    if line.timestamp is None and line.uptime is not None:
        line.timestamp = datetime.datetime.fromtimestamp(epoch + line.uptime, datetime.timezone.utc).astimezone()


def current_boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip().replace("-", "")
    except OSError:
        return None


def read_kmsg(parser, path="/dev/kmsg"):
    """Feed the kernel ring buffer from /dev/kmsg (one record per read) to the parser."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise SourceUnavailable(
                "unreadable", "cannot read %s: needs CAP_SYSLOG or root (kernel.dmesg_restrict)" % path
            ) from None
        raise _open_error(path, exc) from None
    epoch = boot_epoch()
    boot = current_boot_id()
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
            text = _decode(record.split(b"\n", 1)[0])
            if not line_may_matter(text):
                continue
            line = strip_prefix(text, "kmsg", kernel_only=True)
            line.boot = boot
            _stamp_from_uptime(line, epoch)
            parser.feed(line)
    finally:
        os.close(fd)


def read_dmesg(parser, dmesg):
    """Feed the output of C(dmesg) to the parser."""
    if not dmesg:
        raise SourceUnavailable("absent", "the dmesg command is not installed")
    pipeline = _Pipeline([dmesg])
    epoch = boot_epoch()
    boot = current_boot_id()
    try:
        for raw in pipeline.lines():
            text = _decode(raw)
            if not line_may_matter(text):
                continue
            line = strip_prefix(text, "dmesg", kernel_only=True)
            line.boot = boot
            _stamp_from_uptime(line, epoch)
            parser.feed(line)
    finally:
        rc, message = pipeline.finish()
    if rc != 0:
        raise SourceUnavailable(
            "unreadable", "dmesg failed (rc=%d): %s" % (rc, message or "no message; kernel.dmesg_restrict=1?")
        )


def _journal_message(value):
    if isinstance(value, list):
        try:
            return _decode(bytes(value))
        except (TypeError, ValueError):
            return None
    return value if isinstance(value, str) else None


def _journal_argv(journalctl, since, with_grep):
    argv = [
        journalctl,
        "--no-pager",
        "--quiet",
        "--output=json",
        "--output-fields=MESSAGE,SYSLOG_IDENTIFIER,_TRANSPORT,_SOURCE_MONOTONIC_TIMESTAMP",
    ]
    if since is not None:
        argv.append("--since=@%d" % int(since.timestamp()))
    if with_grep:
        argv.extend(["--grep=" + JOURNAL_GREP_PATTERN, "--case-sensitive=false"])
    argv.append("_TRANSPORT=kernel")
    for identifier in JOURNAL_IDENTIFIERS:
        argv.extend(["+", "SYSLOG_IDENTIFIER=" + identifier])
    return argv


def read_journal(parser, journalctl, since=None):
    """Feed kernel, systemd-oomd, earlyoom and PID 1 messages of every retained boot from the journal.

    Returns a list of warnings (for example when only part of the journal is readable).
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
            for raw in pipeline.lines():
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                line = _journal_line(entry)
                if line is None or (not with_grep and not journal_line_may_matter(line.message)):
                    continue
                parser.feed(line)
                fed += 1
        finally:
            rc, message = pipeline.finish()
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
    return warnings


def _journal_line(entry):
    message = _journal_message(entry.get("MESSAGE"))
    if message is None:
        return None
    transport = entry.get("_TRANSPORT")
    kernel = transport == "kernel"
    identifier = entry.get("SYSLOG_IDENTIFIER")
    try:
        realtime = int(entry["__REALTIME_TIMESTAMP"]) / 1e6
        stamp = datetime.datetime.fromtimestamp(realtime, datetime.timezone.utc).astimezone()
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        stamp = None
    uptime = None
    for key in ("_SOURCE_MONOTONIC_TIMESTAMP", "__MONOTONIC_TIMESTAMP"):
        try:
            uptime = int(entry[key]) / 1e6
            break
        except (KeyError, TypeError, ValueError):
            continue
    if not kernel:
        uptime = None
    return Line(
        message.rstrip("\n"),
        "journal",
        kernel=kernel,
        ident="kernel" if kernel else identifier,
        timestamp=stamp,
        uptime=uptime,
        boot=entry.get("_BOOT_ID"),
    )
