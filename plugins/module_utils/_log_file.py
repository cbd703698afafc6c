# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading one log file, or one command's output, with bounded memory whatever the input.

PRIVATE to the oomguard.memory collection. No compatibility promise.

- Only regular files are read: they are opened with O_NONBLOCK and checked with fstat after the open, so a
  path swapped for a FIFO or a device is refused instead of blocking.
- gzip files are streamed and stop after MAX_GZIP_BYTES of decompressed data (a warning says so); a truncated
  or corrupt one ends with LogDamage after everything before the damage was returned.
- C(blocks()) hands out complete lines in one reused buffer; a line longer than the limit is cut and the rest
  of it skipped, so no line is ever held whole.

Both the text reader (_oom_sources) and the structured formats (_log_formats) read through LogFile.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import zlib

from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import MAX_LINE_CHARS

BLOCK_SIZE = 1 << 22
MAX_GZIP_BYTES = 1 << 30
HEAD_BYTES = 1 << 16
GZIP_MAGIC = b"\x1f\x8b"


class SourceUnavailable(Exception):
    """A log source that cannot be read; C(status) is 'absent', 'unreadable' or 'unrecognized'."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class LogDamage(Exception):
    """The readable start of a file ended early (a truncated or corrupt gzip file); C(reason) says why."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def decode(raw):
    """The text of a log line's bytes; bytes that are not UTF-8 stay visible as \\xNN escapes."""
    if isinstance(raw, memoryview):
        raw = raw.tobytes()
    return raw.decode("utf-8", errors="backslashreplace")


def kind_of_mode(mode):
    """What a file that is not a regular file is, for a message: 'a directory', 'a FIFO', ..."""
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


def open_error(path, exc):
    """The SourceUnavailable for an OSError met opening or reading C(path)."""
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
        raise open_error(path, exc) from None
    try:
        found = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise open_error(path, exc) from None
    if not stat.S_ISREG(found.st_mode):
        os.close(fd)
        raise SourceUnavailable(
            "unreadable", "%s is %s; only regular log files can be read" % (path, kind_of_mode(found.st_mode))
        )
    return fd, found


class _GzipReader:
    """readinto() for a gzip file (several members too), at most C(limit) decompressed bytes.

    Damage (a truncated file, a corrupt stream, garbage after the last member) ends the text with LogDamage after
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
            if not rest.startswith(GZIP_MAGIC[: len(rest)]):
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
        size = 0
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
                raise LogDamage(self.damage)
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


class LogFile:
    """One log file opened for bounded reading: a regular file only, gzip decompressed (and capped) on the way.

    C(head) holds the first HEAD_BYTES of the (decompressed) text, for format detection; C(readinto()) and
    C(read()) then return the whole text from its start. C(warnings) collects what the reader has to say (the
    gzip cap); damage is raised as LogDamage where the text reaches it. Use it as a context manager.
    """

    def __init__(self, path, warnings=None, gzip_limit=None):
        self.path = path
        self.warnings = [] if warnings is None else warnings
        self.fd, self.stat = open_regular_file(path)
        try:
            self.compressed = os.pread(self.fd, 2, 0) == GZIP_MAGIC
            if self.compressed:
                limit = MAX_GZIP_BYTES if gzip_limit is None else gzip_limit
                self._reader = _GzipReader(self.fd, path, limit, self.warnings)
            else:
                self._reader = io.FileIO(self.fd, "rb", closefd=False)
            self._damage = None
            self.head = self._read_head()
        except OSError as exc:
            os.close(self.fd)
            raise open_error(path, exc) from None
        except BaseException:
            os.close(self.fd)
            raise
        self._unread = memoryview(self.head)

    def _read_head(self):
        head = bytearray(HEAD_BYTES)
        view = memoryview(head)
        filled = 0
        try:
            while filled < HEAD_BYTES:
                count = self._reader.readinto(view[filled:])
                if not count:
                    break
                filled += count
        except LogDamage as damage:
            self._damage = damage
        return bytes(head[:filled])

    def readinto(self, view):
        if self._unread:
            count = min(len(view), len(self._unread))
            view[:count] = self._unread[:count]
            self._unread = self._unread[count:]
            return count
        if self._damage is not None:
            raise self._damage
        return self._reader.readinto(view)

    def read(self, size):
        """Up to C(size) bytes (fewer before the end too); b'' at the end."""
        buffer = bytearray(size)
        return bytes(buffer[: self.readinto(memoryview(buffer))])

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()


def blocks(readinto, line_limit=None, block_size=None):
    """Blocks of complete lines, read with C(readinto(view)) into one reused buffer.

    Yields (buffer, low, high, cut): buffer[low:high] holds whole lines (the last line of the input may lack its
    newline). A line longer than C(line_limit) (default MAX_LINE_CHARS) is yielded cut to its first
    C(line_limit) bytes, in a block of its own with C(cut) True, and the rest of it, up to its newline, is
    skipped, so memory stays bounded. C(block_size) defaults to BLOCK_SIZE.
    """
    limit = MAX_LINE_CHARS if line_limit is None else line_limit
    buffer = bytearray((BLOCK_SIZE if block_size is None else block_size) + limit + 1)
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
            yield buffer, 0, end, False
        rest = filled - end
        if rest > limit:
            yield buffer, end, end + limit, True
            skipping = True
            filled = 0
        elif rest:
            buffer[0:rest] = buffer[end:filled]
            filled = rest
        else:
            filled = 0


def lines(readinto, line_limit=None, block_size=1 << 16):
    """The lines of a stream without their newline, as (bytes, cut); a longer line is cut at C(line_limit)."""
    for buffer, low, high, cut in blocks(readinto, line_limit, block_size):
        if cut:
            yield bytes(buffer[low:high]), True
            continue
        pieces = bytes(buffer[low:high]).split(b"\n")
        if not pieces[-1]:
            pieces.pop()
        for piece in pieces:
            yield piece, False
