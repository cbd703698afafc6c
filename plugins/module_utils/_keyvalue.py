# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One reader for the key/value files of /proc, /sys and cgroups.

PRIVATE to the oomguard.memory collection. No compatibility promise.

Covers every "key value ..." file the collection reads:

* /proc/meminfo (``MemTotal:       24684084 kB``),
* /proc/vmstat, cgroup ``memory.events``, ``memory.events.local``, ``memory.oom_control``, ``memory.stat``
  (``oom_kill 3``),
* pressure stall information, /proc/pressure/memory (``some avg10=0.00 avg60=0.00 avg300=0.00 total=0``),

and, for files that hold one value (sysctls, ``memory.max``, ``memory.peak``), ``read_value()``.
Reads are bounded: a file is read up to ``MAX_BYTES``, so a hostile or odd file cannot blow up memory.
"""

from __future__ import annotations

MAX_BYTES = 1 << 20


def _read_head(path, max_bytes):
    with open(path, "rb") as handle:
        return handle.read(max_bytes).decode("ascii", errors="replace")


def read_key_values(path, keys=None, max_bytes=MAX_BYTES):
    """Return ``{key: [field, ...]}`` for every ``key[:] field ...`` line of a file, or None when it cannot be read.

    C(keys) limits the result to those keys. A colon right after the key (meminfo) is dropped.
    """
    try:
        text = _read_head(path, max_bytes)
    except OSError:
        return None
    wanted = None if keys is None else set(keys)
    values = {}
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        key = fields[0]
        if key.endswith(":"):
            key = key[:-1]
        if wanted is None or key in wanted:
            values[key] = fields[1:]
    return values


def read_int_values(path, keys=None, max_bytes=MAX_BYTES):
    """Return ``{key: int}`` from the first field of each line (meminfo, vmstat, memory.events), or None.

    Lines whose first field is not an integer are skipped.
    """
    values = read_key_values(path, keys, max_bytes)
    if values is None:
        return None
    numbers = {}
    for key, fields in values.items():
        if fields:
            try:
                numbers[key] = int(fields[0])
            except ValueError:
                continue
    return numbers


def read_named_fields(path, keys=None, max_bytes=MAX_BYTES):
    """Return ``{key: {name: number}}`` for lines of ``name=value`` fields (pressure files), or None.

    Integer values stay ints, others become floats; fields that are not numbers are skipped.
    """
    values = read_key_values(path, keys, max_bytes)
    if values is None:
        return None
    parsed = {}
    for key, fields in values.items():
        entry = {}
        for field in fields:
            name, sep, value = field.partition("=")
            if not sep:
                continue
            try:
                entry[name] = int(value)
            except ValueError:
                try:
                    entry[name] = float(value)
                except ValueError:
                    continue
        parsed[key] = entry
    return parsed


def read_value(path, max_bytes=4096):
    """Return the first line of a one-value file (a sysctl, ``memory.max``), stripped, or None when unreadable."""
    try:
        text = _read_head(path, max_bytes)
    except OSError:
        return None
    lines = text.splitlines()
    return lines[0].strip() if lines else ""


def read_int(path):
    """Return the integer of a one-value file (first word), or None when it is unreadable or not an integer."""
    value = read_value(path)
    if not value:
        return None
    try:
        return int(value.split()[0])
    except ValueError:
        return None
