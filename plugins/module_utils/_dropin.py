# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""systemd drop-ins for memory and OOM settings: validation, rendering and atomic writes.

PRIVATE to the oomguard.memory collection. No compatibility promise.

The pure functions (C(build_directives), C(host_warnings), C(render), C(parse)) need no
AnsibleModule. C(DropinFile) does the file work for a module: it compares bytes, creates the
C(.d) directory with mode 0755, makes an optional backup and replaces the file atomically.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections import namedtuple

from ansible_collections.oomguard.memory.plugins.module_utils._sizes import (
    INFINITY,
    SizeError,
    format_percent,
    format_size,
    human,
    parse_memory_value,
    parse_percent,
    render,
    resolve,
)

DEFAULT_UNIT_DIR = "/etc/systemd/system"
MEMORY_DROPIN_NAME = "50-oomguard-memory.conf"
OOM_SCORE_ADJ_DROPIN_NAME = "50-oomguard-oom-score-adj.conf"
MARKER = "# Managed by Ansible (oomguard.memory."
DIR_MODE = 0o755

SECTIONS = {
    "service": "Service",
    "socket": "Socket",
    "mount": "Mount",
    "swap": "Swap",
    "slice": "Slice",
    "scope": "Scope",
}
CGROUP_TYPES = tuple(SECTIONS)
EXEC_TYPES = ("service", "socket", "mount", "swap")
MANAGED_OOM_TYPES = ("service", "scope", "slice")

Setting = namedtuple("Setting", ("option", "directive", "kind", "unit_types", "since", "v2_only", "oomd", "at_start"))
SETTINGS = (
    Setting("memory_max", "MemoryMax", "size", CGROUP_TYPES, 232, False, False, False),
    Setting("memory_high", "MemoryHigh", "size", CGROUP_TYPES, 232, True, False, False),
    Setting("memory_low", "MemoryLow", "size", CGROUP_TYPES, 232, True, False, False),
    Setting("memory_min", "MemoryMin", "size", CGROUP_TYPES, 240, True, False, False),
    Setting("memory_swap_max", "MemorySwapMax", "size", CGROUP_TYPES, 232, True, False, False),
    Setting("oom_policy", "OOMPolicy", "choice", ("service", "scope"), 243, False, False, False),
    Setting("oom_score_adjust", "OOMScoreAdjust", "score", EXEC_TYPES, 0, False, False, True),
    Setting(
        "managed_oom_memory_pressure", "ManagedOOMMemoryPressure", "choice", MANAGED_OOM_TYPES, 247, True, True, False
    ),
    Setting(
        "managed_oom_memory_pressure_limit",
        "ManagedOOMMemoryPressureLimit",
        "percent",
        MANAGED_OOM_TYPES,
        248,
        True,
        True,
        False,
    ),
    Setting("managed_oom_swap", "ManagedOOMSwap", "choice", MANAGED_OOM_TYPES, 247, True, True, False),
    Setting("managed_oom_preference", "ManagedOOMPreference", "choice", MANAGED_OOM_TYPES, 248, True, True, False),
)
SETTINGS_BY_OPTION = {setting.option: setting for setting in SETTINGS}
SETTINGS_BY_DIRECTIVE = {setting.directive: setting for setting in SETTINGS}
OPTIONS = tuple(setting.option for setting in SETTINGS)
# Settings a unit type gained later than the setting itself.
_SINCE_BY_TYPE = {("OOMPolicy", "scope"): 253}
_DROPIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*\.conf$")
_RESERVED_NAMES = frozenset(("override.conf",))
_ORDER = (
    ("memory_high", "memory_max"),
    ("memory_low", "memory_high"),
    ("memory_low", "memory_max"),
    ("memory_min", "memory_max"),
)


class DropinError(ValueError):
    """Invalid drop-in input; the message names the option and says what is expected."""


def validate_dropin_name(name):
    """Raise DropinError unless C(name) is a plain C(*.conf) file name that this collection may own."""
    if not name or "/" in name or not _DROPIN_NAME.match(name):
        raise DropinError(
            "dropin_name %r is not valid: use a plain file name of letters, digits and '_.@+-' ending in "
            "'.conf', such as %r" % (name, MEMORY_DROPIN_NAME)
        )
    if name in _RESERVED_NAMES or name.endswith("-override.conf"):
        raise DropinError(
            "dropin_name %r is reserved for administrators (systemctl edit writes override.conf); "
            "use a name owned by this collection such as %r" % (name, MEMORY_DROPIN_NAME)
        )


def section_for(unit, unit_type):
    """Return the unit file section ('Service', 'Slice', ...) for a unit type with a cgroup."""
    try:
        return SECTIONS[unit_type]
    except KeyError:
        raise DropinError(
            "%s is a .%s unit, which has no control group of its own; memory and OOM settings apply to "
            ".%s units" % (unit, unit_type, ", .".join(CGROUP_TYPES))
        ) from None


def dropin_path(unit_dir, unit, name):
    """Return UNIT_DIR/UNIT.d/NAME; both names must have been validated."""
    return os.path.join(unit_dir, unit + ".d", name)


def _value_text(setting, value, memtotal):
    """Validate one value; return (text for the unit file, resolved bytes or None)."""
    option = setting.option
    if setting.kind == "size":
        try:
            parsed = parse_memory_value(value)
        except SizeError as exc:
            raise DropinError("%s: %s" % (option, exc)) from None
        if parsed.kind == "percent" and setting.directive == "MemorySwapMax":
            # systemd refuses percentages for MemorySwapMax=; resolve against the host's RAM here.
            if memtotal is None:
                raise DropinError("%s: cannot resolve %s without MemTotal from /proc/meminfo" % (option, value))
            return format_size(resolve(parsed, memtotal)), resolve(parsed, memtotal)
        return render(parsed), resolve(parsed, memtotal)
    if setting.kind == "percent":
        try:
            return format_percent(parse_percent(value)), None
        except SizeError as exc:
            raise DropinError("%s: %s" % (option, exc)) from None
    if setting.kind == "score":
        if isinstance(value, bool) or not isinstance(value, int) or not -1000 <= value <= 1000:
            raise DropinError("%s must be an integer from -1000 to 1000; got %r" % (option, value))
        return str(value), None
    return str(value), None


def build_directives(params, unit, unit_type, memtotal):
    """Validate the settings given in C(params) for one unit.

    Returns (directives, resolved): C(directives) is a list of (directive, text) in a fixed order,
    C(resolved) maps option names of memory sizes to bytes (None when a percentage cannot be resolved).
    Raises DropinError with a message naming the offending option.
    """
    directives = []
    resolved = {}
    for setting in SETTINGS:
        value = params.get(setting.option)
        if value is None:
            continue
        if unit_type not in setting.unit_types:
            raise DropinError(
                "%s (%s=) cannot be set on %s: systemd supports it only for .%s units"
                % (setting.option, setting.directive, unit, ", .".join(setting.unit_types))
            )
        text, size = _value_text(setting, value, memtotal)
        if setting.kind == "size":
            resolved[setting.option] = size
        directives.append((setting.directive, text))
    for lower, upper in _ORDER:
        low, high = resolved.get(lower), resolved.get(upper)
        if low is not None and high is not None and low > high:
            raise DropinError("%s (%s) must not exceed %s (%s) for %s" % (lower, human(low), upper, human(high), unit))
    return directives, resolved


def host_warnings(directives, unit, unit_type, systemd_version=None, cgroup_version=None, oomd_active=None):
    """Return messages for settings that cannot take effect on this host (the caller passes them to warn())."""
    messages = []
    names = [directive for directive, _text in directives]
    values = dict(directives)
    for directive in names:
        setting = SETTINGS_BY_DIRECTIVE[directive]
        since = max(setting.since, _SINCE_BY_TYPE.get((directive, unit_type), 0))
        if systemd_version is not None and systemd_version < since:
            messages.append(
                "%s= needs systemd %d or later for .%s units; this host runs systemd %d, which ignores the "
                "key and logs 'Unknown key name'" % (directive, since, unit_type, systemd_version)
            )
        if setting.v2_only and cgroup_version is not None and cgroup_version != "2":
            messages.append(
                "%s= has no effect for %s: the memory controller on this host uses cgroup v1 (it is applied "
                "only on the unified cgroup v2 hierarchy)" % (directive, unit)
            )
    oomd_names = [name for name in names if SETTINGS_BY_DIRECTIVE[name].oomd]
    if oomd_names and oomd_active is False:
        messages.append(
            "%s has no effect while systemd-oomd is not running; enable it with "
            "'systemctl enable --now systemd-oomd.service'" % ", ".join(name + "=" for name in oomd_names)
        )
    if "ManagedOOMMemoryPressureLimit" in values and values.get("ManagedOOMMemoryPressure") != "kill":
        messages.append(
            "ManagedOOMMemoryPressureLimit= is used only when ManagedOOMMemoryPressure=kill applies to %s" % unit
        )
    if values.get("MemoryMax") == "0" or values.get("MemoryHigh") == "0":
        messages.append("a memory limit of 0 bytes for %s leaves its processes no memory at all" % unit)
    return messages


def render_dropin(section, directives, owner):
    """Render the drop-in deterministically: marker comment, section header, one directive a line.

    C(owner) is the FQCN of the module writing it; it must start with 'oomguard.memory.' (see MARKER).
    """
    lines = ["# Managed by Ansible (%s). Local changes will be overwritten." % owner, "[%s]" % section]
    lines.extend("%s=%s" % (directive, text) for directive, text in directives)
    return "\n".join(lines) + "\n"


def parse_dropin(text):
    """Return {directive: value} of a drop-in (last assignment wins; comments and sections ignored)."""
    values = {}
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;[":
            continue
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def is_managed(text):
    """True when a drop-in carries this collection's marker on its first line."""
    return (text or "").startswith(MARKER)


def expected_property(directive, text, memtotal):
    """Return the value C(systemctl show) should report for a rendered directive, or None to skip checking.

    Percentages are resolved by systemd against its own idea of physical memory, so they are not compared.
    """
    setting = SETTINGS_BY_DIRECTIVE[directive]
    if setting.kind == "size":
        if text.endswith("%"):
            return None
        parsed = parse_memory_value(text)
        return INFINITY if parsed.kind == INFINITY else parsed.amount
    if setting.kind == "score":
        return int(text)
    if setting.kind == "percent":
        return None
    return text


class DropinFile:
    """The file work for one drop-in path, on behalf of an AnsibleModule."""

    def __init__(self, module, path):
        self.module = module
        self.path = path
        self.directory = os.path.dirname(path)
        self.unit_dir = os.path.dirname(self.directory)

    def read(self):
        """Return the current text, or None when the file does not exist."""
        try:
            with open(self.path, "rb") as handle:
                return handle.read().decode("utf-8", errors="replace")
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            self.module.fail_json(msg="cannot read drop-in %s: %s" % (self.path, exc.strerror), path=self.path)
        return None

    def check_ownership(self, text):
        """Fail when the file exists but was not written by this collection."""
        if text is not None and not is_managed(text):
            self.module.fail_json(
                msg="%s exists but is not managed by oomguard.memory (its first line is not %r); refusing to "
                "change or remove someone else's drop-in. Choose another dropin_name." % (self.path, MARKER),
                path=self.path,
            )

    def diff(self, before, after):
        header = "%s (content)" % self.path
        return {"before": before or "", "after": after or "", "before_header": header, "after_header": header}

    def write(self, content, backup=False):
        """Atomically make the file hold C(content). Returns the backup file name or None."""
        if not os.path.isdir(self.unit_dir):
            self.module.fail_json(
                msg="unit directory %s does not exist; is systemd installed? Set unit_dir to the right place."
                % self.unit_dir,
                path=self.path,
            )
        if not os.path.isdir(self.directory):
            try:
                os.mkdir(self.directory, DIR_MODE)
                os.chmod(self.directory, DIR_MODE)
            except OSError as exc:
                self.module.fail_json(msg="cannot create %s: %s" % (self.directory, exc.strerror), path=self.path)
        backup_file = None
        if backup and os.path.exists(self.path):
            backup_file = self.module.backup_local(self.path)
        try:
            handle, tmp = tempfile.mkstemp(dir=self.directory, prefix=".oomguard-", suffix=".tmp")
        except OSError as exc:
            self.module.fail_json(msg="cannot write in %s: %s" % (self.directory, exc.strerror), path=self.path)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(content.encode("utf-8"))
            self.module.atomic_move(tmp, self.path, unsafe_writes=self.module.params.get("unsafe_writes", False))
        except Exception as exc:  # atomic_move raises a bare Exception in ansible-core 2.19
            self.module.fail_json(msg="cannot write drop-in %s: %s" % (self.path, exc), path=self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return backup_file

    def remove(self, backup=False):
        """Remove the file, and its .d directory when that is left empty. Returns the backup file or None."""
        backup_file = self.module.backup_local(self.path) if backup else None
        try:
            os.unlink(self.path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                self.module.fail_json(msg="cannot remove drop-in %s: %s" % (self.path, exc.strerror), path=self.path)
        with contextlib.suppress(OSError):
            os.rmdir(self.directory)  # fails, and is meant to, when other files (drop-ins, a backup) remain
        return backup_file
