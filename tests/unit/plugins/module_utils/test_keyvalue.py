# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one key/value reader: meminfo, vmstat, memory.events, pressure and one-value files (invented contents)."""

from __future__ import annotations

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils import _keyvalue
from ansible_collections.oomguard.memory.plugins.module_utils._keyvalue import (
    read_int,
    read_int_values,
    read_key_values,
    read_named_fields,
    read_value,
)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_meminfo_keys_lose_their_colon_and_unit(tmp_path):
    path = write(
        tmp_path, "meminfo", "MemTotal:       24684084 kB\nMemFree:        22040464 kB\nHugePages_Total:       0\n"
    )
    assert read_key_values(path) == {
        "MemTotal": ["24684084", "kB"],
        "MemFree": ["22040464", "kB"],
        "HugePages_Total": ["0"],
    }
    assert read_int_values(path, ("MemTotal", "Absent")) == {"MemTotal": 24684084}


def test_vmstat_and_memory_events(tmp_path):
    vmstat = write(tmp_path, "vmstat", "nr_free_pages 5000\noom_kill 44\nbroken x\n\n")
    assert read_int_values(vmstat) == {"nr_free_pages": 5000, "oom_kill": 44}
    events = write(tmp_path, "memory.events", "low 0\nhigh 12\nmax 40\noom 3\noom_kill 3\noom_group_kill 0\n")
    assert read_int_values(events, ("oom_kill",)) == {"oom_kill": 3}


def test_pressure_fields(tmp_path):
    path = write(
        tmp_path,
        "memory",
        "some avg10=0.10 avg60=1.25 avg300=0.40 total=123456\nfull avg10=0.00 avg60=0.50 avg300=0.10 total=30864\n",
    )
    assert read_named_fields(path) == {
        "some": {"avg10": 0.1, "avg60": 1.25, "avg300": 0.4, "total": 123456},
        "full": {"avg10": 0.0, "avg60": 0.5, "avg300": 0.1, "total": 30864},
    }
    odd = write(tmp_path, "odd", "some avg10=x total=5 junk\n")
    assert read_named_fields(odd) == {"some": {"total": 5}}


def test_one_value_files(tmp_path):
    assert read_value(write(tmp_path, "max", "max\n")) == "max"
    assert read_int(write(tmp_path, "peak", "1073741824\n")) == 1073741824
    assert read_int(write(tmp_path, "empty", "")) is None
    assert read_int(write(tmp_path, "word", "max\n")) is None
    assert read_value(write(tmp_path, "blank", "")) == ""


def test_unreadable_files_are_none(tmp_path):
    missing = str(tmp_path / "missing")
    assert read_key_values(missing) is None
    assert read_int_values(missing) is None
    assert read_named_fields(missing) is None
    assert read_value(missing) is None
    assert read_int(str(tmp_path)) is None  # a directory


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_reads_are_bounded(device, monkeypatch):
    """An endless file is read up to MAX_BYTES, not to the end of memory."""
    monkeypatch.setattr(_keyvalue, "MAX_BYTES", 1 << 16)
    assert isinstance(read_key_values(device, max_bytes=1 << 16), dict)
    assert read_value(device) is not None
