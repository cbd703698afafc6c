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
    shown,
)

DEFAULT_UNIT_DIR = "/etc/systemd/system"
MEMORY_DROPIN_NAME = "50-oomguard-memory.conf"
OOM_SCORE_ADJ_DROPIN_NAME = "50-oomguard-oom-score-adj.conf"
MARKER = "# Managed by Ansible (oomguard.memory."
# Both modules write the OOMScoreAdjust= drop-in with these bytes (CONTRACT: one owner per unit).
SCORE_DROPIN_OWNER = "oomguard.memory.oom_score_adj or oomguard.memory.systemd_memory"
DIR_MODE = 0o755
SCORE_DROPIN_MODE = 0o644
NAME_MAX = 255
READ_MAX = 65536  # far above any drop-in this collection writes

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

Setting = namedtuple("Setting", ("option", "directive", "kind", "unit_types", "since", "v2_only", "oomd"))
SETTINGS = (
    Setting("memory_max", "MemoryMax", "size", CGROUP_TYPES, 232, False, False),
    Setting("memory_high", "MemoryHigh", "size", CGROUP_TYPES, 232, True, False),
    Setting("memory_low", "MemoryLow", "size", CGROUP_TYPES, 232, True, False),
    Setting("memory_min", "MemoryMin", "size", CGROUP_TYPES, 240, True, False),
    Setting("memory_swap_max", "MemorySwapMax", "size", CGROUP_TYPES, 232, True, False),
    Setting("memory_zswap_max", "MemoryZSwapMax", "size", CGROUP_TYPES, 253, True, False),
    Setting("oom_policy", "OOMPolicy", "choice", ("service", "scope"), 243, False, False),
    Setting("oom_score_adjust", "OOMScoreAdjust", "score", EXEC_TYPES, 0, False, False),
    Setting("managed_oom_memory_pressure", "ManagedOOMMemoryPressure", "choice", MANAGED_OOM_TYPES, 247, True, True),
    Setting(
        "managed_oom_memory_pressure_limit",
        "ManagedOOMMemoryPressureLimit",
        "percent",
        MANAGED_OOM_TYPES,
        248,
        True,
        True,
    ),
    Setting("managed_oom_swap", "ManagedOOMSwap", "choice", MANAGED_OOM_TYPES, 247, True, True),
    Setting("managed_oom_preference", "ManagedOOMPreference", "choice", MANAGED_OOM_TYPES, 248, True, True),
)
SETTINGS_BY_DIRECTIVE = {setting.directive: setting for setting in SETTINGS}
OPTIONS = tuple(setting.option for setting in SETTINGS)
# Settings a unit type gained later than the setting itself.
_SINCE_BY_TYPE = {("OOMPolicy", "scope"): 253}
_DROPIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*\.conf$")
_RESERVED_NAMES = frozenset(("override.conf",))
# systemd refuses a limit of 0 bytes for these ("Memory limit out of range") and leaves the unit unlimited.
_NONZERO = ("MemoryMax", "MemoryHigh")
# systemd does not take percentages for these (before v254); resolved against MemTotal here.
_PERCENT_TO_BYTES = ("MemorySwapMax", "MemoryZSwapMax")
_ORDER = (
    ("memory_high", "memory_max"),
    ("memory_low", "memory_high"),
    ("memory_low", "memory_max"),
    ("memory_min", "memory_max"),
)


Staged = namedtuple("Staged", ("tmp", "created_dir"))
"""A drop-in written to a temporary file, not yet renamed into place."""


class DropinError(ValueError):
    """Invalid drop-in input; the message names the option and says what is expected."""


def validate_dropin_name(name, reserved=()):
    """Raise DropinError unless C(name) is a plain C(*.conf) file name that this collection may own.

    C(reserved) names files of this collection that the caller must not use for something else.
    """
    if not name or len(name) > NAME_MAX or "/" in name or not _DROPIN_NAME.match(name):
        raise DropinError(
            "dropin_name %r is not valid: use a plain file name of letters, digits and '_.@+-' ending in "
            "'.conf', such as %r" % (name, MEMORY_DROPIN_NAME)
        )
    if name in _RESERVED_NAMES or name.endswith("-override.conf"):
        raise DropinError(
            "dropin_name %r is reserved for administrators (systemctl edit writes override.conf); "
            "use a name owned by this collection such as %r" % (name, MEMORY_DROPIN_NAME)
        )
    if name in reserved:
        raise DropinError(
            "dropin_name %r is the drop-in that holds OOMScoreAdjust= for oom_score_adj and systemd_memory "
            "(set it with oom_score_adjust); choose another name such as %r" % (name, MEMORY_DROPIN_NAME)
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
    """Return UNIT_DIR/UNIT.d/NAME; both names must have been validated.

    Raises DropinError when UNIT.d would be longer than a file name may be (a unit name of 254 or 255
    characters is valid, but no drop-in directory can exist for it).
    """
    if not os.path.isabs(unit_dir):
        raise DropinError(
            "unit_dir %s must be an absolute path such as /etc/systemd/system (a relative one would resolve in "
            "Ansible's temporary directory)" % shown(unit_dir)
        )
    if len((unit + ".d").encode("utf-8")) > NAME_MAX:
        raise DropinError(
            "unit name %s is %d characters long: its drop-in directory %s.d would be longer than the %d bytes a "
            "file name may have, so systemd reads no drop-ins for it" % (shown(unit), len(unit), "UNIT", NAME_MAX)
        )
    return os.path.join(unit_dir, unit + ".d", name)


def _value_text(setting, value, memtotal):
    """Validate one value; return (text for the unit file, resolved bytes or None)."""
    option = setting.option
    if setting.kind == "size":
        try:
            parsed = parse_memory_value(value)
        except SizeError as exc:
            raise DropinError("%s: %s" % (option, exc)) from None
        if setting.directive in _NONZERO and parsed.kind != INFINITY and not parsed.amount:
            raise DropinError(
                "%s: %s is out of range: systemd ignores %s=0 ('Memory limit out of range') and leaves the unit "
                "without a limit; give a size above 0, or infinity" % (option, shown(value), setting.directive)
            )
        if parsed.kind == "percent" and setting.directive in _PERCENT_TO_BYTES:
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
            raise DropinError("%s must be an integer from -1000 to 1000; got %s" % (option, shown(value)))
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


def unsupported_settings(directives, unit_type, systemd_version):
    """Return one dict per directive that this systemd version does not know: option, directive, needs, systemd."""
    if systemd_version is None:
        return []
    found = []
    for directive, _text in directives:
        setting = SETTINGS_BY_DIRECTIVE[directive]
        since = max(setting.since, _SINCE_BY_TYPE.get((directive, unit_type), 0))
        if systemd_version < since:
            found.append({"option": setting.option, "directive": directive, "needs": since, "systemd": systemd_version})
    return found


def host_warnings(directives, unit, unit_type, systemd_version=None, cgroup_version=None, oomd_active=None):
    """Return messages for settings that cannot take effect on this host (the caller passes them to warn())."""
    messages = [
        "%s= needs systemd %d or later for .%s units; this host runs systemd %d, which ignores the key and logs "
        "'Unknown key name'" % (entry["directive"], entry["needs"], unit_type, entry["systemd"])
        for entry in unsupported_settings(directives, unit_type, systemd_version)
    ]
    names = [directive for directive, _text in directives]
    values = dict(directives)
    for directive in names:
        if SETTINGS_BY_DIRECTIVE[directive].v2_only and cgroup_version is not None and cgroup_version != "2":
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
    return messages


def render_dropin(section, directives, owner):
    """Render the drop-in deterministically: marker comment, section header, one directive a line.

    C(owner) is the FQCN of the module writing it; it must start with 'oomguard.memory.' (see MARKER).
    """
    lines = ["# Managed by Ansible (%s). Local changes will be overwritten." % owner, "[%s]" % section]
    lines.extend("%s=%s" % (directive, text) for directive, text in directives)
    return "\n".join(lines) + "\n"


def render_score_dropin(unit, unit_type, value):
    """The OOMScoreAdjust= drop-in of a unit: the same bytes from oom_score_adj and systemd_memory."""
    return render_dropin(section_for(unit, unit_type), [("OOMScoreAdjust", str(value))], SCORE_DROPIN_OWNER)


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


def _hint(exc):
    """What the user can do about an OSError while writing a drop-in."""
    if exc.errno == errno.EROFS:
        return " (the file system is mounted read-only; nothing was changed)"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return " (the file system is full; the previous drop-in, if any, is unchanged)"
    if exc.errno in (errno.EACCES, errno.EPERM) and os.geteuid() != 0:
        return "; drop-ins belong to root: run the task as root (become: true)"
    return ""


class DropinFile:
    """The file work for one drop-in path, on behalf of an AnsibleModule."""

    def __init__(self, module, path):
        self.module = module
        self.path = path
        self.directory = os.path.dirname(path)
        self.unit_dir = os.path.dirname(self.directory)

    def _fail(self, action, exc):
        self.module.fail_json(msg="%s: %s%s" % (action, exc.strerror, _hint(exc)), path=self.path)

    def read(self):
        """Return the current text (at most READ_MAX bytes of it), or None when the file does not exist."""
        try:
            with open(self.path, "rb") as handle:
                return handle.read(READ_MAX).decode("utf-8", errors="replace")
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            self._fail("cannot read drop-in %s" % self.path, exc)
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

    def check_unit_dir(self):
        """Fail unless the unit directory exists (it is never created: a missing one means a wrong unit_dir)."""
        if not os.path.isdir(self.unit_dir):
            self.module.fail_json(
                msg="unit directory %s does not exist; is systemd installed? Set unit_dir to the right place."
                % self.unit_dir,
                path=self.path,
            )

    def check_writable(self, removing=False):
        """Fail as the write (or the removal) would: check mode predicts a read-only or unwritable directory."""
        directory = self.directory if os.path.isdir(self.directory) else self.unit_dir
        if not os.path.isdir(directory) or os.access(directory, os.W_OK | os.X_OK):
            return
        code = errno.EROFS if os.statvfs(directory).f_flag & os.ST_RDONLY else errno.EACCES
        if removing:
            action = "cannot remove drop-in %s" % self.path
        elif directory == self.directory:
            action = "cannot write in %s" % self.directory
        else:
            action = "cannot create %s" % self.directory
        self._fail(action, OSError(code, os.strerror(code)))

    def stage(self, content, prepare=None):
        """Write C(content) to a temporary file next to the drop-in, flushed to disk; return a Staged.

        Nothing the user sees changes yet: a full disk, a read-only file system or a bad owner fails here, and
        leaves no file behind (and no C(.d) directory that was made for it). C(prepare(tmp)) applies file
        attributes to the temporary file.
        """
        self.check_unit_dir()
        created = False
        if not os.path.isdir(self.directory):
            try:
                os.mkdir(self.directory, DIR_MODE)
                os.chmod(self.directory, DIR_MODE)
                created = True
            except OSError as exc:
                self._fail("cannot create %s" % self.directory, exc)
        tmp = None
        try:
            try:
                handle, tmp = tempfile.mkstemp(dir=self.directory, prefix=".oomguard-", suffix=".tmp")
            except OSError as exc:
                self._fail("cannot write in %s" % self.directory, exc)
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(content.encode("utf-8"))
                    stream.flush()
                    os.fsync(stream.fileno())
            except OSError as exc:
                self._fail("cannot write drop-in %s" % self.path, exc)
            if prepare:
                prepare(tmp)
        except BaseException:
            self.discard(Staged(tmp, created))
            raise
        return Staged(tmp, created)

    def discard(self, staged):
        """Remove a staged temporary file (and the directory made for it)."""
        if staged.tmp and os.path.exists(staged.tmp):
            os.unlink(staged.tmp)
        if staged.created_dir:
            with contextlib.suppress(OSError):
                os.rmdir(self.directory)

    def commit(self, staged, backup=False, mode=None):
        """Rename a staged file over the drop-in (atomically). Returns the backup file name or None."""
        backup_file = None
        try:
            if backup and os.path.exists(self.path):
                backup_file = self.module.backup_local(self.path)
            try:
                self.module.atomic_move(
                    staged.tmp, self.path, unsafe_writes=self.module.params.get("unsafe_writes", False)
                )
            except Exception as exc:  # atomic_move raises a bare Exception in ansible-core 2.19
                self.module.fail_json(msg="cannot write drop-in %s: %s" % (self.path, exc), path=self.path)
        except BaseException:
            self.discard(staged)
            raise
        if mode is not None:
            try:
                os.chmod(self.path, mode)
            except OSError as exc:
                self._fail("cannot set the mode of %s" % self.path, exc)
        return backup_file

    def write(self, content, backup=False, prepare=None, mode=None):
        """Atomically make the file hold C(content) (stage, then commit). Returns the backup file name or None."""
        return self.commit(self.stage(content, prepare), backup, mode)

    def remove(self, backup=False):
        """Remove the file, and its .d directory when that is left empty. Returns the backup file or None."""
        backup_file = self.module.backup_local(self.path) if backup else None
        try:
            os.unlink(self.path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                self._fail("cannot remove drop-in %s" % self.path, exc)
        with contextlib.suppress(OSError):
            os.rmdir(self.directory)  # fails, and is meant to, when other files (drop-ins, a backup) remain
        return backup_file
