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
    and peaks of systemd units.
  - For fleet reports it also returns who the host is (DMI, and machine type and zone of a Google Compute Engine VM
    from the metadata server), the containers running without a memory limit and, when asked, the memory history
    sysstat kept.
  - Logs are streamed through a prefilter, so memory use does not grow with the size of the logs.
  - A live log source the host lacks or the user cannot read, or a log file in no known format, is reported in
    RV(ansible_facts.oom.sources_unavailable) and as a warning; the module does not fail because of it. A
    O(log_paths) entry that is not an absolute path to a regular file fails the task.
  - The facts follow a versioned contract, RV(ansible_facts.oom.facts_version). Every documented key is always
    present; counts are integers, never null, with a C(*_known) flag where the truth cannot be told.
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
        identifier on a user's process, are never kills; they are counted in RV(ansible_facts.oom.untrusted_records).
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
      - The format is told by the content, not by the file name. Any text format is recognised, raw C(/dev/kmsg)
        records, C(dmesg) with or without C(-T) in any locale, C(journalctl) short, short-iso, short-precise and
        short-monotonic output, syslog files, and earlyoom's own output.
      - Also C(journalctl -o json) and C(-o export) output, Cloud Logging exports (C(gcloud logging read
        --format=json), or a log sink's JSON lines) and GCE serial port output (the text C(gcloud compute instances
        get-serial-port-output) saves, or the API's C(compute#serialPortOutput) object). Journal records in them
        pass the same provenance check as the live journal's; each kill carries the VM it came from
        (RV(ansible_facts.oom.kills[].host)), so one export of many VMs is attributed per VM.
      - A file in no known format (binary data, other JSON, a binary journal file, xz or zstd data) is reported
        with status V(unrecognized) and a warning naming it, not as a source with no kills.
      - A truncated or corrupt gzip file, or an export cut inside an entry, gives the kills read before the damage,
        with status V(partial) and a warning. At most 1 GiB of decompressed text is read from one gzip file (status
        V(partial) and a warning beyond it); one JSON entry is read only up to 1 MiB.
      - This is how a log copied from another machine is analysed. Its records are as trustworthy as the file.
    type: list
    elements: path
    default: []
  since:
    description:
      - Only report kills newer than this, either a duration back from now such as V(90m), V(24h), V(7d) or V(2w),
        or an ISO 8601 date or time such as V(2026-03-01) or V(2026-03-01T00:00:00+00:00) (a time without a zone is
        the managed host's local time). Not before 1970.
      - Applies where the source has real timestamps; kills without a timestamp are kept.
      - RV(ansible_facts.oom.window) states the window the facts cover.
    type: str
  max_kills:
    description:
      - Keep the newest O(max_kills) kills in RV(ansible_facts.oom.kills). RV(ansible_facts.oom.kill_count) still
        counts all of them.
      - From V(0) (keep none) to V(10000).
    type: int
    default: 100
  top_processes:
    description:
      - Report the O(top_processes) processes with the highest C(oom_score), the kernel's next victims.
      - From V(0) (skip the process scan) to V(1000).
    type: int
    default: 20
  units:
    description:
      - systemd units whose memory settings and OOM counters to report, at most 1000 names.
      - By default the units that had kills plus every loaded unit with a memory setting (a memory limit or
        protection, C(OOMScoreAdjust=), C(OOMPolicy=continue|kill) or C(ManagedOOM*=)).
    type: list
    elements: str
  gce_metadata:
    description:
      - Whether to ask the GCE metadata server for the machine type, zone, instance and project
        (RV(ansible_facts.oom.host.gce)).
      - V(auto) asks only when DMI says the host is a Google Compute Engine VM, V(always) asks anyway (for example
        in a container whose DMI is hidden), V(never) does not ask.
    type: str
    choices: [auto, always, never]
    default: auto
    version_added: "1.1.0"
  gce_metadata_url:
    description:
      - Base URL of the metadata server. An answer counts only when it carries the C(Metadata-Flavor) header with
        the value C(Google).
    type: str
    default: http://metadata.google.internal/computeMetadata/v1
    version_added: "1.1.0"
  gce_metadata_timeout:
    description:
      - Seconds to wait for each answer of the metadata server, from V(0.1) to V(30). The first request that fails
        ends the attempt (one timeout, not five) with a warning.
    type: float
    default: 1.0
    version_added: "1.1.0"
  memory_history_days:
    description:
      - Summarise the memory use sysstat recorded over the last O(memory_history_days) days
        (RV(ansible_facts.oom.memory_history)), from V(1) to V(31); V(0) skips it.
      - Runs the host's own C(sadf) once per daily file, about 10 to 50 ms each.
    type: int
    default: 0
    version_added: "1.1.0"
  sysstat_dirs:
    description:
      - Directories that hold sysstat's daily C(saDD) or C(saYYYYMMDD) files (absolute paths, at most 16).
      - Files sysstat compressed after C(COMPRESSAFTER) days (C(.gz), C(.bz2), C(.xz)) are decompressed, up to
        256 MiB each, into a temporary file in Ansible's remote temporary directory for C(sadf); a file compressed
        otherwise (C(.Z), C(.lz), C(.lzo)) is named in a warning and left out.
    type: list
    elements: path
    default: [/var/log/sysstat, /var/log/sa]
    version_added: "1.1.0"
notes:
  - Run it with O(ignore:become=true). A user other than root gets what that user may read, and each part that is
    refused says so instead of reading as "no OOM kills". The journal is V(unreadable) when the system journal is
    refused (members of the C(systemd-journal) or C(adm) group may read it); C(/dev/kmsg) and C(dmesg) are
    V(unreadable) under C(kernel.dmesg_restrict=1) (without C(CAP_SYSLOG)); a syslog file or a O(log_paths) file
    refused is V(unreadable) with a warning; RV(ansible_facts.oom.memory_history.reason) names a sysstat
    directory that cannot be listed; and a warning says when C(/proc) is mounted with C(hidepid=), so that
    RV(ansible_facts.oom.processes) lists only the user's own processes. Memory, pressure, counters, sysctls and
    units are readable by every user.
  - A volatile journal (C(Storage=volatile), or no C(/var/log/journal)) starts empty at every boot. Its source
    C(detail) says so with the boot time, a warning says so when the window reaches back before this boot, and
    RV(ansible_facts.oom.window.oldest_record) shows how far back the records reach. Without journal files, or
    without C(journalctl), the journal is V(absent) and V(auto) goes on to the kernel ring buffer.
  - Without pressure stall information (a kernel without C(CONFIG_PSI), or with PSI off, where
    C(/proc/pressure/memory) is absent or answers EOPNOTSUPP) RV(ansible_facts.oom.pressure.available) is false.
  - On cgroup v1, hybrid and v2 hosts alike the cgroup facts come from the hierarchy that carries the memory
    controller (v1 C(memory.oom_control), C(memory.max_usage_in_bytes), C(memory.limit_in_bytes); v2
    C(memory.events), C(memory.peak), C(memory.max)); with no cgroup file system they are empty and
    RV(ansible_facts.oom.cgroup_version) is null.
  - The module only reads, takes no lock and does not wait for the lock of M(oomguard.memory.oom_score_adj) and
    M(oomguard.memory.systemd_memory); several runs on one host at once (two playbooks, or a report while the
    protection is applied) each return complete facts. A process that exits while it is read is left out, and the
    next one in C(oom_score) order takes its place.
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
  - In a container (LXC, LXD, systemd-nspawn, Docker, Podman) the kernel log is the container host's. A kernel kill
    counts as this host's (C(scope=local)) only when the killed task's memory cgroup lies below the container's own
    cgroup, as RV(ansible_facts.oom.host.container.cgroup_prefixes) lists it; the others are C(scope=host) and
    counted in RV(ansible_facts.oom.host_scope_kill_count) only. When the container's cgroup cannot be found, every
    kernel kill is C(scope=host). The container's own kills still show through its cgroup counters and its units'
    C(Result=oom-kill) in RV(ansible_facts.oom.kills_missing_from_logs). The pid of a kernel kill is the pid in the
    container host's pid namespace.
  - A host counts as a container only when the module runs in a child pid namespace; marker files alone (a
    C(/.dockerenv) left in a VM image) do not make one.
  - 'Command lines (RV(ansible_facts.oom.processes[].cmdline), the C(cmdline) of earlyoom kills) are redacted before
    they are returned, so that the facts are safe to cache. The value of any option or key whose name contains
    C(pass), C(pwd), C(secret), C(token), C(api key), C(access key), C(private key), C(credential), C(auth) or
    C(cookie) (C(--password=x), C(--password x), C(PGPASSWORD=x), C(?token=x), C({"api_key": "x"})), HTTP headers
    with such names (C(Authorization: Bearer x)), C(Bearer)/C(Basic) credentials, passwords in URLs
    (C(https://user:x@host)), AWS access key ids (C(AKIA...)) and, in the processes list, the password glued to
    C(-p) on the command line of MySQL and MariaDB clients (C(mysql -pX)) become C(<redacted>). At most 4096 bytes
    of a command line are read and 256 characters returned.'
  - The module's own processes, the AnsiballZ wrapper, C(sudo)/C(su) of O(ignore:become), the SSH session and, on a
    local connection, C(ansible-playbook) itself, are never listed in RV(ansible_facts.oom.processes).
  - Nothing is written on the host but the temporary copy of a compressed sysstat file (O(sysstat_dirs)), removed
    before the module returns. C(memory.peak) and C(memory.max_usage_in_bytes) are only read (writing them
    would reset them).
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

- name: Show how many processes the OOM killer took, global and in memory cgroups
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts['oom']['kill_count'] }} OOM kills since
      {{ ansible_facts['oom']['window']['since'] or ansible_facts['oom']['window']['oldest_record'] or 'boot' }}:
      {{ ansible_facts['oom']['kill_count_by_kind']['global'] }} global,
      {{ ansible_facts['oom']['kill_count_by_kind']['memcg'] }} at a memory cgroup limit

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

- name: Gather the OOM kills of the last hour
  oomguard.memory.oom_facts:
    since: 1h
  become: true

- name: Fail when a host lost processes to the OOM killer in the last hour
  vars:
    kills: "{{ ansible_facts['oom']['kills'] | selectattr('scope', 'eq', 'local') }}"
  ansible.builtin.assert:
    that:
      - ansible_facts['oom']['kill_count'] == 0
      - ansible_facts['oom']['kills_missing_from_logs'] == 0
    fail_msg: >-
      {{ inventory_hostname }}: {{ ansible_facts['oom']['kill_count'] }} OOM kills in the last hour
      (and {{ ansible_facts['oom']['kills_missing_from_logs'] }} the kernel counted that no log shows):
      {% for kill in kills %}{{ kill['timestamp'] }} pid {{ kill['pid'] }} ({{ kill['comm'] }}) in
      {{ kill['unit'] or kill['cgroup'] or 'no unit' }} by {{ kill['killer'] }}{{ '; ' if not loop.last }}{% endfor %}

- name: Size a fleet report, with eight days of sysstat history and the GCE machine type
  oomguard.memory.oom_facts:
    since: 8d
    memory_history_days: 8
  become: true
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: dict
  contains:
    oom:
      description: Everything the module gathered, under one key. Every key below is always present.
      returned: always
      type: dict
      contains:
        facts_version:
          description: Version of this facts contract. A new key raises the minor version, a changed meaning the major.
          returned: always
          type: str
          sample: "1.1"
          version_added: "1.1.0"
        host:
          description: Who the managed host is.
          returned: always
          type: dict
          version_added: "1.1.0"
          contains:
            hostname:
              description: The host name the kernel has (C(/proc/sys/kernel/hostname)).
              returned: always
              type: str
              sample: vm
            boot_id:
              description: The kernel's boot id, as the journal writes it (32 hex digits, no dashes); null if unknown.
              returned: always
              type: str
              sample: f4245ca18a214f5b908a9842c5983f43
            uptime_s:
              description: Seconds since boot; null if unknown.
              returned: always
              type: float
              sample: 1092.31
            kernel:
              description: The running kernel's release.
              returned: always
              type: str
              sample: 6.18.44-fc-v669
            container:
              description: Whether the host is a container, which shares its kernel log with the container host.
              returned: always
              type: dict
              contains:
                detected:
                  description: True when the module runs in a child pid namespace (LXC, LXD, systemd-nspawn, Docker,
                    Podman, a Kubernetes pod).
                  returned: always
                  type: bool
                  sample: false
                runtime:
                  description: V(lxc), V(docker), V(podman), V(nspawn), V(containerd) or V(other) as marker files
                    and PID 1's C(container=) name it; null outside a container.
                  returned: always
                  type: str
                  sample: lxc
                cgroup_prefixes:
                  description:
                    - The container's own cgroups as the container host's kernel prints them; a kernel kill below one
                      of them is this host's (C(scope=local)).
                    - Null outside a container (every kill is local); an empty list when they cannot be found (every
                      kernel kill is C(scope=host)).
                  returned: always
                  type: list
                  elements: str
                  sample: [/lxc.payload.web1, /lxc/web1]
            dmi:
              description: The machine's maker and model from C(/sys/class/dmi/id); null where the host has no DMI.
              returned: always
              type: dict
              contains:
                vendor:
                  description: C(sys_vendor).
                  returned: always
                  type: str
                  sample: Google
                product:
                  description: C(product_name).
                  returned: always
                  type: str
                  sample: Google Compute Engine
            gce:
              description:
                - The Compute Engine VM as the metadata server describes it, or null (no GCE VM, O(gce_metadata=never),
                  or the metadata server did not answer, with a warning).
                - A value that does not look like a GCE name is null.
              returned: always
              type: dict
              contains:
                machine_type:
                  description: The machine type's name.
                  returned: always
                  type: str
                  sample: e2-medium
                zone:
                  description: The zone's name.
                  returned: always
                  type: str
                  sample: europe-west1-b
                instance_id:
                  description: The instance's numeric id, as a string.
                  returned: always
                  type: str
                  sample: "4512337890123456789"
                instance_name:
                  description: The instance's name.
                  returned: always
                  type: str
                  sample: web-1
                project:
                  description: The project id.
                  returned: always
                  type: str
                  sample: example-prod
        window:
          description: The time span the kill facts cover.
          returned: always
          type: dict
          version_added: "1.1.0"
          contains:
            since:
              description: The O(since) bound as an ISO 8601 time, or null (everything the logs hold).
              returned: always
              type: str
              sample: "2026-11-24T21:55:39+00:00"
            until:
              description: When the module ran (ISO 8601).
              returned: always
              type: str
              sample: "2026-12-01T21:55:39.274892+00:00"
            oldest_record:
              description: The oldest time in the log records read, that is how far back the logs reach; null
                when no record with a time was read.
              returned: always
              type: str
              sample: "2026-12-01T21:46:28.811759+00:00"
        since:
          description: Same as RV(ansible_facts.oom.window.since).
          returned: always
          type: str
          sample: "2026-11-24T21:55:39+00:00"
        kills:
          description:
            - The newest O(max_kills) OOM kills, oldest first. Every kill has every key below; a key that does not
              apply to its killer is null.
            - In a container, kills with C(scope=host) are the container host's and are listed for information only.
          returned: always
          type: list
          elements: dict
          contains:
            id:
              description: Stable id of the kill, the same on every run. For a kernel kill read with the kernel's
                own time (the journal, C(kmsg), C(dmesg), a C([seconds]) prefix) a hash of the pid and the kernel's
                microseconds since boot, the same from every such source; otherwise a hash of killer, host, the
                second of the kill and the pid or cgroup.
              returned: always
              type: str
              sample: ffa779ec9ae83969
            killer:
              description: V(kernel), V(systemd-oomd) or V(earlyoom).
              returned: always
              type: str
              sample: kernel
            kind:
              description: For the kernel V(global) (the whole machine ran out), V(memcg) (a memory cgroup hit its
                limit), V(allocating_task) (C(vm.oom_kill_allocating_task)), V(sysrq) or V(unknown); for the others
                V(systemd-oomd) or V(earlyoom).
              returned: always
              type: str
              sample: memcg
            scope:
              description: V(local) for this host's kills, V(host) for kills of the container host seen in a
                container's view of the kernel log.
              returned: always
              type: str
              sample: local
            host:
              description: The host the record names (the syslog host name, the journal's C(_HOSTNAME), the VM of a
                Cloud Logging entry or of serial port output) or, for a live source, this host; null when a copied
                log does not say.
              returned: always
              type: str
              sample: vm
            boot_id:
              description: The boot the kill happened in, where the source says (journal, kmsg, dmesg).
              returned: always
              type: str
              sample: f4245ca18a214f5b908a9842c5983f43
            pid:
              description: The killed process (in a container, its pid in the container host's namespace); null for
                systemd-oomd, which kills whole cgroups.
              returned: always
              type: int
              sample: 15599
            comm:
              description: The killed process's name (at most 15 characters for the kernel).
              returned: always
              type: str
              sample: oomguard-hog
            uid:
              description: The killed process's user id, where logged.
              returned: always
              type: int
              sample: 0
            unit:
              description: The systemd unit derived from the cgroup.
              returned: always
              type: str
              sample: worker.service
            cgroup:
              description: The killed task's memory cgroup (kernel), or the killed cgroup (systemd-oomd).
              returned: always
              type: str
              sample: /oomguard-test-709a81a2
            container:
              description: The container the victim's cgroup belongs to, or null.
              returned: always
              type: dict
              contains:
                runtime:
                  description: V(docker), V(containerd), V(cri-o), V(podman), V(lxc) or V(kubepods).
                  returned: always
                  type: str
                  sample: lxc
                id:
                  description: The container id or name, null when the path does not say.
                  returned: always
                  type: str
                  sample: ct01
                pod_uid:
                  description: The Kubernetes pod's uid, or null.
                  returned: for Kubernetes pods
                  type: str
                  sample: 0f5b0a4c-7d1e-4c3a-9a57-6f0e2d3c4b5a
            python:
              description: True when the victim is a Python interpreter.
              returned: always
              type: bool
              sample: false
            timestamp:
              description: When the kill happened (ISO 8601 with the zone), or null when the source has no time.
              returned: always
              type: str
              sample: "2026-12-01T21:57:01.556689+00:00"
            uptime_s:
              description: The kernel's seconds since boot when it logged the kill.
              returned: always
              type: float
              sample: 1187.019279
            source:
              description: V(journal), V(kmsg), V(dmesg), or the path of the syslog or O(log_paths) file.
              returned: always
              type: str
              sample: kmsg
            message:
              description: The kill line as logged (earlyoom's with its command line redacted).
              returned: always
              type: str
              sample: "Memory cgroup out of memory: Killed process 15599 (oomguard-hog) total-vm:83636kB,
                anon-rss:73216kB, file-rss:6868kB, shmem-rss:0kB, UID:0 pgtables:200kB oom_score_adj:321"
            rss_kb:
              description: Resident memory of the victim at death in kB (anon + file + shmem for the kernel, VmRSS for
                earlyoom).
              returned: always
              type: int
              sample: 80084
            anon_rss_kb:
              description: Anonymous resident memory (kernel).
              returned: always
              type: int
              sample: 73216
            file_rss_kb:
              description: File-backed resident memory (kernel).
              returned: always
              type: int
              sample: 6868
            shmem_rss_kb:
              description: Shared memory resident (kernel).
              returned: always
              type: int
              sample: 0
            total_vm_kb:
              description: Virtual memory size (kernel).
              returned: always
              type: int
              sample: 83636
            pgtables_kb:
              description: Page tables (kernel).
              returned: always
              type: int
              sample: 200
            oom_score_adj:
              description: The victim's C(oom_score_adj) (kernel, earlyoom).
              returned: always
              type: int
              sample: 321
            constraint:
              description: V(CONSTRAINT_NONE), V(CONSTRAINT_CPUSET), V(CONSTRAINT_MEMORY_POLICY) or V(CONSTRAINT_MEMCG)
                (kernel).
              returned: always
              type: str
              sample: CONSTRAINT_MEMCG
            oom_memcg:
              description: The memory cgroup whose limit was hit (kernel, memcg kills).
              returned: always
              type: str
              sample: /oomguard-test-709a81a2
            task_memcg:
              description: The victim's memory cgroup (kernel).
              returned: always
              type: str
              sample: /oomguard-test-709a81a2
            trigger_comm:
              description: The task that invoked the OOM killer, when logged (kernel).
              returned: always
              type: str
              sample: oomguard-hog
            trigger_pid:
              description: Its pid.
              returned: always
              type: int
              sample: 15599
            oom_group:
              description: The memory cgroup of a C(memory.oom.group) kill (kernel).
              returned: always
              type: str
              sample: null
            reaped_anon_rss_kb:
              description: Anonymous memory the OOM reaper freed, when it logged it (kernel).
              returned: always
              type: int
              sample: null
            reason:
              description: V(memory_pressure), V(memory_used) or V(swap) (systemd-oomd).
              returned: always
              type: str
              sample: memory_pressure
            queued:
              description: True when systemd-oomd only marked the cgroup for killing and no unit confirmed the kill
                (systemd-oomd).
              returned: always
              type: bool
              sample: false
            pressure_cgroup:
              description: The cgroup whose pressure triggered the kill (systemd-oomd).
              returned: always
              type: str
              sample: /system.slice/batch.slice
            pressure_pct:
              description: Its pressure in percent (systemd-oomd).
              returned: always
              type: float
              sample: 71.23
            pressure_limit_pct:
              description: The limit in percent (systemd-oomd).
              returned: always
              type: float
              sample: 50.0
            pressure_duration:
              description: How long the pressure lasted, as logged (systemd-oomd).
              returned: always
              type: str
              sample: 20s
            processes:
              description: How many processes systemd-oomd killed in the unit, from PID 1's message.
              returned: always
              type: int
              sample: 7
            signal:
              description: The signal sent (earlyoom).
              returned: always
              type: str
              sample: SIGTERM
            oom_score:
              description: The victim's C(oom_score) or badness (earlyoom).
              returned: always
              type: int
              sample: 900
            cmdline:
              description: The victim's command line, redacted (earlyoom).
              returned: always
              type: str
              sample: /opt/report/report --db-password <redacted> --api-token=<redacted>
        kill_count:
          description: Kills of this host (C(scope=local)) found in all sources read, before O(max_kills) is applied.
          returned: always
          type: int
          sample: 3
        kill_count_by_killer:
          description:
            - RV(ansible_facts.oom.kill_count) split by killer, with one key for each of V(kernel), V(systemd-oomd)
              and V(earlyoom), always all three.
            - Keys with a dash need bracket notation, C(ansible_facts['oom']['kill_count_by_killer']['systemd-oomd']).
          returned: always
          type: dict
          contains:
            KILLER:
              description: Kills by this killer (the key is its name).
              returned: always
              type: int
              sample: 2
        kill_count_by_kind:
          description:
            - RV(ansible_facts.oom.kill_count) split by kind, so that global kills (the machine ran out, a bigger
              machine helps) read apart from memcg kills (a unit or container hit its own limit).
            - One key for each kind, always all of them. Kernel kills are V(global) (the whole machine ran out),
              V(memcg) (a memory cgroup's limit), V(allocating_task) (C(vm.oom_kill_allocating_task)), V(sysrq)
              (SysRq-f) or V(unknown) (the log does not tell); V(systemd-oomd) and V(earlyoom) count the userspace
              killers' kills.
          returned: always
          type: dict
          version_added: "1.1.0"
          contains:
            KIND:
              description: Kills of this kind (the key is the kind).
              returned: always
              type: int
              sample: 1
        kill_count_by_unit:
          description: RV(ansible_facts.oom.kill_count) per systemd unit, for kills that name one.
          returned: always
          type: dict
          version_added: "1.1.0"
          contains:
            UNIT:
              description: Kills in this unit.
              returned: when a kill names the unit
              type: int
              sample: 1
        kill_count_by_source:
          description: RV(ansible_facts.oom.kill_count) per source that contributed kills.
          returned: always
          type: dict
          version_added: "1.1.0"
          contains:
            SOURCE:
              description: Kills read from this source.
              returned: when the source contributed kills
              type: int
              sample: 31
        kill_count_by_host:
          description: RV(ansible_facts.oom.kill_count) per host the records name (one central log can hold many
            VMs); V(unknown) when a record names none.
          returned: always
          type: dict
          version_added: "1.1.0"
          contains:
            HOST:
              description: Kills of this host.
              returned: when a kill names the host
              type: int
              sample: 31
        host_scope_kill_count:
          description: Kernel kills seen in a container's view of the kernel log that belong to the container host
            (C(scope=host)); not in RV(ansible_facts.oom.kill_count). V(0) outside a container.
          returned: always
          type: int
          sample: 0
          version_added: "1.1.0"
        untrusted_records:
          description: Log records that looked like kills but failed the provenance check (for example a user's
            C(logger -t kernel) line in the journal); never counted as kills.
          returned: always
          type: int
          sample: 0
          version_added: "1.1.0"
        kills_missing_from_logs:
          description:
            - Kills the kernel counted for this host but no log read shows (logs rotated, the ring buffer wrapped, or
              no log readable). Always an integer, so that a condition such as
              C(ansible_facts['oom']['kills_missing_from_logs'] > 0) works.
            - On a host or VM, C(oom_kill) of C(/proc/vmstat) minus the kernel kills of this boot in the logs; in a
              container, its own cgroup's C(oom_kill) counter minus its own kills in the logs, and at least one per
              unit that ended with C(Result=oom-kill) without a logged kill.
            - V(0) when O(since) starts after the current boot (the counters count since boot).
          returned: always
          type: int
          sample: 13
        kills_missing_known:
          description: True when RV(ansible_facts.oom.kills_missing_from_logs) is exact; false when it is a lower
            bound (cgroup v1 containers count per cgroup) or nothing can be told (no C(oom_kill) counter before Linux
            4.13, or O(since) after boot), in which case it is V(0).
          returned: always
          type: bool
          sample: true
          version_added: "1.1.0"
        oom_panics:
          description: Kernel panics caused by OOM (C(vm.panic_on_oom), or no killable process), newest 20.
          returned: always
          type: list
          elements: dict
          contains:
            reason:
              description: What the panic line says.
              returned: always
              type: str
              sample: "Out of memory: compulsory panic_on_oom is enabled"
            timestamp:
              description: When (ISO 8601), or null.
              returned: always
              type: str
              sample: "2026-03-03T10:45:00+00:00"
            uptime_s:
              description: The kernel's seconds since boot, or null.
              returned: always
              type: float
              sample: 6500.0
            host:
              description: The host the record names or was read on, or null.
              returned: always
              type: str
              sample: web-1
              version_added: "1.1.0"
            source:
              description: Where it was read.
              returned: always
              type: str
              sample: /var/log/syslog
            message:
              description: The panic line.
              returned: always
              type: str
              sample: "Kernel panic - not syncing: Out of memory: compulsory panic_on_oom is enabled"
        no_killable_count:
          description: How often the kernel found no process it could kill (C(Out of memory and no killable
            processes)).
          returned: always
          type: int
          sample: 0
          version_added: "1.1.0"
        counters:
          description: The kernel's OOM counters, the ground truth for whether a kill happened.
          returned: always
          type: dict
          contains:
            vmstat_oom_kill:
              description: C(oom_kill) from C(/proc/vmstat), all OOM kills since boot (in a container, the container
                host's); V(0) before Linux 4.13, see RV(ansible_facts.oom.counters.vmstat_oom_kill_known).
              type: int
              returned: always
              sample: 44
            vmstat_oom_kill_known:
              description: False when the kernel has no C(oom_kill) counter.
              type: bool
              returned: always
              sample: true
              version_added: "1.1.0"
            cgroups:
              description:
                - Per memory cgroup named by this host's kills (the path the kernel prints) and per reported unit (its
                  C(ControlGroup)), its OOM counters. Covers cgroups that still exist.
              type: dict
              returned: always
              contains:
                CGROUP:
                  description: The counters of one cgroup, from C(memory.events) (cgroup v2) or C(memory.oom_control)
                    (cgroup v1).
                  returned: when the cgroup exists
                  type: dict
                  contains:
                    hierarchy:
                      description: V(v1) or V(v2).
                      returned: always
                      type: str
                      sample: v1
                    oom_kill:
                      description: Processes the kernel OOM-killed in this cgroup (v2 with its descendants).
                      returned: always
                      type: int
                      sample: 1
                    oom_kill_disable:
                      description: 1 when the v1 OOM killer is disabled for the cgroup.
                      returned: on cgroup v1
                      type: int
                      sample: 0
                    under_oom:
                      description: 1 while the v1 cgroup is under OOM.
                      returned: on cgroup v1
                      type: int
                      sample: 0
                    low:
                      description: Times the cgroup was reclaimed below its C(memory.low) protection.
                      returned: on cgroup v2
                      type: int
                      sample: 0
                    high:
                      description: Times the cgroup was throttled at C(memory.high).
                      returned: on cgroup v2
                      type: int
                      sample: 12
                    max:
                      description: Times the cgroup hit C(memory.max).
                      returned: on cgroup v2
                      type: int
                      sample: 40
                    oom:
                      description: Times the cgroup ran out of memory (the OOM killer was invoked or would have been).
                      returned: on cgroup v2
                      type: int
                      sample: 3
                    oom_group_kill:
                      description: Times the whole group was killed (C(memory.oom.group)).
                      returned: on cgroup v2
                      type: int
                      sample: 0
                    local:
                      description: The same six counters for the cgroup itself only, without its descendants
                        (C(memory.events.local); zeros where the kernel lacks it).
                      returned: on cgroup v2
                      type: dict
                      contains:
                        low: &this_cgroup_only
                          description: As above, this cgroup only.
                          returned: always
                          type: int
                          sample: 0
                        high: *this_cgroup_only
                        max: *this_cgroup_only
                        oom: *this_cgroup_only
                        oom_kill: *this_cgroup_only
                        oom_group_kill: *this_cgroup_only
        memory:
          description: Memory and swap from C(/proc/meminfo), in kB; V(0) for a key the kernel lacks.
          returned: always
          type: dict
          contains:
            MemTotal:
              description: Usable RAM.
              returned: always
              type: int
              sample: 24684084
            MemAvailable:
              description: Memory available for new work without swapping.
              returned: always
              type: int
              sample: 22281288
            MemFree:
              description: Unused memory.
              returned: always
              type: int
              sample: 19654000
            SwapTotal:
              description: Swap size.
              returned: always
              type: int
              sample: 0
            SwapFree:
              description: Unused swap.
              returned: always
              type: int
              sample: 0
            CommitLimit:
              description: The commit limit (enforced only with C(vm.overcommit_memory=2)).
              returned: always
              type: int
              sample: 12342040
            Committed_AS:
              description: Memory committed by all processes.
              returned: always
              type: int
              sample: 4124016
        pressure:
          description: Memory pressure stall information from C(/proc/pressure/memory).
          returned: always
          type: dict
          contains:
            available:
              description: False where PSI is off or the kernel lacks it (the values are then 0).
              returned: always
              type: bool
              sample: true
              version_added: "1.1.0"
            some:
              description: Share of time some task waited for memory.
              returned: always
              type: dict
              contains: &pressure_line
                avg10:
                  description: Percent over 10 seconds.
                  returned: always
                  type: float
                  sample: 0.0
                avg60:
                  description: Percent over 60 seconds.
                  returned: always
                  type: float
                  sample: 0.12
                avg300:
                  description: Percent over 300 seconds.
                  returned: always
                  type: float
                  sample: 0.05
                total:
                  description: Total stall time in microseconds.
                  returned: always
                  type: int
                  sample: 174903
            full:
              description: Share of time all non-idle tasks waited for memory, with the same keys as C(some).
              returned: always
              type: dict
              contains: *pressure_line
        sysctl:
          description:
            - The sysctls that shape OOM behaviour, keyed by their dotted names, always all of them -
              C(vm.overcommit_memory) (0 heuristic, 1 always, 2 never overcommit), C(vm.overcommit_ratio) (percent of
              RAM in the commit limit), C(vm.panic_on_oom) (non-zero turns an OOM into a kernel panic, and with
              C(kernel.panic) set a reboot), C(vm.oom_kill_allocating_task) (non-zero kills the allocating task instead
              of the biggest one), C(vm.oom_dump_tasks) (non-zero prints the task table), C(vm.swappiness),
              C(vm.min_free_kbytes) and C(kernel.panic) (seconds before the reboot after a panic, 0 never).
            - The names hold dots, so use bracket notation, C(ansible_facts['oom']['sysctl']['vm.panic_on_oom']).
          returned: always
          type: dict
          contains:
            SYSCTL:
              description: The value of this sysctl; null when the kernel lacks it.
              returned: always
              type: int
              sample: 0
        cgroup_version:
          description: V(1), V(2) or V(hybrid) (v1 controllers with a v2 mount beside them), or null.
          returned: always
          type: str
          sample: hybrid
        processes:
          description:
            - The O(top_processes) user processes with the highest C(oom_score), highest first. The module's own
              process chain (AnsiballZ, sudo, the SSH session, C(ansible-playbook) on a local connection) is left out.
          returned: always
          type: list
          elements: dict
          contains:
            pid:
              description: Process id.
              returned: always
              type: int
              sample: 1866
            comm:
              description: Process name.
              returned: always
              type: str
              sample: lab-vm-bookwo
            cmdline:
              description: Command line, likely secrets redacted (see notes), cut to 256 characters.
              returned: always
              type: str
              sample: qemu-system-x86_64 -name guest=lab-molecule-default-vm-bookworm -machine pc -m 1024
            oom_score:
              description: The kernel's badness score (0-2000); the highest is killed first.
              returned: always
              type: int
              sample: 682
            oom_score_adj:
              description: Its adjustment (-1000 to 1000).
              returned: always
              type: int
              sample: 0
            rss_kb:
              description: Resident memory (VmRSS).
              returned: always
              type: int
              sample: 593936
            hwm_kb:
              description: Peak resident memory since the process started (VmHWM, approximate).
              returned: always
              type: int
              sample: 605628
              version_added: "1.1.0"
            swap_kb:
              description: Swapped-out memory (VmSwap).
              returned: always
              type: int
              sample: 0
              version_added: "1.1.0"
            uid:
              description: Real user id.
              returned: always
              type: int
              sample: 0
            unit:
              description: The systemd unit it runs in, or null.
              returned: always
              type: str
              sample: postgresql.service
            cgroup:
              description: Its memory cgroup.
              returned: always
              type: str
              sample: /system.slice/postgresql.service
            python:
              description: True for Python interpreters.
              returned: always
              type: bool
              sample: false
        units:
          description:
            - Per systemd unit, its memory settings, OOM state and peaks, read with one C(systemctl show) call.
              Empty where systemd is not running.
            - Byte values are ints, V(infinity), or null when unset or when this systemd version lacks the property.
          returned: always
          type: dict
          contains:
            UNIT:
              description: One unit.
              returned: for each reported unit
              type: dict
              contains:
                LoadState:
                  description: C(loaded), C(masked), ...
                  returned: always
                  type: str
                  sample: loaded
                ActiveState:
                  description: C(active), C(failed), ...
                  returned: always
                  type: str
                  sample: failed
                ControlGroup:
                  description: The unit's cgroup, or null when it is not running.
                  returned: always
                  type: str
                  sample: /system.slice/worker.service
                MemoryMax:
                  description: Hard limit (bytes, V(infinity) or null).
                  returned: always
                  type: raw
                  sample: 1073741824
                MemoryHigh:
                  description: Throttling limit.
                  returned: always
                  type: raw
                  sample: infinity
                MemoryLow:
                  description: Best-effort protection.
                  returned: always
                  type: raw
                  sample: 0
                MemoryMin:
                  description: Hard protection.
                  returned: always
                  type: raw
                  sample: 0
                MemorySwapMax:
                  description: Swap limit.
                  returned: always
                  type: raw
                  sample: infinity
                MemoryCurrent:
                  description: Memory in use now (bytes), null when not running.
                  returned: always
                  type: int
                  sample: 52428800
                MemoryPeak:
                  description: Peak memory of the unit's current run (bytes; systemd 255 and later).
                  returned: always
                  type: int
                  sample: 1073000000
                OOMPolicy:
                  description: V(continue), V(stop) or V(kill).
                  returned: always
                  type: str
                  sample: stop
                OOMScoreAdjust:
                  description: The unit's C(OOMScoreAdjust=).
                  returned: always
                  type: int
                  sample: 0
                ManagedOOMMemoryPressure:
                  description: systemd-oomd pressure policy.
                  returned: always
                  type: str
                  sample: auto
                ManagedOOMMemoryPressureLimit:
                  description: systemd-oomd pressure limit.
                  returned: always
                  type: str
                  sample: "0"
                ManagedOOMSwap:
                  description: systemd-oomd swap policy.
                  returned: always
                  type: str
                  sample: auto
                ManagedOOMPreference:
                  description: systemd-oomd preference.
                  returned: always
                  type: str
                  sample: none
                Result:
                  description: How the unit's last run ended, for example V(oom-kill).
                  returned: always
                  type: str
                  sample: oom-kill
                OOMKills:
                  description: OOM kills systemd counted in the unit (where this systemd version has it).
                  returned: always
                  type: int
                  sample: 1
                ManagedOOMKills:
                  description: systemd-oomd kills systemd counted in the unit (where this systemd version has it).
                  returned: always
                  type: int
                  sample: 0
                memory_peak:
                  description: The unit cgroup's peak memory in bytes from the kernel (cgroup v2 C(memory.peak) since
                    Linux 5.19, cgroup v1 C(memory.max_usage_in_bytes)); null where neither exists. Only read.
                  returned: always
                  type: int
                  sample: 1073741824
                  version_added: "1.1.0"
                oom_kills:
                  description: The kills the logs attribute to the unit in the window.
                  returned: always
                  type: int
                  sample: 1
        userspace_killers:
          description:
            - Whether the userspace OOM killers are installed and running, one key for each of V(systemd-oomd) and
              V(earlyoom), always both.
            - Keys with a dash need bracket notation, C(ansible_facts['oom']['userspace_killers']['systemd-oomd']).
          returned: always
          type: dict
          contains:
            KILLER:
              description: This killer (the key is its name).
              returned: always
              type: dict
              contains:
                installed:
                  description: Its unit is loaded or its binary exists.
                  returned: always
                  type: bool
                  sample: true
                active:
                  description: Its unit is active or the process runs.
                  returned: always
                  type: bool
                  sample: false
        systemd_running:
          description: Whether systemd is the init system (units can be read).
          returned: always
          type: bool
          sample: true
        sources:
          description: Every source read or tried.
          returned: always
          type: dict
          contains:
            SOURCE:
              description: One source (V(journal), V(kmsg), V(dmesg), V(syslog) or a path of O(log_paths)).
              returned: for each source read or tried
              type: dict
              contains:
                status:
                  description: V(ok), V(absent), V(unreadable), V(unrecognized) (a file in no known format) or
                    V(partial) (a damaged file read up to the damage).
                  returned: always
                  type: str
                  sample: ok
                detail:
                  description: What was read (for a file its format, the entries read and those skipped, untrusted
                    or dropped as copies; for a volatile journal that it holds nothing from before this boot), or why
                    not.
                  returned: always
                  type: str
                  sample: the journal has no files in /run/log/journal or /var/log/journal
                kills:
                  description: Kills this source contributed (V(0) when it could not be read; see C(status)).
                  returned: always
                  type: int
                  sample: 31
                format:
                  description:
                    - The format the source was read as, or null when it was not read.
                    - V(journal), V(kmsg), V(dmesg) or V(syslog) for the live sources; for a O(log_paths) file
                      V(text), V(serial-text) (a serial console capture), V(journal-json), V(journal-export),
                      V(cloud-logging-json) or V(serial-port-json).
                  returned: always
                  type: str
                  sample: kmsg
                  version_added: "1.1.0"
                untrusted:
                  description: Records of this source that failed the provenance check.
                  returned: always
                  type: int
                  sample: 0
                  version_added: "1.1.0"
        sources_unavailable:
          description: The sources that could not be read; their kills are unknown, not zero.
          returned: always
          type: list
          elements: str
          sample: [journal]
        memory_history:
          description:
            - Memory use over the last O(memory_history_days) days as sysstat recorded it (C(sar -r)), summarised
              on the host. Memory in use is MemTotal - MemAvailable; a day is a UTC day.
          returned: always
          type: dict
          version_added: "1.1.0"
          contains:
            available:
              description: False when nothing was summarised; C(reason) says why.
              returned: always
              type: bool
              sample: true
            reason:
              description: Why there is no history (not asked for, sysstat not installed or not collecting, its
                directory not readable by this user), or null.
              returned: always
              type: str
              sample: null
            window_days:
              description: The O(memory_history_days) asked for.
              returned: always
              type: int
              sample: 8
            days:
              description: Days with samples.
              returned: always
              type: int
              sample: 8
            samples:
              description: Samples in the window.
              returned: always
              type: int
              sample: 1152
            coverage_pct:
              description: Share of the window the samples cover (samples times interval), in percent.
              returned: always
              type: float
              sample: 100.0
            first:
              description: Time of the first sample (ISO 8601, UTC), or null.
              returned: always
              type: str
              sample: "2026-11-24T00:10:01+00:00"
            last:
              description: Time of the last sample, or null.
              returned: always
              type: str
              sample: "2026-12-01T21:50:01+00:00"
            mem_total_kb:
              description: The MemTotal the shares are computed against (the host's current one).
              returned: always
              type: int
              sample: 4025152
            peak_used_kb:
              description: Highest memory in use.
              returned: always
              type: int
              sample: 3625152
            p90_daily_peak_kb:
              description: 90th percentile (nearest rank) of the daily peaks.
              returned: always
              type: int
              sample: 3625152
            share_ge_90_pct:
              description: Share of samples with at least 90 % of MemTotal in use, in percent.
              returned: always
              type: float
              sample: 25.0
            daily_peaks:
              description: Peak memory in use per UTC day, oldest first.
              returned: always
              type: list
              elements: dict
              contains:
                date:
                  description: The day.
                  returned: always
                  type: str
                  sample: "2026-11-30"
                used_kb:
                  description: Its peak.
                  returned: always
                  type: int
                  sample: 3000000
            files:
              description: The sysstat files read.
              returned: always
              type: list
              elements: str
              sample: [/var/log/sysstat/sa30, /var/log/sysstat/sa01]
        containers_unlimited:
          description:
            - Containers (Docker, containerd and Kubernetes pods, Podman, LXC, systemd-nspawn) whose memory cgroup has
              no limit (for a Kubernetes container, neither its own nor its pod's), largest memory use first, at most
              256.
          returned: always
          type: list
          elements: dict
          version_added: "1.1.0"
          contains:
            runtime:
              description: V(docker), V(containerd), V(cri-o), V(podman), V(lxc) or V(nspawn).
              returned: always
              type: str
              sample: docker
            id:
              description: The container id (or LXC/nspawn name).
              returned: always
              type: str
              sample: 4c0ffee4c0ffee4c0ffee4c0ffee4c0ffee4c0ffee4c0ffee4c0ffee4c0ffee4c0f
            cgroup:
              description: Its memory cgroup.
              returned: always
              type: str
              sample: /system.slice/docker-4c0ffee4c0ffee4c0ffee4c0ffee4c0ffee4c0ffee4c0ffee4c0ffee4c0ffee4c0f.scope
            memory_current:
              description: Memory it uses now, in bytes.
              returned: always
              type: int
              sample: 52428800
            pod_uid:
              description: The Kubernetes pod's uid, or null.
              returned: always
              type: str
              sample: null
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
    path_under,
    unified_mount,
)
from ansible_collections.oomguard.memory.plugins.module_utils._cgroup_memory import (
    memory_hierarchy,
    memory_peak,
    own_oom_kill_count,
    unlimited_containers,
)
from ansible_collections.oomguard.memory.plugins.module_utils._container import (
    detect_container,
    own_cgroup_prefixes,
)
from ansible_collections.oomguard.memory.plugins.module_utils._gce import (
    DEFAULT_URL as GCE_METADATA_URL,
)
from ansible_collections.oomguard.memory.plugins.module_utils._gce import (
    MetadataUnavailable,
    read_gce_metadata,
)
from ansible_collections.oomguard.memory.plugins.module_utils._host import (
    dmi_says_gce,
    host_identity,
    proc_hidepid,
    read_boot_time,
    read_dmi,
    read_meminfo,
    read_pressure,
    read_sysctls,
    read_vmstat_oom_kill,
    under,
)
from ansible_collections.oomguard.memory.plugins.module_utils._journal_files import (
    PERSISTENT_DIR,
    RUNTIME_DIR,
    is_volatile,
)
from ansible_collections.oomguard.memory.plugins.module_utils._oom_log import MAX_KILLS_LIMIT
from ansible_collections.oomguard.memory.plugins.module_utils._oom_sources import (
    KERNEL_LOG_SOURCES,
    LogPathError,
    check_log_paths,
    gather_logs,
)
from ansible_collections.oomguard.memory.plugins.module_utils._own_processes import own_process_chain
from ansible_collections.oomguard.memory.plugins.module_utils._proc import top_by_oom_score
from ansible_collections.oomguard.memory.plugins.module_utils._redact import redact_text
from ansible_collections.oomguard.memory.plugins.module_utils._sysstat import DAYS_MAX as MEMORY_HISTORY_DAYS_MAX
from ansible_collections.oomguard.memory.plugins.module_utils._sysstat import SA_DIRS, memory_history
from ansible_collections.oomguard.memory.plugins.module_utils._systemd import (
    IDENTITY_PROPERTIES,
    MEMORY_PROPERTIES,
    has_memory_setting,
    show_units,
)
from ansible_collections.oomguard.memory.plugins.module_utils._unit_name import UnitNameError, validate_unit_name

FACTS_VERSION = "1.1"
TOP_PROCESSES_LIMIT = 1000
UNITS_LIMIT = 1000
SYSSTAT_DIRS_LIMIT = 16
GCE_TIMEOUT_RANGE = (0.1, 30.0)
COUNTER_PATHS_LIMIT = 256
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
USERSPACE_KILLERS = {
    "systemd-oomd": ("systemd-oomd.service", ("/usr/lib/systemd/systemd-oomd", "/lib/systemd/systemd-oomd")),
    "earlyoom": ("earlyoom.service", ("/usr/bin/earlyoom", "/usr/sbin/earlyoom", "/usr/local/bin/earlyoom")),
}
UNIT_PATTERNS = ("*.service", "*.scope", "*.slice")
V2_EVENTS = ("low", "high", "max", "oom", "oom_kill", "oom_group_kill")
V1_OOM_CONTROL = ("oom_kill_disable", "under_oom", "oom_kill")
_DURATION = re.compile(r"^(?P<amount>\d{1,12})\s*(?P<unit>[smhdw])$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ISO_TIME = re.compile(
    r"^(?P<date>\d{4}-\d\d-\d\d)(?:[T ](?P<clock>\d\d:\d\d(?::\d\d)?)(?:\.(?P<fraction>\d{1,9}))?)?"
    r"\s*(?P<zone>Z|[+-]\d\d:?\d\d)?$"
)
_SINCE_HELP = (
    "since=%r is neither a duration such as 90m, 24h, 7d or 2w nor an ISO 8601 time such as 2026-03-01T00:00:00+00:00"
)


def parse_since(value, now):
    """Turn O(since) into an aware datetime; raise ValueError with the message for the user for any bad value."""
    text = value.strip()
    match = _DURATION.match(text)
    if match:
        seconds = int(match.group("amount")) * _DURATION_SECONDS[match.group("unit")]
        if seconds > (now - EPOCH).total_seconds():
            raise ValueError("since=%r reaches back before 1970" % value)
        return now - datetime.timedelta(seconds=seconds)
    match = _ISO_TIME.match(text)
    if not match:
        raise ValueError(_SINCE_HELP % value)
    clock = match.group("clock") or "00:00:00"
    if len(clock) == 5:
        clock += ":00"
    fraction = ((match.group("fraction") or "") + "000000")[:6]
    zone = match.group("zone") or ""
    if zone == "Z":
        zone = "+00:00"
    elif zone and ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    try:
        stamp = datetime.datetime.fromisoformat("%sT%s.%s%s" % (match.group("date"), clock, fraction, zone))
    except ValueError as exc:
        raise ValueError("since=%r is not a valid time: %s" % (value, exc)) from None
    if stamp.year < 1970:
        raise ValueError("since=%r is before 1970" % value)
    if stamp.tzinfo is None:
        try:
            stamp = stamp.astimezone()
        except (ValueError, OverflowError, OSError) as exc:
            raise ValueError("since=%r is not a valid time: %s" % (value, exc)) from None
    return stamp


def _iso(stamp):
    return stamp.isoformat(timespec="microseconds" if stamp.microsecond else "seconds")


class OomFacts:
    """Gather ansible_facts.oom (contract version FACTS_VERSION) in one pass over the host.

    C(root) is where the host's /proc, /sys and /run are read (a fake tree in unit tests); C(self_pid) is the
    process whose chain (AnsiballZ, become, SSH session) is left out of the processes.
    """

    def __init__(self, module, root="/", self_pid=None):
        self.module = module
        self.params = module.params
        self.root = root
        self.proc = under(root, "/proc")
        self.self_pid = os.getpid() if self_pid is None else self_pid
        self.now = datetime.datetime.now(datetime.timezone.utc)
        self.since = None
        self.host_facts = {}
        self.hostname = None
        self.boot_id = None
        self.local_cgroup_prefixes = None
        self.killer_units = {}
        self.bin = {name: module.get_bin_path(name) for name in ("systemctl", "sadf")}

    # Options

    def validate(self):
        """Check every option up front: a bad value fails the task with a message and changes nothing."""
        params = self.params
        fail = self.module.fail_json
        for name, limit in (("max_kills", MAX_KILLS_LIMIT), ("top_processes", TOP_PROCESSES_LIMIT)):
            if not 0 <= params[name] <= limit:
                fail(msg="%s must be from 0 to %d; got %d" % (name, limit, params[name]))
        if not 0 <= params["memory_history_days"] <= MEMORY_HISTORY_DAYS_MAX:
            fail(
                msg="memory_history_days must be from 0 to %d; got %d"
                % (MEMORY_HISTORY_DAYS_MAX, params["memory_history_days"])
            )
        units = params["units"]
        if units is not None and len(units) > UNITS_LIMIT:
            fail(msg="units lists %d units; at most %d are allowed" % (len(units), UNITS_LIMIT))
        for unit in units or []:
            try:
                validate_unit_name(unit)
            except UnitNameError as exc:
                fail(msg="units: %s" % exc)
        low, high = GCE_TIMEOUT_RANGE
        if not low <= params["gce_metadata_timeout"] <= high:
            fail(
                msg="gce_metadata_timeout must be from %s to %s seconds; got %s"
                % (low, high, params["gce_metadata_timeout"])
            )
        url = params["gce_metadata_url"]
        if not re.match(r"^https?://[^\s/]+(?:/\S*)?$", url) or len(url) > 2048:
            fail(msg="gce_metadata_url must be an http:// or https:// URL; got %r" % url[:200])
        dirs = params["sysstat_dirs"]
        if len(dirs) > SYSSTAT_DIRS_LIMIT or any(not os.path.isabs(path) for path in dirs):
            fail(msg="sysstat_dirs must be at most %d absolute paths; got %r" % (SYSSTAT_DIRS_LIMIT, dirs[:20]))
        if params["since"] is not None:
            try:
                self.since = parse_since(params["since"], self.now)
            except ValueError as exc:
                fail(msg=to_text(exc))
        try:
            check_log_paths(params["log_paths"])
        except LogPathError as exc:
            fail(msg=to_text(exc))

    # Logs

    def read_logs(self):
        """The log part of the facts: kills, their counts and the sources read (_oom_sources.gather_logs())."""
        params = self.params
        return gather_logs(
            self.module,
            params["log_sources"],
            params["log_paths"],
            self.since,
            params["max_kills"],
            local_cgroup_prefixes=self.local_cgroup_prefixes,
            hostname=self.hostname,
            boot_id=self.boot_id,
            booted=self.boot_time(),
        )

    # Host

    def read_gce(self, dmi):
        """GCE metadata when DMI says this is a Compute Engine VM, or when O(gce_metadata=always)."""
        wanted = self.params["gce_metadata"]
        if wanted == "never" or (wanted == "auto" and not dmi_says_gce(dmi)):
            return None
        try:
            return read_gce_metadata(self.params["gce_metadata_url"], self.params["gce_metadata_timeout"])
        except MetadataUnavailable as exc:
            self.module.warn("GCE metadata server: %s" % exc)
            return None

    def read_units(self, kill_count_by_unit, hierarchy):
        systemctl = self.bin["systemctl"]
        if not systemctl or not os.path.isdir(under(self.root, "/run/systemd/system")):
            return False, {}
        explicit = self.params["units"]
        killer_units = [unit for unit, _paths in USERSPACE_KILLERS.values()]
        kill_units = sorted(kill_count_by_unit)
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
            if unit not in found:
                continue
            properties = dict.fromkeys([*IDENTITY_PROPERTIES[1:], *MEMORY_PROPERTIES])
            properties.update(found[unit])
            properties["memory_peak"] = memory_peak(hierarchy, properties["ControlGroup"])
            properties["oom_kills"] = kill_count_by_unit.get(unit, 0)
            units[unit] = properties
        return True, units

    def userspace_killers(self, running_comms):
        killers = {}
        for name, (unit, paths) in USERSPACE_KILLERS.items():
            props = self.killer_units.get(unit)
            installed = bool(props and props.get("LoadState") == "loaded") or any(
                os.path.exists(under(self.root, path)) for path in paths
            )
            active = bool(props and props.get("ActiveState") == "active") or name[:15] in running_comms
            killers[name] = {"installed": installed, "active": active}
        return killers

    def cgroup_counters(self, kills, units, version, unified, memory_v1):
        """OOM counters of the memory cgroups named by this host's kills and of the reported units."""
        paths = []
        for kill in kills:
            if kill["scope"] == "local" and kill["killer"] == "kernel":
                paths.extend(path for path in (kill["oom_memcg"], kill["task_memcg"]) if path)
        paths.extend(props["ControlGroup"] for props in units.values() if props.get("ControlGroup"))
        cgroups = {}
        for path in sorted(set(paths))[:COUNTER_PATHS_LIMIT]:
            for view in self.view_paths(path):
                try:
                    found = oom_counters(view, version, unified, memory_v1)
                except OSError:
                    found = None
                if found is not None:
                    cgroups[path] = self.counter_entry(found)
                    break
        return cgroups

    @staticmethod
    def counter_entry(found):
        """The documented counter keys of one cgroup (a newer kernel's extra memory.events keys are left out)."""
        if found["hierarchy"] == "v1":
            entry = {key: found.get(key, 0) for key in V1_OOM_CONTROL}
        else:
            entry = {key: found.get(key, 0) for key in V2_EVENTS}
            entry["local"] = {key: found.get("local", {}).get(key, 0) for key in V2_EVENTS}
        entry["hierarchy"] = found["hierarchy"]
        return entry

    def view_paths(self, path):
        """Where a cgroup path the kernel printed is seen from here: as it is, and below a container's prefix."""
        views = [path]
        for prefix in self.local_cgroup_prefixes or ():
            if path_under(path, [prefix]):
                views.append(path[len(prefix.rstrip("/")) :] or "/")
        return views

    def boot_time(self):
        """When this host booted (now - uptime), or None."""
        uptime = self.host_facts["uptime_s"]
        return self.now - datetime.timedelta(seconds=uptime) if uptime is not None else None

    def note_volatile_journal(self, sources):
        """A volatile journal starts empty at every boot: its detail says so, and a warning when the window reaches
        back before this boot (the kills before it are unknown)."""
        journal = sources.get("journal")
        if not journal or journal["status"] != "ok":
            return
        if not is_volatile(under(self.root, RUNTIME_DIR), under(self.root, PERSISTENT_DIR)):
            return
        btime = read_boot_time(self.root)
        booted = datetime.datetime.fromtimestamp(btime, datetime.timezone.utc) if btime else self.boot_time()
        journal["detail"] = (
            "volatile: journald keeps the journal in %s only (Storage=volatile, or no %s), so it holds nothing from "
            "before this boot%s" % (RUNTIME_DIR, PERSISTENT_DIR, " (%s)" % _iso(booted) if booted else "")
        )
        if booted is None or self.since is None or self.since < booted:
            self.module.warn("journal: %s; OOM kills before this boot are unknown" % journal["detail"])

    def note_hidden_processes(self):
        """With /proc mounted hidepid=, a user other than root sees only their own processes."""
        hidepid = proc_hidepid(self.root)
        if self.params["top_processes"] and hidepid and os.geteuid() != 0:
            self.module.warn(
                "processes: /proc is mounted with hidepid=%s, so uid %d sees only its own processes and only those are "
                "listed; run the task as root (become: true)" % (hidepid, os.geteuid())
            )

    def kills_missing(self, logs, vmstat, hierarchy, units):
        """Kills the kernel (or systemd) counted that no log read shows: ``(count, known)``.

        The count is exact when ``known``; otherwise it is a lower bound (0 when nothing can be told).
        """
        if self.local_cgroup_prefixes is None:
            counted, exact = vmstat
        else:
            counted, exact = own_oom_kill_count(hierarchy)
        booted = self.boot_time()
        covers_boot = self.since is None or (booted is not None and self.since <= booted)
        logged = logs["kernel_kills_by_boot"].get(self.boot_id, 0)
        if booted is not None and not any(
            logs["sources"].get(name, {}).get("status") == "ok" for name in KERNEL_LOG_SOURCES
        ):
            # Syslog lines carry no boot id: count the kernel kills this host logged since it booted.
            logged += logs["kernel_kills_since_boot_without_id"]
        if not covers_boot:
            return 0, False
        missing = max(counted - logged, 0)
        units_only = sum(
            1 for _unit, props in units.items() if props.get("Result") == "oom-kill" and not props["oom_kills"]
        )
        known = exact
        if units_only > missing:
            missing, known = units_only, False
        return missing, known

    def gather(self):
        self.validate()
        root = self.root
        params = self.params
        self.host_facts = host_identity(root)
        self.hostname = self.host_facts["hostname"]
        self.boot_id = self.host_facts["boot_id"]
        container = detect_container(root)
        if container["detected"]:
            self.local_cgroup_prefixes = own_cgroup_prefixes(root, container["runtime"], self.hostname)
        container["cgroup_prefixes"] = self.local_cgroup_prefixes
        dmi = read_dmi(root)
        host = dict(self.host_facts, container=container, dmi=dmi, gce=self.read_gce(dmi))
        mounts = under(root, "/proc/self/mounts")
        version = cgroup_version(mounts)
        unified = unified_mount(mounts)
        memory_v1 = memory_v1_mount(mounts)
        unified = under(root, unified) if unified else None
        memory_v1 = under(root, memory_v1) if memory_v1 else None
        hierarchy = memory_hierarchy(memory_v1, unified)

        logs = self.read_logs()
        self.note_volatile_journal(logs["sources"])
        for kill in logs["kills"]:
            if kill.get("cmdline"):
                kill["cmdline"] = redact_text(kill["cmdline"])
            if kill["killer"] == "earlyoom" and kill.get("message"):
                kill["message"] = redact_text(kill["message"])

        self.note_hidden_processes()
        running_comms = set()
        processes = top_by_oom_score(
            params["top_processes"],
            proc=self.proc,
            seen_comms=running_comms,
            exclude=own_process_chain(self.self_pid, self.proc),
        )
        systemd_running, units = self.read_units(logs["kill_count_by_unit"], hierarchy)
        vmstat = read_vmstat_oom_kill(root)
        counters = {
            "vmstat_oom_kill": vmstat[0],
            "vmstat_oom_kill_known": vmstat[1],
            "cgroups": self.cgroup_counters(logs["kills"], units, version, unified, memory_v1),
        }
        missing, missing_known = self.kills_missing(logs, vmstat, hierarchy, units)
        memory = read_meminfo(root)
        history, warnings = memory_history(
            self.module.run_command,
            self.bin["sadf"],
            params["sysstat_dirs"],
            params["memory_history_days"],
            memory["MemTotal"],
            # AnsibleModule.tmpdir creates the directory: only a compressed sa file asks for it
            tmpdir=lambda: self.module.tmpdir,
        )
        for warning in warnings:
            self.module.warn(warning)
        since = _iso(self.since) if self.since else None
        return {
            "facts_version": FACTS_VERSION,
            "host": host,
            "window": {"since": since, "until": _iso(self.now), "oldest_record": logs["oldest_record"]},
            "since": since,
            "kills": logs["kills"],
            "kill_count": logs["kill_count"],
            "kill_count_by_killer": logs["kill_count_by_killer"],
            "kill_count_by_kind": logs["kill_count_by_kind"],
            "kill_count_by_unit": logs["kill_count_by_unit"],
            "kill_count_by_source": logs["kill_count_by_source"],
            "kill_count_by_host": logs["kill_count_by_host"],
            "host_scope_kill_count": logs["host_scope_kill_count"],
            "untrusted_records": logs["untrusted_records"],
            "kills_missing_from_logs": missing,
            "kills_missing_known": missing_known,
            "oom_panics": logs["oom_panics"],
            "no_killable_count": logs["no_killable_count"],
            "counters": counters,
            "memory": memory,
            "pressure": read_pressure(root),
            "sysctl": read_sysctls(root),
            "cgroup_version": version,
            "processes": processes,
            "units": units,
            "userspace_killers": self.userspace_killers(running_comms),
            "systemd_running": systemd_running,
            "sources": logs["sources"],
            "sources_unavailable": logs["sources_unavailable"],
            "memory_history": history,
            "containers_unlimited": unlimited_containers(hierarchy),
        }


def build_module():
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
            gce_metadata=dict(type="str", default="auto", choices=["auto", "always", "never"]),
            gce_metadata_url=dict(type="str", default=GCE_METADATA_URL),
            gce_metadata_timeout=dict(type="float", default=1.0),
            memory_history_days=dict(type="int", default=0),
            sysstat_dirs=dict(type="list", elements="path", default=list(SA_DIRS)),
        ),
        supports_check_mode=True,
    )
    module.run_command_environ_update = {"LANGUAGE": "C", "LC_ALL": "C"}
    return module


def main():
    module = build_module()
    if platform.system() != "Linux":
        module.fail_json(msg="This module requires Linux.")
    facts = OomFacts(module).gather()
    module.exit_json(changed=False, ansible_facts={"oom": facts})


if __name__ == "__main__":
    main()
