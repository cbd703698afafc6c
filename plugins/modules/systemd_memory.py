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
  - C(OOMScoreAdjust=) (O(oom_score_adjust)) goes into a drop-in of its own, C(UNIT.d/50-oomguard-oom-score-adj.conf),
    which M(oomguard.memory.oom_score_adj) with O(oomguard.memory.oom_score_adj#module:persist=true) writes with the
    same bytes. Without O(oom_score_adjust) that file is left as it is.
  - Every input is validated before anything is written. The unit name must follow systemd's rules, sizes and
    percentages must parse and be in the range systemd accepts, O(memory_high) must not exceed O(memory_max), and
    O(memory_low) must not exceed O(memory_high) or O(memory_max).
  - A setting that cannot take effect on this host (a memory controller on cgroup v1, C(ManagedOOM*) without
    systemd-oomd, a key that this systemd version does not know) produces a warning naming the key and the
    versions, and is listed in RV(unsupported), not a failure, so that drop-ins can be prepared for hosts that
    differ from the one running the task.
  - By default no C(systemctl daemon-reload) is run; reload in a handler, or set O(apply=true).
  - Runs of this module and of M(oomguard.memory.oom_score_adj) on one host take turns (see O(lock_timeout)).
extends_documentation_fragment:
  - oomguard.memory._attributes
  - oomguard.memory._attributes.platform
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    details:
      - Check mode makes the same checks as a real run and fails where it would fail, for example when lowering
        the running processes' values needs C(CAP_SYS_RESOURCE) that the process lacks.
  diff_mode:
    support: full
    details:
      - The diff shows each drop-in that changes before and after, and the running processes' values with
        O(oom_score_adjust) and O(apply=true); a list when there is more than one.
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
      - V(absent) removes both drop-ins of this collection for the unit (the memory drop-in and the
        C(OOMScoreAdjust=) one), and the C(.d) directory when that is left empty. The setting options are ignored.
    type: str
    choices: [present, absent]
    default: present
  memory_max:
    description:
      - Hard limit of the unit's memory use (C(MemoryMax=)); above it the kernel OOM killer acts inside the unit.
      - "Bytes with an optional C(K), C(M), C(G) or C(T) suffix (base 1024, as in systemd), such as V(512M) or
        V(1.5G); a whole number of bytes (an integer, or a float without a fraction); a percentage of the host's
        RAM such as V(75%); or V(infinity)."
      - Sizes must be below 16 EiB (at most V(18446744073709551614) bytes, whether given as an integer or a string).
        systemd refuses larger ones, and V(16E) itself, as out of range. Use V(infinity) for no limit.
      - V(0) (or V(0%)) is refused for O(memory_max) and O(memory_high). systemd ignores a zero limit and would
        leave the unit unlimited.
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
  memory_zswap_max:
    description:
      - Limit of the unit's compressed swap cache use (C(MemoryZSwapMax=)). Same value syntax as
        O(memory_swap_max); percentages are resolved to bytes the same way.
      - Needs systemd 253 or later and cgroup v2 with zswap; an older systemd ignores the key, with a warning.
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
      - C(OOMScoreAdjust=) for the processes that systemd starts for the unit, an integer from V(-1000) to V(1000).
      - Written to C(UNIT.d/50-oomguard-oom-score-adj.conf), never to the memory drop-in; the same file and bytes as
        M(oomguard.memory.oom_score_adj) with O(oomguard.memory.oom_score_adj#module:persist=true).
      - systemd applies it only when it starts processes. With O(apply=true) the running processes of the unit are
        set at once as well, with the same code and checks as M(oomguard.memory.oom_score_adj) (the process running
        this module and its ancestors are left alone). Without O(apply=true), RV(restart_required) reports that the
        value waits for the next start.
      - Lowering the value of running processes (O(apply=true)) needs C(CAP_SYS_RESOURCE), with the same rules as
        M(oomguard.memory.oom_score_adj) - without it a value below V(0) fails before anything is changed, in
        check mode as well.
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
      - File name of the memory drop-in inside C(UNIT.d/). The file must end in C(.conf).
      - C(override.conf) and names ending in C(-override.conf) are refused; C(systemctl edit) and administrators
        write those. C(50-oomguard-oom-score-adj.conf) is refused too; it holds O(oom_score_adjust). An existing file
        without this collection's marker comment on its first line is never changed or removed.
      - O(mode), O(owner) and O(group) apply to this file; the C(OOMScoreAdjust=) drop-in always gets mode C(0644).
    type: str
    default: 50-oomguard-memory.conf
  unit_dir:
    description:
      - Directory holding the C(UNIT.d/) drop-in directories.
      - V(/run/systemd/system) gives a drop-in that is gone after a reboot. Tests point this to a scratch directory.
      - The directory must exist and be an absolute path; the C(UNIT.d/) directory below it is created with mode
        C(0755).
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
      - After the reload the unit's properties are read back with one C(systemctl show); a value that differs from
        the drop-in (because a drop-in with higher precedence overrides it) produces a warning.
      - With O(oom_score_adjust), also sets C(oom_score_adj) of the unit's running processes, as
        M(oomguard.memory.oom_score_adj) does; RV(processes) lists them. This happens even where systemd does not
        run (the processes are then found by the unit name in their cgroup paths).
      - This module deliberately does not use C(systemctl set-property --runtime), which writes its own drop-ins
        under C(/run/systemd/system.control/). Those outrank C(/etc/systemd/system) until the next reboot, and would
        hide later changes and the removal of this drop-in.
    type: bool
    default: false
  backup:
    description:
      - Keep a copy of the previous drop-in next to it, with a time stamp in its name, before changing or removing
        it (each of the two drop-ins). systemd reads only C(*.conf) files, so the copy is inert.
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait, from V(0) to V(3600), while another task of this module or of
        M(oomguard.memory.oom_score_adj) changes the same host. The task then fails with a message naming the
        other process, and changes nothing.
      - The lock is C(/run/oomguard.lock); the kernel releases it when its holder exits. A task that cannot open
        the file (not root) runs without it.
    type: int
    default: 30
notes:
  - systemd reads drop-ins of all directories (C(/etc), C(/run), C(/usr/lib)) in the lexical order of their file
    names, and a later assignment wins. Pick O(dropin_name) accordingly.
  - Use this module for units and M(oomguard.memory.oom_score_adj) for processes matched by name or command line.
    Both write C(OOMScoreAdjust=) of a unit into the same file, so the last task to run sets it, and neither removes
    the other's settings.
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
  description: Path of the memory drop-in (absent when the task sets no memory setting).
  returned: always
  type: str
  sample: /etc/systemd/system/reports.service.d/50-oomguard-memory.conf
score_path:
  description: Path of the C(OOMScoreAdjust=) drop-in, written with O(oom_score_adjust), removed with O(state=absent).
  returned: always
  type: str
  sample: /etc/systemd/system/reports.service.d/50-oomguard-oom-score-adj.conf
state:
  description: The requested state.
  returned: always
  type: str
  sample: present
settings:
  description:
    - The directives the task set, as written, in file order (empty with O(state=absent)); C(OOMScoreAdjust=) is in
      the drop-in of RV(score_path), the others in the drop-in of RV(path).
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
    - True when the task changed a setting that is not in effect for the running unit and will be when the unit
      next starts. That is C(OOMScoreAdjust=) without O(apply=true) (with it, the running processes are set at
      once), and processes of the unit that run this module.
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
  description: True when a drop-in changed and no C(systemctl daemon-reload) was run by this task (O(apply=false)).
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
unsupported:
  description:
    - Settings of the task that this host's systemd does not know yet, so that it would ignore them (each also
      produces a warning). Empty when the version is unknown (no systemctl).
  returned: always
  type: list
  elements: dict
  sample:
    - {option: memory_zswap_max, directive: MemoryZSwapMax, needs: 253, systemd: 252}
  contains:
    option:
      description: The module option.
      type: str
      returned: always
      sample: memory_zswap_max
    directive:
      description: The unit file key.
      type: str
      returned: always
      sample: MemoryZSwapMax
    needs:
      description: The first systemd version that knows the key for this unit type.
      type: int
      returned: always
      sample: 253
    systemd:
      description: The systemd version of this host.
      type: int
      returned: always
      sample: 252
processes:
  description:
    - The unit's running processes and their C(oom_score_adj) before and after the task, with O(oom_score_adjust)
      and O(apply=true); empty otherwise. In check mode, RV(processes[].after) is the value the task would set.
  returned: always
  type: list
  elements: dict
  sample:
    - {pid: 4242, comm: postgres, before: 0, after: -900}
  contains:
    pid:
      description: Process ID.
      type: int
      returned: always
      sample: 4242
    comm:
      description: Process name (C(/proc/PID/comm)).
      type: str
      returned: always
      sample: postgres
    before:
      description: C(oom_score_adj) before the task.
      type: int
      returned: always
      sample: 0
    after:
      description: C(oom_score_adj) after the task.
      type: int
      returned: always
      sample: -900
vanished:
  description: Processes of the unit that exited (or were zombies) before their value could be read or written.
  returned: always
  type: list
  elements: dict
  sample:
    - {pid: 4250, comm: postgres}
  contains:
    pid:
      description: Process ID.
      type: int
      returned: always
      sample: 4250
    comm:
      description: Process name at selection.
      type: str
      returned: always
      sample: postgres
excluded:
  description: Processes of the unit left alone because they run this module (or are its ancestors), with the reason.
  returned: always
  type: list
  elements: dict
  sample:
    - {pid: 812, comm: sshd, reason: an ancestor of the process running this module}
  contains:
    pid:
      description: Process ID.
      type: int
      returned: always
      sample: 812
    comm:
      description: Process name.
      type: str
      returned: always
      sample: sshd
    reason:
      description: V(runs this module) or V(an ancestor of the process running this module).
      type: str
      returned: always
      sample: an ancestor of the process running this module
backup_file:
  description: Name of the backup of the previous drop-in (the last one made, when both drop-ins changed).
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
    OOM_SCORE_ADJ_DROPIN_NAME,
    OPTIONS,
    SCORE_DROPIN_MODE,
    SETTINGS_BY_DIRECTIVE,
    DropinError,
    DropinFile,
    build_directives,
    dropin_path,
    expected_property,
    host_warnings,
    parse_dropin,
    render_dropin,
    render_score_dropin,
    section_for,
    unsupported_settings,
    validate_dropin_name,
)
from ansible_collections.oomguard.memory.plugins.module_utils._host_lock import (
    DEFAULT_TIMEOUT,
    HostLock,
    LockError,
    timeout_error,
)
from ansible_collections.oomguard.memory.plugins.module_utils._live_oom_score import LiveScores, ScoreError
from ansible_collections.oomguard.memory.plugins.module_utils._process_select import (
    SELECTION_BUDGET,
    SelectionTimeout,
    exclude_own_chain,
    own_chain_restart_reasons,
    own_chain_warning,
    own_process_chain,
    snapshot,
    time_budget,
    unit_processes,
)
from ansible_collections.oomguard.memory.plugins.module_utils._sizes import read_memtotal
from ansible_collections.oomguard.memory.plugins.module_utils._systemd import (
    daemon_reload,
    reload_needed,
    show_units,
    systemd_booted,
    systemd_version,
)
from ansible_collections.oomguard.memory.plugins.module_utils._unit_name import UnitNameError, validate_unit_name

OOMD_UNIT = "systemd-oomd.service"
OWNER = "oomguard.memory.systemd_memory"
SCORE = "OOMScoreAdjust"
# systemd properties and the cgroup v2 files of the unit's own cgroup that systemd writes them to
CGROUP_V2_FILES = (
    ("MemoryMin", "memory.min"),
    ("MemoryLow", "memory.low"),
    ("MemoryHigh", "memory.high"),
    ("MemoryMax", "memory.max"),
    ("MemorySwapMax", "memory.swap.max"),
    ("MemoryZSwapMax", "memory.zswap.max"),
)
ACTIVE_STATES = ("active", "activating", "reloading", "deactivating")


class SystemdMemory:
    """Render, compare and write (or remove) one unit's drop-ins, then optionally reload systemd.

    The memory drop-in (O(dropin_name)) holds every setting but OOMScoreAdjust=, which has its own drop-in,
    shared with oom_score_adj (persist=true).
    """

    def __init__(self, module, proc="/proc"):
        self.module = module
        self.proc = proc
        self.params = module.params
        self.unit = module.params["unit"]
        self.state = module.params["state"]
        self.score = module.params["oom_score_adjust"]
        self.changed = False
        self.files_changed = False
        self.directives = []
        self.memory_directives = []
        self.resolved = {}
        self.restart_reasons = []
        self.applied = False
        self.effective = None
        self.backup_file = None
        self.diffs = []
        self.path = None
        self.score_path = None
        self.memtotal = None
        self.unit_type = None
        self.section = None
        self._systemctl = None
        self._booted = None
        self.owned = set()
        self.synced = []
        self.unsupported = []
        self.live = None
        self.live_committed = False
        self.excluded = []
        self._score_before = None
        self._score_after = None

    def validate(self):
        """Validate every input; fail with a message that names the option. Nothing is written before this."""
        params = self.params
        try:
            unit_type = validate_unit_name(self.unit)
            validate_dropin_name(params["dropin_name"], reserved=(OOM_SCORE_ADJ_DROPIN_NAME,))
            section = section_for(self.unit, unit_type)
            self.path = dropin_path(params["unit_dir"], self.unit, params["dropin_name"])
            self.score_path = dropin_path(params["unit_dir"], self.unit, OOM_SCORE_ADJ_DROPIN_NAME)
        except (UnitNameError, DropinError) as exc:
            self.module.fail_json(msg=str(exc), unit=self.unit)
        self.unit_type = unit_type
        self.section = section
        if timeout_error(params["lock_timeout"]):
            self.module.fail_json(msg=timeout_error(params["lock_timeout"]), unit=self.unit)
        given = [option for option in OPTIONS if params[option] is not None]
        if self.state == "absent":
            if given:
                self.module.warn("state=absent removes the drop-ins; ignoring %s" % ", ".join(given))
            return
        if not given:
            self.module.fail_json(
                msg="state=present needs at least one setting for %s (one of %s); use state=absent to remove the "
                "drop-ins" % (self.unit, ", ".join(OPTIONS)),
                unit=self.unit,
            )
        self.memtotal = read_memtotal()
        try:
            self.directives, self.resolved = build_directives(params, self.unit, unit_type, self.memtotal)
        except DropinError as exc:
            self.module.fail_json(msg=str(exc), unit=self.unit)
        self.memory_directives = [(name, text) for name, text in self.directives if name != SCORE]
        DropinFile(self.module, self.path).check_unit_dir()

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
        self.unsupported = unsupported_settings(self.directives, self.unit_type, version)
        oomd_active = None
        if self.booted and any(SETTINGS_BY_DIRECTIVE[name].oomd for name, _text in self.directives):
            oomd = self._show(["ActiveState"], OOMD_UNIT)
            oomd_active = bool(oomd) and oomd.get("ActiveState") in ("active", "activating", "reloading")
        for message in host_warnings(
            self.directives, self.unit, self.unit_type, version, cgroup_version(), oomd_active
        ):
            self.module.warn(message)

    # -- the unit's running processes (oom_score_adjust with apply=true) ---------------------------------------

    def plan_live_scores(self):
        """Select the unit's processes and check that each can take the value, before any file is written."""
        if self.state != "present" or self.score is None or not self.params["apply"]:
            return
        try:
            with time_budget(SELECTION_BUDGET):
                processes = snapshot(self.proc)
                pids = unit_processes(self.module, self.unit, processes)
                own = own_process_chain(self.proc)
        except SelectionTimeout:
            self.module.fail_json(
                msg="selecting the processes of %s took longer than %g s; nothing was changed"
                % (self.unit, SELECTION_BUDGET),
                **self.result,
            )
        direct_own = [pid for pid in pids if pid in own]
        pids, self.excluded = exclude_own_chain(pids, processes, own)
        pids = [pid for pid in pids if not processes[pid].kthread]
        if direct_own:
            self.module.warn(own_chain_warning(direct_own, processes))
            self.restart_reasons.extend(own_chain_restart_reasons(direct_own, processes, self.score, self.unit))
        self.live = LiveScores(self.score, self.proc, check_mode=self.module.check_mode)
        try:
            self.live.plan(pids, {pid: processes[pid].comm for pid in pids})
        except ScoreError as exc:
            self.module.fail_json(msg="%s: %s" % (self.unit, exc), **self.result)

    def commit_live_scores(self):
        if self.live is None:
            return
        try:
            self.live.commit()
        except ScoreError as exc:
            self.module.fail_json(msg="%s: %s" % (self.unit, exc), **self.result)
        self.live_committed = True
        if self.live.changed:
            self.changed = True
        if self.module._diff and self.live.processes:
            self.diffs.append(self.live.diff("oom_score_adj of %s" % self.unit))

    # -- the drop-ins -----------------------------------------------------------------------------------------

    def converge(self):
        memory = DropinFile(self.module, self.path)
        memory_before = memory.read()
        memory.check_ownership(memory_before)
        memory_after = None
        if self.state == "present" and self.memory_directives:
            memory_after = render_dropin(self.section, self.memory_directives, OWNER)
        score = DropinFile(self.module, self.score_path)
        score_before = score.read()
        manage_score = self.state == "absent" or self.score is not None
        score_after = score_before
        if manage_score:
            score.check_ownership(score_before)
            score_after = None
            if self.state == "present":
                score_after = render_score_dropin(self.unit, self.unit_type, self.score)
        self.owned = set(parse_dropin(memory_before)) | set(parse_dropin(memory_after))
        legacy = parse_dropin(memory_before).get(SCORE)
        if legacy is not None and self.state == "present" and self.score is None:
            self.module.warn(
                "removed %s=%s from %s: OOMScoreAdjust= now has its own drop-in, %s; set oom_score_adjust to keep "
                "the value" % (SCORE, legacy, self.path, OOM_SCORE_ADJ_DROPIN_NAME)
            )
        self._score_before = parse_dropin(score_before).get(SCORE, legacy)
        self._score_after = parse_dropin(score_after).get(SCORE)
        changes = [(memory, memory_before, memory_after, None)]
        if manage_score:
            changes.append((score, score_before, score_after, SCORE_DROPIN_MODE))
        self._write([change for change in changes if change[1] != change[2]])
        if memory_after is not None:
            file_args = self.module.load_file_common_arguments(self.params, path=self.path)
            if self.module.check_mode and memory_before is None:
                return  # the file does not exist yet; its attributes are set when it is written
            self.changed = self.module.set_fs_attributes_if_different(file_args, self.changed)

    def _write(self, changes):
        """Change the drop-ins: every new content is staged (written to disk) before any file is replaced.

        A full disk, a read-only file system or a bad owner or mode therefore fails with both files as they were.
        """
        if not changes:
            return
        self.changed = self.files_changed = True
        if self.module._diff:
            self.diffs.extend(dropin.diff(before, after) for dropin, before, after, _mode in changes)
        if self.module.check_mode:
            for dropin, _before, after, _mode in changes:
                dropin.check_writable(removing=after is None)
            return
        staged = []
        try:
            for dropin, _before, after, mode in changes:
                if after is not None:
                    prepare = self._file_attributes_on if mode is None else None
                    staged.append((dropin, dropin.stage(after, prepare)))
        except BaseException:
            for dropin, stage in staged:
                dropin.discard(stage)
            raise
        stages = {id(dropin): stage for dropin, stage in staged}
        for dropin, _before, after, mode in changes:
            if after is None:
                backup = dropin.remove(self.params["backup"])
            else:
                backup = dropin.commit(stages[id(dropin)], self.params["backup"], mode)
            if backup:
                self.backup_file = backup

    def _file_attributes_on(self, tmp):
        """Apply owner, group and mode to the temporary file: a bad value fails before the drop-in is replaced."""
        file_args = self.module.load_file_common_arguments(self.params, path=tmp)
        self.module.set_fs_attributes_if_different(file_args, False)

    # -- apply ------------------------------------------------------------------------------------------------

    def apply(self):
        if not self.params["apply"]:
            return
        if not self.booted:
            self.module.warn(
                "apply=true: systemd is not running on this host (or systemctl is missing), so the drop-ins for %s "
                "take effect when systemd next starts" % self.unit
            )
            self.commit_live_scores()
            return
        try:
            needs_reload = reload_needed(self.module.run_command, self.systemctl, self.unit, self.files_changed)
        except RuntimeError as exc:
            self.module.warn("cannot read properties of %s from systemd: %s" % (self.unit, exc))
            needs_reload = False
        if needs_reload:
            self.changed = True
            self.applied = True
            if not self.module.check_mode:
                try:
                    daemon_reload(self.module.run_command, self.systemctl)
                except RuntimeError as exc:
                    self.module.fail_json(
                        msg="systemctl daemon-reload failed after writing %s: %s" % (self.path, exc), **self.result
                    )
        verify = [] if self.module.check_mode else [directive for directive, _text in self.directives]
        sync = self._sync_plan()
        if verify or sync:
            wanted = verify + [prop for prop in sync[1] if prop not in verify] if sync else verify
            properties = self._show(wanted)
            if verify:
                self.verify(properties)
            if sync:
                self.sync_cgroup(properties, sync[0], sync[2])
        self.commit_live_scores()

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

    def _sync_plan(self):
        """Return (cgroup files, properties to read, oom_group) for sync_cgroup, or None when there is nothing to do.

        Nothing is predicted in check mode while a reload is pending (the task reports a change anyway).
        """
        if (self.module.check_mode and self.applied) or cgroup_version() != "2":
            return None
        wanted_files = [(prop, name) for prop, name in CGROUP_V2_FILES if prop in self.owned]
        oom_group = "OOMPolicy" in self.owned and self.unit_type in ("service", "scope")
        if not wanted_files and not oom_group:
            return None
        return wanted_files, [prop for prop, _name in wanted_files] + (["OOMPolicy"] if oom_group else []), oom_group

    def sync_cgroup(self, properties, wanted_files, oom_group):
        """Write the memory settings that systemd reports into the running unit's cgroup v2 where they differ.

        systemd 252 writes changed cgroup attributes of running units on daemon-reload; systemd 257 (Debian 13) does
        not, so without this a new limit would reach the kernel only at the next start. Only the attributes of
        directives that this module's drop-in held before or holds now are touched, and always with the value
        systemd itself reports, so systemd and the kernel agree afterwards. In check mode nothing is written.
        """
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
                    current = handle.read(64).strip()
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

    def verify(self, properties):
        """Warn where the effective value that systemd reports differs from the drop-ins."""
        if properties is None:
            self.module.warn("%s is not loaded; the drop-ins apply once the unit exists" % self.unit)
            return
        self.effective = {directive: properties.get(directive) for directive, _text in self.directives}
        for directive, text in self.directives:
            expected = expected_property(directive, text, self.memtotal)
            if expected is not None and properties.get(directive) != expected:
                self.module.warn(
                    "%s: systemd reports %s=%s but %s sets %s; a drop-in with higher precedence (for example under "
                    "/run/systemd/system.control/ from 'systemctl set-property') overrides it"
                    % (
                        self.unit,
                        directive,
                        properties.get(directive),
                        self.score_path if directive == SCORE else self.path,
                        text,
                    )
                )

    def run(self):
        self.validate()
        lock = HostLock(timeout=self.params["lock_timeout"])
        try:
            lock.acquire()
        except LockError as exc:
            self.module.fail_json(msg=str(exc), **self.result)
        try:
            self.host_checks()
            self.plan_live_scores()
            self.converge()
            self.apply()
        finally:
            lock.release()
        if self._score_before != self._score_after and not self.live_committed:
            self.restart_reasons.insert(0, "%s= is applied by systemd when %s next starts" % (SCORE, self.unit))

    @property
    def result(self):
        result = {
            "changed": self.changed,
            "unit": self.unit,
            "path": self.path,
            "score_path": self.score_path,
            "state": self.state,
            "settings": dict(self.directives) if self.state == "present" else {},
            "restart_required": bool(self.restart_reasons),
            "restart_reasons": self.restart_reasons,
            "reload_required": self.files_changed and not self.applied,
            "applied": self.applied,
            "synced": self.synced,
            "unsupported": self.unsupported,
            "processes": self.live.processes if self.live else [],
            "vanished": self.live.vanished if self.live else [],
            "excluded": self.excluded,
        }
        if self.state == "present":
            result["resolved"] = self.resolved
        if self.effective is not None:
            result["effective"] = self.effective
        if self.backup_file:
            result["backup_file"] = self.backup_file
        if self.diffs:
            result["diff"] = self.diffs if len(self.diffs) > 1 else self.diffs[0]
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
            memory_zswap_max=dict(type="raw"),
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
            lock_timeout=dict(type="int", default=DEFAULT_TIMEOUT),
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
