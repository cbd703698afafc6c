#!/usr/bin/python
# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: systemd_memory
short_description: Manage memory limits and OOM settings of a systemd unit in a drop-in
version_added: "1.0.0"
author: oomguard maintainers (@oomguard)
description:
  - Writes the memory limits, memory protection and OOM settings of one systemd unit into a drop-in file that this
    collection owns, C(UNIT.d/50-oomguard-memory.conf) by default. The drop-in holds exactly the settings given to the
    task; settings left out are removed from it. Administrators' own drop-ins are never touched.
  - Every input is validated before anything is written. The unit name must follow systemd's rules, sizes and
    percentages must parse, O(memory_high) must not exceed O(memory_max), and O(memory_low) must not exceed
    O(memory_high) or O(memory_max).
  - A setting that cannot take effect on this host (a memory controller on cgroup v1, C(ManagedOOM*) without
    systemd-oomd, a key that this systemd version does not know) produces a warning, not a failure, so that drop-ins
    can be prepared for hosts that differ from the one running the task.
  - By default no C(systemctl daemon-reload) is run; reload in a handler, or set O(apply=true).
extends_documentation_fragment:
  - oomguard.memory._attributes
  - oomguard.memory._attributes.platform
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the drop-in file before and after.
  platform:
    platforms: linux
    support: full
options:
  unit:
    description:
      - Name of the unit, with its type suffix, such as V(nginx.service), V(batch.slice) or V(worker@.service) (a
        template, whose drop-in applies to all its instances).
      - Only units with a control group are accepted (service, socket, mount, swap, slice and scope).
      - Names follow systemd.unit(5) - at most 255 characters of ASCII letters, digits and C(:-_.\\), with C(@) for
        instances. Use C(systemd-escape) for anything else.
    type: str
    required: true
  state:
    description:
      - V(present) writes the drop-in with the given settings. At least one setting is needed.
      - V(absent) removes the drop-in, and its C(.d) directory when that is left empty. The setting options are
        ignored.
    type: str
    choices: [present, absent]
    default: present
  memory_max:
    description:
      - Hard limit of the unit's memory use (C(MemoryMax=)); above it the kernel OOM killer acts inside the unit.
      - "Bytes with an optional C(K), C(M), C(G) or C(T) suffix (base 1024, as in systemd), such as V(512M) or
        V(1.5G); a percentage of the host's RAM such as V(75%); or V(infinity)."
      - Sizes are written in a canonical form (V(1024M) becomes V(1G)). Percentages are written as percentages,
        so systemd resolves them against the RAM of the host when it loads the unit, and they follow a resized VM
        after its reboot.
      - On cgroup v1 systemd applies it as the v1 memory limit.
    type: raw
  memory_high:
    description:
      - Throttling limit (C(MemoryHigh=)); above it the kernel reclaims memory from the unit aggressively and slows
        it down, without killing. Same value syntax as O(memory_max). cgroup v2 only.
    type: raw
  memory_low:
    description:
      - Best-effort memory protection (C(MemoryLow=)); memory below it is reclaimed only if no unprotected memory is
        left. Same value syntax as O(memory_max). cgroup v2 only.
    type: raw
  memory_min:
    description:
      - Hard memory protection (C(MemoryMin=)); memory below it is never reclaimed. Same value syntax as
        O(memory_max). cgroup v2 only.
    type: raw
  memory_swap_max:
    description:
      - Limit of the unit's swap use (C(MemorySwapMax=)). Bytes with a suffix, or V(infinity).
      - systemd does not accept percentages for this key, so a percentage is resolved here against C(MemTotal) from
        C(/proc/meminfo) and written in bytes. cgroup v2 only.
    type: raw
  oom_policy:
    description:
      - What systemd does with the unit when the kernel OOM killer kills one of its processes (C(OOMPolicy=)).
        V(continue) logs it, V(stop) stops the unit, V(kill) kills the rest of the unit.
      - Services and scopes only.
    type: str
    choices: [continue, stop, kill]
  oom_score_adjust:
    description:
      - C(OOMScoreAdjust=) for the processes that systemd starts for the unit, from V(-1000) to V(1000).
      - systemd applies it only when it starts processes; RV(restart_required) reports that. Use
        M(oomguard.memory.oom_score_adj) to change running processes at once.
      - Services, sockets, mounts and swaps only.
    type: int
  managed_oom_memory_pressure:
    description:
      - Whether systemd-oomd may kill the unit's cgroup when its memory pressure stays above the limit
        (C(ManagedOOMMemoryPressure=)). Needs systemd-oomd and cgroup v2.
    type: str
    choices: [auto, kill]
  managed_oom_memory_pressure_limit:
    description:
      - Memory pressure limit for O(managed_oom_memory_pressure=kill), as a percentage with up to two decimals such
        as V(40%) (C(ManagedOOMMemoryPressureLimit=)).
    type: str
  managed_oom_swap:
    description:
      - Whether systemd-oomd may kill the unit's cgroup when swap use of the host is high (C(ManagedOOMSwap=)).
    type: str
    choices: [auto, kill]
  managed_oom_preference:
    description:
      - Preference of systemd-oomd when it picks a cgroup to kill (C(ManagedOOMPreference=)). V(avoid) makes the
        unit a late candidate, V(omit) excludes it. systemd honours V(avoid) and V(omit) only for units owned by
        root.
    type: str
    choices: [none, avoid, omit]
  dropin_name:
    description:
      - File name of the drop-in inside C(UNIT.d/). The file must end in C(.conf).
      - C(override.conf) and names ending in C(-override.conf) are refused; C(systemctl edit) and administrators
        write those. An existing file without this collection's marker comment on its first line is never changed
        or removed.
    type: str
    default: 50-oomguard-memory.conf
  unit_dir:
    description:
      - Directory holding the C(UNIT.d/) drop-in directories.
      - V(/run/systemd/system) gives a drop-in that is gone after a reboot. Tests point this to a scratch directory.
      - The directory must exist; the C(UNIT.d/) directory below it is created with mode C(0755).
    type: path
    default: /etc/systemd/system
  apply:
    description:
      - After a change, run C(systemctl daemon-reload) so that the new settings take effect at once. systemd applies
        memory limits, protections and C(ManagedOOM*) settings of running units again when it reloads, so no
        restart is needed for them. Settings that apply only at start are listed in RV(restart_required).
      - Also reloads when the drop-in is unchanged but systemd reports C(NeedDaemonReload=yes) for the unit.
      - Some systemd versions (seen with 257) do not write changed cgroup attributes of running units on reload. On
        cgroup v2 the task then writes the value that systemd reports for C(MemoryMin=), C(MemoryLow=),
        C(MemoryHigh=), C(MemoryMax=), C(MemorySwapMax=) and C(OOMPolicy=) (as C(memory.oom.group)) into the
        running unit's cgroup itself, for the directives that this drop-in held or holds, and lists the files in
        RV(synced). For a C(MemoryMin=) or C(MemoryLow=) that is no longer set, that is the first C(DefaultMemoryMin=)
        or C(DefaultMemoryLow=) of the unit's slices, as systemd does.
      - After the reload the unit's properties are read back with C(systemctl show); a value that differs from the
        drop-in (because a drop-in with higher precedence overrides it) produces a warning.
      - This module deliberately does not use C(systemctl set-property --runtime), which writes its own drop-ins
        under C(/run/systemd/system.control/). Those outrank C(/etc/systemd/system) until the next reboot, and would
        hide later changes and the removal of this drop-in.
    type: bool
    default: false
  backup:
    description:
      - Keep a copy of the previous drop-in next to it, with a time stamp in its name, before changing or removing
        it. systemd reads only C(*.conf) files, so the copy is inert.
    type: bool
    default: false
notes:
  - systemd reads drop-ins of all directories (C(/etc), C(/run), C(/usr/lib)) in the lexical order of their file
    names, and a later assignment wins. Pick O(dropin_name) accordingly.
  - M(oomguard.memory.oom_score_adj) with O(oomguard.memory.oom_score_adj#module:persist=true) writes
    C(OOMScoreAdjust=) into a separate file, C(50-oomguard-oom-score-adj.conf), which sorts after this module's
    default file. Set O(oom_score_adjust) in only one of them.
seealso:
  - module: oomguard.memory.oom_score_adj
  - module: oomguard.memory.oom_facts
  - module: ansible.builtin.systemd_service
  - name: systemd.resource-control(5)
    description: The memory settings of systemd units.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.resource-control.html
"""

EXAMPLES = r"""
- name: Limit the reporting service to 2 GiB and throttle it from 1.5 GiB
  oomguard.memory.systemd_memory:
    unit: reports.service
    memory_max: 2G
    memory_high: 1536M
    oom_policy: stop
  become: true
  notify: Reload systemd

- name: Protect the database's working set and apply it to the running service now
  oomguard.memory.systemd_memory:
    unit: postgresql.service
    memory_min: 25%
    memory_low: 50%
    oom_score_adjust: -900
    apply: true
  become: true
  register: pg_memory

- name: Restart the database only when a setting needs it and a restart is allowed
  ansible.builtin.systemd_service:
    name: postgresql.service
    state: restarted
  become: true
  when:
    - pg_memory.restart_required
    - restart_ok | default(false) | bool

- name: Let systemd-oomd kill batch jobs under memory pressure
  oomguard.memory.systemd_memory:
    unit: batch.slice
    managed_oom_memory_pressure: kill
    managed_oom_memory_pressure_limit: 40%
    managed_oom_preference: avoid
  become: true

- name: Remove the limits again
  oomguard.memory.systemd_memory:
    unit: reports.service
    state: absent
    apply: true
  become: true
"""

RETURN = r"""
unit:
  description: The unit name.
  returned: always
  type: str
  sample: reports.service
path:
  description: Path of the drop-in.
  returned: always
  type: str
  sample: /etc/systemd/system/reports.service.d/50-oomguard-memory.conf
state:
  description: The requested state.
  returned: always
  type: str
  sample: present
settings:
  description: The directives of the drop-in as written, in file order (empty with O(state=absent)).
  returned: always
  type: dict
  sample: {MemoryMax: 2G, MemoryHigh: 1536M, OOMPolicy: stop}
resolved:
  description:
    - Memory sizes of the drop-in in bytes, resolved against the host's C(MemTotal) for percentages.
      V(infinity) is reported as C(18446744073709551615), as systemd does.
  returned: when O(state=present)
  type: dict
  sample: {memory_max: 2147483648, memory_high: 1610612736}
restart_required:
  description:
    - True when the task changed a setting that systemd applies only when the unit next starts (C(OOMScoreAdjust=)).
  returned: always
  type: bool
  sample: false
restart_reasons:
  description: One sentence for each changed setting that needs a start of the unit.
  returned: always
  type: list
  elements: str
  sample:
    - OOMScoreAdjust= is applied by systemd when postgresql.service next starts
reload_required:
  description: True when the drop-in changed and no C(systemctl daemon-reload) was run by this task (O(apply=false)).
  returned: always
  type: bool
  sample: true
applied:
  description: True when the task ran C(systemctl daemon-reload) (or would have, in check mode).
  returned: always
  type: bool
  sample: false
effective:
  description:
    - The unit's properties as C(systemctl show) reports them after O(apply=true). Sizes are in bytes.
  returned: when O(apply=true), the unit is loaded and systemd runs
  type: dict
  sample: {MemoryMax: 2147483648, MemoryHigh: 1610612736, OOMPolicy: stop}
synced:
  description:
    - Files of the running unit's cgroup v2 that the task wrote (or would write, in check mode) because systemd had
      not applied its own values to them on reload. Empty with systemd versions that do that themselves.
  returned: always
  type: list
  elements: str
  sample: [memory.high, memory.max]
backup_file:
  description: Name of the backup of the previous drop-in.
  returned: when O(backup=true) and the drop-in was changed or removed
  type: str
  sample: /etc/systemd/system/reports.service.d/50-oomguard-memory.conf.4242.2025-05-01@12:00:00~
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oomguard.memory.plugins.module_utils._cgroup import cgroup_dir, cgroup_version, unified_mount
from ansible_collections.oomguard.memory.plugins.module_utils._dropin import (
    DEFAULT_UNIT_DIR,
    MEMORY_DROPIN_NAME,
    OPTIONS,
    SETTINGS_BY_DIRECTIVE,
    DropinError,
    DropinFile,
    build_directives,
    dropin_path,
    expected_property,
    host_warnings,
    parse_dropin,
    render_dropin,
    section_for,
    validate_dropin_name,
)
from ansible_collections.oomguard.memory.plugins.module_utils._sizes import read_memtotal
from ansible_collections.oomguard.memory.plugins.module_utils._systemd import (
    daemon_reload,
    show_units,
    systemd_booted,
    systemd_version,
)
from ansible_collections.oomguard.memory.plugins.module_utils._unit_name import UnitNameError, validate_unit_name

OOMD_UNIT = "systemd-oomd.service"
# systemd properties and the cgroup v2 files of the unit's own cgroup that systemd writes them to
CGROUP_V2_FILES = (
    ("MemoryMin", "memory.min"),
    ("MemoryLow", "memory.low"),
    ("MemoryHigh", "memory.high"),
    ("MemoryMax", "memory.max"),
    ("MemorySwapMax", "memory.swap.max"),
)
ACTIVE_STATES = ("active", "activating", "reloading", "deactivating")


class SystemdMemory:
    """Render, compare and write (or remove) one unit's memory drop-in, then optionally reload systemd."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.unit = module.params["unit"]
        self.state = module.params["state"]
        self.changed = False
        self.directives = []
        self.resolved = {}
        self.restart_reasons = []
        self.applied = False
        self.effective = None
        self.backup_file = None
        self.diff = None
        self.path = None
        self.memtotal = None
        self.unit_type = None
        self.section = None
        self._systemctl = None
        self._booted = None
        self.owned = set()
        self.synced = []

    def validate(self):
        """Validate every input; fail with a message that names the option. Nothing is written before this."""
        try:
            unit_type = validate_unit_name(self.unit)
            validate_dropin_name(self.params["dropin_name"])
            section = section_for(self.unit, unit_type)
        except (UnitNameError, DropinError) as exc:
            self.module.fail_json(msg=str(exc), unit=self.unit)
        self.unit_type = unit_type
        self.section = section
        self.path = dropin_path(self.params["unit_dir"], self.unit, self.params["dropin_name"])
        given = [option for option in OPTIONS if self.params[option] is not None]
        if self.state == "absent":
            if given:
                self.module.warn("state=absent removes the drop-in; ignoring %s" % ", ".join(given))
            return
        if not given:
            self.module.fail_json(
                msg="state=present needs at least one setting for %s (one of %s); use state=absent to remove the "
                "drop-in" % (self.unit, ", ".join(OPTIONS)),
                unit=self.unit,
            )
        self.memtotal = read_memtotal()
        try:
            self.directives, self.resolved = build_directives(self.params, self.unit, unit_type, self.memtotal)
        except DropinError as exc:
            self.module.fail_json(msg=str(exc), unit=self.unit)

    # -- systemd ----------------------------------------------------------------------------------------------

    @property
    def systemctl(self):
        if self._systemctl is None:
            self._systemctl = self.module.get_bin_path("systemctl") or ""
        return self._systemctl

    @property
    def booted(self):
        if self._booted is None:
            self._booted = bool(self.systemctl) and systemd_booted()
        return self._booted

    def _show(self, properties, unit=None):
        try:
            return show_units(self.module.run_command, self.systemctl, [unit or self.unit], properties).get(
                unit or self.unit
            )
        except RuntimeError as exc:
            self.module.warn("cannot read properties of %s from systemd: %s" % (unit or self.unit, exc))
            return None

    def host_checks(self):
        """Warn about settings that cannot take effect on this host."""
        if self.state != "present":
            return
        version = systemd_version(self.module.run_command, self.systemctl) if self.systemctl else None
        oomd_active = None
        if self.booted and any(SETTINGS_BY_DIRECTIVE[name].oomd for name, _text in self.directives):
            oomd = self._show(["ActiveState"], OOMD_UNIT)
            oomd_active = bool(oomd) and oomd.get("ActiveState") in ("active", "activating", "reloading")
        for message in host_warnings(
            self.directives, self.unit, self.unit_type, version, cgroup_version(), oomd_active
        ):
            self.module.warn(message)

    # -- the drop-in ------------------------------------------------------------------------------------------

    def converge(self):
        dropin = DropinFile(self.module, self.path)
        before = dropin.read()
        dropin.check_ownership(before)
        after = None
        if self.state == "present":
            after = render_dropin(self.section, self.directives, "oomguard.memory.systemd_memory")
        self.owned = set(parse_dropin(before)) | set(parse_dropin(after))
        if before != after:
            self.changed = True
            self._restart_reasons(parse_dropin(before), parse_dropin(after))
            if self.module._diff:
                self.diff = dropin.diff(before, after)
            if not self.module.check_mode:
                if after is None:
                    self.backup_file = dropin.remove(self.params["backup"])
                else:
                    self.backup_file = dropin.write(after, self.params["backup"])
        if after is not None:
            file_args = self.module.load_file_common_arguments(self.params, path=self.path)
            if self.module.check_mode and before is None:
                return  # the file does not exist yet; its attributes are set when it is written
            self.changed = self.module.set_fs_attributes_if_different(file_args, self.changed)

    def _restart_reasons(self, old, new):
        for directive in sorted(set(old) | set(new)):
            setting = SETTINGS_BY_DIRECTIVE.get(directive)
            if setting and setting.at_start and old.get(directive) != new.get(directive):
                self.restart_reasons.append("%s= is applied by systemd when %s next starts" % (directive, self.unit))

    # -- apply ------------------------------------------------------------------------------------------------

    def apply(self):
        if not self.params["apply"]:
            return
        if not self.booted:
            self.module.warn(
                "apply=true: systemd is not running on this host (or systemctl is missing), so the drop-in for %s "
                "takes effect when systemd next starts" % self.unit
            )
            return
        needs_reload = self.changed
        if not needs_reload:
            current = self._show(["NeedDaemonReload"])
            needs_reload = bool(current) and current.get("NeedDaemonReload") == "yes"
        if needs_reload:
            self.changed = True
            self.applied = True
            if self.module.check_mode:
                return
            try:
                daemon_reload(self.module.run_command, self.systemctl)
            except RuntimeError as exc:
                self.module.fail_json(
                    msg="systemctl daemon-reload failed after writing %s: %s" % (self.path, exc), **self.result
                )
        if not self.module.check_mode:
            self.verify()
        self.sync_cgroup()

    def _slice_defaults(self):
        """Return {"MemoryMin": n, "MemoryLow": n}: the first non-zero DefaultMemoryMin=/DefaultMemoryLow= of the
        unit's slices, else 0, read in one walk up the slices (one systemctl call per slice)."""
        defaults = {"MemoryMin": None, "MemoryLow": None}
        unit = self.unit
        parent = (self._show(["Slice"], unit) or {}).get("Slice")
        for _depth in range(32):
            if not parent or parent == unit:
                break
            slice_properties = self._show(["Slice", "DefaultMemoryMin", "DefaultMemoryLow"], parent) or {}
            for prop in defaults:
                value = slice_properties.get("Default" + prop)
                if defaults[prop] is None and value not in (None, "", "0", "infinity"):
                    try:
                        defaults[prop] = int(value)
                    except ValueError:
                        defaults[prop] = 0
            if all(value is not None for value in defaults.values()):
                break
            unit, parent = parent, slice_properties.get("Slice")
        return {prop: value or 0 for prop, value in defaults.items()}

    def sync_cgroup(self):
        """Write the memory settings that systemd reports into the running unit's cgroup v2 where they differ.

        systemd 252 writes changed cgroup attributes of running units on daemon-reload; systemd 257 (Debian 13) does
        not, so without this a new limit would reach the kernel only at the next start. Only the attributes of
        directives that this module's drop-in held before or holds now are touched, and always with the value
        systemd itself reports, so systemd and the kernel agree afterwards. In check mode nothing is written, and
        nothing is predicted while a reload is pending (the task reports a change anyway).
        """
        if (self.module.check_mode and self.applied) or cgroup_version() != "2":
            return
        wanted_files = [(prop, name) for prop, name in CGROUP_V2_FILES if prop in self.owned]
        oom_group = "OOMPolicy" in self.owned and self.unit_type in ("service", "scope")
        if not wanted_files and not oom_group:
            return
        properties = self._show([prop for prop, _name in wanted_files] + (["OOMPolicy"] if oom_group else []))
        unified = unified_mount()
        if not properties or not properties.get("ControlGroup") or not unified:
            return
        if properties.get("ActiveState") not in ACTIVE_STATES:
            return
        directory = cgroup_dir(unified, properties["ControlGroup"])
        wanted = []
        configured = dict(self.directives)
        slice_defaults = None
        for prop, name in wanted_files:
            value = properties.get(prop)
            if value is None:
                continue
            if prop in ("MemoryMin", "MemoryLow") and value == 0 and prop not in configured:
                if slice_defaults is None:
                    slice_defaults = self._slice_defaults()
                value = slice_defaults[prop]  # systemd falls back to a slice's DefaultMemoryMin/Low=
            wanted.append((prop, name, "max" if value == "infinity" else str(value)))
        if oom_group and properties.get("OOMPolicy"):
            wanted.append(("OOMPolicy", "memory.oom.group", "1" if properties["OOMPolicy"] == "kill" else "0"))
        for prop, name, value in wanted:
            path = os.path.join(directory, name)
            try:
                with open(path, encoding="ascii") as handle:
                    current = handle.read().strip()
            except OSError:
                continue  # no such attribute on this kernel, or the cgroup is gone
            if current == value:
                continue
            self.changed = True
            self.synced.append(name)
            if self.module.check_mode:
                continue
            try:
                with open(path, "w", encoding="ascii") as handle:
                    handle.write(value + "\n")
            except OSError as exc:
                self.module.warn(
                    "%s: systemd did not write %s=%s to %s after the reload, and writing it failed: %s; it takes "
                    "effect when the unit next starts" % (self.unit, prop, value, path, exc.strerror)
                )

    def verify(self):
        """Read the unit back and warn where the effective value differs from the drop-in."""
        names = [directive for directive, _text in self.directives]
        if not names:
            return
        properties = self._show(names)
        if properties is None:
            self.module.warn("%s is not loaded; the drop-in applies once the unit exists" % self.unit)
            return
        self.effective = {name: properties.get(name) for name in names}
        for directive, text in self.directives:
            expected = expected_property(directive, text, self.memtotal)
            if expected is not None and properties.get(directive) != expected:
                self.module.warn(
                    "%s: systemd reports %s=%s but %s sets %s; a drop-in with higher precedence (for example under "
                    "/run/systemd/system.control/ from 'systemctl set-property') overrides it"
                    % (self.unit, directive, properties.get(directive), self.path, text)
                )

    def run(self):
        self.validate()
        self.host_checks()
        self.converge()
        self.apply()

    @property
    def result(self):
        result = {
            "changed": self.changed,
            "unit": self.unit,
            "path": self.path,
            "state": self.state,
            "settings": dict(self.directives) if self.state == "present" else {},
            "restart_required": bool(self.restart_reasons),
            "restart_reasons": self.restart_reasons,
            "reload_required": self.changed and not self.applied,
            "applied": self.applied,
            "synced": self.synced,
        }
        if self.state == "present":
            result["resolved"] = self.resolved
        if self.effective is not None:
            result["effective"] = self.effective
        if self.backup_file:
            result["backup_file"] = self.backup_file
        if self.diff is not None:
            result["diff"] = self.diff
        return result


def build_module() -> AnsibleModule:
    return AnsibleModule(
        argument_spec=dict(
            unit=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            memory_max=dict(type="raw"),
            memory_high=dict(type="raw"),
            memory_low=dict(type="raw"),
            memory_min=dict(type="raw"),
            memory_swap_max=dict(type="raw"),
            oom_policy=dict(type="str", choices=["continue", "stop", "kill"]),
            oom_score_adjust=dict(type="int"),
            managed_oom_memory_pressure=dict(type="str", choices=["auto", "kill"]),
            managed_oom_memory_pressure_limit=dict(type="str"),
            managed_oom_swap=dict(type="str", choices=["auto", "kill"]),
            managed_oom_preference=dict(type="str", choices=["none", "avoid", "omit"]),
            dropin_name=dict(type="str", default=MEMORY_DROPIN_NAME),
            unit_dir=dict(type="path", default=DEFAULT_UNIT_DIR),
            apply=dict(type="bool", default=False),
            backup=dict(type="bool", default=False),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )


def main():
    module = build_module()
    module.run_command_environ_update = {"LANGUAGE": "C", "LC_ALL": "C"}
    task = SystemdMemory(module)
    task.run()
    module.exit_json(**task.result)


if __name__ == "__main__":
    main()
