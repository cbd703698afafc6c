#!/usr/bin/python
# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: oom_facts
short_description: Gather every OOM kill a Linux host remembers, with its memory state and protections
version_added: "1.0.0"
description:
  - Reads the OOM kills of the kernel, systemd-oomd and earlyoom from the journal, C(/dev/kmsg), C(dmesg) or syslog
    files, and from log files copied from other machines.
  - Adds what explains them, in the same single round trip, memory and swap, pressure stall information, the
    kernel's OOM counters, the OOM sysctls, the processes the kernel would kill first, and the memory settings
    of systemd units.
  - Logs are streamed through a prefilter, so memory use does not grow with the size of the logs.
  - A source the host lacks or the user cannot read is reported in RV(ansible_facts.oom.sources_unavailable) and as a
    warning; the module never fails because of it.
author: oomguard maintainers (@oomguard)
extends_documentation_fragment:
  - oomguard.memory._attributes
  - oomguard.memory._attributes.facts
  - oomguard.memory._attributes.facts_module
  - oomguard.memory._attributes.platform
attributes:
  platform:
    support: full
    platforms: linux
options:
  log_sources:
    description:
      - Live log sources of the host to read kills from.
      - V(journal) reads kernel, systemd-oomd, earlyoom and service manager records of every boot the journal
        retains. It checks who wrote each record from the fields journald sets itself, which no client can forge,
        a kernel kill only from C(_TRANSPORT=kernel), systemd-oomd and earlyoom kills only from their own system
        units (C(_SYSTEMD_UNIT=systemd-oomd.service) or C(earlyoom.service)) run by a system user (root,
        C(systemd-oom), or a DynamicUser), and unit lines only from PID 1 (or a user's own service manager, for
        that user's units). Records that fail the check, such as a user's C(logger -t kernel) or an C(earlyoom)
        identifier on a user's process, are never kills; they are counted in C(ansible_facts.oom.untrusted_records).
      - V(kmsg) reads the kernel ring buffer from C(/dev/kmsg) (current boot only), and V(dmesg) runs C(dmesg)
        (current boot only). Both hold kernel records only, which only the kernel and root can write.
      - V(syslog) reads C(/var/log/syslog), C(/var/log/messages) or C(/var/log/kern.log), rotated and compressed
        ones included. Syslog text carries no facility, so a C(kernel:) line written by any local user with
        C(logger -t kernel) cannot be told from the kernel's own; treat kills read from it as untrusted.
      - V(auto) uses the first of V(journal), V(kmsg), V(dmesg) and V(syslog) that the host has and can be read, so
        syslog files are read only where neither the journal nor the kernel ring buffer can be.
      - An empty list reads no live log, for example to analyse only O(log_paths).
    type: list
    elements: str
    choices: [auto, journal, kmsg, dmesg, syslog]
    default: [auto]
  log_paths:
    description:
      - Extra log files on the managed host to analyse, plain or gzip-compressed.
      - Each entry must be the absolute path of a regular file. A relative path (it would resolve in Ansible's
        temporary directory), a missing path, a directory, a device, a FIFO or a socket fails the task with a
        message naming the path, before anything is read. One file listed twice, or under two names, is read once.
      - Any text format is recognised, raw C(/dev/kmsg) records, C(dmesg) with or without C(-T) in any locale,
        C(journalctl) short, short-iso, short-precise and short-monotonic output, syslog files, and earlyoom's own
        output. A file in no known format is reported with status V(unrecognized) and a warning, not as a source
        with no kills.
      - A truncated or corrupt gzip file gives the kills read before the damage, with status V(partial) and a
        warning. At most 1 GiB of decompressed text is read from one gzip file (status V(partial) and a warning
        beyond it).
      - This is how a log copied from another machine is analysed. Its records are as trustworthy as the file.
    type: list
    elements: path
    default: []
  since:
    description:
      - Only report kills newer than this, either a duration back from now such as V(90m), V(24h), V(7d) or V(2w),
        or an ISO 8601 time such as V(2026-03-01T00:00:00+00:00).
      - Applies where the source has real timestamps; kills without a timestamp are kept.
    type: str
  max_kills:
    description:
      - Keep the newest O(max_kills) kills in RV(ansible_facts.oom.kills). RV(ansible_facts.oom.kill_count) still
        counts all of them.
      - V(0) keeps none.
    type: int
    default: 100
  top_processes:
    description:
      - Report the O(top_processes) processes with the highest C(oom_score), the kernel's next victims.
      - V(0) skips the process scan.
    type: int
    default: 20
  units:
    description:
      - systemd units whose memory settings and OOM counters to report.
      - By default the units that had kills plus every loaded unit with a memory setting (a memory limit or
        protection, C(OOMScoreAdjust=), C(OOMPolicy=continue|kill) or C(ManagedOOM*=)).
    type: list
    elements: str
notes:
  - Run it with O(ignore:become=true) to read the whole journal, C(/dev/kmsg) under C(kernel.dmesg_restrict=1), and
    every process's cgroup.
  - Timestamps are ISO 8601 with the zone. Lines that carry a time without a zone (classic syslog, C(dmesg -T)) are
    read in the managed host's local time zone; syslog lines carry no year, which is taken from the file's
    modification time. For C(kmsg) and C(dmesg) the time is derived from the kernel's seconds since boot and the
    boot time in C(/proc/stat), which is approximate after a suspend.
  - A kill is counted only from its C(Killed process) line (or the earlyoom and systemd-oomd kill lines), never from an
    C(invoked oom-killer) header or a C(Kill process ... or sacrifice child) candidate line. The same kill read twice
    (C(memory.oom.group) reprints, the same line twice in one file, or the same record in two sources) is counted
    once. An OOM kernel panic is reported when its line follows the OOM report (its header, or C(Out of memory and
    no killable processes)) with no kill after it.
  - Log text is treated as hostile. Every line is cut to 16 KiB before it is parsed, and parsing takes time
    linear in the line's length; files are read in fixed-size blocks, so memory does not grow with the logs.
    Strings in kill records are capped, C(comm) at 64 characters, C(message), C(cmdline) and cgroup paths at 512.
    At most 10000 kills are kept in RV(ansible_facts.oom.kills).
  - Each kill has a stable C(id). Kernel kills read with the kernel's own time (the journal, C(kmsg), C(dmesg), or
    a C([seconds]) prefix) get the same id from every such source and on every run.
  - Keys that contain dots or dashes, such as C(vm.panic_on_oom) and C(systemd-oomd), need bracket notation,
    for example C(ansible_facts['oom']['sysctl']['vm.panic_on_oom']).
seealso:
  - module: oomguard.memory.oom_score_adj
  - module: oomguard.memory.systemd_memory
  - name: Linux kernel, out of memory handling
    description: The kernel's documentation of oom_score_adj and the OOM killer.
    link: https://docs.kernel.org/filesystems/proc.html
"""

EXAMPLES = r"""
- name: Gather OOM facts
  oomguard.memory.oom_facts:
  become: true

- name: Show how many processes the OOM killer took on each host
  ansible.builtin.debug:
    msg: "{{ ansible_facts['oom']['kill_count'] }} OOM kills, newest: {{ ansible_facts['oom']['kills'][-1:] }}"

- name: Only the last day, without the process scan
  oomguard.memory.oom_facts:
    since: 24h
    top_processes: 0
  become: true

- name: Analyse a kernel log copied from another machine, without reading this host's logs
  oomguard.memory.oom_facts:
    log_sources: []
    log_paths:
      - /tmp/vm-1-kern.log.2.gz

- name: Report the memory settings of two services
  oomguard.memory.oom_facts:
    units:
      - postgresql.service
      - worker@1.service
    top_processes: 5
  become: true

- name: Fail when a host lost processes to the OOM killer in the last hour
  ansible.builtin.assert:
    that: ansible_facts['oom']['kill_count'] == 0
    fail_msg: "{{ inventory_hostname }}: {{ ansible_facts['oom']['kills'] | map(attribute='comm') | list }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: dict
  contains:
    oom:
      description: Everything the module gathered, under one key.
      returned: always
      type: dict
      contains:
        kills:
          description:
            - The newest O(max_kills) OOM kills, oldest first.
            - Every kill has C(killer), C(pid), C(comm), C(unit), C(timestamp), C(uptime_s), C(source) and C(message).
            - "Kernel kills (C(killer=kernel)) add C(uid), C(anon_rss_kb), C(file_rss_kb), C(shmem_rss_kb),
              C(total_vm_kb), C(pgtables_kb), C(oom_score_adj), C(constraint) (V(CONSTRAINT_NONE), V(CONSTRAINT_CPUSET),
              V(CONSTRAINT_MEMORY_POLICY), V(CONSTRAINT_MEMCG) or null), C(oom_memcg), C(task_memcg), C(container),
              C(trigger_comm) and C(trigger_pid) (the task that invoked the OOM killer, when logged), C(kind)
              (V(global), V(memcg), V(allocating_task), V(sysrq) or null), C(oom_group) (the memcg of a
              C(memory.oom.group) kill) and, when the reaper logged it, C(reaped_anon_rss_kb)."
            - "systemd-oomd kills (C(killer=systemd-oomd)) add C(cgroup) (the killed cgroup), C(reason)
              (V(memory_pressure), V(memory_used) or V(swap)), C(pressure_cgroup), C(pressure_pct),
              C(pressure_limit_pct), C(pressure_duration), C(processes) (from PID 1's unit message) and C(queued);
              their C(pid) and C(comm) are null."
            - "earlyoom kills (C(killer=earlyoom)) add C(uid), C(signal), C(rss_kb), C(oom_score), C(oom_score_adj)
              and C(cmdline) as far as the earlyoom version logs them."
            - C(unit) is the systemd unit derived from the cgroup path; C(container) is a dict with C(runtime),
              C(id) and, for Kubernetes pods, C(pod_uid), or null.
            - C(timestamp) is ISO 8601 with the zone, or null when the source has no time; C(uptime_s) is the
              kernel's seconds since boot when logged.
            - C(source) is V(journal), V(kmsg), V(dmesg), or the path of the syslog or O(log_paths) file.
          returned: always
          type: list
          elements: dict
          sample:
            - killer: kernel
              pid: 4242
              comm: worker
              uid: 1001
              anon_rss_kb: 1048576
              file_rss_kb: 512
              shmem_rss_kb: 0
              total_vm_kb: 2097152
              pgtables_kb: 2100
              oom_score_adj: 0
              constraint: CONSTRAINT_MEMCG
              oom_memcg: /system.slice/worker.service
              task_memcg: /system.slice/worker.service
              unit: worker.service
              container: null
              trigger_comm: worker
              trigger_pid: 4242
              kind: memcg
              oom_group: null
              timestamp: "2026-03-03T10:11:12.123456+00:00"
              uptime_s: 5123.456789
              source: journal
              message: "Memory cgroup out of memory: Killed process 4242 (worker) total-vm:2097152kB, ..."
        kill_count:
          description: Number of kills found in all sources read, before O(max_kills) is applied.
          returned: always
          type: int
          sample: 3
        kill_count_by_killer:
          description: RV(ansible_facts.oom.kill_count) split by killer.
          returned: always
          type: dict
          sample: {kernel: 2, systemd-oomd: 1, earlyoom: 0}
        kills_missing_from_logs:
          description:
            - How many kernel kills of the current boot the kernel counted in C(/proc/vmstat) but no log read
              shows, because the logs rotated, wrapped or are not readable. V(0) when the logs are complete, null
              when this cannot be told.
          returned: always
          type: int
          sample: 0
        oom_panics:
          description: Kernel panics caused by OOM (C(vm.panic_on_oom), or no killable process), newest 20.
          returned: always
          type: list
          elements: dict
          sample: []
        counters:
          description: The kernel's OOM counters, the ground truth for whether a kill happened.
          returned: always
          type: dict
          contains:
            vmstat_oom_kill:
              description: C(oom_kill) from C(/proc/vmstat), all OOM kills since boot; null before kernel 4.13.
              type: int
              returned: always
              sample: 7
            cgroups:
              description:
                - Per cgroup (keyed by the path the kernel prints), the keys of cgroup v2 C(memory.events)
                  (C(oom), C(oom_kill), C(oom_group_kill), ...) with C(local) from C(memory.events.local), or
                  the cgroup v1 C(memory.oom_control) keys (C(oom_kill_disable), C(under_oom), C(oom_kill)).
                - C(hierarchy) says V(v1) or V(v2). Covers the memory cgroups named by kills and the reported units.
              type: dict
              returned: always
              sample: {/system.slice/worker.service: {hierarchy: v2, oom: 3, oom_kill: 3, oom_group_kill: 0}}
        memory:
          description: C(MemTotal), C(MemAvailable), C(MemFree), C(SwapTotal), C(SwapFree), C(CommitLimit) and
            C(Committed_AS) from C(/proc/meminfo), in kB.
          returned: always
          type: dict
          sample: {MemTotal: 4025152, MemAvailable: 2012345, MemFree: 512000, SwapTotal: 0, SwapFree: 0,
                   CommitLimit: 2012576, Committed_AS: 3456789}
        pressure:
          description: Memory pressure stall information from C(/proc/pressure/memory), C(some) and C(full) with
            C(avg10), C(avg60), C(avg300) (percent) and C(total) (microseconds); null where PSI is off.
          returned: always
          type: dict
          sample: {some: {avg10: 0.0, avg60: 0.12, avg300: 0.05, total: 123456}, full: {avg10: 0.0, avg60: 0.0,
                   avg300: 0.01, total: 23456}}
        sysctl:
          description: C(vm.overcommit_memory), C(vm.overcommit_ratio), C(vm.panic_on_oom),
            C(vm.oom_kill_allocating_task), C(vm.oom_dump_tasks), C(vm.swappiness), C(vm.min_free_kbytes) and
            C(kernel.panic); null for a key the kernel lacks.
          returned: always
          type: dict
          sample: {vm.overcommit_memory: 0, vm.panic_on_oom: 0, kernel.panic: 10}
        cgroup_version:
          description: V(1), V(2) or V(hybrid) (v1 controllers with a v2 mount beside them), or null.
          returned: always
          type: str
          sample: "2"
        processes:
          description:
            - The O(top_processes) user processes with the highest C(oom_score), highest first, with C(pid),
              C(comm), C(cmdline) (cut to 256 characters), C(oom_score), C(oom_score_adj), C(rss_kb), C(uid),
              C(unit), C(cgroup) (the memory cgroup) and C(python=true) for Python interpreters.
          returned: always
          type: list
          elements: dict
          sample:
            - pid: 812
              comm: python3
              cmdline: python3 -m worker --queue default
              oom_score: 712
              oom_score_adj: 0
              rss_kb: 1843200
              uid: 1001
              unit: worker.service
              cgroup: /system.slice/worker.service
              python: true
        units:
          description:
            - Per systemd unit, C(MemoryMax), C(MemoryHigh), C(MemoryLow), C(MemoryMin), C(MemorySwapMax) (bytes,
              V(infinity) or null), C(MemoryCurrent) and C(MemoryPeak) (bytes, where systemd has them),
              C(OOMPolicy), C(OOMScoreAdjust), C(ManagedOOMMemoryPressure), C(ManagedOOMMemoryPressureLimit),
              C(ManagedOOMSwap), C(ManagedOOMPreference), C(Result) (for example V(oom-kill)), C(OOMKills) and
              C(ManagedOOMKills) where the systemd version has them, C(ControlGroup), C(ActiveState), C(LoadState),
              and C(oom_kills), the kills the logs attribute to the unit.
            - Read with one C(systemctl show) call. Empty where systemd is not running.
          returned: always
          type: dict
          sample: {worker.service: {MemoryMax: 1073741824, MemoryHigh: 858993459, OOMPolicy: stop,
                   OOMScoreAdjust: 0, Result: oom-kill, oom_kills: 3}}
        userspace_killers:
          description: For C(systemd-oomd) and C(earlyoom), whether they are C(installed) and C(active).
          returned: always
          type: dict
          sample: {systemd-oomd: {installed: true, active: false}, earlyoom: {installed: false, active: false}}
        systemd_running:
          description: Whether systemd is the init system (units can be read).
          returned: always
          type: bool
          sample: true
        sources:
          description: Per source read or tried, its C(status) (V(ok), V(absent) or V(unreadable)), a C(detail)
            and the C(kills) it contributed.
          returned: always
          type: dict
          sample: {journal: {status: ok, detail: "", kills: 3}}
        sources_unavailable:
          description: The sources that could not be read; their kills are unknown, not zero.
          returned: always
          type: list
          elements: str
          sample: [kmsg]
        since:
          description: The O(since) bound as an ISO 8601 time, or null.
          returned: always
          type: str
          sample: "2026-03-02T10:11:12+00:00"
"""

import datetime
import os
import platform
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.oomguard.memory.plugins.module_utils._cgroup import (
    cgroup_version,
    memory_v1_mount,
    oom_counters,
    unified_mount,
)
from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import parse_iso
from ansible_collections.oomguard.memory.plugins.module_utils._oom_sources import (
    LogPathError,
    current_boot_id,
    gather_logs,
)
from ansible_collections.oomguard.memory.plugins.module_utils._proc import top_by_oom_score
from ansible_collections.oomguard.memory.plugins.module_utils._systemd import (
    MEMORY_PROPERTIES,
    has_memory_setting,
    show_units,
)
from ansible_collections.oomguard.memory.plugins.module_utils._unit_name import UnitNameError, validate_unit_name

MEMINFO_KEYS = ("MemTotal", "MemAvailable", "MemFree", "SwapTotal", "SwapFree", "CommitLimit", "Committed_AS")
SYSCTLS = (
    "vm.overcommit_memory",
    "vm.overcommit_ratio",
    "vm.panic_on_oom",
    "vm.oom_kill_allocating_task",
    "vm.oom_dump_tasks",
    "vm.swappiness",
    "vm.min_free_kbytes",
    "kernel.panic",
)
USERSPACE_KILLERS = {
    "systemd-oomd": ("systemd-oomd.service", ("/usr/lib/systemd/systemd-oomd", "/lib/systemd/systemd-oomd")),
    "earlyoom": ("earlyoom.service", ("/usr/bin/earlyoom", "/usr/sbin/earlyoom", "/usr/local/bin/earlyoom")),
}
UNIT_PATTERNS = ("*.service", "*.scope", "*.slice")
_DURATION = re.compile(r"^\s*(?P<amount>\d+)\s*(?P<unit>s|m|h|d|w)\s*$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value, now=None):
    """Turn O(since) into an aware datetime; raise ValueError with a message for bad input."""
    match = _DURATION.match(value)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if match:
        seconds = int(match.group("amount")) * _DURATION_SECONDS[match.group("unit")]
        return now - datetime.timedelta(seconds=seconds)
    stamp = parse_iso(value.strip()) if re.match(r"^\d{4}-\d\d-\d\d", value.strip()) else None
    if stamp is None and re.match(r"^\d{4}-\d\d-\d\d$", value.strip()):
        stamp = parse_iso(value.strip() + "T00:00:00")
    if stamp is None:
        raise ValueError(
            "since=%r is neither a duration such as 90m, 24h, 7d or 2w nor an ISO 8601 time such as "
            "2026-03-01T00:00:00+00:00" % value
        )
    return stamp


def read_key_values(path, keys=None):
    values = {}
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            for line in handle:
                key, _sep, rest = line.partition(":") if ":" in line else line.partition(" ")
                key = key.strip()
                if keys is None or key in keys:
                    try:
                        values[key] = int(rest.split()[0])
                    except (IndexError, ValueError):
                        continue
    except OSError:
        return None
    return values


def read_meminfo():
    values = read_key_values("/proc/meminfo", MEMINFO_KEYS) or {}
    return {key: values.get(key) for key in MEMINFO_KEYS}


def read_pressure(path="/proc/pressure/memory"):
    pressure = {}
    try:
        with open(path, encoding="ascii") as handle:
            for line in handle:
                fields = line.split()
                if not fields:
                    continue
                entry = {}
                for field in fields[1:]:
                    key, _sep, value = field.partition("=")
                    entry[key] = int(value) if key == "total" else float(value)
                pressure[fields[0]] = entry
    except (OSError, ValueError):
        return None
    return pressure or None


def read_sysctls():
    values = {}
    for name in SYSCTLS:
        path = "/proc/sys/" + name.replace(".", "/")
        try:
            with open(path, encoding="ascii") as handle:
                values[name] = int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            values[name] = None
    return values


class OomFacts:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.sources = {}
        self.since = None
        self.kill_count_by_unit = {}
        self.killer_units = {}
        self.bin = {name: module.get_bin_path(name) for name in ("systemctl",)}

    def read_logs(self):
        """The log part of the facts (kills, counters, sources), from _oom_sources.gather_logs()."""
        params = self.params
        try:
            logs = gather_logs(self.module, params["log_sources"], params["log_paths"], self.since, params["max_kills"])
        except LogPathError as exc:
            self.module.fail_json(msg=to_text(exc))
        self.sources = logs["sources"]
        self.kill_count_by_unit = logs["kill_count_by_unit"]
        return logs

    def read_units(self, kills):
        systemctl = self.bin["systemctl"]
        if not systemctl or not os.path.isdir("/run/systemd/system"):
            return False, {}
        explicit = self.params["units"]
        killer_units = [unit for unit, _paths in USERSPACE_KILLERS.values()]
        kill_units = sorted({kill["unit"] for kill in kills if kill.get("unit")})
        queried = list(explicit) if explicit is not None else [*UNIT_PATTERNS, *kill_units]
        try:
            found = show_units(self.module.run_command, systemctl, [*queried, *killer_units], MEMORY_PROPERTIES)
        except RuntimeError as exc:
            self.module.warn("cannot read systemd units: %s" % exc)
            return True, {}
        self.killer_units = {unit: found.get(unit) for unit in killer_units}
        if explicit is not None:
            wanted = set(explicit)
        else:
            wanted = set(kill_units) | {unit for unit, props in found.items() if has_memory_setting(props)}
        units = {}
        for unit in sorted(wanted):
            if unit in found:
                units[unit] = found[unit]
                units[unit]["oom_kills"] = self.kill_count_by_unit.get(unit, 0)
        return True, units

    def userspace_killers(self, running_comms):
        killers = {}
        for name, (unit, paths) in USERSPACE_KILLERS.items():
            props = self.killer_units.get(unit)
            installed = bool(props and props.get("LoadState") == "loaded") or any(os.path.exists(p) for p in paths)
            active = bool(props and props.get("ActiveState") == "active") or name[:15] in running_comms
            killers[name] = {"installed": installed, "active": active}
        return killers

    def counters(self, kills, units, version):
        vmstat = read_key_values("/proc/vmstat", ("oom_kill",)) or {}
        unified, memory_v1 = unified_mount(), memory_v1_mount()
        paths = set()
        for kill in kills:
            for key in ("oom_memcg", "task_memcg"):
                if kill.get(key):
                    paths.add(kill[key])
        for props in units.values():
            if props.get("ControlGroup"):
                paths.add(props["ControlGroup"])
        cgroups = {}
        for path in sorted(paths):
            try:
                found = oom_counters(path, version, unified, memory_v1)
            except OSError:
                found = None
            if found is not None:
                cgroups[path] = found
        return {"vmstat_oom_kill": vmstat.get("oom_kill"), "cgroups": cgroups}

    def missing_from_logs(self, vmstat_oom_kill, kernel_kills_by_boot):
        """Kernel kills of this boot that the counters saw but no live log shows (None when unknown)."""
        if vmstat_oom_kill is None or self.since is not None:
            return None
        live = ("journal", "kmsg", "dmesg")
        if not any(self.sources.get(name, {}).get("status") in ("ok", "partial") for name in live):
            return None
        logged = kernel_kills_by_boot.get(current_boot_id(), 0)
        return max(vmstat_oom_kill - logged, 0)

    def gather(self):
        params = self.params
        if params["max_kills"] < 0:
            self.module.fail_json(msg="max_kills must be 0 or more; got %d" % params["max_kills"])
        if params["top_processes"] < 0:
            self.module.fail_json(msg="top_processes must be 0 or more; got %d" % params["top_processes"])
        for unit in params["units"] or []:
            try:
                validate_unit_name(unit)
            except UnitNameError as exc:
                self.module.fail_json(msg="units: %s" % exc)
        if params["since"]:
            try:
                self.since = parse_since(params["since"])
            except ValueError as exc:
                self.module.fail_json(msg=to_text(exc))
        logs = self.read_logs()
        kills = logs["kills"]
        version = cgroup_version()
        running_comms = set()
        processes = top_by_oom_score(params["top_processes"], seen_comms=running_comms)
        systemd_running, units = self.read_units(kills)
        counters = self.counters(kills, units, version)
        return {
            "kills": kills,
            "kill_count": logs["kill_count"],
            "kill_count_by_killer": logs["kill_count_by_killer"],
            "kill_count_by_kind": logs["kill_count_by_kind"],
            "kill_count_by_unit": logs["kill_count_by_unit"],
            "kill_count_by_source": logs["kill_count_by_source"],
            "kill_count_by_host": logs["kill_count_by_host"],
            "host_scope_kill_count": logs["host_scope_kill_count"],
            "untrusted_records": logs["untrusted_records"],
            "no_killable_count": logs["no_killable_count"],
            "oldest_record": logs["oldest_record"],
            "kills_missing_from_logs": self.missing_from_logs(
                counters["vmstat_oom_kill"], logs["kernel_kills_by_boot"]
            ),
            "oom_panics": logs["oom_panics"],
            "counters": counters,
            "memory": read_meminfo(),
            "pressure": read_pressure(),
            "sysctl": read_sysctls(),
            "cgroup_version": version,
            "processes": processes,
            "units": units,
            "userspace_killers": self.userspace_killers(running_comms),
            "systemd_running": systemd_running,
            "sources": logs["sources"],
            "sources_unavailable": logs["sources_unavailable"],
            "since": self.since.isoformat() if self.since else None,
        }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            log_sources=dict(
                type="list",
                elements="str",
                default=["auto"],
                choices=["auto", "journal", "kmsg", "dmesg", "syslog"],
            ),
            log_paths=dict(type="list", elements="path", default=[]),
            since=dict(type="str"),
            max_kills=dict(type="int", default=100),
            top_processes=dict(type="int", default=20),
            units=dict(type="list", elements="str"),
        ),
        supports_check_mode=True,
    )
    module.run_command_environ_update = {"LANGUAGE": "C", "LC_ALL": "C"}
    if platform.system() != "Linux":
        module.fail_json(msg="This module requires Linux.")
    facts = OomFacts(module).gather()
    module.exit_json(changed=False, ansible_facts={"oom": facts})


if __name__ == "__main__":
    main()
