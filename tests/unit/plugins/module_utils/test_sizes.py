# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils._sizes import (
    SIZE_MAX,
    U64_MAX,
    MemoryValue,
    SizeError,
    format_percent,
    format_size,
    human,
    parse_memory_value,
    parse_percent,
    parse_size,
    read_memtotal,
    render,
    resolve,
    shown,
)

GiB = 1024**3


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0", 0),
        ("512", 512),
        ("1K", 1024),
        ("1k", 1024),
        ("512M", 512 * 1024**2),
        ("2G", 2 * GiB),
        ("1T", 1024**4),
        ("1.5G", 3 * GiB // 2),
        ("0.5K", 512),
        ("1.0001K", 1024),  # rounded down to whole bytes, as systemd does
        ("100B", 100),
        (" 64M ", 64 * 1024**2),
        (1073741824, GiB),
        (0, 0),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "M", "1MB", "1GiB", "-1", "1,5G", "1e9", "ten", "1 G B", "1X", "1.G", ".5G"])
def test_parse_size_rejects(text):
    with pytest.raises(SizeError, match="expected a size"):
        parse_size(text)


def test_parse_size_rejects_negative_int_bool_and_huge():
    with pytest.raises(SizeError, match="negative"):
        parse_size(-5)
    with pytest.raises(SizeError, match="boolean"):
        parse_size(True)
    with pytest.raises(SizeError, match="16 EiB"):
        parse_size("17E")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("75%", Fraction(75)),
        ("0%", Fraction(0)),
        ("100%", Fraction(100)),
        ("12.5%", Fraction(25, 2)),
        ("0.01%", Fraction(1, 100)),
    ],
)
def test_parse_percent(text, expected):
    assert parse_percent(text) == expected


@pytest.mark.parametrize("text", ["75", "%", "101%", "1.234%", "-5%", "abc%", "7 5%"])
def test_parse_percent_rejects(text):
    with pytest.raises(SizeError):
        parse_percent(text)


def test_parse_memory_value_kinds():
    assert parse_memory_value("infinity") == MemoryValue("infinity", None)
    assert parse_memory_value("Infinity") == MemoryValue("infinity", None)
    assert parse_memory_value("50%") == MemoryValue("percent", Fraction(50))
    assert parse_memory_value("1G") == MemoryValue("bytes", GiB)
    assert parse_memory_value(4096) == MemoryValue("bytes", 4096)
    with pytest.raises(SizeError, match="empty"):
        parse_memory_value("  ")


def test_resolve():
    memtotal = 8 * GiB
    assert resolve(parse_memory_value("1G"), memtotal) == GiB
    assert resolve(parse_memory_value("25%"), memtotal) == 2 * GiB
    assert resolve(parse_memory_value("12.5%"), memtotal) == GiB
    assert resolve(parse_memory_value("infinity"), memtotal) == U64_MAX
    assert resolve(parse_memory_value("25%"), None) is None


@pytest.mark.parametrize(
    "size, text",
    [
        (0, "0"),
        (1, "1"),
        (1024, "1K"),
        (1536, "3 * 512"),
        (GiB, "1G"),
        (3 * GiB // 2, "1536M"),
        (1024**4, "1T"),
        (1000, "1000"),
    ],
)
def test_format_size(size, text):
    if text == "3 * 512":
        text = "1536"
    assert format_size(size) == text


def test_format_size_round_trip():
    for size in (0, 1, 4095, 4096, 123456789, 5 * GiB, 1024**5, 1024**6):
        assert parse_size(format_size(size)) == size


def test_format_percent_and_render():
    assert format_percent(Fraction(75)) == "75%"
    assert format_percent(Fraction(25, 2)) == "12.5%"
    assert format_percent(Fraction(1, 100)) == "0.01%"
    assert render(parse_memory_value("1024M")) == "1G"
    assert render(parse_memory_value("75.50%")) == "75.5%"
    assert render(parse_memory_value("infinity")) == "infinity"


def test_human():
    assert human(None) == "unknown"
    assert human(U64_MAX) == "infinity"
    assert human(GiB) == "1 GiB"
    assert human(3 * GiB // 2) == "1.5 GiB"
    assert human(100) == "100 B"


def test_read_memtotal(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        8000000 kB\nMemFree:         100 kB\n")
    assert read_memtotal(str(meminfo)) == 8000000 * 1024
    meminfo.write_text("MemFree:         100 kB\n")
    assert read_memtotal(str(meminfo)) is None
    assert read_memtotal(str(tmp_path / "missing")) is None


@pytest.mark.parametrize(
    "value, expected",
    [
        (SIZE_MAX, SIZE_MAX),
        ("18446744073709551614", SIZE_MAX),
        ("15E", 15 * 1024**6),
        (1073741824.0, GiB),
        (0.0, 0),
    ],
)
def test_parse_size_limits_and_whole_floats(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        (U64_MAX, "18446744073709551615 is out of range: systemd takes sizes below 16 EiB"),
        (2**64, "18446744073709551616 is out of range"),
        ("16E", "'16E' is out of range"),
        (str(U64_MAX), "'18446744073709551615' is out of range"),
        (99999999999999999999999, "99999999999999999999999 is out of range"),
        (10**100, "a 333-bit integer is out of range"),
        (1.5, "not the number 1.5"),
        (float("nan"), "not the number nan"),
        (float("-inf"), "not the number -inf"),
        (1e20, "1e+20 is out of range"),
        ([1], "not a list ([1])"),
        ({"a": 1}, "not a dict"),
        (None, "not a NoneType"),
        ("\u0661G", "expected a size"),  # a digit, but not an ASCII one
        ("9" * 65, "expected a size"),  # too long to be typed by hand; never reaches int()
        ("-0", "expected a size"),
    ],
)
def test_parse_size_refuses_what_systemd_refuses(value, message):
    with pytest.raises(SizeError, match=re.escape(message)):
        parse_size(value)


def test_parse_percent_takes_only_strings():
    with pytest.raises(SizeError, match=re.escape("not a int (40)")):
        parse_percent(40)
    with pytest.raises(SizeError, match="expected a percentage"):
        parse_percent("\u0664\u0660%")
    with pytest.raises(SizeError, match="expected a percentage"):
        parse_percent("1" * 70 + "%")


def test_shown_cuts_long_values():
    assert shown("x" * 100) == "'" + "x" * 36 + "..."
    assert shown(10**100) == "a 333-bit integer"
    assert shown(5) == "5"
