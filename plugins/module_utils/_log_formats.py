# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Structured log files for O(log_paths): journal exports, Cloud Logging exports and GCE serial port output.

PRIVATE to the oomguard.memory collection. No compatibility promise.

C(describe_format()) names the format of a log file from its first bytes (decompressed first when the file is
gzip; _oom_sources.read_log_file() reads it through _log_file.LogFile and dispatches on it). C(iter_lines())
turns a stream of one of the structured formats into the Line objects that C(OomLogParser.feed()) takes, with
the provenance rules of the live sources, and counts in a FormatReport what it skipped. Text logs are read by
_oom_sources; the live journal's C(journalctl -o json) output goes through C(iter_lines()) too.

Provenance:
- journal entries (C(journalctl -o json), C(-o export), the live journal, the Ops Agent's journald entries):
  C(journal_provenance()), from the fields journald sets itself: kernel records only from C(_TRANSPORT=kernel);
  earlyoom and systemd-oomd records only from C(_SYSTEMD_UNIT=earlyoom.service) or C(systemd-oomd.service)
  run by root, a system user or a systemd dynamic user (systemd-oomd runs as C(systemd-oom), earlyoom.service
  has C(DynamicUser=true)); service manager lines only from PID 1 run by root, or from a user's own manager
  for that user's units;
- text lines (serial port output, Cloud Logging text): by the identifier of their syslog prefix, as in syslog
  files; a bare C([ secs]) console line is the kernel's only in serial port output, where only the kernel
  writes such lines;
- a record that fails these checks is never a kill: it is counted in C(FormatReport.untrusted).

Memory is bounded whatever the size of the file:
- files are read in C(CHUNK_SIZE) pieces and never whole;
- one JSON value (a journal entry, a LogEntry, a field of the serial port object) is decoded only when it is
  at most C(MAX_ENTRY_CHARS) characters long; a longer one is skipped, and counted, while it is read;
- one field of a journal export entry is kept only up to C(MAX_FIELD_BYTES); an entry whose MESSAGE is longer
  is skipped and counted;
- one text line (also one line of a serial port object's C(contents)) is cut at C(MAX_LINE_CHARS);
- Cloud Logging and serial port files first go, prefiltered, to a temporary file: C(gcloud logging read)
  writes the newest entry first, and one VM's kernel line can be in several logs of one file (the kernel's
  console line, rsyslog's console copy, the Ops Agent's syslog). On replay each line is kept from the best of
  those logs only (a table of at most C(MAX_DEDUP_KEYS) entries), so that the parser sees each OOM report
  once and in order; the parser's own de-duplication of kills still applies across files and sources.
"""

from __future__ import annotations

import codecs
import datetime
import json
import re
import tempfile
from urllib.parse import unquote

from ansible_collections.oomguard.memory.plugins.module_utils._log_file import (
    GZIP_MAGIC,
    LogDamage,
    LogFile,
    decode,
    lines,
)
from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import (
    KILLER_EARLYOOM,
    KILLER_OOMD,
    LAZY_NEEDLES,
    MAX_LINE_CHARS,
    RE_TERMINAL_ESCAPE,
    Line,
    has_log_prefix,
    line_may_matter,
    looks_like_record,
    parse_iso,
    strip_prefix,
)

FORMAT_TEXT = "text"
FORMAT_SERIAL_TEXT = "serial-text"
FORMAT_JOURNAL_JSON = "journal-json"
FORMAT_JOURNAL_EXPORT = "journal-export"
FORMAT_CLOUD_LOGGING = "cloud-logging-json"
FORMAT_SERIAL_JSON = "serial-port-json"
FORMAT_UNRECOGNIZED = "unrecognized"
FORMATS = (
    FORMAT_TEXT,
    FORMAT_SERIAL_TEXT,
    FORMAT_JOURNAL_JSON,
    FORMAT_JOURNAL_EXPORT,
    FORMAT_CLOUD_LOGGING,
    FORMAT_SERIAL_JSON,
)

HEAD_SIZE = 16 * 1024
CHUNK_SIZE = 64 * 1024
MAX_ENTRY_CHARS = 1024 * 1024
MAX_FIELD_BYTES = 1024 * 1024
MAX_DEDUP_KEYS = 128 * 1024
# Share of bytes in the head that are neither text nor a terminal escape, above which a file is binary.
BINARY_SHARE = 0.05

KILLER_UNITS = {"earlyoom.service": KILLER_EARLYOOM, "systemd-oomd.service": KILLER_OOMD}
USERSPACE_IDENTS = (KILLER_EARLYOOM, KILLER_OOMD, "systemd")
# systemd's defaults: system users below 1000 (SYS_UID_MAX 999), DynamicUser= ids in 61184-65519.
SYSTEM_UID_MAX = 999
DYNAMIC_UID_RANGE = (61184, 65519)
# The journal fields the reader uses (journalctl --output-fields; __REALTIME_TIMESTAMP and _BOOT_ID always come).
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

_COMPRESSED = (
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),
)
_RE_BZIP2 = re.compile(rb"BZh[1-9]1AY&SY")
_JOURNAL_FILE_MAGIC = b"LPKSHHRH"
_JOURNAL_FIELDS = frozenset(
    (
        "MESSAGE",
        "PRIORITY",
        "SYSLOG_IDENTIFIER",
        "SYSLOG_FACILITY",
        "_TRANSPORT",
        "_BOOT_ID",
        "_HOSTNAME",
        "_PID",
        "_UID",
        "_SYSTEMD_UNIT",
        "_MACHINE_ID",
        "__CURSOR",
        "__REALTIME_TIMESTAMP",
        "__MONOTONIC_TIMESTAMP",
        "_SOURCE_MONOTONIC_TIMESTAMP",
        "__SEQNUM",
    )
)
_KEPT_EXPORT_FIELDS = frozenset(name.encode("ascii") for name in (*JOURNAL_FIELDS, "__REALTIME_TIMESTAMP", "_BOOT_ID"))
_RE_EXPORT_NAME = re.compile(rb"[A-Z_][A-Z0-9_]{0,63}\Z")
_RE_EXPORT_FIELD = re.compile(rb"([A-Z_][A-Z0-9_]{0,63})(=|\n)")
# A line of only a field name: the start of a binary field.
_RE_BINARY_FIELD = re.compile(rb"^[A-Z_][A-Z0-9_]{0,63}\n", re.MULTILINE)
# Terminal escapes (the parser's), then the C0 controls except tab, line feed and carriage return: linear time.
_RE_TERMINAL = re.compile(RE_TERMINAL_ESCAPE.pattern + r"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_RE_NOT_TEXT = re.compile("[\x01-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f\ufffd]")
_RE_SURROGATE = re.compile("[\ud800-\udfff]")
_RE_SPACE = re.compile("[ \t\r\n\x1e\ufeff]*")
_RE_STRUCTURE = re.compile(r'[\[\]{}"]')
_RE_STRING_STOP = re.compile(r'["\\]')
# JSON strings hold no raw line feed: one ends a broken value (a cut line of JSON lines) instead.
_RE_SCANNED_STRING_STOP = re.compile(r'["\\\n]')
_RE_SCALAR_END = re.compile(r'[\s,\]}\[{"]')
_RE_KEY = re.compile(r'"([A-Za-z_][A-Za-z0-9_.]{0,63})"\s*:')
_RE_INSTANCE = re.compile(r"/instances/([^/?#\s]+)")

# Every line the parser uses, and every record counted as untrusted, holds one of these once lowercased: every
# record marker holds "kill" or "sending sig", the other needles are the lines the parser needs only after another
# record. They hold in JSON text too, where only quotes, backslashes and control characters are escaped.
_BYTE_NEEDLES = (b"kill", b"sending sig", *(needle.lower().encode("ascii") for needle in LAZY_NEEDLES))
# A MESSAGE held as a byte array (journalctl's JSON for text that is not UTF-8) holds no words to look for: such an
# entry is always decoded. journalctl writes '"MESSAGE":[' (or '"MESSAGE" : [' before systemd 240).
_BYTE_ARRAY_MESSAGE = (b'"message":[', b'"message": [', b'"message" : [')

_CONSOLE, _COPY, _LOG = 1, 2, 3
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class FormatReport:
    """What reading one file gave besides its lines: entries read (None: not counted), skipped (malformed or
    oversized), untrusted, duplicates dropped, truncated (the file ends inside an entry) and partial (only the
    start could be read: truncated, a damaged gzip file, the gzip cap; set by the file reader)."""

    __slots__ = ("duplicates", "entries", "format", "notes", "partial", "skipped", "truncated", "untrusted")

    def __init__(self, fmt):
        self.format = fmt
        self.entries = 0
        self.skipped = 0
        self.untrusted = 0
        self.duplicates = 0
        self.truncated = False
        self.partial = False
        self.notes = []

    def detail(self):
        parts = [self.format]
        if self.entries is not None:
            parts[0] += ", %d %s" % (self.entries, "entry" if self.entries == 1 else "entries")
        if self.skipped:
            parts.append("%d malformed or oversized skipped" % self.skipped)
        if self.untrusted:
            parts.append("%d untrusted (failed the provenance check)" % self.untrusted)
        if self.duplicates:
            parts.append("%d copies of the same line in another log dropped" % self.duplicates)
        if self.truncated:
            parts.append("the file ends inside an entry")
        parts.extend(self.notes)
        return "; ".join(parts)


# Detection


def detect_format(head):
    """The format of a log file from its first bytes (gunzipped when the file is gzip)."""
    return describe_format(head)[0]


def describe_format(head):
    """(format, reason): the reason says why a file is unrecognized, and is empty otherwise."""
    if head.startswith(GZIP_MAGIC):
        return FORMAT_UNRECOGNIZED, "gzip data inside gzip"
    for magic, name in _COMPRESSED:
        if head.startswith(magic):
            return FORMAT_UNRECOGNIZED, "%s-compressed data; decompress it first, or recompress it with gzip" % name
    if _RE_BZIP2.match(head):
        return FORMAT_UNRECOGNIZED, "bzip2-compressed data; decompress it first, or recompress it with gzip"
    if head.startswith(_JOURNAL_FILE_MAGIC):
        return FORMAT_UNRECOGNIZED, (
            "a binary journal file; export it with journalctl --file=<path> -o export (or -o json) and read that"
        )
    if _looks_like_export(head):
        return FORMAT_JOURNAL_EXPORT, ""
    # NUL runs are what a syslog file keeps of blocks allocated before a crash: not a sign of binary data.
    text = head.decode("utf-8", "replace").replace("\x00", "")
    stripped = text.lstrip(" \t\r\n\x1e\ufeff")
    if stripped.startswith("{") or (stripped.startswith("[") and stripped[1:].lstrip()[:1] in ("{", "]", "")):
        fmt = _json_format(stripped)
        if fmt is None:
            return FORMAT_UNRECOGNIZED, (
                "JSON, but not journalctl -o json, a Cloud Logging export (gcloud logging read --format=json)"
                " nor a serial port output object"
            )
        return fmt, ""
    # A syslog file with the NUL runs an unclean shutdown leaves is mostly "binary" but still has log lines.
    if text and len(_RE_NOT_TEXT.findall(text)) > BINARY_SHARE * len(text) and not has_log_prefix(text.split("\n")):
        return FORMAT_UNRECOGNIZED, "binary data, not a text log"
    # A console capture: the console's CRLF line ends, or a line redrawn after a bare carriage return. Terminal
    # colours alone do not make one: syslog files and journalctl output carry services' coloured lines too, and
    # a file read as serial output is taken to be one VM's.
    if "\r\x1b[" in text or (text.count("\n") and text.count("\r\n") * 2 >= text.count("\n")):
        return FORMAT_SERIAL_TEXT, ""
    return FORMAT_TEXT, ""


def _looks_like_export(head):
    """True when the head is C(journalctl -o export) output: field lines with at least two journal field names."""
    known = 0
    position = 0
    for _field in range(64):
        match = _RE_EXPORT_FIELD.match(head, position)
        if match is None:
            break
        if match.group(1).decode("ascii") in _JOURNAL_FIELDS:
            known += 1
        if match.group(2) == b"=":
            end = head.find(b"\n", match.end())
            if end == -1:
                break
            position = end + 1
        else:
            size = int.from_bytes(head[match.end() : match.end() + 8], "little")
            position = match.end() + 8 + size + 1
        if head[position : position + 1] == b"\n":
            position += 1
    return known >= 2


def _json_format(text):
    """The JSON format of a head starting with '{' or '[', or None when it is some other JSON."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    if start == -1:
        return FORMAT_CLOUD_LOGGING if text.startswith("[") else None  # "[]": gcloud found no entry
    try:
        first, _end = decoder.raw_decode(text, start)
    except (ValueError, RecursionError):
        first = None
    if isinstance(first, dict):
        keys = set(first)
        first_key = next(iter(first), None)
        kind = first.get("kind")
    else:
        # The head ends inside the first value: judge by the keys it shows.
        keys = set(_RE_KEY.findall(text))
        match = _RE_KEY.match(text, start + 1 + len(_RE_SPACE.match(text, start + 1).group()))
        first_key = match.group(1) if match else None
        kind = "compute#serialPortOutput" if '"compute#serialPortOutput"' in text else None
    if text.startswith("{") and (
        kind == "compute#serialPortOutput" or first_key == "contents" or {"contents", "selfLink"} <= keys
    ):
        return FORMAT_SERIAL_JSON
    if (
        "logName" in keys
        and keys & {"insertId", "resource", "timestamp", "receiveTimestamp"}
        and keys & {"textPayload", "jsonPayload", "protoPayload"}
    ):
        return FORMAT_CLOUD_LOGGING
    if "__REALTIME_TIMESTAMP" in keys or "__CURSOR" in keys or ("MESSAGE" in keys and len(keys & _JOURNAL_FIELDS) >= 2):
        return FORMAT_JOURNAL_JSON
    return None


def sniff_file(path):
    """(format, reason) of a log file, read as oom_facts reads it (gzip decompressed)."""
    with LogFile(path) as log:
        return describe_format(log.head[:HEAD_SIZE])


# Lines


def iter_lines(stream, fmt, source, report=None, years=None):
    """Yield the Line objects of a binary stream in a structured format C(fmt) that the OOM parser may use.

    C(stream) has C(read(size)) (and C(readinto(view)) for serial port text). Lines are prefiltered like those
    of the live sources, and only lines that pass the provenance checks are yielded; C(report) (a FormatReport)
    counts the rest. C(years) (a YearGuesser) dates syslog stamps, which have no year.
    """
    if report is None:
        report = FormatReport(fmt)
    if fmt == FORMAT_JOURNAL_JSON:
        for entry in _json_entries(stream, report):
            yield from journal_lines(entry, source, report)
    elif fmt == FORMAT_JOURNAL_EXPORT:
        for entry in _export_entries(stream, report):
            yield from journal_lines(entry, source, report)
    elif fmt in (FORMAT_CLOUD_LOGGING, FORMAT_SERIAL_TEXT, FORMAT_SERIAL_JSON):
        yield from _spooled_lines(stream, fmt, source, report, years)
    else:
        raise ValueError("no reader for log format %r" % fmt)


# Journal entries: journalctl -o json, -o export, the Ops Agent's journald receiver


def _field(fields, key):
    """A journal field as text: a string, or a byte array (journalctl's JSON for binary data); first of repeats."""
    value = fields.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return decode(bytes(value))
    if isinstance(value, list) and value:
        if all(isinstance(item, int) and 0 <= item < 256 for item in value):
            return decode(bytes(value))
        return _field({key: value[0]}, key)
    return None


def _field_int(fields, key):
    """A journal field that holds a number (journalctl writes them as strings), or None."""
    value = fields.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    value = _field(fields, key)
    if value is not None and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return None


def _system_uid(uid):
    return uid is not None and (uid <= SYSTEM_UID_MAX or DYNAMIC_UID_RANGE[0] <= uid <= DYNAMIC_UID_RANGE[1])


def journal_provenance(fields):
    """Who wrote a journal entry, from the fields journald sets itself (clients cannot forge them).

    Returns (role, confirm_scope): role 'kernel' (_TRANSPORT=kernel), 'systemd-oomd' or 'earlyoom' (their own
    system unit, run by a system user: root, systemd-oom, or a DynamicUser), 'manager' (PID 1 run by root, or a
    user's service manager, whose unit lines then only count for units below its own cgroup: confirm_scope), or
    (None, None) for anything else: a user's C(logger -t kernel), an C(earlyoom) identifier on a user's process.
    The live journal and every journal file go through this one check.
    """
    if _field(fields, "_TRANSPORT") == "kernel":
        return "kernel", None
    unit = _field(fields, "_SYSTEMD_UNIT")
    uid = _field_int(fields, "_UID")
    if unit in KILLER_UNITS and _system_uid(uid):
        return KILLER_UNITS[unit], None
    if _field_int(fields, "_PID") == 1 and uid == 0:
        return "manager", None
    if uid is not None and unit == "user@%d.service" % uid and _field(fields, "_SYSTEMD_USER_UNIT") == "init.scope":
        return "manager", "/user.slice/user-%d.slice/user@%d.service/" % (uid, uid)
    return None, None


def journal_stamp(fields):
    """The time of a journal entry (__REALTIME_TIMESTAMP), or None."""
    micros = _field_int(fields, "__REALTIME_TIMESTAMP")
    try:
        return (_EPOCH + datetime.timedelta(microseconds=micros)).astimezone() if micros is not None else None
    except (ValueError, OverflowError):
        return None


def journal_lines(fields, source, report, stamp=None, host=None):
    """The Lines of one journal entry (a dict of fields) that pass the prefilter and the provenance check.

    A MESSAGE of several lines gives a Line each. Records of an untrusted writer that look like OOM records are
    counted in C(report.untrusted). C(stamp) is the time to use when the entry has no __REALTIME_TIMESTAMP;
    C(host) names the VM instead of _HOSTNAME (a Cloud Logging entry's instance). A kernel record carries the
    kernel's own time (_SOURCE_MONOTONIC_TIMESTAMP), as /dev/kmsg prints it.
    """
    message = _field(fields, "MESSAGE")
    if message is None:
        return
    texts = [text.rstrip("\r") for text in message.split("\n") if line_may_matter(text)]
    if not texts:
        return
    role, confirm_scope = journal_provenance(fields)
    if role is None:
        report.untrusted += sum(1 for text in texts if looks_like_record(text[:MAX_LINE_CHARS]))
        return
    kernel = role == "kernel"
    ident = "systemd" if role == "manager" else role
    boot = _field(fields, "_BOOT_ID")
    host = host or _field(fields, "_HOSTNAME")
    stamp = journal_stamp(fields) or stamp
    uptime_us = _field_int(fields, "_SOURCE_MONOTONIC_TIMESTAMP") if kernel else None
    for text in texts:
        line = Line(text, source, kernel=kernel, ident=ident, timestamp=stamp, boot=boot, host=host)
        line.uptime_us = uptime_us
        line.confirm_scope = confirm_scope
        yield line


class _ByteBuffer:
    """A sliding buffer over a binary stream that knows where the next prefilter word is (case-insensitively),
    so that records without one are passed over without being decoded."""

    def __init__(self, stream, needles=_BYTE_NEEDLES):
        self._stream = stream
        self._needles = needles
        self.data = b""
        self._lowered = b""
        self.pos = 0
        self.eof = False
        self._hit = -1

    def fill(self):
        """Append the next chunk, dropping what was consumed; False at the end of the stream."""
        if self.eof:
            return False
        chunk = self._stream.read(CHUNK_SIZE)
        self.data = self.data[self.pos :] + chunk
        self._lowered = self.data.lower()
        self.pos = 0
        self._hit = -1
        self.eof = not chunk
        return bool(chunk)

    def has_needle(self, end):
        """True when a prefilter word starts between the current position and C(end)."""
        if self._hit < self.pos:
            found = [self._lowered.find(needle, self.pos) for needle in self._needles]
            self._hit = min((index for index in found if index >= 0), default=len(self._lowered))
        return self._hit < end

    def readline(self, limit):
        """The next line with its newline, or its first C(limit) bytes; b'' at the end of the stream."""
        while True:
            end = self.data.find(b"\n", self.pos, self.pos + limit)
            if end != -1 or len(self.data) - self.pos >= limit or not self.fill():
                stop = end + 1 if end != -1 else min(len(self.data), self.pos + limit)
                line = self.data[self.pos : stop]
                self.pos = stop
                return line

    def read(self, size):
        """The next C(size) bytes (fewer at the end of the stream); C(size) is at most a field's limit."""
        while len(self.data) - self.pos < size and self.fill():
            pass
        piece = self.data[self.pos : self.pos + size]
        self.pos += len(piece)
        return piece

    def discard(self, size):
        """Pass over C(size) bytes without keeping them; False when the stream ends first."""
        while size > 0:
            if self.pos >= len(self.data) and not self.fill():
                return False
            step = min(size, len(self.data) - self.pos)
            self.pos += step
            size -= step
        return True


def _export_entries(stream, report):
    """Entries of C(journalctl -o export) output as dicts of the fields the parser needs.

    A field is C(KEY=value) on one line, or, for binary data, C(KEY), a newline, its size as a 64-bit
    little-endian number, the data and a newline. An empty line ends an entry. An entry of text fields only
    and without any prefilter word is counted without being parsed.
    """
    buffer = _ByteBuffer(stream)
    while True:
        data = buffer.data
        while buffer.pos < len(data) and data[buffer.pos] == 10:
            buffer.pos += 1
        end = data.find(b"\n\n", buffer.pos)
        if end == -1 and not buffer.eof and len(data) - buffer.pos <= MAX_FIELD_BYTES:
            buffer.fill()
            continue
        text_only = end != -1 and end - buffer.pos <= MAX_FIELD_BYTES
        if text_only and not _RE_BINARY_FIELD.search(data, buffer.pos, end + 1):
            wanted = buffer.has_needle(end)
            block = data[buffer.pos : end + 1]
            buffer.pos = end + 2
            if not wanted:
                report.entries += 1
                continue
            fields = {}
            bad = False
            for raw in block.split(b"\n")[:-1]:
                name, _equals, value = raw.partition(b"=")
                bad = bad or not _RE_EXPORT_NAME.match(name)
                if name in _KEPT_EXPORT_FIELDS:
                    fields[name.decode("ascii")] = value
        elif buffer.pos < len(data) or not buffer.eof:
            fields, bad = _export_entry(buffer, report)
        else:
            return
        if bad:
            report.skipped += 1
        else:
            report.entries += 1
            yield fields


def _export_entry(buffer, report):
    """Read one entry field by field (it has binary fields, or is longer than a field); (fields, bad)."""
    fields = {}
    bad = False
    while True:
        raw = buffer.readline(MAX_FIELD_BYTES + 2)
        if raw in (b"\n", b""):
            return fields, bad
        if not raw.endswith(b"\n"):
            if len(raw) > MAX_FIELD_BYTES:
                bad = bad or raw.startswith(b"MESSAGE=")
                while raw and not raw.endswith(b"\n"):
                    raw = buffer.readline(MAX_FIELD_BYTES)
                continue
            report.truncated = True
        else:
            raw = raw[:-1]
        name, equals, value = raw.partition(b"=")
        if not _RE_EXPORT_NAME.match(name):
            bad = True
            continue
        if equals:
            if name in _KEPT_EXPORT_FIELDS:
                fields[name.decode("ascii")] = value
            continue
        size = buffer.read(8)
        if len(size) < 8:
            report.truncated = True
            return fields, True
        size = int.from_bytes(size, "little")
        if size > MAX_FIELD_BYTES or name not in _KEPT_EXPORT_FIELDS:
            bad = bad or name == b"MESSAGE"
            if not buffer.discard(size):
                report.truncated = True
                return fields, True
        else:
            value = buffer.read(size)
            if len(value) < size:
                report.truncated = True
                return fields, True
            fields[name.decode("ascii")] = value
        end = buffer.read(1)
        if end != b"\n":
            report.truncated = report.truncated or not end
            bad = True


# JSON streams


class _Skipped(Exception):
    """A value was malformed or longer than the limit; the reader has moved past it."""


class _JsonReader:
    """JSON text read from a binary stream in chunks; each value is decoded on its own by the C decoder.

    Only the value being decoded is held: at most C(limit) characters plus one chunk.
    """

    def __init__(self, stream, limit=MAX_ENTRY_CHARS):
        self._stream = stream
        self._decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        self._raw_decode = json.JSONDecoder().raw_decode
        self._text = ""
        self._pos = 0
        self._eof = False
        self.limit = limit

    def _fill(self):
        """Append the next chunk, dropping what was consumed; False at the end of the stream."""
        if self._eof:
            return False
        chunk = self._stream.read(CHUNK_SIZE)
        self._text = self._text[self._pos :]
        self._pos = 0
        if not chunk:
            self._eof = True
            tail = self._decode(b"", True)
            self._text += tail
            return bool(tail)
        self._text += self._decode(chunk)
        return True

    def peek(self):
        """The next character that is not white space (not consumed), or '' at the end of the stream."""
        while True:
            self._pos = _RE_SPACE.match(self._text, self._pos).end()
            if self._pos < len(self._text):
                return self._text[self._pos]
            if not self._fill():
                return ""

    def advance(self):
        self._pos += 1

    def value(self):
        """Decode the next value; raise _Skipped past a bad one, EOFError when the stream ends inside it."""
        try:
            value, end = self._raw_decode(self._text, self._pos)
        except (ValueError, RecursionError):
            pass
        else:
            self._pos = end
            return value
        end, oversized = self._scan_end()
        if oversized:
            self._pos = end
            raise _Skipped("longer than %d characters" % self.limit)
        try:
            value, stop = self._raw_decode(self._text, self._pos)
        except (ValueError, RecursionError):
            stop = None
        self._pos = end
        if stop != end:
            raise _Skipped("malformed")
        return value

    def _scan_end(self):
        """(end, oversized): where the value at the current position ends, reading on as needed.

        An oversized value is dropped while it is scanned, so only C(limit) characters are ever held.
        """
        first = self._text[self._pos]
        if first not in '{["':
            return self._scalar_end(), False
        depth = 0
        in_string = first == '"'
        offset = 1 if in_string else 0
        dropped = 0
        while True:
            text = self._text
            index = self._pos + offset
            while True:
                if in_string:
                    match = _RE_SCANNED_STRING_STOP.search(text, index)
                    if match is None:
                        index = len(text)
                        break
                    if match.group() == "\n":
                        return match.start(), dropped > 0
                    if match.group() == "\\":
                        if match.end() >= len(text):
                            index = match.start()
                            break
                        index = match.end() + 1
                        continue
                    in_string = False
                    index = match.end()
                    if depth == 0:
                        return index, dropped > 0
                    continue
                match = _RE_STRUCTURE.search(text, index)
                if match is None:
                    index = len(text)
                    break
                index = match.end()
                char = match.group()
                if char == '"':
                    in_string = True
                elif char in "{[":
                    depth += 1
                else:
                    depth -= 1
                    if depth <= 0:
                        return index, dropped > 0
            offset = index - self._pos
            if dropped + offset > self.limit:
                dropped += offset
                self._pos = index
                offset = 0
            if not self._fill():
                raise EOFError("the stream ends inside a JSON value")

    def _scalar_end(self):
        while True:
            match = _RE_SCALAR_END.search(self._text, self._pos + 1)
            if match:
                return match.start()
            if len(self._text) - self._pos > self.limit:
                self._text = self._text[: self._pos + 1]
            if not self._fill():
                return len(self._text)

    def string_lines(self, limit=MAX_LINE_CHARS):
        """Yield the lines of the JSON string at the current position, decoded, each cut at C(limit) characters.

        A JSON string holds its newlines as the escape \\n, so the raw text is cut there, between escapes,
        and each line is decoded on its own.
        """
        pieces = []
        size = 0
        self._pos += 1
        while True:
            text = self._text
            match = _RE_STRING_STOP.search(text, self._pos)
            if match is None or (match.group() == "\\" and match.end() >= len(text)):
                stop = len(text) if match is None else match.start()
                if size < limit * 6:
                    pieces.append(text[self._pos : stop])
                    size += stop - self._pos
                self._pos = stop
                if not self._fill():
                    raise EOFError("the stream ends inside a JSON string")
                continue
            if size < limit * 6:
                pieces.append(text[self._pos : match.start()])
                size += match.start() - self._pos
            if match.group() == '"':
                self._pos = match.end()
                if any(pieces):
                    yield self._decoded_line(pieces, limit)
                return
            escaped = text[match.end()]
            self._pos = match.end() + 1
            if escaped == "n":
                yield self._decoded_line(pieces, limit)
                pieces, size = [], 0
            elif size < limit * 6:
                pieces.append("\\" + escaped)
                size += 2

    @staticmethod
    def _decoded_line(pieces, limit):
        raw = "".join(pieces)
        line = raw
        # A line cut at the limit may end inside an escape: then decode it without its last escape.
        for candidate in (raw, raw[: raw.rfind("\\")]):
            try:
                line = json.loads('"%s"' % candidate, strict=False)
                break
            except ValueError:
                continue
        return _RE_SURROGATE.sub("\ufffd", line[:limit])


class _Prefixed:
    """A binary stream with bytes already read from it put back in front."""

    def __init__(self, prefix, stream):
        self._prefix = prefix
        self._stream = stream

    def read(self, size):
        if self._prefix:
            piece, self._prefix = self._prefix[:size], self._prefix[size:]
            return piece
        return self._stream.read(size)


def _json_entries(stream, report):
    """Yield the objects of a JSON file. JSON lines (journalctl -o json, a log sink's files) are read line by
    line, and a line without any prefilter word is counted without being decoded; any other layout goes
    through the JSON stream reader."""
    buffer = _ByteBuffer(stream, (*_BYTE_NEEDLES, *_BYTE_ARRAY_MESSAGE))
    while buffer.data.find(b"\n") == -1 and len(buffer.data) <= MAX_ENTRY_CHARS and buffer.fill():
        pass
    first = buffer.data.split(b"\n", 1)[0]
    try:
        json_lines = isinstance(json.loads(first.lstrip(b"\x1e")), dict)
    except (ValueError, RecursionError):
        json_lines = False
    if not json_lines:
        yield from _json_values(_JsonReader(_Prefixed(buffer.data, stream)), report)
        return
    skipping = False
    while True:
        data = buffer.data
        end = data.find(b"\n", buffer.pos)
        if end == -1:
            if len(data) - buffer.pos > MAX_ENTRY_CHARS and not skipping:
                skipping = True
                report.skipped += 1
            if skipping:
                buffer.pos = len(data)
            if buffer.fill():
                continue
            data = buffer.data
            end = len(data)
            if end <= buffer.pos:
                return
        if skipping:
            skipping = False
        elif buffer.has_needle(end):
            try:
                entry = json.loads(data[buffer.pos : end].lstrip(b"\x1e"))
            except (ValueError, RecursionError):
                entry = None
            if isinstance(entry, dict):
                report.entries += 1
                yield entry
            else:
                report.skipped += 1
        elif data[buffer.pos : end].strip(b" \t\r\x1e"):
            report.entries += 1
        buffer.pos = end + 1


def _json_values(reader, report):
    """Yield the objects of a JSON stream: the elements of top-level arrays, or concatenated values (JSON lines,
    C(journalctl -o json-pretty), json-seq). Anything else is counted as skipped."""
    in_array = False
    while True:
        char = reader.peek()
        if not char:
            report.truncated = report.truncated or in_array
            return
        if not in_array and char == "[":
            reader.advance()
            in_array = True
            continue
        if in_array and char in ",]":
            reader.advance()
            in_array = char == ","
            continue
        try:
            value = reader.value()
        except _Skipped:
            report.skipped += 1
            continue
        except EOFError:
            report.truncated = True
            return
        if isinstance(value, dict):
            report.entries += 1
            yield value
        else:
            report.skipped += 1


def _serial_object(reader, report, on_line):
    """Walk a compute#serialPortOutput object: C(on_line(text)) for each line of C(contents); return selfLink."""
    self_link = None
    if reader.peek() != "{":
        report.skipped += 1
        return None
    reader.advance()
    while True:
        char = reader.peek()
        if char in ("}", ""):
            report.truncated = report.truncated or not char
            return self_link
        if char == ",":
            reader.advance()
            continue
        try:
            key = reader.value()
            if reader.peek() != ":":
                raise _Skipped("no ':' after a key")
            reader.advance()
            if reader.peek() == '"' and key == "contents":
                report.entries += 1
                for text in reader.string_lines():
                    on_line(text)
                continue
            value = reader.value()
        except _Skipped:
            report.skipped += 1
            return self_link
        except EOFError:
            report.truncated = True
            return self_link
        if key == "selfLink" and isinstance(value, str):
            self_link = value


# Cloud Logging and serial port output: spooled


def _clean_terminal(text):
    """Serial console text without terminal escapes; a carriage return starts a new line."""
    return [piece for piece in _RE_TERMINAL.sub("", text).split("\r") if piece]


def _text_line(text, source, years, console, report):
    """The Line of one text line whose provenance is its prefix, or None; counts untrusted records."""
    if not line_may_matter(text):
        return None
    line = strip_prefix(text, source, years=years)
    ident = line.ident
    if ident == "kernel" or ident in USERSPACE_IDENTS:
        return line
    if ident is None and console and line.uptime_us is not None:
        line.kernel = True
        return line
    if looks_like_record(line.message):
        report.untrusted += 1
    return None


def _entry_host(entry):
    """The VM a LogEntry came from: its resource_name label, else the instance id of its resource."""
    labels = entry.get("labels")
    if isinstance(labels, dict) and isinstance(labels.get("compute.googleapis.com/resource_name"), str):
        return labels["compute.googleapis.com/resource_name"]
    resource = entry.get("resource")
    resource_labels = resource.get("labels") if isinstance(resource, dict) else None
    if isinstance(resource_labels, dict) and isinstance(resource_labels.get("instance_id"), str):
        return resource_labels["instance_id"]
    return None


def _log_entry(entry, source, years, report, spool, index):
    """Spool the lines of one Cloud Logging LogEntry that may matter."""
    payload = entry.get("jsonPayload")
    if isinstance(payload, dict) and ("_TRANSPORT" in payload or "MESSAGE" in payload):
        if "MESSAGE" not in payload and isinstance(payload.get("message"), str):
            payload = dict(payload, MESSAGE=payload["message"])
        if line_may_matter(_field(payload, "MESSAGE") or ""):
            stamp = _entry_stamp(entry, spool)
            for line in journal_lines(payload, source, report, stamp=stamp, host=_entry_host(entry)):
                spool.add(index, _LOG, line)
        return
    text = entry.get("textPayload")
    if not isinstance(text, str) and isinstance(payload, dict):
        text = payload.get("message")
    if not isinstance(text, str) or not line_may_matter(text):
        return
    host = _entry_host(entry)
    stamp = _entry_stamp(entry, spool)
    log_name = entry.get("logName")
    log_id = unquote(log_name.partition("/logs/")[2]) if isinstance(log_name, str) else ""
    serial = log_id.startswith("serialconsole.googleapis.com/serial_port_")
    for piece in text.split("\n"):
        for cleaned in _clean_terminal(piece[:MAX_LINE_CHARS]) if serial else (piece[:MAX_LINE_CHARS].rstrip("\r"),):
            line = _text_line(cleaned, source, years, serial, report)
            if line is None:
                continue
            line.host = host or line.host
            if stamp is not None:
                line.timestamp = stamp
            spool.add(index, _COPY if serial and line.ident else (_CONSOLE if serial else _LOG), line)


def _entry_stamp(entry, spool):
    """The LogEntry's time; noted by the spool, which learns from it whether the file is newest first."""
    stamp = parse_iso(entry["timestamp"]) if isinstance(entry.get("timestamp"), str) else None
    spool.note_time(stamp)
    return stamp


def _spooled_lines(stream, fmt, source, report, years):
    spool = _Spool()
    failure = None
    host = None
    try:
        try:
            if fmt == FORMAT_CLOUD_LOGGING:
                for index, entry in enumerate(_json_entries(stream, report)):
                    _log_entry(entry, source, years, report, spool, index)
            else:
                host = _spool_serial(stream, fmt, source, report, years, spool)
        except (EOFError, OSError, LogDamage) as exc:
            # A file cut short, or a damaged gzip file: what was read still counts; the error is raised after it.
            failure = exc
        reverse = spool.order < 0
        if reverse:
            report.notes.append("entries newest first: read in reverse")
        for line in spool.replay(source, reverse, report):
            if host is not None:
                line.host = host
            yield line
    finally:
        spool.close()
    if failure is not None:
        raise failure


def _spool_serial(stream, fmt, source, report, years, spool):
    """Spool serial port output; return the VM it names (selfLink, else the first syslog host name) or None."""
    hosts = []

    def on_line(text):
        if not line_may_matter(text):
            return
        for cleaned in _clean_terminal(text.replace("\n", "\r")):
            line = _text_line(cleaned, source, years, True, report)
            if line is not None:
                if line.host and not hosts:
                    hosts.append(line.host)
                # One VM per file: its name is set on replay, so copies of a line compare equal.
                line.host = None
                spool.add(spool.count, _COPY if line.ident else _CONSOLE, line)

    if fmt == FORMAT_SERIAL_TEXT:
        for raw, _cut in lines(stream.readinto, MAX_LINE_CHARS):
            report.entries += 1
            on_line(decode(raw))
        return hosts[0] if hosts else None
    self_link = _serial_object(_JsonReader(stream), report, on_line)
    match = _RE_INSTANCE.search(self_link or "")
    if match:
        return match.group(1)
    report.notes.append("no selfLink naming the VM")
    return hosts[0] if hosts else None


def _stamp_record(stamp):
    if stamp is None:
        return None
    delta = stamp - _EPOCH
    return [(delta.days * 86400 + delta.seconds) * 1000000 + delta.microseconds, int(stamp.utcoffset().total_seconds())]


def _stamp_from_record(record):
    if record is None:
        return None
    zone = datetime.timezone(datetime.timedelta(seconds=record[1]))
    return (_EPOCH + datetime.timedelta(microseconds=record[0])).astimezone(zone)


class _Spool:
    """Prefiltered lines in a temporary file, replayed once the whole file's order and duplicates are known.

    A line is dropped on replay when the same host's same message is also in a better log of the file: the
    Ops Agent's syslog or journal entries, then rsyslog's console copy, then the kernel's console line.
    """

    def __init__(self):
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._best = {}
        self.count = 0
        self.order = 0
        self._last_stamp = None

    def close(self):
        self._file.close()

    def note_time(self, stamp):
        if stamp is not None and self._last_stamp is not None and stamp != self._last_stamp:
            self.order += 1 if stamp > self._last_stamp else -1
        self._last_stamp = stamp if stamp is not None else self._last_stamp

    def add(self, group, rank, line):
        stamp = line.timestamp
        record = [group, rank, line.message, line.kernel, line.ident, _stamp_record(stamp), line.uptime_us]
        record.extend((line.boot, line.host, line.confirm_scope))
        self._file.write(json.dumps(record, separators=(",", ":")).encode("ascii") + b"\n")
        self.count += 1
        key = hash((line.host, line.message))
        if rank > self._best.get(key, 0) and (key in self._best or len(self._best) < MAX_DEDUP_KEYS):
            self._best[key] = rank

    def _records(self, reverse):
        self._file.flush()
        self._file.seek(0)
        if not reverse:
            for raw in self._file:
                yield json.loads(raw)
            return
        # Newest first in the file: replay last to first, each entry's own lines still in their order.
        group, pending = None, []
        for raw in _lines_backwards(self._file):
            record = json.loads(raw)
            if record[0] != group and pending:
                yield from reversed(pending)
                pending = []
            group = record[0]
            pending.append(record)
        yield from reversed(pending)

    def replay(self, source, reverse, report):
        for _group, rank, message, kernel, ident, stamp, uptime_us, boot, host, scope in self._records(reverse):
            if self._best.get(hash((host, message)), rank) > rank:
                report.duplicates += 1
                continue
            line = Line(message, source, kernel=kernel, ident=ident, timestamp=_stamp_from_record(stamp), boot=boot)
            line.uptime_us = uptime_us
            line.host = host
            line.confirm_scope = scope
            yield line


def _lines_backwards(handle):
    """The lines of a binary file, last to first, read in chunks from the end."""
    handle.seek(0, 2)
    end = handle.tell()
    rest = b""
    while end > 0:
        start = max(0, end - CHUNK_SIZE)
        handle.seek(start)
        block = handle.read(end - start) + rest
        end = start
        lines = block.split(b"\n")
        rest = lines[0]
        for line in reversed(lines[1:]):
            if line:
                yield line
    if rest:
        yield rest
