# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Memory sizes and percentages, parsed and rendered the way systemd understands them.

PRIVATE to the oomguard.memory collection. No compatibility promise.

systemd reads sizes with base 1024 (C(1K) is 1024 bytes), accepts a decimal fraction
(C(1.5G)), percentages of the physical memory with up to two decimals (C(75%), C(12.5%)),
and the word C(infinity). It refuses sizes of 2^64 - 1 bytes and more ("out of range"):
2^64 - 1 is how it stores C(infinity), and 2^64 (C(16E)) does not fit 64 bits.
"""

from __future__ import annotations

import math
import re
from collections import namedtuple
from fractions import Fraction

INFINITY = "infinity"
U64_MAX = 18446744073709551615
SIZE_MAX = U64_MAX - 1
MEMINFO = "/proc/meminfo"
TEXT_MAX = 64  # longer than any size or percentage written by hand; int() of huge digit strings is slow

_FACTORS = (("E", 1024**6), ("P", 1024**5), ("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024))
_FACTOR = dict(_FACTORS)
_FACTOR[""] = 1
_FACTOR["B"] = 1
_SIZE = re.compile(r"^(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?[ ]?(?P<unit>[KMGTPEB]?)$", re.IGNORECASE)
_PERCENT = re.compile(r"^(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]{1,2}))?[ ]?%$")

MemoryValue = namedtuple("MemoryValue", ("kind", "amount"))
"""A parsed value: kind is 'bytes' (amount: int), 'percent' (amount: Fraction 0..100) or 'infinity' (amount: None)."""


class SizeError(ValueError):
    """A size or percentage that systemd would not accept; the message says what is expected."""


def _number(integer, fraction):
    value = Fraction(int(integer))
    if fraction:
        value += Fraction(int(fraction), 10 ** len(fraction))
    return value


def shown(value, limit=40):
    """A short representation of a user's value for messages (huge integers and strings are cut)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return "a %d-bit integer" % value.bit_length()
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_size(value):
    """Return a size in bytes from an int or a string such as '512M', '1.5G' or '1073741824'.

    Suffixes K, M, G, T, P and E are powers of 1024, as in systemd; a fraction is rounded down
    to whole bytes. Integers and strings have the same limits: 0 to SIZE_MAX. A float is taken
    only when it is a whole number. Raises SizeError for anything else.
    """
    original = value
    if isinstance(value, bool):
        raise SizeError("expected a size such as 512M, not a boolean (%r)" % value)
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise SizeError("expected a size such as 512M or a whole number of bytes, not the number %s" % shown(value))
        value = int(value)
    if isinstance(value, int):
        size = value
        if size < 0:
            raise SizeError("a size cannot be negative; got %s" % shown(value))
    elif isinstance(value, str):
        text = value.strip()
        match = _SIZE.match(text) if len(text) <= TEXT_MAX else None
        if not match:
            raise SizeError(
                "expected a size in bytes with an optional K, M, G or T suffix (base 1024), such as 512M or 1.5G; "
                "got %s" % shown(value)
            )
        factor = _FACTOR[match.group("unit").upper()]
        size = int(_number(match.group("int"), match.group("frac")) * factor)
    else:
        raise SizeError(
            "expected a size such as 512M or a whole number of bytes, not a %s (%s)"
            % (type(value).__name__, shown(value))
        )
    if size > SIZE_MAX:
        raise SizeError(
            "%s is out of range: systemd takes sizes below 16 EiB (at most %d bytes); use infinity for no limit"
            % (shown(original), SIZE_MAX)
        )
    return size


def parse_percent(value):
    """Return a percentage (Fraction, 0 to 100) from a string such as '75%' or '12.5%'; raises SizeError."""
    if not isinstance(value, str):
        raise SizeError(
            "expected a percentage such as 75%% or 12.5%%, not a %s (%s)" % (type(value).__name__, shown(value))
        )
    text = value.strip()
    match = _PERCENT.match(text) if len(text) <= TEXT_MAX else None
    if not match:
        raise SizeError("expected a percentage such as 75%% or 12.5%% (at most two decimals); got %s" % shown(value))
    percent = _number(match.group("int"), match.group("frac"))
    if percent > 100:
        raise SizeError("a percentage cannot exceed 100%%; got %s" % shown(value))
    return percent


def parse_memory_value(value):
    """Parse a memory setting: bytes with a suffix, a percentage of the host's RAM, or 'infinity'."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == INFINITY:
            return MemoryValue(INFINITY, None)
        if text.endswith("%"):
            return MemoryValue("percent", parse_percent(text))
        if not text:
            raise SizeError("an empty value is not a size; leave the option out instead")
    return MemoryValue("bytes", parse_size(value))


def resolve(memory_value, memtotal):
    """Return the byte value of a parsed setting: infinity is U64_MAX; percentages need C(memtotal) in bytes."""
    if memory_value.kind == INFINITY:
        return U64_MAX
    if memory_value.kind == "percent":
        if memtotal is None:
            return None
        return int(Fraction(memtotal) * memory_value.amount / 100)
    return memory_value.amount


def format_size(size):
    """Render bytes with the largest base-1024 suffix that divides them exactly: 1073741824 -> '1G'."""
    if size == 0:
        return "0"
    for suffix, factor in _FACTORS:
        if size % factor == 0:
            return "%d%s" % (size // factor, suffix)
    return str(size)


def format_percent(percent):
    """Render a Fraction percentage as systemd writes it: '75%' or '12.5%'."""
    if percent.denominator == 1:
        return "%d%%" % percent.numerator
    text = ("%.2f" % float(percent)).rstrip("0").rstrip(".")
    return text + "%"


def render(memory_value):
    """Render a parsed value the way it goes into a unit file."""
    if memory_value.kind == INFINITY:
        return INFINITY
    if memory_value.kind == "percent":
        return format_percent(memory_value.amount)
    return format_size(memory_value.amount)


def human(size):
    """A short human-readable size for messages: '1.5 GiB', 'infinity'."""
    if size is None:
        return "unknown"
    if size >= U64_MAX:
        return INFINITY
    for suffix, factor in _FACTORS:
        if size >= factor:
            return ("%.1f" % (size / factor)).rstrip("0").rstrip(".") + " " + suffix + "iB"
    return "%d B" % size


def read_memtotal(path=MEMINFO):
    """Return MemTotal from /proc/meminfo in bytes, or None when it cannot be read."""
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    fields = line.split()
                    return int(fields[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
