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
  - Kernel threads are never touched. Processes in cgroups that a kubelet manages (C(kubepods)) are refused unless
    O(force=true), because the kubelet sets and owns their values.
  - A process that exits between selection and the write is reported in RV(vanished), not as an error.
  - With O(persist=true) and O(unit), the value is also written as C(OOMScoreAdjust=) into a systemd drop-in, so that
    systemd applies it when the unit next starts.
extends_documentation_fragment:
  - oomguard.memory._attributes
  - oomguard.memory._attributes.platform
attributes:
  check_mode:
    support: full
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
      - The C(oom_score_adj) to set, from V(-1000) to V(1000).
      - V(-1000) disables OOM killing of the process entirely and needs O(allow_unkillable=true).
      - Lowering a value below the current one needs C(CAP_SYS_RESOURCE), in practice root (C(become=true)).
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
      - The process running this module and its parents are never selected.
    type: str
  pattern:
    description:
      - Select every process whose full command line (arguments joined by spaces) matches this Python regular
        expression anywhere (C(re.search)).
      - The process running this module and its parents are never selected, so a pattern that also matches the
        C(ansible) command line is safe.
    type: str
  unit:
    description:
      - Select every process in the control group of this systemd unit, such as V(postgresql.service), including
        processes in its sub-cgroups.
      - The unit name must carry its type suffix. A template such as V(worker@.service) selects all its instances.
      - The unit's cgroup comes from C(systemctl show -p ControlGroup); without a running systemd the processes are
        found by the unit name in their cgroup path.
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
    type: bool
    default: false
  persist:
    description:
      - Also write C(OOMScoreAdjust=) in a drop-in for O(unit), so that systemd applies the value when the unit next
        starts. RV(restart_required) says so. Running processes are changed now either way.
      - Needs O(unit), for a unit type that runs processes (service, socket, mount or swap).
      - No C(systemctl daemon-reload) is run; do that in a handler when the task reports a change.
    type: bool
    default: false
  unit_dir:
    description:
      - Directory that holds the unit drop-in directories, used with O(persist=true). The drop-in is
        O(unit_dir)C(/UNIT.d/)O(dropin_name).
      - V(/run/systemd/system) gives a drop-in that is gone after a reboot.
    type: path
    default: /etc/systemd/system
  dropin_name:
    description:
      - File name of the drop-in written with O(persist=true).
      - The default differs from M(oomguard.memory.systemd_memory)'s, so that the two modules never rewrite each
        other's file. systemd reads drop-ins in lexical order and the last assignment wins.
      - C(override.conf) and names ending in C(-override.conf) are refused; they belong to administrators.
    type: str
    default: 50-oomguard-oom-score-adj.conf
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
  become: true
  register: pg_oom
  notify: Reload systemd

- name: Make batch workers the first choice of the OOM killer
  oomguard.memory.oom_score_adj:
    pattern: '^/usr/bin/python3 .*batch_worker\.py'
    value: 800
    missing_ok: true

- name: Protect sshd and the sessions it has started
  oomguard.memory.oom_score_adj:
    name: sshd
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
  description: Processes that were selected but exited before their value could be read or written.
  returned: always
  type: list
  elements: dict
  sample:
    - {pid: 4250, comm: postgres}
excluded:
  description:
    - Listed pids that were left alone, with the reason (kernel threads).
  returned: always
  type: list
  elements: dict
  sample:
    - {pid: 2, comm: kthreadd, reason: kernel thread}
missing:
  description: Listed pids that did not exist (only with O(missing_ok=true)).
  returned: always
  type: list
  elements: int
  sample: [4300]
dropin:
  description: Path of the drop-in written with O(persist=true).
  returned: when O(persist=true)
  type: str
  sample: /etc/systemd/system/postgresql.service.d/50-oomguard-oom-score-adj.conf
restart_required:
  description:
    - True when the task changed C(OOMScoreAdjust=) in the drop-in. systemd applies it when the unit next starts,
      after a C(systemctl daemon-reload). The processes running now were already changed by this task.
  returned: always
  type: bool
  sample: true
restart_reasons:
  description: One sentence for each setting that systemd applies only at the next start of the unit.
  returned: always
  type: list
  elements: str
  sample:
    - OOMScoreAdjust=-900 is applied by systemd when postgresql.service next starts (after a daemon-reload)
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oomguard.memory.plugins.module_utils._dropin import (
    DEFAULT_UNIT_DIR,
    EXEC_TYPES,
    OOM_SCORE_ADJ_DROPIN_NAME,
    DropinError,
    DropinFile,
    dropin_path,
    render_dropin,
    section_for,
    validate_dropin_name,
)
from ansible_collections.oomguard.memory.plugins.module_utils._proc import (
    ProcessGone,
    ancestors,
    read_oom_score_adj,
    write_oom_score_adj,
)
from ansible_collections.oomguard.memory.plugins.module_utils._process_select import (
    COMM_MAX,
    descendants,
    kubepods_managed,
    normalize_cgroup,
    select_by_cgroup,
    select_by_name,
    select_by_pattern,
    select_by_unit,
    snapshot,
)
from ansible_collections.oomguard.memory.plugins.module_utils._systemd import show_units, systemd_booted
from ansible_collections.oomguard.memory.plugins.module_utils._unit_name import UnitNameError, split_unit_name

SELECTORS = ("pid", "name", "pattern", "unit", "cgroup")


class OomScoreAdj:
    """Select processes, then set their oom_score_adj (and, for a unit, the drop-in)."""

    def __init__(self, module, proc="/proc"):
        self.module = module
        self.proc = proc
        self.params = module.params
        self.value = module.params["value"]
        self.changed = False
        self.processes = []
        self.vanished = []
        self.excluded = []
        self.missing = []
        self.restart_reasons = []
        self.dropin = None
        self.diff = []
        self._regex = None
        self._cgroup = None
        self._unit_type = None
        self._names = {}

    # -- validation -------------------------------------------------------------------------------------------

    def validate(self):
        """Check every input before anything is read or written; fail with a message naming the option."""
        params = self.params
        if not -1000 <= self.value <= 1000:
            self.module.fail_json(msg="value must be from -1000 to 1000; got %d" % self.value)
        if self.value == -1000 and not params["allow_unkillable"]:
            self.module.fail_json(
                msg="value=-1000 makes the selected processes unkillable by the OOM killer; set allow_unkillable=true "
                "if that is really wanted, or use -999 to keep them as a last resort"
            )
        if params["pid"] is not None:
            bad = [pid for pid in params["pid"] if pid <= 0]
            if bad:
                self.module.fail_json(msg="pid must be positive; got %s" % ", ".join(str(pid) for pid in bad))
            if not params["pid"]:
                self.module.fail_json(msg="pid is an empty list; give at least one process ID")
        if params["name"] is not None:
            if not params["name"] or "/" in params["name"]:
                self.module.fail_json(msg="name %r is not a process name; use pattern to match paths" % params["name"])
            if len(params["name"]) > COMM_MAX:
                self.module.fail_json(
                    msg="name %r is longer than %d characters, so it never equals a process name (the kernel cuts "
                    "names to %d); use pattern instead" % (params["name"], COMM_MAX, COMM_MAX)
                )
        if params["pattern"] is not None:
            try:
                self._regex = re.compile(params["pattern"])
            except re.error as exc:
                self.module.fail_json(msg="pattern %r is not a valid regular expression: %s" % (params["pattern"], exc))
        if params["cgroup"] is not None:
            if not params["cgroup"].startswith("/"):
                self.module.fail_json(
                    msg="cgroup %r must be an absolute path such as /system.slice/app.service" % params["cgroup"]
                )
            self._cgroup = normalize_cgroup(params["cgroup"])
            if self._cgroup == "/":
                self.module.fail_json(
                    msg="cgroup %r is the root cgroup and would select every process on the host; name a cgroup "
                    "below it" % params["cgroup"]
                )
        if params["unit"] is not None:
            try:
                self._unit_type = split_unit_name(params["unit"])[2]
            except UnitNameError as exc:
                self.module.fail_json(msg="unit: %s" % exc)
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
            validate_dropin_name(self.params["dropin_name"])
        except DropinError as exc:
            self.module.fail_json(msg=str(exc))

    # -- selection --------------------------------------------------------------------------------------------

    def _unit_control_group(self):
        """Return the unit's ControlGroup from systemd, '' when it has none (inactive), None when unknown."""
        unit = self.params["unit"]
        if split_unit_name(unit)[1] == "" or not systemd_booted():
            return None
        systemctl = self.module.get_bin_path("systemctl")
        if not systemctl:
            return None
        try:
            units = show_units(self.module.run_command, systemctl, [unit], ["ControlGroup"])
        except RuntimeError as exc:
            self.module.warn(
                "cannot read the cgroup of %s from systemd (%s); matching cgroup paths instead" % (unit, exc)
            )
            return None
        return units.get(unit, {}).get("ControlGroup") or ""

    def select(self):
        """Return the sorted pids to change; fills excluded/missing and fails on kubepods processes."""
        params = self.params
        processes = snapshot(self.proc, cmdline=params["pattern"] is not None)
        own = {os.getpid()} | ancestors(os.getpid(), self.proc)
        if params["pid"] is not None:
            selected = []
            for pid in sorted(set(params["pid"])):
                if pid in processes:
                    selected.append(pid)
                else:
                    self.missing.append(pid)
            if self.missing and not params["missing_ok"]:
                self.module.fail_json(
                    msg="no process with pid %s; set missing_ok=true to ignore pids that do not exist"
                    % ", ".join(str(pid) for pid in self.missing),
                    **self.result,
                )
        elif params["name"] is not None:
            selected = select_by_name(processes, params["name"], exclude=own)
        elif params["pattern"] is not None:
            selected = select_by_pattern(processes, self._regex, exclude=own)
        elif params["cgroup"] is not None:
            selected = select_by_cgroup(processes, self._cgroup)
        else:
            control_group = self._unit_control_group()
            selected = [] if control_group == "" else select_by_unit(processes, params["unit"], control_group)
        if params["children"]:
            selected = sorted(set(selected) | descendants(processes, set(selected)))
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
            self.module.fail_json(
                msg="refusing to change oom_score_adj of %d process(es) in kubelet-managed cgroups (kubepods): %s. "
                "The kubelet sets these values from each pod's QoS class and owns them; set the pod's resources "
                "instead, or force=true to override" % (len(kubepods), described),
                **self.result,
            )
        if kubepods:
            self.module.warn(
                "changing oom_score_adj of %d kubelet-managed process(es) because force=true" % len(kubepods)
            )
        if not kept and not params["missing_ok"]:
            selector = next(key for key in SELECTORS if params[key] is not None)
            self.module.fail_json(
                msg="no process matches %s=%s; set missing_ok=true if that is expected (for example a stopped service)"
                % (selector, params[selector]),
                **self.result,
            )
        self._names = {pid: processes[pid].comm for pid in kept}
        return kept

    # -- changes ----------------------------------------------------------------------------------------------

    def set_processes(self, pids):
        for pid in pids:
            comm = self._names.get(pid, "")
            try:
                before = read_oom_score_adj(pid, self.proc)
            except (ProcessGone, ValueError):
                self.vanished.append({"pid": pid, "comm": comm})
                continue
            except OSError as exc:
                self.module.fail_json(
                    msg="cannot read oom_score_adj of pid %d (%s): %s (errno %d)"
                    % (pid, comm, exc.strerror, exc.errno),
                    **self.result,
                )
            if before != self.value and not self.module.check_mode:
                try:
                    write_oom_score_adj(pid, self.value, self.proc)
                except ProcessGone:
                    self.vanished.append({"pid": pid, "comm": comm})
                    continue
                except OSError as exc:
                    hint = ""
                    if self.value < before:
                        hint = "; lowering it needs CAP_SYS_RESOURCE (run with become=true)"
                    self.module.fail_json(
                        msg="cannot set oom_score_adj of pid %d (%s) from %d to %d: %s (errno %d)%s"
                        % (pid, comm, before, self.value, exc.strerror, exc.errno, hint),
                        **self.result,
                    )
            self.processes.append({"pid": pid, "comm": comm, "before": before, "after": self.value})
            if before != self.value:
                self.changed = True

    def persist(self):
        unit = self.params["unit"]
        path = dropin_path(self.params["unit_dir"], unit, self.params["dropin_name"])
        self.dropin = path
        dropin = DropinFile(self.module, path)
        content = render_dropin(
            section_for(unit, self._unit_type), [("OOMScoreAdjust", str(self.value))], "oomguard.memory.oom_score_adj"
        )
        before = dropin.read()
        dropin.check_ownership(before)
        if before == content:
            return
        self.changed = True
        self.restart_reasons.append(
            "OOMScoreAdjust=%d is applied by systemd when %s next starts (after a daemon-reload)" % (self.value, unit)
        )
        if self.module._diff:
            self.diff.append(dropin.diff(before, content))
        if not self.module.check_mode:
            dropin.write(content)

    def run(self):
        self.validate()
        pids = self.select()
        self.set_processes(pids)
        if self.module._diff:
            self.diff.insert(0, self._process_diff())
        if self.params["persist"]:
            self.persist()

    def _process_diff(self):
        def lines(key):
            return "".join(
                "%d (%s): oom_score_adj=%d\n" % (entry["pid"], entry["comm"], entry[key]) for entry in self.processes
            )

        return {
            "before": lines("before"),
            "after": lines("after"),
            "before_header": "oom_score_adj (before)",
            "after_header": "oom_score_adj (after)",
        }

    @property
    def result(self):
        result = {
            "changed": self.changed,
            "processes": self.processes,
            "vanished": self.vanished,
            "excluded": self.excluded,
            "missing": self.missing,
            "restart_required": bool(self.restart_reasons),
            "restart_reasons": self.restart_reasons,
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
            unit_dir=dict(type="path", default=DEFAULT_UNIT_DIR),
            dropin_name=dict(type="str", default=OOM_SCORE_ADJ_DROPIN_NAME),
            missing_ok=dict(type="bool", default=False),
            allow_unkillable=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
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
