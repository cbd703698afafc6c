# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Streaming parser for OOM kill reports of the kernel, systemd-oomd and earlyoom.

PRIVATE to the oomguard.memory collection. No compatibility promise.

The parser is fed one log line (or one structured journal entry) at a time, oldest first, and keeps
only the context of the OOM event in progress plus the newest C(max_kills) kills, so its memory does
not grow with the size of the log. Log text is attacker-controlled: every line is cut to
C(MAX_LINE_CHARS) before it is parsed, the parsing runs in time linear in the line's length (fixed
strings are located with C(str.find), key=value formats are split, regular expressions have no nested
or overlapping quantifiers), and every string that ends up in a result is capped.

Which lines reach the parser: every line it uses contains one of C(SCAN_NEEDLES) (case-sensitive), except
four kinds that only matter right after another record (the dump_stack banner after a header, the reaper
line after a kill, a split summary's second half, a panic after a header or a "no killable processes"
line). Readers that see every line (the journal, /dev/kmsg, dmesg) feed whatever passes
C(line_may_matter()). The file reader finds the C(SCAN_NEEDLES) lines with C(bytes.find) and asks
C(OomLogParser.wanted_needles()) which of the four kinds the parser is waiting for before each of them;
the parser only uses those kinds while it waits for them, so both ways give the same result.
"""

from __future__ import annotations

import collections
import datetime
import hashlib
import re
import time

from ansible_collections.oomguard.memory.plugins.module_utils._cgroup import (
    container_from_cgroup,
    path_under,
    unit_from_cgroup,
)
from ansible_collections.oomguard.memory.plugins.module_utils._proc import is_python

# Limits. A line longer than MAX_LINE_CHARS (far above any real kernel, systemd or earlyoom line; rsyslog's
# default maximum is 8 KiB) is cut to it before any parsing.
MAX_LINE_CHARS = 16384
MAX_KILLS_LIMIT = 10000
MAX_COMM_CHARS = 64
MAX_PATH_CHARS = 512
MAX_MESSAGE_CHARS = 512
MAX_CMDLINE_CHARS = 512
MAX_NAME_CHARS = 256
MAX_PANICS = 20

# Every line the parser uses contains one of these, except the kinds in LAZY_NEEDLES.
SCAN_NEEDLES = ("ill", "sending SIG")
# More precisely, every such line holds one of these record markers (each contains a needle), so a file reader
# may skip a needle that is not part of one (pgrefill, will, "killed by the OOM killer", oom_kill_process+0x..).
RECORD_MARKERS = (
    "Killed process",
    "Kill process",
    "Killing process",
    "Killed /",
    "killed as a result",
    "killed due to",
    "for killing",
    "systemd-oomd killed",
    "invoked oom-killer",
    "oom-kill:",
    "no killable",
    "sending SIG",
)
# What each waiting state looks for: the dump_stack banner (CPU: .. Comm: / RHEL 6 Pid: .., comm:), the reaper
# line, the second half of a summary the kernel printed in two pieces, and a panic.
BANNER_NEEDLE = "omm: "
REAPER_NEEDLE = "reaped process"
SUMMARY_TAIL_NEEDLES = (",oom_memcg=", ",global_oom")
PANIC_NEEDLE = "not syncing"
LAZY_NEEDLES = (BANNER_NEEDLE, REAPER_NEEDLE, *SUMMARY_TAIL_NEEDLES, PANIC_NEEDLE)
ALL_NEEDLES = SCAN_NEEDLES + LAZY_NEEDLES
# journalctl --grep takes a PCRE2 pattern; it is run with --case-sensitive=false, a superset of ALL_NEEDLES.
JOURNAL_GREP_PATTERN = "|".join(re.escape(needle) for needle in ALL_NEEDLES)

KILLER_KERNEL = "kernel"
KILLER_OOMD = "systemd-oomd"
KILLER_EARLYOOM = "earlyoom"
KILLERS = (KILLER_KERNEL, KILLER_OOMD, KILLER_EARLYOOM)
KINDS = ("global", "memcg", "allocating_task", "sysrq", "unknown", KILLER_OOMD, KILLER_EARLYOOM)
SCOPE_LOCAL = "local"
SCOPE_HOST = "host"
# kill_count_by_host's key for kills whose record names no host (a copied log without host names)
UNKNOWN_HOST = "unknown"

# The keys of every kill record, in the order they are returned (the facts contract).
KILL_KEYS = (
    "id",
    "killer",
    "kind",
    "scope",
    "host",
    "boot_id",
    "pid",
    "comm",
    "uid",
    "unit",
    "cgroup",
    "container",
    "python",
    "timestamp",
    "uptime_s",
    "source",
    "message",
    "rss_kb",
    "anon_rss_kb",
    "file_rss_kb",
    "shmem_rss_kb",
    "total_vm_kb",
    "pgtables_kb",
    "oom_score_adj",
    "constraint",
    "oom_memcg",
    "task_memcg",
    "trigger_comm",
    "trigger_pid",
    "oom_group",
    "reaped_anon_rss_kb",
    "reason",
    "queued",
    "pressure_cgroup",
    "pressure_pct",
    "pressure_limit_pct",
    "pressure_duration",
    "processes",
    "signal",
    "oom_score",
    "cmdline",
)

_TIME = r"\d\d:\d\d:\d\d(?:\.\d{1,9})?"
_HOST = r"(?:(?P<host>[^\s:]{1,255})\s+)?"
_IDENT = r"(?P<ident>[^\s\[\]:]{1,64})(?:\[(?P<ident_pid>\d{1,10})\])?:\s?"
_RE_KMSG = re.compile(r"^(?P<prio>\d{1,4}),(?P<seq>\d{1,20}),(?P<usec>\d{1,20}),[^;]{0,64};")
_RE_ISO = re.compile(
    r"^(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?)\s+" + _HOST + _IDENT
)
# The month is a word in most locales but "3月" (ja, zh) or "3월" (ko) in some.
_RE_SYSLOG = re.compile(
    r"^(?P<month>[^\s\[\]\d]{1,16}|\d{1,2}(?:月|월))\s+(?P<day>\d{1,2})\s+(?P<time>" + _TIME + r")\s+" + _HOST + _IDENT
)
# A stamp without host and identifier, as a wrapper around earlyoom's own output writes it: "Mar 03 10:30:00: ".
_RE_BARE_STAMP = re.compile(r"^(?P<month>[^\s\[\]\d:]{1,16})\s+(?P<day>\d{1,2})\s+(?P<time>" + _TIME + r"):\s")
_RE_MONO_J = re.compile(r"^\[\s{0,12}(?P<secs>\d{1,10}\.\d{1,9})\]\s+" + _HOST + _IDENT)
_RE_TAG = re.compile(r"^(?P<ident>kernel|systemd-oomd|earlyoom|systemd)(?:\[(?P<ident_pid>\d{1,10})\])?:\s?")
_RE_SECS = re.compile(r"^\[\s{0,12}(?P<secs>\d{1,10}\.\d{1,9})\]\s?")
_RE_DMESG_T = re.compile(r"^\[(?P<stamp>[^\]]{0,48}\d:\d\d:\d\d \d{4})\]\s?")
# Terminal escapes: CSI (colours, cursor moves, erase), OSC (titles; BEL or ST ends it), charset selection and
# the two-byte escapes. Every alternative stops at a character its classes cannot take: linear time.
RE_TERMINAL_ESCAPE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[()][0-9A-Za-z]?|[@-Z\\-_]?)"
)
_USERSPACE_WRITERS = {"systemd-oomd": "systemd-oomd", "earlyoom": "earlyoom", "unit": "systemd"}

RE_BANNER = re.compile(
    r"^CPU: \d{1,6} (?:UID: \d{1,10} )?PID: (?P<pid>\d{1,10}) Comm: (?P<comm>.{1,64}?) (?:Not tainted|Tainted)"
)
RE_BANNER_EL6 = re.compile(r"^Pid: (?P<pid>\d{1,10}), comm: (?P<comm>.{1,64}?) (?:Not tainted|Tainted)")

_CONTEXTS = ("Out of memory", "Memory cgroup out of memory")
_SUMMARY_KEYS = (
    ",nodemask=",
    ",cpuset=",
    ",mems_allowed=",
    ",global_oom",
    ",oom_memcg=",
    ",task_memcg=",
    ",task=",
    ",pid=",
    ",uid=",
)
_CUT_MARKERS = (">", "…")
_NO_KILLABLE_STARTS = (
    "Out of memory and no killable processes",
    "Kernel panic - not syncing: Out of memory and no killable processes",
)

# Month abbreviations and names in the locales journalctl and dmesg -T are commonly run with.
_MONTH_NAMES = {
    1: "jan janv janv. januar januari january jänner jän ene enero gen gennaio janeiro sty stycznia январь янв"
    " января led",
    2: "feb fév févr févr. février februar februari february febrero febbraio fevereiro fev lut lutego февраль фев"
    " февр февраля úno",
    3: "mar mär mär. märz mars march marzo março maart mrt mar. marca март мар марта bře",
    4: "apr avr avr. avril april abr abril aprile kwi kwietnia апрель апр апреля dub",
    5: "may mai mei maj mayo mag maggio maio мая май kvě",
    6: "jun juin juni june junio giu giugno junho cze czerwca июнь июн июня čvn",
    7: "jul juil juil. juillet juli july julio lug luglio julho lip lipca июль июл июля čvc",
    8: "aug août august augusti agosto ago sie sierpnia авг август августа srp",
    9: "sep sept sept. september septembre septiembre set settembre setembro wrz września сен сент сентябрь"
    " сентября zář",
    10: "oct okt oct. octobre oktober october octubre ott ottobre out outubro paź października окт октябрь октября říj",
    11: "nov nov. novembre november noviembre novembro lis listopada ноя нояб ноябрь ноября",
    12: "dec déc déc. décembre dezember december diciembre dic dicembre dez dezembro gru grudnia дек декабрь"
    " декабря pro",
}
MONTHS = {name: number for number, names in _MONTH_NAMES.items() for name in names.split()}
_RE_NUMERIC_MONTH = re.compile(r"^(?P<number>\d{1,2})\s{0,4}(?:月|월|\.)?$")
_RE_ZONE = re.compile(r"([+-])(\d\d):?(\d\d)$")


def cap(text, limit):
    """C(text) cut to C(limit) characters (the last one an ellipsis when cut); None stays None."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def digits(text, allow_sign=False):
    """The int an ASCII decimal string of at most 20 digits stands for, or None (no whitespace, no other scripts)."""
    if text.isdigit() and text.isascii() and len(text) <= 20:
        return int(text)
    if allow_sign and text[:1] == "-" and text[1:].isdigit() and text.isascii() and len(text) <= 21:
        return int(text)
    return None


_RE_UNSIGNED = re.compile(r"[0-9]{1,20}")
_RE_SIGNED = re.compile(r"-?[0-9]{1,20}")


def leading_digits(text, start=0, allow_sign=False):
    """The integer at C(text[start:]) and the index after it, or (None, start)."""
    match = (_RE_SIGNED if allow_sign else _RE_UNSIGNED).match(text, start)
    if match is None:
        return None, start
    return int(match.group()), match.end()


class Line:
    """One log line after its prefix is stripped.

    C(kernel) is True for kernel messages, False for userspace ones and None when the source cannot tell.
    C(uptime_us) is the kernel's own time of the record in microseconds since boot, when the source
    carries it (kmsg, dmesg, the journal's _SOURCE_MONOTONIC_TIMESTAMP, a [secs] prefix); C(uptime) is the
    same in seconds. The timestamp is parsed from the prefix only when it is read.
    C(confirm_scope), for the user manager's unit lines, is the cgroup prefix they may speak about.
    """

    __slots__ = (
        "_stamp",
        "_stamp_parser",
        "boot",
        "confirm_scope",
        "host",
        "ident",
        "kernel",
        "message",
        "parsed",
        "prefix_parsed",
        "source",
        "uptime_us",
    )

    def __init__(self, message, source, kernel=None, ident=None, timestamp=None, uptime=None, boot=None, host=None):
        self.message = message if len(message) <= MAX_LINE_CHARS else message[:MAX_LINE_CHARS]
        self.source = source
        self.kernel = kernel
        self.ident = ident
        self._stamp = timestamp
        self._stamp_parser = None
        self.uptime_us = None
        if uptime is not None:
            self.uptime = uptime
        self.boot = boot
        self.host = host
        self.confirm_scope = None
        self.prefix_parsed = True
        self.parsed = None

    @property
    def uptime(self):
        return self.uptime_us / 1e6 if self.uptime_us is not None else None

    @uptime.setter
    def uptime(self, value):
        self.uptime_us = None if value is None else round(value * 1e6)

    @property
    def timestamp(self):
        if self._stamp_parser is not None:
            parse, arguments = self._stamp_parser
            self._stamp_parser = None
            self._stamp = parse(*arguments)
        return self._stamp

    @timestamp.setter
    def timestamp(self, value):
        self._stamp = value
        self._stamp_parser = None

    def defer_timestamp(self, parse, *arguments):
        """Set the timestamp to C(parse(*arguments)), computed on first use."""
        self._stamp = None
        self._stamp_parser = (parse, arguments)


def looks_like_record(text):
    """True when a line holds a record marker: what a forged record needs to pass for a kill or an OOM event."""
    return any(marker in text for marker in RECORD_MARKERS)


def line_may_matter(text):
    """Prefilter for readers that see every line: False when the parser cannot use the line."""
    return any(needle in text for needle in ALL_NEEDLES)


def month_number(name):
    """Month number for an abbreviated or full month name in a common locale, or None."""
    key = name.strip().lower()
    if key in MONTHS:
        return MONTHS[key]
    match = _RE_NUMERIC_MONTH.match(key)
    if match and 1 <= int(match.group("number")) <= 12:
        return int(match.group("number"))
    return MONTHS.get(key.rstrip("."))


_ZONES = {}


def _local(naive):
    """Attach the managed host's local zone to a naive local time; None when it cannot be represented.

    The zone's offset is looked up once per hour of local time (astimezone() asks the C library every time).
    """
    key = (naive.year, naive.month, naive.day, naive.hour, time.tzname)
    zone = _ZONES.get(key)
    if zone is None:
        try:
            zone = naive.replace(minute=30, second=0, microsecond=0).astimezone().tzinfo
        except (OverflowError, OSError, ValueError):
            return None
        if len(_ZONES) > 4096:
            _ZONES.clear()
        _ZONES[key] = zone
    return naive.replace(tzinfo=zone)


def _fraction_micro(fraction):
    return int((fraction + "000000")[:6]) if fraction else 0


def parse_iso(text):
    """Parse an RFC 3339 / ISO 8601 stamp as journalctl and rsyslog write it; an aware datetime, or None.

    Total: any string gives a datetime or None, never an exception.
    """
    if not isinstance(text, str) or len(text) > 64:
        return None
    if len(text) == 32 and text[10] == "T" and text[19] == "." and text[29] == ":" and text.isascii():
        # the common case, journalctl short-iso-precise and rsyslog RFC 3339: 2026-03-03T10:11:12.123456+00:00
        try:
            return datetime.datetime.fromisoformat(text)
        except ValueError:
            pass
    text = text.strip().replace(",", ".")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    zone = _RE_ZONE.search(text)
    offset = ""
    if zone:
        text, offset = text[: zone.start()], zone.group(1) + zone.group(2) + ":" + zone.group(3)
    head, dot, fraction = text.partition(".")
    if dot and not (fraction.isascii() and fraction.isdigit()):
        return None
    try:
        date_part, _sep, clock = head.partition("T")
        year, month, day = (int(part) for part in date_part.split("-"))
        hours, minutes, seconds = (int(part) for part in clock.split(":")) if clock else (0, 0, 0)
        if not (head.isascii() and len(date_part) == 10):
            return None
        stamp = datetime.datetime(year, month, day, hours, minutes, seconds, _fraction_micro(fraction))
        if offset:
            sign = -1 if offset[0] == "-" else 1
            delta = datetime.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
            stamp = stamp.replace(tzinfo=datetime.timezone(sign * delta))
            stamp.timestamp()
            return stamp
    except (ValueError, OverflowError, TypeError):
        return None
    return _local(stamp)


class YearGuesser:
    """Syslog stamps have no year: take the year of a reference time, one earlier for dates after it."""

    def __init__(self, reference):
        self.reference = reference

    def stamp(self, month, day, clock):
        try:
            hours, minutes, seconds = clock.split(":")
            whole, _dot, fraction = seconds.partition(".")
            hours, minutes, whole, micro = int(hours), int(minutes), int(whole), _fraction_micro(fraction)
        except ValueError:
            return None
        for year in (self.reference.year, self.reference.year - 1):
            try:
                naive = datetime.datetime(year, month, day, hours, minutes, whole, micro)
                if naive <= self.reference + datetime.timedelta(days=1):
                    return _local(naive)
            except (ValueError, OverflowError):
                continue
        return None


def parse_dmesg_t(stamp):
    """Parse a C(dmesg -T) stamp such as 'Tue Mar  3 10:11:12 2026' in any locale; None if it cannot."""
    tokens = stamp.split()
    if len(tokens) < 4:
        return None
    year, clock, day = tokens[-1], tokens[-2], tokens[-3].rstrip(".")
    month = month_number(tokens[-4])
    if month is None:
        return None
    try:
        hours, minutes, seconds = (int(part) for part in clock.split(":"))
        return _local(datetime.datetime(int(year), month, int(day), hours, minutes, seconds))
    except (ValueError, OverflowError):
        return None


def _syslog_stamp(years, month_name, day, clock):
    month = month_number(month_name)
    return years.stamp(month, int(day), clock) if month is not None else None


def _secs_to_us(text):
    whole, _dot, fraction = text.partition(".")
    return int(whole) * 1000000 + _fraction_micro(fraction)


def strip_edge_escapes(text):
    """Remove terminal escape sequences at the start and the end of a line (colour around a message).

    Escapes inside a line stay: removing them would join words the file reader never saw in the raw bytes.
    """
    while text.startswith("\x1b"):
        text = text[RE_TERMINAL_ESCAPE.match(text).end() :]
    while True:
        at = text.rfind("\x1b", max(0, len(text) - 40))
        if at == -1:
            return text
        match = RE_TERMINAL_ESCAPE.match(text, at)
        if match is None or match.end() != len(text):
            return text
        text = text[:at]


def has_log_prefix(texts):
    """True when one of the lines of C(texts) starts with a log prefix the parser knows (syslog, ISO 8601, kmsg,
    dmesg, journalctl's): how a text log is told from other text."""
    return any(strip_prefix(text, "").prefix_parsed for text in texts)


def strip_prefix(text, source, kernel_only=False, years=None):
    """Strip the log prefixes of §2 of the format reference, once each and in order, into a Line.

    C(kernel_only) sources (dmesg, /dev/kmsg, a kernel log file) count a line as kernel when no
    userspace identifier says otherwise. The text is cut to MAX_LINE_CHARS first.
    """
    if len(text) > MAX_LINE_CHARS:
        text = text[:MAX_LINE_CHARS]
    if "\x1b" in text:
        text = strip_edge_escapes(text)
    line = Line(text, source)
    rest = text
    tagged = False
    first = text[:1]
    match = None
    if first == "[":
        match = _RE_MONO_J.match(text)
        # journalctl -o short-monotonic prints the host name. Without one, "[secs] word: ..." is plain dmesg output
        # whose message starts with "word:" (oom-kill:, CPU:, oom_reaper:), unless the word carries a pid as a
        # userspace identifier does in a console capture ("[ 77.749670] systemd-oomd[659]: ...").
        if match is not None and (match.group("host") or match.group("ident_pid") or match.group("ident") == "kernel"):
            line.uptime_us = _secs_to_us(match.group("secs"))
        else:
            match = None
    elif first.isdigit():
        kmsg = _RE_KMSG.match(text)
        if kmsg is not None:
            line.uptime_us = int(kmsg.group("usec"))
            line.kernel = int(kmsg.group("prio")) >> 3 == 0
            rest = text[kmsg.end() :]
            tagged = True
        else:
            match = _RE_ISO.match(text)
            if match is not None:
                line.defer_timestamp(parse_iso, match.group("iso"))
            else:
                match = _RE_SYSLOG.match(text)
    elif first and not first.isspace():
        match = _RE_SYSLOG.match(text) or _RE_BARE_STAMP.match(text)
    if match is not None:
        if years is not None and match.re is not _RE_ISO and match.re is not _RE_MONO_J:
            line.defer_timestamp(_syslog_stamp, years, match.group("month"), match.group("day"), match.group("time"))
        if match.re is not _RE_BARE_STAMP:
            ident = match.group("ident")
            line.ident = ident
            line.kernel = ident == "kernel"
            line.host = match.group("host")
        rest = text[match.end() :]
        tagged = True
    elif not tagged and first.isalpha():
        match = _RE_TAG.match(text)
        if match is not None:
            line.ident = match.group("ident")
            line.kernel = line.ident == "kernel"
            rest = text[match.end() :]
            tagged = True
    if rest[:1] == "[" and line.kernel is not False:
        match = _RE_SECS.match(rest)
        if match is not None:
            if line.uptime_us is None:
                line.uptime_us = _secs_to_us(match.group("secs"))
            rest = rest[match.end() :]
            tagged = True
        else:
            match = _RE_DMESG_T.match(rest)
            if match is not None:
                if line._stamp is None and line._stamp_parser is None:
                    line.defer_timestamp(parse_dmesg_t, match.group("stamp"))
                rest = rest[match.end() :]
                tagged = True
    if line.kernel is None and kernel_only:
        line.kernel = True
    elif line.kernel is False:
        # a [secs] prefix of a userspace line is when the journal got it, not a kernel record's time
        line.uptime_us = None
    line.prefix_parsed = tagged
    line.message = rest.rstrip("\r\n") if rest[-1:] in ("\r", "\n") else rest
    return line


# Parsers of single messages (after the prefix). Each runs in time linear in the message's length.


def parse_killed(message, anywhere=False):
    """The fields of a kernel C(Killed process) line of any era (§3.3), or None.

    Returns a dict with pid, comm, uid, total_vm, anon, file, shmem, pgtables, adj, ctx (the context before
    it: "Out of memory", "Memory cgroup out of memory", "Out of memory (oom_kill_allocating_task)", ...)
    and unparsed. The line must start with C(Killed process) or C(<context>: Killed process); with
    C(anywhere) (a line whose log prefix was not recognised) it may follow unknown text, then C(unparsed) is
    True. A line cut by a pager keeps what it still has.
    """
    at = message.find("Killed process ")
    if at < 0:
        return None
    pid, end = leading_digits(message, at + 15)
    if pid is None:
        return None
    head = message[:at]
    ctx = None
    unparsed = False
    if head:
        if head.endswith(": ") and ":" not in head[:-2] and len(head) <= 64:
            ctx = head[:-2]
        elif anywhere and message[end : end + 2] in ("", " (", ", ", "."):
            unparsed = True
        else:
            return None
    found = {
        "pid": pid,
        "comm": None,
        "uid": None,
        "total_vm": None,
        "anon": None,
        "file": None,
        "shmem": None,
        "pgtables": None,
        "adj": None,
        "ctx": ctx,
        "unparsed": unparsed,
        "sizes": None,
    }
    rest = message[end:]
    if rest.startswith(", UID "):
        # RHEL 6: "Killed process %d, UID %d, (%s) total-vm:..."
        rest = _uid_field(rest, found)
        if rest.startswith(", ("):
            rest = rest[2:]
    if rest.startswith(" ("):
        rest = rest[1:]
    if rest.startswith("("):
        comm, rest = _comm_in_parentheses(rest)
        found["comm"] = comm
        if comm is None:
            return found
    if rest.startswith(", UID "):
        # some EL7 kernels: "Killed process %d (%s), UID %d, total-vm:..."
        rest = _uid_field(rest, found)
        if rest.startswith(","):
            rest = rest[1:]
    found["sizes"] = rest
    return found


def _uid_field(text, found):
    """Take the uid of ", UID N" at the start of C(text) into C(found); the text after it."""
    found["uid"], after = leading_digits(text, 6)
    return text[after:]


def killed_sizes(killed):
    """Fill the size fields (total_vm, anon, file, shmem, pgtables, UID:, oom_score_adj) of a parse_killed() dict."""
    rest = killed.pop("sizes", None)
    if rest:
        _size_fields(rest, killed)
    return killed


def _comm_in_parentheses(text):
    """Split "(comm) rest" where comm may itself hold ")" (it ends before " total-vm:", ", UID", the end of the
    line, or a field name a pager cut); (None, text) when the closing parenthesis was cut off."""
    best = None
    limit = min(len(text), MAX_COMM_CHARS + 2)
    position = text.find(")", 1, limit)
    while position != -1:
        if text.startswith((" total-vm:", ", UID "), position + 1) or (best is None and _ends_line(text, position)):
            best = position
        position = text.find(")", position + 1, limit)
    if best is None:
        return None, text
    return text[1:best], text[best + 1 :]


def _ends_line(text, position):
    """True when the ")" at C(position) ends the line, maybe before "." or a field name a pager cut."""
    rest = len(text) - position - 1
    if rest == 0 or (rest == 1 and text.endswith(".")):
        return True
    return rest <= 24 and _is_cut_field_name(text[position + 1 :])


def _is_cut_field_name(text):
    """True for " tot…", " total-v>": the start of a field name cut by a pager."""
    if not text.endswith(_CUT_MARKERS) or not text.startswith(" ") or len(text) > 24:
        return False
    body = text[1:].rstrip(">…")
    return body == "" or all(char.isalpha() or char == "-" for char in body)


_SIZE_KEYS = {
    "total-vm": "total_vm",
    "anon-rss": "anon",
    "file-rss": "file",
    "shmem-rss": "shmem",
    "pgtables": "pgtables",
    "UID": "uid",
    "oom_score_adj": "adj",
}


def _size_fields(text, found):
    """Read "total-vm:NkB, anon-rss:NkB, ..., UID:N pgtables:NkB oom_score_adj:N" until the first malformed item."""
    for item in text.replace(",", " ").split(None, 12):
        key, colon, value = item.partition(":")
        name = _SIZE_KEYS.get(key)
        if not colon or name is None:
            break
        if name in ("uid", "adj"):
            number = digits(value, allow_sign=name == "adj")
        else:
            number = digits(value[:-2]) if value.endswith("kB") else None
        if number is None:
            break
        found[name] = number


def parse_header(message):
    """(comm, order) of an C(invoked oom-killer) header line, or None."""
    at = message.find(" invoked oom-killer: ", 0, MAX_COMM_CHARS + 21)
    if at <= 0 or not message.startswith("gfp_mask=", at + 21):
        return None
    order = None
    key = message.find("order=", at + 21, at + 400)
    if key != -1:
        order, _end = leading_digits(message, key + 6, allow_sign=True)
    return message[:at], order


def parse_banner(message):
    """(pid, comm) of the dump_stack banner after a header (3.x-6.x, 6.11+ with UID, RHEL 6), or None."""
    match = RE_BANNER.match(message) or RE_BANNER_EL6.match(message)
    return (int(match.group("pid")), match.group("comm")) if match else None


def is_banner_like(message):
    """The test that ends the wait for a banner: a line that has the banner's words, parsable or not."""
    return BANNER_NEEDLE in message and ("PID: " in message or "Pid: " in message)


def _clean_path(value):
    """A cgroup path from a summary or Task in line, or None when it is not a path or holds another key."""
    if not value or value[0] != "/":
        return None
    if ("=" in value or ",global_oom" in value) and any(key in value for key in _SUMMARY_KEYS):
        return None
    return cap(value, MAX_PATH_CHARS)


def parse_summary(message, comm_hint=None):
    """The fields of an C(oom-kill:) summary line (5.0+, §3.4), split on its keys; None when it is not one.

    task, pid and uid are taken from the end (comm may hold commas); the memcg paths are null when the line
    is ambiguous (a path holding another key's text).
    """
    if not message.startswith("oom-kill:constraint="):
        return None
    body = message[9:]
    uid_at = body.rfind(",uid=")
    pid_at = body.rfind(",pid=", 0, uid_at) if uid_at != -1 else -1
    if pid_at == -1:
        return None
    pid = digits(body[pid_at + 5 : uid_at])
    uid = digits(body[uid_at + 5 :].rstrip())
    if pid is None:
        return None
    task_at = -1
    if comm_hint is not None and body[:pid_at].endswith(",task=" + comm_hint):
        task_at = pid_at - len(comm_hint) - 6
    if task_at == -1:
        task_at = body.rfind(",task=", max(0, pid_at - MAX_COMM_CHARS - 6), pid_at)
    if task_at == -1:
        return None
    left = body[:task_at]
    comma = left.find(",")
    constraint = left[11:comma] if comma != -1 else left[11:]
    if not constraint.startswith("CONSTRAINT_") or len(constraint) > 32:
        return None
    found = {
        "constraint": constraint,
        "oom_memcg": None,
        "task_memcg": None,
        "global": False,
        "task": cap(body[task_at + 6 : pid_at], MAX_COMM_CHARS),
        "pid": pid,
        "uid": uid,
    }
    task_memcg_at = left.find(",task_memcg=")
    if task_memcg_at != -1:
        found["task_memcg"] = _clean_path(left[task_memcg_at + 12 :])
        left = left[:task_memcg_at]
    oom_memcg_at = left.find(",oom_memcg=")
    if oom_memcg_at != -1:
        found["oom_memcg"] = _clean_path(left[oom_memcg_at + 11 :])
    elif left.endswith(",global_oom"):
        found["global"] = True
    return found


def parse_task_in(message):
    """(task_memcg, oom_memcg) of a C(Task in ... killed as a result of limit of ...) line (4.20 and older)."""
    separator = " killed as a result of limit of "
    at = message.find(separator)
    if not message.startswith("Task in ") or at == -1:
        return None
    return _clean_path(message[8:at]), _clean_path(message[at + len(separator) :].rstrip())


def parse_reaper(message):
    """(pid, anon_rss_kb after reaping) of an oom_reaper line, or None."""
    if not message.startswith("oom_reaper: reaped process "):
        return None
    pid, _end = leading_digits(message, 27)
    if pid is None:
        return None
    anon = None
    at = message.find(", now anon-rss:", 27, 27 + MAX_COMM_CHARS + 40)
    if at != -1:
        anon, _end = leading_digits(message, at + 15)
    return pid, anon


def parse_oom_group(message):
    """The memcg of a C(Tasks in ... are going to be killed due to memory.oom.group set) line, or None."""
    tail = " are going to be killed due to memory.oom.group set"
    if not message.startswith("Tasks in "):
        return None
    at = message.find(tail)
    return _clean_path(message[9:at]) if at != -1 else None


def parse_panic(message):
    """The reason of an OOM kernel panic ("Out of memory: ... panic_on_oom is enabled", "System is deadlocked on
    memory"), or None."""
    at = message.find("Kernel panic - not syncing: ")
    if at == -1:
        return None
    reason = message[at + 28 :].rstrip()
    if reason.startswith("Out of memory") or reason.startswith("System is deadlocked on memory"):
        return cap(reason, MAX_MESSAGE_CHARS)
    return None


def parse_oomd(message, cut_allowed):
    """The fields of a systemd-oomd kill line (every era of §4.1), or None.

    "Killed <cgroup> due to ..." and "Marked <cgroup> for killing due to ..." (queued). With C(cut_allowed)
    (the line came from systemd-oomd itself), a line cut by a pager after the cgroup is still a kill; only
    what was cut is null.
    """
    verb = message[:7]
    if verb not in ("Killed ", "Marked ") or message[7:8] != "/":
        return None
    space = message.find(" ", 7)
    cgroup = message[7:space] if space != -1 else message[7:]
    rest = message[space:] if space != -1 else ""
    cut = message.endswith(_CUT_MARKERS)
    lead = " for killing due to " if verb == "Marked " else " due to "
    found = {
        "cgroup": None,
        "queued": verb == "Marked ",
        "reason": None,
        "pressure_cgroup": None,
        "pressure": None,
        "limit": None,
        "duration": None,
    }
    if rest.startswith(lead):
        reason = rest[len(lead) :]
    elif cut_allowed and cut and verb == "Killed " and (rest == "" or lead.startswith(rest.rstrip(">…"))):
        # cut by a pager after the cgroup (or inside it: then the cgroup is unknown)
        reason = None
        if rest == "":
            cgroup = None
    elif cut_allowed and cut and verb == "Marked " and rest.startswith(" for killing"):
        reason = rest[len(lead) :] if rest.startswith(lead) else None
    else:
        return None
    found["cgroup"] = cap(cgroup, MAX_PATH_CHARS) if cgroup else None
    if reason is None:
        return found
    if reason.startswith("memory pressure"):
        found["reason"] = "memory_pressure"
        _oomd_pressure(reason, found)
    elif reason.startswith("swap used") or (reason.startswith("memory used") and " swap used " in reason):
        # the swap kill: "swap used (..)" (v248-v250), "memory used (..) and swap used (..)" (later)
        found["reason"] = "swap"
    elif reason.startswith("memory used"):
        found["reason"] = "memory_used"
    elif cut:
        found["reason"] = _cut_reason(reason.rstrip(">…"))
    else:
        return None
    return found


def _cut_reason(text):
    """The reason of a cut line from the words it still has ("memory p", "swap u"), or None."""
    for words, reason in (("memory pressure", "memory_pressure"), ("memory used", "memory_used"), ("swap", "swap")):
        if len(text) >= min(len(words), 8) and words.startswith(text[: len(words)]):
            return reason
    return None


def _oomd_pressure(reason, found):
    """ "memory pressure for <cgroup> being 71.23% > 50.00% for > 20s with reclaim activity", cut anywhere."""
    words = reason.split(" ", 10)
    # memory pressure for CGROUP being P% > L% for > DURATION with ...
    if len(words) > 3 and words[2] == "for" and not words[3].endswith(_CUT_MARKERS):
        found["pressure_cgroup"] = cap(words[3], MAX_PATH_CHARS)
    if len(words) > 5 and words[4] == "being":
        found["pressure"] = _percent(words[5])
    if len(words) > 7 and words[6] == ">":
        found["limit"] = _percent(words[7])
    if len(words) > 10 and words[8:10] == ["for", ">"]:
        duration = words[10].split(" ", 1)[0]
        if not duration.endswith(_CUT_MARKERS):
            found["duration"] = cap(duration, 32)


def _percent(word):
    if not word.endswith("%"):
        return None
    whole, dot, fraction = word[:-1].partition(".")
    if digits(whole) is None or (dot and digits(fraction) is None):
        return None
    return float(word[:-1])


def parse_oomd_unit(message):
    """(unit, process count) of the manager's "<unit>: systemd-oomd killed N process(es) in this unit." line."""
    at = message.find(": systemd-oomd killed ")
    if at <= 0 or at > MAX_NAME_CHARS or " " in message[:at]:
        return None
    count, end = leading_digits(message, at + 22)
    if count is None or not message.startswith(" process(es) in this unit", end):
        return None
    return message[:at], count


def parse_earlyoom(message):
    """The fields of an earlyoom kill line (v1.0 to v1.9, §4.2), or None. Self-tests (signal 0) are not kills."""
    at = message.find("sending SIG")
    if at != -1:
        return _earlyoom_sending(message, at)
    at = message.find("Killing process")
    if at == -1:
        return None
    rest = message[at + 15 :]
    found = {"signal": None, "pid": None, "uid": None, "comm": None, "score": None, "adj": None, "rss_mib": None}
    found["cmdline"] = None
    if rest.startswith(" '"):
        # v1.2: Killing process '%s' with signal %d, pid: %d, badness: %d, VmRSS: %lu MiB
        end = rest.find("' with signal ", 2, 2 + MAX_COMM_CHARS + 2)
        if end == -1:
            return None
        found["comm"] = rest[2:end]
        signo, after = leading_digits(rest, end + 14)
        if signo is None or signo == 0:
            return None
        found["signal"] = {9: "SIGKILL", 15: "SIGTERM"}.get(signo, "signal %d" % signo)
        _earlyoom_fields(rest[after:], found)
    elif rest.startswith(": "):
        # v1.1: Killing process: %s, pid: %d, badness: %d, VmRSS: %lu MiB
        end = rest.find(", pid: ", 2, 2 + MAX_COMM_CHARS + 7)
        if end == -1:
            return None
        found["comm"] = rest[2:end]
        _earlyoom_fields(rest[end:], found)
    elif rest.startswith(" ") and message[:at].strip() == "":
        # v1.0: Killing process %d %s
        found["pid"], after = leading_digits(rest, 1)
        if found["pid"] is None or rest[after : after + 1] != " ":
            return None
        name = rest[after + 1 :].strip()
        if name.startswith("(") and ") with signal " in name:
            # systemd's "Killing process N (comm) with signal SIGKILL." as it stops a unit: no OOM kill
            return None
        found["comm"] = name or None
    else:
        return None
    return found if found["pid"] is not None else None


def _earlyoom_fields(text, found):
    """ ", pid: N, badness: N, VmRSS: N MiB" in any order."""
    for item in text.split(", "):
        key, colon, value = item.partition(": ")
        if not colon:
            continue
        if key == "pid":
            found["pid"] = digits(value)
        elif key == "badness":
            found["score"] = digits(value, allow_sign=True)
        elif key == "VmRSS" and value.endswith(" MiB"):
            found["rss_mib"] = digits(value[:-4])


def _earlyoom_sending(message, at):
    """v1.3+: sending %s to process %d [uid %d] "%s": badness|oom_score %d[, oom_score_adj %d], VmRSS %d MiB
    [, cmdline "%s"]"""
    words_end = message.find(" to process ", at + 8, at + 40)
    if words_end == -1:
        return None
    signal = message[at + 8 : words_end]
    if not (signal.isascii() and signal.isalnum()):
        return None
    found = {"signal": signal, "uid": None, "comm": None, "score": None, "adj": None, "rss_mib": None}
    found["cmdline"] = None
    found["pid"], after = leading_digits(message, words_end + 12)
    if found["pid"] is None:
        return None
    if message.startswith(" uid ", after):
        found["uid"], after = leading_digits(message, after + 5)
    if not message.startswith(' "', after):
        return found
    comm_end = message.find('": ', after + 2, after + 2 + MAX_COMM_CHARS + 3)
    if comm_end == -1:
        return found
    found["comm"] = message[after + 2 : comm_end]
    rest = message[comm_end + 3 :]
    cmdline_at = rest.find(', cmdline "')
    if cmdline_at != -1:
        cmdline = rest[cmdline_at + 11 :]
        found["cmdline"] = cmdline[:-1] if cmdline.endswith('"') else cmdline
        rest = rest[:cmdline_at]
    for item in rest.split(", "):
        key, _space, value = item.partition(" ")
        if key in ("badness", "oom_score"):
            found["score"] = digits(value, allow_sign=True)
        elif key == "oom_score_adj":
            found["adj"] = digits(value, allow_sign=True)
        elif key == "VmRSS" and value.endswith(" MiB"):
            found["rss_mib"] = digits(value[:-4])
    return found


# Line kinds for the event state machine.
_KILL, _HEADER, _NO_KILLABLE, _OTHER = "kill", "header", "no_killable", "other"


def _iso(stamp):
    if stamp is None:
        return None
    try:
        return stamp.isoformat(timespec="microseconds" if stamp.microsecond else "seconds")
    except (ValueError, OverflowError):
        return None


def _epoch(stamp):
    try:
        return stamp.timestamp() if stamp is not None else None
    except (ValueError, OverflowError, OSError):
        return None


def _line_seconds(line):
    """The time of a line on the clock it has: kernel time first (what consecutive kernel records share)."""
    if line.uptime_us is not None:
        return ("u", line.uptime_us / 1e6)
    seconds = _epoch(line.timestamp)
    return None if seconds is None else ("t", seconds)


def _near(first, second, seconds):
    """True when two _line_seconds() values are within C(seconds), or when either is unknown."""
    if first is None or second is None or first[0] != second[0]:
        return True
    return abs(first[1] - second[1]) <= seconds


class _Kill:
    """One kill as the parser keeps it; C(record()) turns it into the dict of the facts contract."""

    __slots__ = ("banner_message", "fields", "header", "killed", "line")

    def __init__(self, fields, line, killed=None):
        self.fields = fields
        self.line = line
        self.killed = killed
        self.banner_message = None
        self.header = None

    def record(self):
        """The kill record; what only a returned record needs is parsed here, once."""
        fields = self.fields
        if self.killed is not None:
            killed = killed_sizes(self.killed)
            self.killed = None
            anon, file_, shmem = killed["anon"], killed["file"], killed["shmem"]
            fields.update(
                {
                    "anon_rss_kb": anon,
                    "file_rss_kb": file_,
                    "shmem_rss_kb": shmem,
                    "total_vm_kb": killed["total_vm"],
                    "pgtables_kb": killed["pgtables"],
                    "oom_score_adj": killed["adj"],
                    "rss_kb": None if anon is None else anon + (file_ or 0) + (shmem or 0),
                }
            )
            if killed["uid"] is not None:
                fields["uid"] = killed["uid"]
        if self.banner_message is not None and self.header is not None:
            banner = parse_banner(self.banner_message)
            if banner and banner[1] == self.header[0]:
                fields["trigger_pid"] = banner[0]
            self.banner_message = None
        if "id" not in fields:
            line = self.line
            fields["id"] = kill_id(fields, line)
            fields["timestamp"] = _iso(line.timestamp)
            fields["boot_id"] = line.boot
            fields["python"] = is_python(fields.get("comm"), (fields.get("cmdline") or "").split(" ", 1)[0])
            fields["uptime_s"] = line.uptime
            fields["source"] = line.source
            fields["message"] = cap(line.message, MAX_MESSAGE_CHARS)
        record = dict.fromkeys(KILL_KEYS)
        record.update(fields)
        return record


class _Event:
    """The kernel OOM event in progress in one source, and what the parser waits for in it."""

    __slots__ = (
        "banner_message",
        "banner_wait",
        "candidate_ctx",
        "group_memcg",
        "group_time",
        "header",
        "header_used",
        "killed",
        "last_kill",
        "panic_wait",
        "reap_pending",
        "summary",
        "summary_fragment",
        "task_in",
        "tentative_panics",
    )

    def __init__(self):
        self.header = None
        self.header_used = False
        self.banner_wait = False
        self.banner_message = None
        self.summary = None
        self.summary_fragment = None
        self.task_in = None
        self.candidate_ctx = None
        self.group_memcg = None
        self.group_time = None
        self.killed = collections.OrderedDict()
        self.last_kill = None
        self.panic_wait = False
        self.tentative_panics = []
        self.reap_pending = collections.OrderedDict()


class OomLogParser:
    """Assemble OOM kills from prefix-stripped lines; keeps the newest C(max_kills) kills.

    C(local_cgroup_prefixes): None on a host (every kill is this host's); inside a container, the cgroup paths
    (as the kernel prints them) that belong to the container. A kernel kill whose memcg lies under none of them
    (or is unknown) is the container host's: C(scope=host), counted in C(host_scope_kill_count), not in
    C(kill_count).

    C(booted) and C(hostname): when this host booted (an aware datetime) and its name. Kernel kills logged without
    a boot id (syslog files) by this host (or by no named host) since then are counted, whatever C(max_kills), in
    C(kernel_kills_since_boot_without_id).
    """

    DEDUP_SECONDS = 1.0
    EARLYOOM_ESCALATION_SECONDS = 30.0
    MAX_PENDING = 64

    def __init__(self, max_kills=100, since=None, local_cgroup_prefixes=None, booted=None, hostname=None):
        self.kills = collections.deque(maxlen=min(max(max_kills, 0), MAX_KILLS_LIMIT))
        self.kill_count = 0
        self.host_scope_kill_count = 0
        self.kill_count_by_source = collections.Counter()
        self.kill_count_by_unit = collections.Counter()
        self.kill_count_by_host = collections.Counter()
        self.kill_count_by_killer = collections.Counter(dict.fromkeys(KILLERS, 0))
        self.kill_count_by_kind = collections.Counter(dict.fromkeys(KINDS, 0))
        self.kernel_kills_by_boot = collections.Counter()
        self.kernel_kills_since_boot_without_id = 0
        self.booted = booted
        self.own_host = short_host(hostname)
        self.untrusted_by_source = collections.Counter()
        self.records_by_source = collections.Counter()
        self.panics = collections.deque(maxlen=MAX_PANICS)
        self.no_killable_count = 0
        self.unparsed_prefix_lines = 0
        self.oldest_record = None
        self.since = since
        self.local_cgroup_prefixes = None if local_cgroup_prefixes is None else tuple(local_cgroup_prefixes)
        self._events = {}
        self._recent_keys = collections.OrderedDict()
        self._last_earlyoom = collections.OrderedDict()
        self._pending_oomd = collections.OrderedDict()
        self._cgroup_cache = {}

    # Public entry points

    def prepare(self, text, source, kernel_only=False, years=None):
        """The Line for one raw log line, or None for a line the parser never uses."""
        if len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS]
        if text.startswith(" ") and "=" in (text.split(None, 1) or ("",))[0]:
            # The KEY=value dictionary lines after a record of a raw /dev/kmsg dump.
            return None
        return strip_prefix(text, source, kernel_only=kernel_only, years=years)

    def feed_text(self, text, source, kernel_only=False, years=None):
        """Feed one raw log line; returns its Line (or None when it was skipped)."""
        line = self.prepare(text, source, kernel_only, years)
        if line is not None:
            self.feed(line)
        return line

    def feed(self, line):
        """Feed one Line (the file reader, the journal and the formats reader come here)."""
        if len(line.message) > MAX_LINE_CHARS:
            line.message = line.message[:MAX_LINE_CHARS]
        message = line.message
        if line.kernel is False:
            self._feed_userspace(line, message)
            return
        if line.kernel is None and line.ident is None and self._feed_userspace(line, message):
            return
        self._feed_kernel(line, message)

    def note_untrusted(self, source, count=1):
        """Count records of a source that failed the provenance check (they are never kills)."""
        self.untrusted_by_source[source] += count

    def note_time(self, stamp):
        """Note the time of a record a reader saw (for the oldest record read)."""
        if stamp is not None and (self.oldest_record is None or stamp < self.oldest_record):
            self.oldest_record = stamp

    def classify(self, line):
        """The event role of a Line, as C(feed()) treats it: 'kill', 'header', 'no_killable' or 'other'."""
        message = line.message
        if line.kernel is False or (line.kernel is None and line.ident is None and self._userspace_record(message)):
            return _OTHER
        if message.startswith((*SUMMARY_TAIL_NEEDLES, "oom-kill:", "oom_reaper: reaped process ", "Task in ")):
            return _OTHER
        if "Killed process " in message:
            line.parsed = parse_killed(message, anywhere=not line.prefix_parsed)
            if line.parsed is not None:
                return _KILL
        if " invoked oom-killer: " in message and parse_header(message) is not None:
            return _HEADER
        if message.startswith(_NO_KILLABLE_STARTS):
            return _NO_KILLABLE
        return _OTHER

    def waiting(self, source):
        """True when the parser waits for a line of one of the lazy kinds in C(source)."""
        events = self._events.get(source)
        if events:
            for event in events.values():
                if event.banner_wait or event.panic_wait or event.reap_pending or event.summary_fragment is not None:
                    return True
        return False

    def wanted_needles(self, source, next_is_kill=None):
        """The lazy needles the parser waits for in the text before the next line of C(source).

        C(next_is_kill): None, or a function telling for a host whether its next kill, header or "no killable"
        line is a kill (None: unknown). A panic line is kept only when no kill of its host comes after it, so it
        is not wanted before one.
        """
        wanted = []
        for host, event in self._events.get(source, {}).items():
            if event.banner_wait:
                wanted.append(BANNER_NEEDLE)
            if event.reap_pending:
                wanted.append(REAPER_NEEDLE)
            if event.summary_fragment is not None:
                wanted.extend(SUMMARY_TAIL_NEEDLES)
            if event.panic_wait and not (next_is_kill and next_is_kill(host)):
                wanted.append(PANIC_NEEDLE)
        return wanted

    def end_source(self, source):
        """Close the events of a source: a panic with no kill after it is kept."""
        for event in self._events.pop(source, {}).values():
            self._commit_panics(event)

    def result(self):
        for source in list(self._events):
            self.end_source(source)
        return {
            "kills": [kill.record() for kill in self.kills],
            "kill_count": self.kill_count,
            "kill_count_by_killer": dict(self.kill_count_by_killer),
            "kill_count_by_kind": dict(self.kill_count_by_kind),
            "kill_count_by_unit": dict(self.kill_count_by_unit),
            "kill_count_by_source": dict(self.kill_count_by_source),
            "kill_count_by_host": dict(self.kill_count_by_host),
            "host_scope_kill_count": self.host_scope_kill_count,
            "untrusted_records": sum(self.untrusted_by_source.values()),
            "untrusted_by_source": dict(self.untrusted_by_source),
            "records_by_source": dict(self.records_by_source),
            "kernel_kills_by_boot": dict(self.kernel_kills_by_boot),
            "kernel_kills_since_boot_without_id": self.kernel_kills_since_boot_without_id,
            "oom_panics": list(self.panics),
            "no_killable_count": self.no_killable_count,
            "oldest_record": _iso(self.oldest_record),
            "unparsed_prefix_lines": self.unparsed_prefix_lines,
        }

    # Kernel

    def _event(self, line, new=False):
        """The OOM event in progress of the line's source and host (one central log holds many VMs' events)."""
        events = self._events.get(line.source)
        if events is None:
            events = self._events[line.source] = {}
        event = None if new else events.get(line.host)
        if event is None:
            event = events[line.host] = _Event()
        return event

    def _feed_kernel(self, line, message):
        event = self._event(line)
        if message.startswith(SUMMARY_TAIL_NEEDLES):
            if event.summary_fragment is not None:
                event.summary = event.summary_fragment + message
                event.summary_fragment = None
            return
        if message.startswith("oom-kill:"):
            self.records_by_source[line.source] += 1
            if ",pid=" in message:
                event.summary = message
            else:
                event.summary_fragment = message
            return
        if message.startswith("oom_reaper: reaped process "):
            if event.reap_pending:
                self._attach_reaper(event, message)
            return
        if message.startswith("Task in "):
            task_in = parse_task_in(message)
            if task_in is not None:
                event.task_in = task_in
            return
        if message.startswith("Tasks in "):
            memcg = parse_oom_group(message)
            if memcg is not None:
                event.group_memcg = memcg
                event.group_time = _line_seconds(line)
                if event.last_kill is not None and event.last_kill.fields.get("oom_group") is None:
                    event.last_kill.fields["oom_group"] = memcg
            return
        if "Killed process " in message:
            killed = line.parsed or parse_killed(message, anywhere=not line.prefix_parsed)
            if killed is not None:
                self.records_by_source[line.source] += 1
                self._kernel_kill(line, message, killed, event)
                return
        if " invoked oom-killer: " in message:
            header = parse_header(message)
            if header is not None:
                self.records_by_source[line.source] += 1
                self._commit_panics(event)
                event = self._event(line, new=True)
                event.header = header
                event.banner_wait = True
                event.panic_wait = True
            return
        if event.banner_wait and is_banner_like(message):
            event.banner_wait = False
            event.banner_message = message
            return
        if message.startswith(_NO_KILLABLE_STARTS):
            self.records_by_source[line.source] += 1
            self._commit_panics(event)
            if self._after_since(line):
                self.no_killable_count += 1
            event.header_used = True
            event.banner_wait = False
            event.summary = event.summary_fragment = event.task_in = None
            event.reap_pending.clear()
            event.panic_wait = True
        if event.panic_wait and PANIC_NEEDLE in message:
            reason = parse_panic(message)
            if reason is not None and self._after_since(line):
                self.records_by_source[line.source] += 1
                event.tentative_panics.append(self._panic(line, reason, message))
            return
        at = message.find(": Kill process ", 0, 64)
        if at > 0:
            context = message[:at]
            if context.startswith(_CONTEXTS) or context == "Out of Memory":
                event.candidate_ctx = context

    def _commit_panics(self, event):
        for panic in event.tentative_panics:
            self.panics.append(panic)
        event.tentative_panics = []

    def _panic(self, line, reason, message):
        return {
            "reason": reason,
            "timestamp": _iso(line.timestamp),
            "uptime_s": line.uptime,
            "host": cap(line.host, MAX_NAME_CHARS),
            "source": line.source,
            "message": cap(message, MAX_MESSAGE_CHARS),
        }

    def _kernel_kill(self, line, message, killed, event):
        pid = killed["pid"]
        event.tentative_panics = []
        event.panic_wait = False
        event.banner_wait = False
        event.summary_fragment = None
        if killed["unparsed"]:
            self.unparsed_prefix_lines += 1
        stamp = line.uptime if line.uptime_us is not None else _epoch(line.timestamp)
        if pid in event.killed:
            previous = event.killed[pid]
            if stamp is None or previous is None or abs(stamp - previous) <= self.DEDUP_SECONDS:
                # The same victim printed again in one event: memory.oom.group prints it twice.
                event.summary = event.task_in = event.candidate_ctx = None
                return
        if event.group_memcg is not None and not _near(event.group_time, _line_seconds(line), self.DEDUP_SECONDS):
            # A later kill (its header rate-limited) is not part of the memory.oom.group event any more.
            event.group_memcg = event.group_time = None
        event.killed[pid] = stamp
        if len(event.killed) > self.MAX_PENDING:
            event.killed.popitem(last=False)
        comm = cap(killed["comm"], MAX_COMM_CHARS)
        fields = {"killer": KILLER_KERNEL, "pid": pid, "comm": comm, "uid": None, "oom_group": event.group_memcg}
        summary = parse_summary(event.summary, comm) if event.summary else None
        if summary is not None and summary["pid"] == pid:
            fields["constraint"] = summary["constraint"]
            fields["oom_memcg"] = summary["oom_memcg"]
            fields["task_memcg"] = summary["task_memcg"]
            fields["uid"] = summary["uid"]
            if comm is None:
                fields["comm"] = comm = summary["task"]
        elif event.task_in is not None and not event.header_used:
            fields["task_memcg"], fields["oom_memcg"] = event.task_in
            fields["constraint"] = "CONSTRAINT_MEMCG"
        kill = _Kill(fields, line, killed)
        order = None
        if event.header is not None and (not event.header_used or event.group_memcg is not None):
            fields["trigger_comm"] = cap(event.header[0], MAX_COMM_CHARS)
            order = event.header[1]
            kill.header = event.header
            kill.banner_message = event.banner_message
        event.header_used = True
        event.summary = None
        event.task_in = None if event.group_memcg is None else event.task_in
        context = killed["ctx"] or event.candidate_ctx or ""
        event.candidate_ctx = None
        if order == -1:
            kind = "sysrq"
        elif "oom_kill_allocating_task" in context:
            kind = "allocating_task"
        elif context.startswith("Memory cgroup") or fields.get("constraint") == "CONSTRAINT_MEMCG":
            kind = "memcg"
            fields.setdefault("constraint", "CONSTRAINT_MEMCG")
        elif fields.get("constraint") or context or "trigger_comm" in fields:
            kind = "global"
        else:
            kind = "unknown"
        fields["kind"] = kind
        # memory.oom.group members have no summary of their own; they live in the group's cgroup.
        cgroup = fields.get("task_memcg") or fields["oom_group"] or fields.get("oom_memcg")
        fields["cgroup"] = cgroup
        scope = SCOPE_LOCAL
        if self.local_cgroup_prefixes is not None and not path_under(cgroup, self.local_cgroup_prefixes):
            scope = SCOPE_HOST
        if self._record(fields, line, message, scope, kill):
            event.last_kill = kill
            event.reap_pending[pid] = kill
            if len(event.reap_pending) > self.MAX_PENDING:
                event.reap_pending.popitem(last=False)

    def _attach_reaper(self, event, message):
        reaped = parse_reaper(message)
        if reaped is None:
            return
        kill = event.reap_pending.pop(reaped[0], None)
        if kill is not None:
            kill.fields["reaped_anon_rss_kb"] = reaped[1]

    # Userspace killers

    def _userspace_record(self, message):
        """(killer, fields) of a systemd-oomd or earlyoom kill line, ("unit", (unit, count)) for the manager's
        unit line, or None."""
        if "sending SIG" in message or "Killing process" in message:
            found = parse_earlyoom(message)
            if found is not None:
                return KILLER_EARLYOOM, found
        if message.startswith(("Killed /", "Marked /")):
            found = parse_oomd(message, cut_allowed=False)
            if found is not None:
                return KILLER_OOMD, found
        if ": systemd-oomd killed " in message:
            found = parse_oomd_unit(message)
            if found is not None:
                return "unit", found
        return None

    def _feed_userspace(self, line, message):
        """Handle systemd-oomd, earlyoom and systemd lines; True when the line was one of theirs."""
        ident = line.ident
        if ident == KILLER_OOMD and message.startswith(("Killed /", "Marked /")):
            found = parse_oomd(message, cut_allowed=True)
            record = (KILLER_OOMD, found) if found is not None else None
        else:
            record = self._userspace_record(message)
        # A record must come from its own writer: systemd-oomd's kill lines from systemd-oomd, earlyoom's from
        # earlyoom, the unit lines from the service manager; text without an identifier is taken by its words.
        if record is None or (ident is not None and _USERSPACE_WRITERS.get(record[0]) != ident):
            return False
        killer, found = record
        self.records_by_source[line.source] += 1
        if killer == KILLER_EARLYOOM:
            self._earlyoom_kill(line, message, found)
        elif killer == KILLER_OOMD:
            self._oomd_kill(line, message, found)
        else:
            self._oomd_unit_count(line, *found)
        return True

    def _earlyoom_kill(self, line, message, found):
        pid = found["pid"]
        stamp = _epoch(line.timestamp)
        key = (short_host(line.host), pid)
        if key in self._last_earlyoom:
            previous = self._last_earlyoom[key]
            if stamp is None or previous is None or abs(stamp - previous) <= self.EARLYOOM_ESCALATION_SECONDS:
                # SIGKILL after SIGTERM, a second SIGTERM after "kill failed": the same kill.
                return
        self._last_earlyoom[key] = stamp
        if len(self._last_earlyoom) > 256:
            self._last_earlyoom.popitem(last=False)
        rss_mib = found["rss_mib"]
        comm = cap(found["comm"], MAX_COMM_CHARS)
        fields = {
            "killer": KILLER_EARLYOOM,
            "kind": KILLER_EARLYOOM,
            "pid": pid,
            "comm": comm,
            "uid": found["uid"],
            "signal": found["signal"],
            "rss_kb": rss_mib * 1024 if rss_mib is not None else None,
            "oom_score": found["score"],
            "oom_score_adj": found["adj"],
            "cmdline": cap(found["cmdline"], MAX_CMDLINE_CHARS),
        }
        self._record(fields, line, message, SCOPE_LOCAL, _Kill(fields, line))

    def _oomd_kill(self, line, message, found):
        cgroup = found["cgroup"]
        fields = {
            "killer": KILLER_OOMD,
            "kind": KILLER_OOMD,
            "cgroup": cgroup,
            "unit": None,
            "container": None,
            "reason": found["reason"],
            "queued": found["queued"],
            "pressure_cgroup": found["pressure_cgroup"],
            "pressure_pct": found["pressure"],
            "pressure_limit_pct": found["limit"],
            "pressure_duration": found["duration"],
        }
        fields["unit"], fields["container"] = self._cgroup_names(cgroup)
        kill = _Kill(fields, line)
        if self._record(fields, line, message, SCOPE_LOCAL, kill) and fields["unit"]:
            self._pending_oomd[short_host(line.host), fields["unit"]] = kill
            if len(self._pending_oomd) > self.MAX_PENDING:
                self._pending_oomd.popitem(last=False)

    def _oomd_unit_count(self, line, unit, count):
        key = (short_host(line.host), unit)
        kill = self._pending_oomd.get(key)
        if kill is None:
            return
        scope = line.confirm_scope
        if scope is not None and not (kill.fields["cgroup"] or "").startswith(scope):
            # A user manager may only speak about the units below its own cgroup.
            return
        del self._pending_oomd[key]
        kill.fields["processes"] = count
        kill.fields["queued"] = False

    # Bookkeeping

    def _after_since(self, line):
        if self.since is None:
            return True
        stamp = line.timestamp
        if stamp is None:
            return True
        try:
            return stamp >= self.since
        except TypeError:
            return True

    def _cgroup_names(self, cgroup):
        """(unit, container) of a cgroup path, remembered for the paths seen last."""
        found = self._cgroup_cache.get(cgroup)
        if found is None:
            container = container_from_cgroup(cgroup)
            found = (cap(unit_from_cgroup(cgroup), MAX_NAME_CHARS), container)
            if len(self._cgroup_cache) >= 256:
                self._cgroup_cache.clear()
            self._cgroup_cache[cgroup] = found
        unit, container = found
        return unit, dict(container) if container is not None else None

    def _dedup_keys(self, fields, line):
        keys = []
        pid = fields.get("pid")
        identity = (fields["killer"], pid, fields.get("cgroup") if pid is None else None)
        seconds = _epoch(line.timestamp)
        if seconds is not None:
            keys.append(("t", identity, int(seconds // self.DEDUP_SECONDS)))
        if line.uptime_us is not None:
            keys.append(("u", identity, int(line.uptime // self.DEDUP_SECONDS)))
        return keys

    def _record(self, fields, line, message, scope, kill):
        """Count and keep a kill unless it is before C(since) or a duplicate; True when it was recorded."""
        if not self._after_since(line):
            return False
        keys = self._dedup_keys(fields, line)
        host = short_host(line.host)
        recent = self._recent_keys
        for key in keys:
            bucket = key[-1]
            for near in (bucket - 1, bucket, bucket + 1):
                hosts = recent.get((*key[:-1], near))
                # Two host names: two machines, never merged (one export of many VMs). A record without a host
                # (a dmesg capture, a copied kern.log) may be any machine's and matches any host.
                if hosts is not None and (host is None or host in hosts or None in hosts):
                    return False
        for key in keys:
            recent.setdefault(key, set()).add(host)
        while len(recent) > 4096:
            recent.popitem(last=False)
        killer = fields["killer"]
        if killer == KILLER_KERNEL:
            fields["unit"], fields["container"] = self._cgroup_names(fields["cgroup"])
        host = cap(line.host, MAX_NAME_CHARS)
        fields["scope"] = scope
        fields["host"] = host
        self.note_time(line.timestamp)
        if scope == SCOPE_HOST:
            self.host_scope_kill_count += 1
        else:
            self.kill_count += 1
            self.kill_count_by_source[line.source] += 1
            self.kill_count_by_killer[killer] += 1
            self.kill_count_by_kind[fields["kind"]] += 1
            if fields.get("unit"):
                self.kill_count_by_unit[fields["unit"]] += 1
            self.kill_count_by_host[host or UNKNOWN_HOST] += 1
            if killer == KILLER_KERNEL:
                self.kernel_kills_by_boot[line.boot] += 1
                if line.boot is None and self._since_boot(line):
                    self.kernel_kills_since_boot_without_id += 1
        self.kills.append(kill)
        return True

    def _since_boot(self, line):
        """True for a line of this host (or of no named host) stamped after this host booted."""
        if self.booted is None or short_host(line.host) not in (self.own_host, None):
            return False
        stamp = line.timestamp
        try:
            return stamp is not None and stamp >= self.booted
        except TypeError:
            return False


def short_host(host):
    """A host name as records of one machine agree on it: the first label of a DNS name, an address as is."""
    if not host:
        return None
    if any(char.isalpha() for char in host) and ":" not in host:
        return host.split(".", 1)[0].lower()
    return host.lower()


def kill_id(fields, line):
    """A stable id: the same kill gives the same id on every run and from every source.

    Kernel kills with the kernel's own time (kmsg, dmesg, the journal, [secs] prefixes): pid + microseconds since
    boot, which every such source prints identically. (The boot id is not part of it: log files do not carry it,
    and a pid killed at the same microsecond since boot in two boots does not happen.) Otherwise: killer, host,
    the second of the wall time, and the pid or cgroup.
    """
    if fields["killer"] == KILLER_KERNEL and line.uptime_us is not None:
        basis = "kernel|%d|%d" % (fields["pid"], line.uptime_us)
    else:
        seconds = _epoch(line.timestamp)
        basis = "%s|%s|%s|%s|%s" % (
            fields["killer"],
            fields.get("host") or "",
            "" if seconds is None else int(seconds),
            fields.get("pid") if fields.get("pid") is not None else "",
            fields.get("cgroup") or "",
        )
    return hashlib.sha256(basis.encode("utf-8", "backslashreplace")).hexdigest()[:16]
