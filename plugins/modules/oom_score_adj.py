#!/usr/bin/python
# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: oom_score_adj
short_description: Set the OOM killer score adjustment of running processes
version_added: "1.0.0"
author: oomguard maintainers (@oomguard)
description:
  - Sets C(/proc/PID/oom_score_adj) of running processes, which the Linux OOM killer adds to a process's badness
    when it picks a victim. Lower values protect a process, higher values offer it up first.
  - Processes are selected by pid, by exact process name, by a regular expression on the command line, by systemd
    unit or by cgroup, optionally together with all their descendants.
  - The process running this module and all its ancestors (the shell, C(sshd), C(sudo), C(ansible) on the
    controller for a local connection) are never changed, whatever the selector; they are listed in RV(excluded).
  - Kernel threads are never touched. Processes in cgroups that a kubelet manages (C(kubepods)) are refused unless
    O(force=true), because the kubelet sets and owns their values.
  - Every selected process is checked before any value is written, so that a value the kernel would refuse (see
    O(value)) fails the task with nothing changed, in check mode as well.
  - A process that exits between selection and the write, or that is a zombie, is reported in RV(vanished), not
    as an error and not as a change.
  - With O(persist=true) and O(unit), the value is also written as C(OOMScoreAdjust=) into the unit's drop-in
    C(50-oomguard-oom-score-adj.conf), so that systemd applies it when the unit next starts.
    M(oomguard.memory.systemd_memory) writes the same file, with the same bytes, for its
    O(oomguard.memory.systemd_memory#module:oom_score_adjust).
  - Runs of this module and of M(oomguard.memory.systemd_memory) on one host take turns (see O(lock_timeout)).
extends_documentation_fragment:
  - oomguard.memory._attributes
  - oomguard.memory._attributes.platform
attributes:
  check_mode:
    support: full
    details:
      - Check mode makes the same checks as a real run and fails where it would fail, for example when lowering
        a value needs C(CAP_SYS_RESOURCE) that the process lacks.
  diff_mode:
    support: full
    details:
      - The diff shows the value of each selected process before and after, and the drop-in with O(persist=true).
  platform:
    platforms: linux
    support: full
options:
  value:
    description:
      - The C(oom_score_adj) to set, an integer from V(-1000) to V(1000).
      - V(-1000) disables OOM killing of the process entirely and needs O(allow_unkillable=true).
      - Lowering a value needs C(CAP_SYS_RESOURCE). Root has it on a normal host; root in a container or a
        restricted VM may not. Without it the kernel lets a process go down only to a floor it inherited, V(0)
        unless a privileged parent set it, and that floor cannot be read. So without the capability a value below
        V(0) fails before anything is changed, in check mode too; lowering to V(0) or above is tried, and if the
        kernel refuses one process every value already written is put back and the task fails. Raising a value
        needs no privilege beyond owning the process.
    type: int
    required: true
  pid:
    description:
      - Process IDs to change.
      - A pid that does not exist fails the task unless O(missing_ok=true).
    type: list
    elements: int
  name:
    description:
      - Select every process whose name (C(/proc/PID/comm)) is exactly this.
      - The kernel keeps at most 15 characters of a process name; use O(pattern) for longer names.
    type: str
  pattern:
    description:
      - Select every process whose command line (arguments joined by spaces) matches this Python regular
        expression anywhere (C(re.search)).
      - Only the first 4096 bytes of each command line are matched; command lines can be megabytes long and any
        user can make one. Anchor the pattern to the start of the command line where you can.
      - The whole selection must finish within 10 seconds. A pattern that backtracks without end on some command
        line (nested quantifiers such as C((a+\)+$)) fails the task with a message naming it, and nothing is
        changed.
      - A pattern that also matches the C(ansible) command line is safe, since the process running this module and
        its ancestors are never changed.
    type: str
  unit:
    description:
      - Select every process in the control group of this systemd unit, such as V(postgresql.service), including
        processes in its sub-cgroups.
      - The unit name must carry its type suffix. A template such as V(worker@.service) selects all its instances.
      - The unit's cgroup comes from C(systemctl show -p ControlGroup); without a running systemd the processes are
        found by the unit name in their cgroup path.
      - When Ansible connects over SSH, the C(sshd) processes above this module are its ancestors and stay as they
        are, with a warning; give C(sshd.service) its value with O(persist=true) (or
        M(oomguard.memory.systemd_memory)), which systemd applies when the unit next starts.
    type: str
  cgroup:
    description:
      - Select every process in this cgroup or below it, such as V(/system.slice/app.service).
      - The path is matched against the memory cgroup and the systemd cgroup of each process, as
        C(/proc/PID/cgroup) shows them. A directory under C(/sys/fs/cgroup) is accepted too.
      - The root cgroup V(/) is refused, because it would select every process on the host.
    type: str
  children:
    description:
      - Also change all descendants (children, grandchildren, ...) of the selected processes.
      - The process running this module and its ancestors are never among them.
    type: bool
    default: false
  persist:
    description:
      - Also write C(OOMScoreAdjust=) for O(unit) into O(unit_dir)C(/UNIT.d/50-oomguard-oom-score-adj.conf), so
        that systemd applies the value when the unit next starts. Running processes are changed now either way.
      - This is the one file of the collection for C(OOMScoreAdjust=) of a unit.
        M(oomguard.memory.systemd_memory) with O(oomguard.memory.systemd_memory#module:oom_score_adjust) writes the
        same file with the same bytes, and removes it with O(oomguard.memory.systemd_memory#module:state=absent).
      - Needs O(unit), for a unit type that runs processes (service, socket, mount or swap).
      - No C(systemctl daemon-reload) is run unless O(apply=true); otherwise do that in a handler when
        RV(reload_required) is true.
    type: bool
    default: false
  apply:
    description:
      - With O(persist=true), run C(systemctl daemon-reload) after the drop-in changed, or when systemd reports
        C(NeedDaemonReload=yes) for the unit, and read C(OOMScoreAdjust=) back (a warning when a drop-in with
        higher precedence overrides it). The same rule as
        O(oomguard.memory.systemd_memory#module:apply) of M(oomguard.memory.systemd_memory).
      - Needs O(persist=true).
    type: bool
    default: false
  unit_dir:
    description:
      - Directory that holds the unit drop-in directories, used with O(persist=true). It must exist and be an
        absolute path.
      - V(/run/systemd/system) gives a drop-in that is gone after a reboot.
    type: path
    default: /etc/systemd/system
  missing_ok:
    description:
      - Succeed without a change when no process matches or a listed pid does not exist.
      - Without it, an empty selection fails, since it usually means a typo or a stopped service.
    type: bool
    default: false
  allow_unkillable:
    description:
      - Allow O(value=-1000), which makes the selected processes unkillable by the OOM killer.
      - An unkillable process that leaks memory pushes the kernel to kill everything else instead, or to panic.
    type: bool
    default: false
  force:
    description:
      - Change processes in kubelet-managed cgroups (C(kubepods)) as well.
      - The kubelet sets C(oom_score_adj) from each pod's QoS class and expects to own it; change these only if you
        know why.
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait, from V(0) to V(3600), while another task of this module or of
        M(oomguard.memory.systemd_memory) changes the same host. The task then fails with a message naming the
        other process, and changes nothing.
      - The lock is C(/run/oomguard.lock); the kernel releases it when its holder exits. A task that cannot open
        the file (not root) runs without it.
    type: int
    default: 30
notes:
  - The kernel applies C(oom_score_adj) to the whole process (all threads) and copies it to children created later.
  - Processes that share their memory with the selected one (C(vfork), C(CLONE_VM)) get the same value from the
    kernel.
seealso:
  - module: oomguard.memory.systemd_memory
  - module: oomguard.memory.oom_facts
  - name: proc(5) on oom_score_adj
    description: The kernel's description of the value and its range.
    link: https://man7.org/linux/man-pages/man5/proc_pid_oom_score_adj.5.html
"""

EXAMPLES = r"""
- name: Protect all PostgreSQL processes now and at every start of the unit
  oomguard.memory.oom_score_adj:
    unit: postgresql.service
    value: -900
    persist: true
    apply: true
  become: true

- name: Make batch workers the first choice of the OOM killer
  oomguard.memory.oom_score_adj:
    pattern: '^/usr/bin/python3 .*batch_worker\.py'
    value: 800
    missing_ok: true

- name: Protect a database's main process and the workers it has started
  oomguard.memory.oom_score_adj:
    name: mysqld
    children: true
    value: -500
  become: true

- name: Read the pid of the license server from its pid file
  ansible.builtin.slurp:
    src: /run/license-server.pid
  register: license_server_pid
  become: true

- name: Make the license server unkillable (it must not leak memory)
  oomguard.memory.oom_score_adj:
    pid:
      - "{{ license_server_pid['content'] | b64decode | trim | int }}"
    value: -1000
    allow_unkillable: true
  become: true

- name: Lower the priority of everything in one cgroup
  oomguard.memory.oom_score_adj:
    cgroup: /system.slice/reports.service
    value: 500
"""

RETURN = r"""
processes:
  description:
    - The selected processes and their C(oom_score_adj) before and after the task.
    - In check mode, RV(processes[].after) is the value the task would set.
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
  description:
    - Processes that were selected but had exited before their value could be read or written, including zombies
      (exited, not yet reaped by their parent).
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
  description:
    - Selected processes that were left alone, with the reason. The process running this module and its ancestors
      (whatever the selector), and kernel threads among listed pids.
  returned: always
  type: list
  elements: dict
  sample:
    - {pid: 2, comm: kthreadd, reason: kernel thread}
    - {pid: 812, comm: sshd, reason: an ancestor of the process running this module}
  contains:
    pid:
      description: Process ID.
      type: int
      returned: always
      sample: 2
    comm:
      description: Process name.
      type: str
      returned: always
      sample: kthreadd
    reason:
      description:
        - V(kernel thread), V(runs this module) or V(an ancestor of the process running this module).
      type: str
      returned: always
      sample: kernel thread
missing:
  description: Listed pids that did not exist (only with O(missing_ok=true)).
  returned: always
  type: list
  elements: int
  sample: [4300]
dropin:
  description: Path of the C(OOMScoreAdjust=) drop-in, with O(persist=true).
  returned: when O(persist=true)
  type: str
  sample: /etc/systemd/system/postgresql.service.d/50-oomguard-oom-score-adj.conf
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
restart_required:
  description:
    - True when a process of O(unit) did not get the value now, only at the next start of the unit, because it
      runs this module (an C(sshd) above an SSH connection). Every other process was changed at once.
  returned: always
  type: bool
  sample: false
restart_reasons:
  description: One sentence for each process that gets the value only when the unit next starts.
  returned: always
  type: list
  elements: str
  sample:
    - pid 812 (sshd) gets OOMScoreAdjust=-900 only when ssh.service next starts; it was left alone because it runs
      this module
"""

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oomguard.memory.plugins.module_utils._dropin import (
    DEFAULT_UNIT_DIR,
    EXEC_TYPES,
    OOM_SCORE_ADJ_DROPIN_NAME,
    SCORE_DROPIN_MODE,
    DropinError,
    DropinFile,
    dropin_path,
    render_score_dropin,
)
from ansible_collections.oomguard.memory.plugins.module_utils._host_lock import (
    DEFAULT_TIMEOUT,
    HostLock,
    LockError,
    timeout_error,
)
from ansible_collections.oomguard.memory.plugins.module_utils._live_oom_score import LiveScores, ScoreError
from ansible_collections.oomguard.memory.plugins.module_utils._process_select import (
    COMM_MAX,
    PATTERN_CMDLINE_MAX,
    SELECTION_BUDGET,
    SelectionTimeout,
    descendants,
    exclude_own_chain,
    kubepods_managed,
    normalize_cgroup,
    own_chain_restart_reasons,
    own_chain_warning,
    own_process_chain,
    select_by_cgroup,
    select_by_name,
    select_by_pattern,
    snapshot,
    time_budget,
    unit_processes,
)
from ansible_collections.oomguard.memory.plugins.module_utils._sizes import shown
from ansible_collections.oomguard.memory.plugins.module_utils._systemd import (
    daemon_reload,
    reload_needed,
    show_units,
    systemd_booted,
)
from ansible_collections.oomguard.memory.plugins.module_utils._unit_name import UnitNameError, split_unit_name

SELECTORS = ("pid", "name", "pattern", "unit", "cgroup")


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


class OomScoreAdj:
    """Select processes, then set their oom_score_adj (and, for a unit, the OOMScoreAdjust= drop-in)."""

    def __init__(self, module, proc="/proc"):
        self.module = module
        self.proc = proc
        self.params = module.params
        self.value = module.params["value"]
        self.live = None
        self.excluded = []
        self.missing = []
        self.restart_reasons = []
        self.dropin = None
        self.dropin_changed = False
        self.applied = False
        self.diff = []
        self._regex = None
        self._cgroup = None
        self._unit_type = None
        self._names = {}

    # -- validation -------------------------------------------------------------------------------------------

    def validate(self):
        """Check every input before anything is read or written; fail with a message naming the option."""
        params = self.params
        if not is_int(self.value) or not -1000 <= self.value <= 1000:
            self.module.fail_json(msg="value must be an integer from -1000 to 1000; got %s" % shown(self.value))
        if self.value == -1000 and not params["allow_unkillable"]:
            self.module.fail_json(
                msg="value=-1000 makes the selected processes unkillable by the OOM killer; set allow_unkillable=true "
                "if that is really wanted, or use -999 to keep them as a last resort"
            )
        if timeout_error(params["lock_timeout"]):
            self.module.fail_json(msg=timeout_error(params["lock_timeout"]))
        if params["pid"] is not None:
            bad = [pid for pid in params["pid"] if not is_int(pid) or pid <= 0]
            if bad:
                self.module.fail_json(
                    msg="pid must be positive integers; got %s" % ", ".join(shown(pid) for pid in bad)
                )
            if not params["pid"]:
                self.module.fail_json(msg="pid is an empty list; give at least one process ID")
        if params["name"] is not None:
            if not params["name"] or "/" in params["name"]:
                self.module.fail_json(
                    msg="name %s is not a process name; use pattern to match paths" % shown(params["name"])
                )
            if len(params["name"]) > COMM_MAX:
                self.module.fail_json(
                    msg="name %s is longer than %d characters, so it never equals a process name (the kernel cuts "
                    "names to %d); use pattern instead" % (shown(params["name"]), COMM_MAX, COMM_MAX)
                )
        if params["pattern"] is not None:
            try:
                self._regex = re.compile(params["pattern"])
            except (re.error, RecursionError, OverflowError, ValueError) as exc:
                self.module.fail_json(
                    msg="pattern %s is not a valid regular expression: %s" % (shown(params["pattern"]), exc)
                )
        if params["cgroup"] is not None:
            if not params["cgroup"].startswith("/"):
                self.module.fail_json(
                    msg="cgroup %s must be an absolute path such as /system.slice/app.service" % shown(params["cgroup"])
                )
            self._cgroup = normalize_cgroup(params["cgroup"])
            if self._cgroup == "/":
                self.module.fail_json(
                    msg="cgroup %s is the root cgroup and would select every process on the host; name a cgroup "
                    "below it" % shown(params["cgroup"])
                )
        if params["unit"] is not None:
            try:
                self._unit_type = split_unit_name(params["unit"])[2]
            except UnitNameError as exc:
                self.module.fail_json(msg="unit: %s" % exc)
        if params["apply"] and not params["persist"]:
            self.module.fail_json(
                msg="apply=true reloads systemd after the OOMScoreAdjust= drop-in changed; it needs persist=true"
            )
        if params["persist"]:
            self._validate_persist()

    def _validate_persist(self):
        unit = self.params["unit"]
        if self._unit_type not in EXEC_TYPES:
            self.module.fail_json(
                msg="persist=true cannot write OOMScoreAdjust= for %s: systemd accepts it only for .%s units"
                % (unit, ", .".join(EXEC_TYPES))
            )
        try:
            self.dropin = dropin_path(self.params["unit_dir"], unit, OOM_SCORE_ADJ_DROPIN_NAME)
        except DropinError as exc:
            self.module.fail_json(msg=str(exc))
        DropinFile(self.module, self.dropin).check_unit_dir()

    # -- selection --------------------------------------------------------------------------------------------

    def select(self):
        """Return the sorted pids to change, within the time budget; fills excluded/missing."""
        try:
            with time_budget(SELECTION_BUDGET):
                pids, failure = self._select()
        except SelectionTimeout:
            pids = None
            if self.params["pattern"] is not None:
                failure = (
                    "pattern %s did not finish within %g s over the command lines of this host's processes (each "
                    "cut to its first %d bytes): it backtracks too much, as nested quantifiers such as (a+)+ do; "
                    "simplify it. Nothing was changed"
                    % (shown(self.params["pattern"]), SELECTION_BUDGET, PATTERN_CMDLINE_MAX)
                )
            else:
                failure = "selecting processes took longer than %g s; nothing was changed" % SELECTION_BUDGET
        if failure:
            self.module.fail_json(msg=failure, **self.result)
        return pids

    def _select(self):
        """Return (pids, None), or (None, message) when the selection must fail. Runs under the time budget."""
        params = self.params
        processes = snapshot(self.proc, cmdline=params["pattern"] is not None)
        if params["pid"] is not None:
            selected = []
            for pid in sorted(set(params["pid"])):
                if pid in processes:
                    selected.append(pid)
                else:
                    self.missing.append(pid)
            if self.missing and not params["missing_ok"]:
                return None, (
                    "no process with pid %s; set missing_ok=true to ignore pids that do not exist"
                    % ", ".join(str(pid) for pid in self.missing)
                )
        elif params["name"] is not None:
            selected = select_by_name(processes, params["name"])
        elif params["pattern"] is not None:
            selected = select_by_pattern(processes, self._regex)
        elif params["cgroup"] is not None:
            selected = select_by_cgroup(processes, self._cgroup)
        else:
            selected = unit_processes(self.module, params["unit"], processes)
        own = own_process_chain(self.proc)
        direct_own = [pid for pid in selected if pid in own]
        if params["children"]:
            selected = sorted(set(selected) | descendants(processes, set(selected)))
        selected, self.excluded = exclude_own_chain(selected, processes, own)
        if direct_own and params["pattern"] is None and params["name"] is None:
            self._own_chain_selected(direct_own, processes)
        kept = []
        for pid in selected:
            info = processes[pid]
            if info.kthread:
                if params["pid"] is not None:
                    self.excluded.append({"pid": pid, "comm": info.comm, "reason": "kernel thread"})
                continue
            kept.append(pid)
        kubepods = [pid for pid in kept if kubepods_managed(processes[pid])]
        if kubepods and not params["force"]:
            described = ", ".join("%d (%s)" % (pid, processes[pid].comm) for pid in kubepods[:10])
            return None, (
                "refusing to change oom_score_adj of %d process(es) in kubelet-managed cgroups (kubepods): %s. "
                "The kubelet sets these values from each pod's QoS class and owns them; set the pod's resources "
                "instead, or force=true to override" % (len(kubepods), described)
            )
        if kubepods:
            self.module.warn(
                "changing oom_score_adj of %d kubelet-managed process(es) because force=true" % len(kubepods)
            )
        if not kept and not params["missing_ok"]:
            selector = next(key for key in SELECTORS if params[key] is not None)
            given = params[selector]
            given = given if isinstance(given, str) else str(given)
            own_note = ""
            if self.excluded:
                own_note = " (%d matching process(es) were left alone, see excluded)" % len(self.excluded)
            return None, (
                "no process matches %s=%s%s; set missing_ok=true if that is expected (for example a stopped "
                "service)" % (selector, given if len(given) <= 200 else given[:197] + "...", own_note)
            )
        self._names = {pid: processes[pid].comm for pid in kept}
        return kept, None

    def _own_chain_selected(self, pids, processes):
        """A unit, cgroup or pid selection reached the process running this module or its ancestors."""
        self.module.warn(own_chain_warning(pids, processes))
        if self.params["persist"]:
            self.restart_reasons.extend(own_chain_restart_reasons(pids, processes, self.value, self.params["unit"]))

    # -- changes ----------------------------------------------------------------------------------------------

    def persist(self):
        """Write the unit's OOMScoreAdjust= drop-in (the same bytes systemd_memory writes for oom_score_adjust)."""
        unit = self.params["unit"]
        dropin = DropinFile(self.module, self.dropin)
        content = render_score_dropin(unit, self._unit_type, self.value)
        before = dropin.read()
        dropin.check_ownership(before)
        if before == content:
            return
        self.dropin_changed = True
        if self.module._diff:
            self.diff.append(dropin.diff(before, content))
        if self.module.check_mode:
            dropin.check_writable()
        else:
            dropin.write(content, mode=SCORE_DROPIN_MODE)

    def reload(self):
        """apply=true: the same rule as systemd_memory's: daemon-reload when the drop-in changed or systemd
        reports NeedDaemonReload=yes, then read OOMScoreAdjust= back."""
        unit = self.params["unit"]
        systemctl = self.module.get_bin_path("systemctl")
        if not systemctl or not systemd_booted():
            self.module.warn(
                "apply=true: systemd is not running on this host (or systemctl is missing), so the drop-in for %s "
                "takes effect when systemd next starts" % unit
            )
            return
        try:
            needed = reload_needed(self.module.run_command, systemctl, unit, self.dropin_changed)
        except RuntimeError as exc:
            self.module.warn("cannot read properties of %s from systemd: %s" % (unit, exc))
            needed = False
        if not needed:
            return
        self.applied = True
        if self.module.check_mode:
            return
        try:
            daemon_reload(self.module.run_command, systemctl)
        except RuntimeError as exc:
            self.module.fail_json(
                msg="systemctl daemon-reload failed after writing %s: %s" % (self.dropin, exc), **self.result
            )
        try:
            properties = show_units(self.module.run_command, systemctl, [unit], ["OOMScoreAdjust"]).get(unit)
        except RuntimeError as exc:
            self.module.warn("cannot read properties of %s from systemd: %s" % (unit, exc))
            return
        if properties and properties.get("OOMScoreAdjust") not in (None, self.value):
            self.module.warn(
                "%s: systemd reports OOMScoreAdjust=%s but %s sets %d; a drop-in with higher precedence overrides it"
                % (unit, properties.get("OOMScoreAdjust"), self.dropin, self.value)
            )

    def run(self):
        self.validate()
        lock = HostLock(timeout=self.params["lock_timeout"])
        try:
            lock.acquire()
        except LockError as exc:
            self.module.fail_json(msg=str(exc), **self.result)
        try:
            pids = self.select()
            self.live = LiveScores(self.value, self.proc, check_mode=self.module.check_mode)
            try:
                self.live.plan(pids, self._names)
            except ScoreError as exc:
                self.module.fail_json(msg=str(exc), **self.result)
            if self.params["persist"]:
                self.persist()
            try:
                self.live.commit()
            except ScoreError as exc:
                self.module.fail_json(msg=str(exc), **self.result)
            if self.module._diff:
                self.diff.insert(0, self.live.diff("oom_score_adj"))
            if self.params["apply"]:
                self.reload()
        finally:
            lock.release()

    @property
    def processes(self):
        return self.live.processes if self.live else []

    @property
    def result(self):
        changed = bool(self.live and self.live.changed) or self.dropin_changed or self.applied
        result = {
            "changed": changed,
            "processes": self.processes,
            "vanished": self.live.vanished if self.live else [],
            "excluded": self.excluded,
            "missing": self.missing,
            "restart_required": bool(self.restart_reasons) and self.dropin is not None,
            "restart_reasons": self.restart_reasons if self.dropin is not None else [],
            "reload_required": self.dropin_changed and not self.applied,
            "applied": self.applied,
        }
        if self.dropin:
            result["dropin"] = self.dropin
        if self.diff:
            result["diff"] = self.diff if len(self.diff) > 1 else self.diff[0]
        return result


def build_module() -> AnsibleModule:
    return AnsibleModule(
        argument_spec=dict(
            value=dict(type="int", required=True),
            pid=dict(type="list", elements="int"),
            name=dict(type="str"),
            pattern=dict(type="str"),
            unit=dict(type="str"),
            cgroup=dict(type="str"),
            children=dict(type="bool", default=False),
            persist=dict(type="bool", default=False),
            apply=dict(type="bool", default=False),
            unit_dir=dict(type="path", default=DEFAULT_UNIT_DIR),
            missing_ok=dict(type="bool", default=False),
            allow_unkillable=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
            lock_timeout=dict(type="int", default=DEFAULT_TIMEOUT),
        ),
        required_one_of=[list(SELECTORS)],
        mutually_exclusive=[list(SELECTORS)],
        required_if=[("persist", True, ["unit"])],
        supports_check_mode=True,
    )


def main():
    module = build_module()
    module.run_command_environ_update = {"LANGUAGE": "C", "LC_ALL": "C"}
    task = OomScoreAdj(module)
    task.run()
    module.exit_json(**task.result)


if __name__ == "__main__":
    main()
