# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Streaming parser for OOM kill reports of the kernel, systemd-oomd and earlyoom.

PRIVATE to the oomguard.memory collection. No compatibility promise.

The parser is fed one log line (or one structured journal entry) at a time and keeps only
the context of the OOM event in progress plus the newest C(max_kills) kills, so its memory
does not grow with the size of the log. Callers should prefilter lines with
C(line_may_matter()) (or C(GREP_PATTERN) in grep) before feeding them: every line the
parser cares about passes that filter.
"""

from __future__ import annotations

import collections
import datetime
import re

from ansible_collections.oomguard.memory.plugins.module_utils._cgroup import container_from_cgroup, unit_from_cgroup

# Every line the parser uses from a log file or the ring buffer contains one of these (case-sensitive, so
# that grep -E runs on its fast path). "not syncing": the 4.19+ panic "System is deadlocked on memory"
# names neither "oom" nor "kill".
PREFILTER_NEEDLES = ("oom", "Kill", "kill", "Comm: ", "not syncing")
GREP_PATTERN = "oom|[Kk]ill|Comm: |not syncing"
# journalctl --grep runs inside journalctl on far fewer lines, so it can afford to be broader
# (earlyoom's "sending SIGTERM to process" lines carry neither word in their message).
JOURNAL_GREP_PATTERN = "oom|kill|sending sig|comm: |not syncing"
JOURNAL_NEEDLES = tuple(JOURNAL_GREP_PATTERN.split("|"))

KILLER_KERNEL = "kernel"
KILLER_OOMD = "systemd-oomd"
KILLER_EARLYOOM = "earlyoom"

_TIME = r"\d\d:\d\d:\d\d(?:\.\d+)?"
_HOST = r"(?:(?P<host>\S*[^\s:])\s+)?"
_IDENT = r"(?P<ident>[^\s\[\]:]+)(?:\[(?P<ident_pid>\d+)\])?:\s?"
_RE_KMSG = re.compile(r"^(?P<prio>\d+),(?P<seq>\d+),(?P<usec>\d+),[^;]*;")
_RE_ISO = re.compile(r"^(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s+" + _HOST + _IDENT)
# The month is a word in most locales but "3月" (ja, zh) or "3월" (ko) in some.
_RE_SYSLOG = re.compile(
    r"^(?P<month>[^\s\[\]\d]+|\d{1,2}(?:月|월))\s+(?P<day>\d{1,2})\s+(?P<time>" + _TIME + r")\s+" + _HOST + _IDENT
)
_RE_MONO_J = re.compile(r"^\[\s*(?P<secs>\d+\.\d+)\]\s+" + _HOST + _IDENT)
_RE_TAG = re.compile(r"^(?P<ident>kernel|systemd-oomd|earlyoom|systemd)(?:\[(?P<ident_pid>\d+)\])?:\s?")
_RE_SECS = re.compile(r"^\[\s*(?P<secs>\d+\.\d+)\]\s?")
_RE_DMESG_T = re.compile(r"^\[(?P<stamp>[^\]]*\d{1,2}:\d\d:\d\d \d{4})\]\s?")

_CTX = r"(?P<ctx>Out of memory(?: \([^)]*\))?|Memory cgroup out of memory)"
RE_INVOKED = re.compile(
    r"^(?P<comm>.+?) invoked oom-killer: gfp_mask=(?P<gfp>0x[0-9a-f]+)(?:\((?P<flags>[^)]*)\))?,\s+"
    r"(?:nodemask=(?P<nodemask>.*?),\s+)?order=(?P<order>-?\d+),\s+(?:oom_adj=(?P<oom_adj>-?\d+),\s+)?"
    r"(?:oom_score_adj|oomkilladj)=(?P<adj>-?\d+)"
)
RE_BANNER = re.compile(r"^CPU: \d+ (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: (?P<comm>.{1,16}?) (?:Not tainted|Tainted)")
RE_BANNER_EL6 = re.compile(r"^Pid: (?P<pid>\d+), comm: (?P<comm>.{1,16}?) (?:Not tainted|Tainted)")
RE_CANDIDATE = re.compile(
    r"^(?:" + _CTX + r": Kill process (?P<pid>\d+) \((?P<comm>.*)\) score (?P<score>\d+) or sacrifice child"
    r"|Out of Memory: Kill process (?P<pid_old>\d+) \((?P<comm_old>.*)\) score \d+ and children)"
)
RE_KILLED_EL6 = re.compile(
    r"^(?:"
    + _CTX
    + r": )?Killed process (?P<pid>\d+), UID (?P<uid>\d+), \((?P<comm>.*)\) total-vm:(?P<total_vm>\d+)kB,"
    r" anon-rss:(?P<anon>\d+)kB, file-rss:(?P<file>\d+)kB"
)
RE_KILLED_EL7_UID = re.compile(
    r"^(?:"
    + _CTX
    + r": )?Killed process (?P<pid>\d+) \((?P<comm>.*)\), UID (?P<uid>\d+), total-vm:(?P<total_vm>\d+)kB,"
    r" anon-rss:(?P<anon>\d+)kB, file-rss:(?P<file>\d+)kB(?:, shmem-rss:(?P<shmem>\d+)kB)?"
)
RE_KILLED = re.compile(
    r"^(?:(?P<ctx>Out of memory(?: \([^)]*\))?|Memory cgroup out of memory|[^:]{1,40}): )?"
    # comm may hold ")": it ends only before " total-vm:", at the end of the line, or before a field name
    # that a pager cut ("tot…", "total-v>").
    r"Killed process (?P<pid>\d+)(?: \((?P<comm>.*?)\)(?= total-vm:|\.?$|, UID| [a-z][a-z-]*(?:…|>)?$)"
    # Each size is optional after the one before it, so a line cut by a pager keeps the fields it still has.
    r"(?: total-vm:(?P<total_vm>\d+)kB(?:, anon-rss:(?P<anon>\d+)kB(?:, file-rss:(?P<file>\d+)kB"
    r"(?:, shmem-rss:(?P<shmem>\d+)kB)?(?:, UID:(?P<uid>\d+))?(?: pgtables:(?P<pgtables>\d+)kB)?"
    r"(?: oom_score_adj:(?P<adj>-?\d+))?)?)?)?)?"
)
RE_KILLED_ANYWHERE = re.compile(r"Killed process (?P<pid>\d+)")
RE_SUMMARY = re.compile(
    r"^oom-kill:constraint=(?P<constraint>CONSTRAINT_\w+),nodemask=(?P<nodemask>.*?)"
    r"(?:,cpuset=(?P<cpuset>.*?),mems_allowed=(?P<mems>.*?))?"
    r"(?:,(?P<global>global_oom)|,oom_memcg=(?P<oom_memcg>.*?))?(?:,task_memcg=(?P<task_memcg>.*?))?"
    r",task=(?P<task>.*),pid=(?P<pid>\d+),uid=(?P<uid>\d+)\s*$"
)
RE_REAPER = re.compile(
    r"^oom_reaper: reaped process (?P<pid>\d+) \((?P<comm>.*)\), now anon-rss:(?P<anon>\d+)kB,"
    r" file-rss:(?P<file>\d+)kB, shmem-rss:(?P<shmem>\d+)kB"
)
RE_TASK_IN = re.compile(r"^Task in (?P<task_memcg>\S+) killed as a result of limit of (?P<oom_memcg>\S+)")
RE_OOM_GROUP = re.compile(r"^Tasks in (?P<memcg>\S+) are going to be killed due to memory\.oom\.group set")
RE_NO_KILLABLE = re.compile(r"Out of memory and no killable processes\.\.\.")
RE_PANIC = re.compile(r"Kernel panic - not syncing: (?P<reason>Out of memory.*|System is deadlocked on memory)")
RE_OOMD = re.compile(
    r"^(?:Killed|Marked) (?P<cgroup>\S+) (?:for killing )?due to (?P<reason>"
    r"memory pressure for (?P<pressure_cgroup>\S+) being (?P<pressure>[\d.]+)% > (?P<limit>[\d.]+)%"
    r" for > (?P<duration>\S+)|memory used .*|swap used .*)"
)
RE_OOMD_RULE = re.compile(r"^Rule '(?P<rule>[^']*)' conditions met for cgroup (?P<cgroup>\S+) for .*, taking action")
RE_OOMD_UNIT = re.compile(r"^(?P<unit>\S+): systemd-oomd killed (?P<count>\d+) process\(es\) in this unit\.")
RE_EARLYOOM = re.compile(
    r"sending (?P<signal>SIG\w+) to process (?P<pid>\d+)(?: uid (?P<uid>\d+))? \"(?P<comm>.*)\":"
    r" (?:badness|oom_score) (?P<score>-?\d+)(?:, oom_score_adj (?P<adj>-?\d+))?, VmRSS (?P<rss_mib>\d+) MiB"
    r"(?:, cmdline \"(?P<cmdline>.*)\")?"
)
RE_EARLYOOM_V12 = re.compile(
    r"Killing process '(?P<comm>.*)' with signal (?P<signo>\d+), pid: (?P<pid>\d+), badness: (?P<score>-?\d+),"
    r" VmRSS: (?P<rss_mib>\d+) MiB"
)
RE_EARLYOOM_V10 = re.compile(r"^Killing process (?P<pid>\d+) (?P<comm>.+)$")
RE_EARLYOOM_V11 = re.compile(
    r"Killing process: (?P<comm>.*), pid: (?P<pid>\d+), badness: (?P<score>-?\d+), VmRSS: (?P<rss_mib>\d+) MiB"
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
_RE_NUMERIC_MONTH = re.compile(r"^(?P<number>\d{1,2})\s*(?:月|월|\.)?$")


class Line:
    """One log line after its prefix is stripped.

    C(kernel) is True for kernel messages, False for userspace ones and None when the source
    cannot tell (bare text from a kernel-only source such as dmesg is passed as kernel).
    The timestamp is parsed from the prefix only when it is read: most lines never need it.
    """

    __slots__ = (
        "_stamp",
        "_stamp_parser",
        "boot",
        "host",
        "ident",
        "kernel",
        "message",
        "prefix_parsed",
        "source",
        "uptime",
    )

    def __init__(self, message, source, kernel=None, ident=None, timestamp=None, uptime=None, boot=None, host=None):
        self.message = message
        self.source = source
        self.kernel = kernel
        self.ident = ident
        self._stamp = timestamp
        self._stamp_parser = None
        self.uptime = uptime
        self.boot = boot
        self.host = host
        self.prefix_parsed = True

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


def is_report_noise(text):
    """True for prefiltered lines that the parser never uses; skipping them saves the prefix parsing.

    They pass the prefilter only because a word in them contains "oom" or "kill": stack frames of the
    OOM report ("oom_kill_process.cold+0xb/0x10") and the task table's header.
    """
    return "+0x" in text or "oom_score_adj name" in text


def journal_line_may_matter(text):
    """The journal's prefilter, as C(JOURNAL_GREP_PATTERN) with --case-sensitive=false."""
    lowered = text.lower()
    return any(needle in lowered for needle in JOURNAL_NEEDLES)


def line_may_matter(text):
    """Cheap prefilter: False when a line cannot be part of an OOM report."""
    return any(needle in text for needle in PREFILTER_NEEDLES)


def month_number(name):
    """Month number for an abbreviated or full month name in a common locale, or None."""
    key = name.strip().lower()
    if key in MONTHS:
        return MONTHS[key]
    match = _RE_NUMERIC_MONTH.match(key)
    if match and 1 <= int(match.group("number")) <= 12:
        return int(match.group("number"))
    return MONTHS.get(key.rstrip("."))


def _local(naive):
    """Attach the managed host's local zone to a naive local time."""
    try:
        return naive.astimezone()
    except (OverflowError, OSError, ValueError):
        return None


def parse_iso(text):
    """Parse an RFC 3339 / ISO 8601 stamp as journalctl and rsyslog write it; aware datetime or None."""
    text = text.replace(",", ".")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    zone = re.search(r"([+-])(\d\d):?(\d\d)$", text)
    if zone:
        text = text[: zone.start()] + zone.group(1) + zone.group(2) + ":" + zone.group(3)
    if "." in text:
        head, _dot, rest = text.partition(".")
        digits = re.match(r"\d+", rest).group(0)
        text = head + "." + (digits + "000000")[:6] + rest[len(digits) :]
    try:
        stamp = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else _local(stamp)


class YearGuesser:
    """Syslog stamps have no year: take the year of a reference time, one earlier for dates after it."""

    def __init__(self, reference):
        self.reference = reference

    def stamp(self, month, day, clock):
        hours, minutes, seconds = clock.split(":")
        whole, _dot, fraction = seconds.partition(".")
        micro = int((fraction + "000000")[:6]) if fraction else 0
        for year in (self.reference.year, self.reference.year - 1):
            try:
                naive = datetime.datetime(year, month, day, int(hours), int(minutes), int(whole), micro)
            except ValueError:
                continue
            if naive <= self.reference + datetime.timedelta(days=1):
                return _local(naive)
        return None


def parse_dmesg_t(stamp):
    """Parse a C(dmesg -T) stamp such as 'Tue Mar  3 10:11:12 2026' in any locale; None if the month is unknown."""
    tokens = stamp.split()
    if len(tokens) < 4:
        return None
    year, clock, day = tokens[-1], tokens[-2], tokens[-3]
    month = month_number(tokens[-4]) if len(tokens) >= 4 else None
    if month is None or not day.rstrip(".").isdigit():
        return None
    try:
        hours, minutes, seconds = (int(part) for part in clock.split(":"))
        return _local(datetime.datetime(int(year), month, int(day.rstrip(".")), hours, minutes, seconds))
    except ValueError:
        return None


def _syslog_stamp(years, month_name, day, clock):
    month = month_number(month_name)
    return years.stamp(month, int(day), clock) if month is not None else None


def strip_prefix(text, source, kernel_only=False, years=None):
    """Strip the log prefixes of §2 of the format reference, once each and in order, into a Line.

    C(kernel_only) sources (dmesg, /dev/kmsg, a kernel log file) count a line as kernel when no
    userspace identifier says otherwise.
    """
    line = Line(text, source)
    rest = text
    tagged = False
    first = rest[:1]
    bracketed = first == "["
    numeric = first.isdigit()
    match = _RE_KMSG.match(rest) if numeric else None
    if match:
        line.uptime = int(match.group("usec")) / 1e6
        line.kernel = int(match.group("prio")) >> 3 == 0
        rest = rest[match.end() :]
        tagged = True
    if bracketed:
        candidates = (_RE_MONO_J,)
    elif numeric:
        candidates = (_RE_ISO, _RE_SYSLOG)
    else:
        candidates = (_RE_SYSLOG,)
    for pattern in candidates:
        if tagged or not first or first.isspace():
            break
        match = pattern.match(rest)
        if not match:
            continue
        groups = match.groupdict()
        if pattern is _RE_MONO_J and not groups.get("host") and groups["ident"] != "kernel":
            # journalctl -o short-monotonic always prints the host name. Without one, "[secs] word: ..." is
            # plain dmesg output whose message starts with "word:" (oom-kill:, CPU:, oom_reaper:).
            continue
        if groups.get("iso"):
            line.defer_timestamp(parse_iso, groups["iso"])
        elif groups.get("month"):
            if years is not None:
                line.defer_timestamp(_syslog_stamp, years, groups["month"], groups["day"], groups["time"])
        elif groups.get("secs"):
            line.uptime = float(groups["secs"])
        line.ident = groups["ident"]
        line.kernel = groups["ident"] == "kernel"
        line.host = groups.get("host")
        rest = rest[match.end() :]
        tagged = True
    if not tagged and first.isalpha():
        match = _RE_TAG.match(rest)
        if match:
            line.ident = match.group("ident")
            line.kernel = line.ident == "kernel"
            rest = rest[match.end() :]
            tagged = True
    if line.kernel is not False and rest.startswith("["):
        match = _RE_SECS.match(rest)
        if match:
            if line.uptime is None:
                line.uptime = float(match.group("secs"))
            rest = rest[match.end() :]
            tagged = True
        else:
            match = _RE_DMESG_T.match(rest)
            if match:
                if line._stamp is None and line._stamp_parser is None:
                    line.defer_timestamp(parse_dmesg_t, match.group("stamp"))
                rest = rest[match.end() :]
                tagged = True
    if line.kernel is None:
        line.kernel = True if kernel_only else None
    line.prefix_parsed = tagged
    line.message = rest.rstrip("\r\n")
    return line


def _line_time(line):
    """Seconds of a line on the clock it has (uptime first: it is what consecutive kernel records share)."""
    if line.uptime is not None:
        return ("u", line.boot, line.uptime)
    if line.timestamp is not None:
        return ("t", None, line.timestamp.timestamp())
    return None


def _near(first, second, seconds):
    """True when two _line_time() values are within C(seconds), or when either is unknown."""
    if first is None or second is None or first[:2] != second[:2]:
        return True
    return abs(first[2] - second[2]) <= seconds


def _int(value):
    return int(value) if value is not None else None


def _iso(stamp):
    if stamp is None:
        return None
    return stamp.isoformat(timespec="microseconds" if stamp.microsecond else "seconds")


class _Event:
    """Context of the kernel OOM event in progress: header, summaries and oom.group state."""

    __slots__ = (
        "candidate_ctx",
        "group_memcg",
        "group_pids",
        "group_time",
        "header",
        "header_used",
        "last_kill_pid",
        "summaries",
        "task_in",
        "trigger_pid",
    )

    def __init__(self):
        self.header = None
        self.header_used = False
        self.trigger_pid = None
        self.summaries = {}
        self.task_in = None
        self.group_memcg = None
        self.group_pids = set()
        self.group_time = None
        self.last_kill_pid = None
        self.candidate_ctx = None


class OomLogParser:
    """Assemble OOM kills from prefix-stripped lines; keeps the newest C(max_kills) kills."""

    DEDUP_SECONDS = 1.0
    EARLYOOM_ESCALATION_SECONDS = 30.0
    MAX_PANICS = 20
    MAX_SUMMARIES = 64

    def __init__(self, max_kills=100, since=None):
        self.kills = collections.deque(maxlen=max(max_kills, 0))
        self.kill_count = 0
        self.kill_count_by_source = collections.Counter()
        self.kill_count_by_unit = collections.Counter()
        self.kill_count_by_killer = collections.Counter({KILLER_KERNEL: 0, KILLER_OOMD: 0, KILLER_EARLYOOM: 0})
        self.kernel_kills_by_boot = collections.Counter()
        self.panics = collections.deque(maxlen=self.MAX_PANICS)
        self.no_killable_count = 0
        self.unparsed_prefix_lines = 0
        self.since = since
        self._events = {}
        self._recent_keys = collections.OrderedDict()
        self._last_earlyoom = {}
        self._pending_oomd = collections.OrderedDict()
        self._last_summary_fragment = None

    # Public entry points

    def feed_text(self, text, source, kernel_only=False, years=None):
        """Feed one raw log line."""
        if not is_report_noise(text):
            self.feed(strip_prefix(text, source, kernel_only=kernel_only, years=years))

    def feed(self, line):
        message = line.message
        if line.kernel is False:
            self._feed_userspace(line, message)
            return
        if line.kernel is None and line.ident is None and self._feed_userspace(line, message):
            return
        self._feed_kernel(line, message)

    def result(self):
        return {
            "kills": list(self.kills),
            "kill_count": self.kill_count,
            "kill_count_by_source": dict(self.kill_count_by_source),
            "kill_count_by_unit": dict(self.kill_count_by_unit),
            "kill_count_by_killer": dict(self.kill_count_by_killer),
            "kernel_kills_by_boot": dict(self.kernel_kills_by_boot),
            "panics": list(self.panics),
            "no_killable_count": self.no_killable_count,
            "unparsed_prefix_lines": self.unparsed_prefix_lines,
        }

    # Kernel

    def _event(self, source):
        event = self._events.get(source)
        if event is None:
            event = self._events[source] = _Event()
        return event

    def _feed_kernel(self, line, message):
        event = self._event((line.source, line.host))
        if "Killed process" in message:
            self._kernel_kill(line, message, event)
            return
        if message.startswith("oom-kill:") or message.startswith((",oom_memcg=", ",global_oom")):
            if event.header_used:
                self._events[line.source, line.host] = event = _Event()
            self._summary(message, event)
            return
        if "invoked oom-killer" in message:
            match = RE_INVOKED.match(message)
            if match:
                self._events[line.source, line.host] = event = _Event()
                event.header = (match.group("comm"), _int(match.group("order")), line)
            return
        if "Comm:" in message or "comm:" in message:
            match = RE_BANNER.match(message) or RE_BANNER_EL6.match(message)
            header = event.header
            if (
                match
                and header
                and event.trigger_pid is None
                and not event.header_used
                and match.group("comm") == header[0]
            ):
                event.trigger_pid = int(match.group("pid"))
            return
        if message.startswith("Task in "):
            match = RE_TASK_IN.match(message)
            if match:
                event.task_in = (match.group("task_memcg"), match.group("oom_memcg"))
            return
        if message.startswith("Tasks in "):
            match = RE_OOM_GROUP.match(message)
            if match:
                event.group_memcg = match.group("memcg")
                event.group_time = _line_time(line)
                event.group_pids = {event.last_kill_pid} if event.last_kill_pid is not None else set()
                self._mark_group_victim(event)
            return
        if "Kill process" in message:
            match = RE_CANDIDATE.match(message)
            if match:
                event.candidate_ctx = match.group("ctx") or "Out of memory"
            return
        if message.startswith("oom_reaper: reaped process"):
            match = RE_REAPER.match(message)
            if match:
                self._attach_reaper(match)
            return
        if RE_NO_KILLABLE.search(message):
            self.no_killable_count += 1
            event.header_used = True
        match = RE_PANIC.search(message)
        if match and self._after_since(line):
            self.panics.append(
                {
                    "reason": match.group("reason"),
                    "timestamp": _iso(line.timestamp),
                    "uptime_s": line.uptime,
                    "source": line.source,
                    "message": message,
                }
            )

    def _summary(self, message, event):
        if message.startswith(","):
            if self._last_summary_fragment is None:
                return
            message = self._last_summary_fragment + message
        match = RE_SUMMARY.match(message)
        if not match:
            self._last_summary_fragment = message if "pid=" not in message else None
            return
        self._last_summary_fragment = None
        if len(event.summaries) >= self.MAX_SUMMARIES:
            event.summaries.clear()
        event.summaries[int(match.group("pid"))] = match.groupdict()

    def _kernel_kill(self, line, message, event):
        if ", UID " in message:
            match = RE_KILLED_EL6.match(message) or RE_KILLED_EL7_UID.match(message) or RE_KILLED.match(message)
        else:
            match = RE_KILLED.match(message)
        if match is None:
            match = RE_KILLED_ANYWHERE.search(message)
            if match is None:
                return
            self.unparsed_prefix_lines += 1
        groups = match.groupdict()
        pid = int(groups["pid"])
        if event.group_memcg is not None and not _near(event.group_time, _line_time(line), self.DEDUP_SECONDS):
            # A later kill (its header rate-limited) is not part of the memory.oom.group event any more.
            event.group_memcg = None
            event.group_pids = set()
            event.task_in = None
        if event.group_memcg is not None:
            if pid in event.group_pids:
                return
            event.group_pids.add(pid)
        event.last_kill_pid = pid
        comm = groups.get("comm")
        kill = {
            "killer": KILLER_KERNEL,
            "pid": pid,
            "comm": comm,
            "uid": _int(groups.get("uid")),
            "anon_rss_kb": _int(groups.get("anon")),
            "file_rss_kb": _int(groups.get("file")),
            "shmem_rss_kb": _int(groups.get("shmem")),
            "total_vm_kb": _int(groups.get("total_vm")),
            "pgtables_kb": _int(groups.get("pgtables")),
            "oom_score_adj": _int(groups.get("adj")),
            "constraint": None,
            "oom_memcg": None,
            "task_memcg": None,
            "unit": None,
            "container": None,
            "trigger_comm": None,
            "trigger_pid": None,
            "kind": None,
            "oom_group": event.group_memcg,
            "timestamp": _iso(line.timestamp),
            "uptime_s": line.uptime,
            "source": line.source,
            "message": message,
        }
        summary = event.summaries.pop(pid, None)
        if summary:
            kill["constraint"] = summary["constraint"]
            kill["oom_memcg"] = summary["oom_memcg"]
            kill["task_memcg"] = summary["task_memcg"]
            if kill["uid"] is None:
                kill["uid"] = int(summary["uid"])
            if comm is None:
                kill["comm"] = summary["task"]
        elif event.task_in and not event.header_used:
            kill["task_memcg"], kill["oom_memcg"] = event.task_in
            kill["constraint"] = "CONSTRAINT_MEMCG"
        if event.header and (not event.header_used or event.group_memcg is not None):
            kill["trigger_comm"] = event.header[0]
            kill["trigger_pid"] = event.trigger_pid
            order = event.header[1]
        else:
            order = None
        event.header_used = True
        event.task_in = None if event.group_memcg is None else event.task_in
        context = groups.get("ctx") or event.candidate_ctx or ""
        event.candidate_ctx = None
        if order == -1:
            kill["kind"] = "sysrq"
        elif "oom_kill_allocating_task" in context:
            kill["kind"] = "allocating_task"
        elif context.startswith("Memory cgroup") or kill["constraint"] == "CONSTRAINT_MEMCG":
            kill["kind"] = "memcg"
            if kill["constraint"] is None:
                kill["constraint"] = "CONSTRAINT_MEMCG"
        elif kill["constraint"] or context or kill["trigger_comm"] is not None:
            kill["kind"] = "global"
        # memory.oom.group members have no summary of their own; they live in the group's cgroup.
        cgroup = kill["task_memcg"] or kill["oom_memcg"] or kill["oom_group"]
        kill["unit"] = unit_from_cgroup(cgroup)
        kill["container"] = container_from_cgroup(cgroup)
        self._record(kill, line)

    def _mark_group_victim(self, event):
        """The victim's Killed line comes before the oom.group line that names its group."""
        if event.last_kill_pid is None:
            return
        for kill in reversed(self.kills):
            if kill["killer"] == KILLER_KERNEL and kill["pid"] == event.last_kill_pid:
                if kill.get("oom_group") is None:
                    kill["oom_group"] = event.group_memcg
                return

    def _attach_reaper(self, match):
        pid = int(match.group("pid"))
        for kill in reversed(self.kills):
            if kill["pid"] == pid and kill["killer"] == KILLER_KERNEL:
                kill["reaped_anon_rss_kb"] = int(match.group("anon"))
                return

    # Userspace killers

    def _feed_userspace(self, line, message):
        """Handle systemd-oomd, earlyoom and systemd lines; True when the line was one of theirs."""
        ident = line.ident or ""
        if ident == "earlyoom" or "to process" in message or "Killing process" in message:
            match = (
                RE_EARLYOOM.search(message)
                or RE_EARLYOOM_V12.search(message)
                or RE_EARLYOOM_V11.search(message)
                or RE_EARLYOOM_V10.match(message)
            )
            if match:
                self._earlyoom_kill(line, message, match)
                return True
        if ident == "systemd-oomd" or " due to " in message:
            match = RE_OOMD.match(message)
            if match:
                self._oomd_kill(line, message, match)
                return True
        if "systemd-oomd killed" in message:
            match = RE_OOMD_UNIT.match(message)
            if match:
                self._oomd_unit_count(match, line)
                return True
        return False

    def _earlyoom_kill(self, line, message, match):
        groups = match.groupdict()
        pid = int(groups["pid"])
        stamp = line.timestamp.timestamp() if line.timestamp else None
        seen = (line.host, pid) in self._last_earlyoom
        previous = self._last_earlyoom.get((line.host, pid))
        if seen and (stamp is None or previous is None or abs(stamp - previous) <= self.EARLYOOM_ESCALATION_SECONDS):
            return
        self._last_earlyoom[line.host, pid] = stamp
        if len(self._last_earlyoom) > 256:
            self._last_earlyoom.pop(next(iter(self._last_earlyoom)))
        signal = groups.get("signal") or ("signal %s" % groups["signo"] if groups.get("signo") else None)
        rss_mib = _int(groups.get("rss_mib"))
        kill = {
            "killer": KILLER_EARLYOOM,
            "pid": pid,
            "comm": groups.get("comm"),
            "uid": _int(groups.get("uid")),
            "signal": signal,
            "rss_kb": rss_mib * 1024 if rss_mib is not None else None,
            "oom_score": _int(groups.get("score")),
            "oom_score_adj": _int(groups.get("adj")),
            "cmdline": groups.get("cmdline"),
            "unit": None,
            "timestamp": _iso(line.timestamp),
            "uptime_s": line.uptime,
            "source": line.source,
            "message": message,
        }
        self._record(kill, line)

    def _oomd_kill(self, line, message, match):
        groups = match.groupdict()
        cgroup = groups["cgroup"]
        reason = (
            "memory_pressure"
            if groups["reason"].startswith("memory pressure")
            else ("swap" if "swap" in groups["reason"] else "memory_used")
        )
        kill = {
            "killer": KILLER_OOMD,
            "pid": None,
            "comm": None,
            "cgroup": cgroup,
            "unit": unit_from_cgroup(cgroup),
            "reason": reason,
            "queued": message.startswith("Marked"),
            "pressure_cgroup": groups.get("pressure_cgroup"),
            "pressure_pct": float(groups["pressure"]) if groups.get("pressure") else None,
            "pressure_limit_pct": float(groups["limit"]) if groups.get("limit") else None,
            "pressure_duration": groups.get("duration"),
            "processes": None,
            "timestamp": _iso(line.timestamp),
            "uptime_s": line.uptime,
            "source": line.source,
            "message": message,
        }
        if self._record(kill, line) and kill["unit"]:
            self._pending_oomd[line.host, kill["unit"]] = kill
            if len(self._pending_oomd) > 64:
                self._pending_oomd.popitem(last=False)

    def _oomd_unit_count(self, match, line):
        kill = self._pending_oomd.pop((line.host, match.group("unit")), None)
        if kill is not None:
            kill["processes"] = int(match.group("count"))
            kill["queued"] = False

    # Bookkeeping

    def _after_since(self, line):
        return self.since is None or line.timestamp is None or line.timestamp >= self.since

    def _dedup_keys(self, kill, line):
        keys = []
        identity = (kill["killer"], kill["pid"], kill.get("comm"), kill.get("cgroup"))
        if line.timestamp is not None:
            keys.append(("t", identity, int(line.timestamp.timestamp() // self.DEDUP_SECONDS)))
        if line.uptime is not None:
            keys.append(("u", line.boot, identity, int(line.uptime // self.DEDUP_SECONDS)))
        return keys

    def _record(self, kill, line):
        if not self._after_since(line):
            return False
        if line.host is not None:
            kill["host"] = line.host
        keys = self._dedup_keys(kill, line)
        near = []
        for key in keys:
            bucket = key[-1]
            near.extend(((*key[:-1], bucket - 1), key, (*key[:-1], bucket + 1)))
        source = kill["source"]
        if any(self._recent_keys.get(key, source) != source for key in near):
            return False
        for key in keys:
            self._recent_keys[key] = source
        while len(self._recent_keys) > 4096:
            self._recent_keys.popitem(last=False)
        self.kill_count += 1
        self.kill_count_by_source[kill["source"]] += 1
        self.kill_count_by_killer[kill["killer"]] += 1
        if kill["killer"] == KILLER_KERNEL:
            self.kernel_kills_by_boot[line.boot] += 1
        if kill.get("unit"):
            self.kill_count_by_unit[kill["unit"]] += 1
        self.kills.append(kill)
        return True
