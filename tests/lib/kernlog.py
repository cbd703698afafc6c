# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Synthetic kernel logs with complete OOM reports, for benchmarks and parser tests.

``generate_kernel_log(path, lines=1_000_000)`` writes a deterministic (seeded) log of exactly ``lines`` lines:
ordinary kernel noise (firewall, audit, veth/bridge, EXT4, segfaults, hung tasks, I/O errors, ...), a few
look-alikes that are NOT kills (``page allocation failure``, ``TCP: out of memory``, ``VM_FAULT_OOM``,
``OOM killer disabled``, systemd's "killed by the OOM killer" in syslog files), and ``oom_reports`` OOM kills
modelled on 6.x kernels:

* global OOMs: header, dump_stack banner, call trace, Mem-Info (a multi-line record with indented continuation
  lines), zone and buddy lines, the task table, the ``oom-kill:`` summary, the ``Killed process`` line and the
  ``oom_reaper`` line;
* memcg OOMs (systemd units, docker and Kubernetes containers): the same with ``memory: usage`` lines and the
  multi-line ``Memory cgroup stats for`` dump instead of Mem-Info;
* rate-limited kills (about 1 in 10): only the ``Killed process`` and reaper lines, as after ``__ratelimit``.

Formats (``fmt``): ``dmesg`` (``[ 5123.456789] ``), ``journal`` (``journalctl -k``: ``Mar 03 10:11:12 vm-1
kernel: ``), ``syslog`` (rsyslog kern.log with the kernel's ``[secs]``: ``Mar  3 10:11:12 vm-1 kernel: [
5123.456789] ``), ``iso`` (``2026-03-03T10:11:12.123456+00:00 vm-1 kernel: ``), or ``mixed``: the file is a
sequence of boots, each written in the next format of that list (a concatenation of logs, as when an admin
collects several). Every pid is unique in the file, so no two kills are duplicates of each other.

The returned ``GeneratedLog`` says what was written (kills, their pids, the last kill, ...) so a benchmark can
check that a parser found exactly that. Standard library only.
"""

from __future__ import annotations

import datetime
import gzip
import json
import random
from pathlib import Path
from typing import Dict, List, Optional

FORMATS = ("journal", "syslog", "dmesg", "iso")
GENERATOR_VERSION = 1

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_VICTIMS = (
    ("java", "app-server.service"),
    ("python3", "worker.service"),
    ("node", "web.service"),
    ("postgres", "postgresql@15-main.service"),
    ("mysqld", "mariadb.service"),
    ("ruby", "sidekiq.service"),
    ("php-fpm8.2", "php8.2-fpm.service"),
    ("gunicorn", "api.service"),
    ("Web Content", "session-3.scope"),
    ("chrome", "app-gnome-chrome-1234.scope"),
    ("elasticsearch", "elasticsearch.service"),
    ("clickhouse-serv", "clickhouse-server.service"),
)
_TRIGGERS = ("kswapd0", "java", "python3", "node", "systemd-journal", "sshd", "containerd", "dockerd", "bash")
_OTHER_TASKS = (
    "systemd",
    "systemd-journal",
    "systemd-udevd",
    "dbus-daemon",
    "rsyslogd",
    "cron",
    "sshd",
    "google_guest_ag",
    "containerd",
    "dockerd",
    "agetty",
    "chronyd",
    "unattended-upgr",
    "bash",
    "sleep",
)
_KERNEL = "6.1.0-27-cloud-amd64 #1"
_DEVICES = ("sda", "sdb", "nvme0n1", "vdb")
_IFACES = ("eth0", "ens4", "enp0s3")


class GeneratedLog:
    """What ``generate_kernel_log()`` wrote: ``path``, ``lines``, ``bytes``, ``fmt``, ``kills`` (the number of
    ``Killed process`` lines, all distinct kills), ``memcg_kills``, ``global_kills``, ``bare_kills``
    (rate-limited: no header/summary), ``lookalikes`` (lines that must not count as kills), ``first_kill`` and
    ``last_kill`` (dicts: pid, comm, constraint, oom_memcg, format), ``seed`` and ``oom_reports``."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def as_dict(self) -> Dict[str, object]:
        data = dict(self.__dict__)
        data["path"] = str(data["path"])
        return data

    def __repr__(self):
        return f"GeneratedLog({self.path}, lines={self.lines}, kills={self.kills})"


class _Writer:
    """Writes lines with the current format's prefix and counts them."""

    def __init__(self, handle, rng: random.Random, host: str, wall_start: datetime.datetime):
        self.handle = handle
        self.rng = rng
        self.host = host
        self.count = 0
        self.bytes = 0
        self.buffer: List[str] = []
        self.fmt = "journal"
        self.uptime = 1.0
        self.wall_boot = wall_start

    def boot(self, fmt: str, wall_boot: datetime.datetime) -> None:
        self.fmt = fmt
        self.wall_boot = wall_boot
        self.uptime = self.rng.uniform(0.5, 3.0)

    def tick(self, seconds: float) -> None:
        self.uptime += seconds

    def _prefix(self, kernel: bool = True, ident: str = "kernel") -> str:
        secs = f"[{self.uptime:12.6f}] "
        if self.fmt == "dmesg":
            return secs
        wall = self.wall_boot + datetime.timedelta(seconds=self.uptime)
        if self.fmt == "journal":
            return f"{_MONTHS[wall.month - 1]} {wall.day:02d} {wall:%H:%M:%S} {self.host} {ident}: "
        if self.fmt == "syslog":
            stamp = f"{_MONTHS[wall.month - 1]} {wall.day:2d} {wall:%H:%M:%S} {self.host} {ident}: "
            return stamp + secs if kernel else stamp
        return f"{wall:%Y-%m-%dT%H:%M:%S.%f}+00:00 {self.host} {ident}: "

    def line(self, message: str) -> None:
        self.uptime += 0.000017  # printk itself takes time: consecutive records differ by microseconds
        text = self._prefix() + message + "\n"
        self.buffer.append(text)
        self.count += 1
        if len(self.buffer) >= 4096:
            self.flush()

    def record(self, first: str, continuation: List[str]) -> None:
        """One printk record with embedded newlines: dmesg and journalctl indent the continuation lines."""
        prefix = self._prefix()
        indent = " " * len(prefix)
        self.buffer.append(prefix + first + "\n")
        self.buffer.extend(indent + text + "\n" for text in continuation)
        self.count += 1 + len(continuation)
        if len(self.buffer) >= 4096:
            self.flush()

    def userspace(self, ident: str, message: str) -> None:
        self.buffer.append(self._prefix(kernel=False, ident=ident) + message + "\n")
        self.count += 1

    def raw(self, text: str) -> None:
        self.buffer.append(text + "\n")
        self.count += 1

    def flush(self) -> None:
        data = "".join(self.buffer)
        self.handle.write(data)
        self.bytes += len(data.encode())
        self.buffer = []


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _noise(w: _Writer, rng: random.Random, counters: Dict[str, int]) -> None:
    """One (sometimes a few) ordinary kernel lines."""
    roll = rng.random()
    iface = rng.choice(_IFACES)
    if roll < 0.30:
        src = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        w.line(
            f"[UFW BLOCK] IN={iface} OUT= MAC=42:01:0a:80:00:02:42:01:0a:80:00:01:08:00 SRC={src} DST=10.128.0.2 "
            f"LEN={rng.choice((40, 44, 52, 60))} TOS=0x00 PREC=0x00 TTL={rng.randint(30, 250)} "
            f"ID={rng.randint(1, 65535)} "
            f"PROTO=TCP SPT={rng.randint(1024, 65535)} DPT={rng.choice((22, 23, 80, 443, 3389, 5900, 8080))} "
            f"WINDOW={rng.randint(1024, 65535)} RES=0x00 SYN URGP=0"
        )
    elif roll < 0.45:
        w.line(
            f"audit: type=1400 audit({1700000000 + int(w.uptime)}.{rng.randint(0, 999):03d}:{rng.randint(100, 99999)}):"
            f' apparmor="DENIED" operation="{rng.choice(("open", "capable", "file_mmap", "exec"))}" class="file" '
            f'profile="{rng.choice(("snap.lxd.daemon", "/usr/sbin/cupsd", "docker-default", "rsyslogd"))}" '
            f'name="/proc/{rng.randint(1, 99999)}/status" pid={rng.randint(100, 99999)} '
            f'comm="{rng.choice(_OTHER_TASKS)}" requested_mask="r" denied_mask="r" fsuid=0 ouid=0'
        )
    elif roll < 0.57:
        veth = "veth" + _hex(rng, 7)
        port = rng.randint(1, 40)
        state = rng.choice(("entered blocking state", "entered disabled state", "entered forwarding state"))
        w.line(f"docker0: port {port}({veth}) {state}")
        if rng.random() < 0.3:
            w.line(f"device {veth} {rng.choice(('entered', 'left'))} promiscuous mode")
        if rng.random() < 0.2:
            w.line(f"eth0: renamed from {veth}")
            w.line(f"IPv6: ADDRCONF(NETDEV_CHANGE): {veth}: link becomes ready")
    elif roll < 0.64:
        device = rng.choice(_DEVICES)
        w.line(
            f"EXT4-fs ({device}1): mounted filesystem {_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 4)}-"
            f"{_hex(rng, 12)} r/w with ordered data mode. Quota mode: none."
        )
    elif roll < 0.70:
        comm = rng.choice(("python3", "node", "php", "nginx", "ruby", "java"))
        ip = rng.getrandbits(44) | 0x7F0000000000
        w.line(
            f"{comm}[{rng.randint(1000, 4000000)}]: segfault at {rng.choice(('0', '8', '10', '7f3a0000'))} "
            f"ip {ip:016x} sp {rng.getrandbits(44) | 0x7FF000000000:016x} error {rng.choice((4, 6, 14, 15))} "
            f"in libc.so.6[{ip & ~0xFFFFF:x}+195000] likely on CPU {rng.randint(0, 1)} (core {rng.randint(0, 1)}, "
            f"socket 0)"
        )
        w.line(
            "Code: "
            + " ".join(_hex(rng, 2) for _byte in range(42))
            + " <"
            + _hex(rng, 2)
            + "> "
            + " ".join(_hex(rng, 2) for _byte in range(21))
        )
    elif roll < 0.74:
        task = rng.choice(("kworker/u4:2", "jbd2/sda1-8", "java", "postgres", "containerd"))
        w.line(
            f"INFO: task {task}:{rng.randint(100, 99999)} blocked for more than {rng.choice((120, 241, 362))} seconds."
        )
        w.line("      Not tainted 6.1.0-27-cloud-amd64 #1 Debian 6.1.115-1")
        w.line('"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.')
        w.line(f"task:{task:<15} state:D stack:0     pid:{rng.randint(100, 99999)}  ppid:2      flags:0x00004000")
        w.line("Call Trace:")
        w.line(" <TASK>")
        for frame in ("__schedule+0x351/0xa20", "schedule+0x5d/0xe0", "io_schedule+0x42/0x70", "folio_wait_bit+0x1a0"):
            w.line(" " + frame)
        w.line(" </TASK>")
    elif roll < 0.80:
        device = rng.choice(_DEVICES)
        sector = rng.randint(0, 500000000)
        w.line(f"I/O error, dev {device}, sector {sector} op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2")
        w.line(f"Buffer I/O error on dev {device}1, logical block {sector // 8}, async page read")
    elif roll < 0.84:
        w.line(
            f"perf: interrupt took too long ({rng.randint(2501, 9000)} > {rng.randint(2500, 8000)}), lowering "
            f"kernel.perf_event_max_sample_rate to {rng.randint(20000, 79000)}"
        )
    elif roll < 0.88:
        w.line("nf_conntrack: nf_conntrack: table full, dropping packet")
        w.line(f"net_ratelimit: {rng.randint(2, 900)} callbacks suppressed")
    elif roll < 0.91:
        w.line(f"kauditd_printk_skb: {rng.randint(2, 90)} callbacks suppressed")
    elif roll < 0.94:
        w.line(
            f"TCP: request_sock_TCP: Possible SYN flooding on port {rng.choice((80, 443))}. Sending cookies.  "
            "Check SNMP counters."
        )
    elif roll < 0.96:
        w.line(f"cgroup: fork rejected by pids controller in /system.slice/{rng.choice(_VICTIMS)[1]}")
    elif roll < 0.975:
        w.line(f"virtio_net virtio1 {iface}: left promiscuous mode")
    elif roll < 0.985:
        # look-alikes: contain "oom"/"memory" words but are not kills
        counters["lookalikes"] += 1
        choice = rng.randint(0, 3)
        if choice == 0:
            w.line("TCP: out of memory -- consider tuning tcp_mem")
        elif choice == 1:
            w.line("Huh VM_FAULT_OOM leaked out to the #PF handler. Retrying PF")
        elif choice == 2:
            w.line(rng.choice(("OOM killer disabled.", "OOM killer enabled.")))
        else:
            comm = rng.choice(("kworker/1:2", "java", "nginx"))
            w.line(
                f"{comm}: page allocation failure: order:4, mode:0x40dc0(GFP_KERNEL|__GFP_COMP|__GFP_ZERO), "
                f"nodemask=(null),cpuset=/,mems_allowed=0"
            )
            w.line(f"CPU: {rng.randint(0, 1)} PID: {rng.randint(100, 99999)} Comm: {comm} Not tainted {_KERNEL}")
    elif w.fmt in ("syslog", "iso"):
        # userspace lines in a syslog file: systemd's words about OOM kills are not kernel kill records
        unit = rng.choice(_VICTIMS)[1]
        counters["lookalikes"] += 1
        if rng.random() < 0.5:
            w.userspace("systemd[1]", f"{unit}: A process of this unit has been killed by the OOM killer.")
        else:
            w.userspace("systemd[1]", f"{unit}: Failed with result 'oom-kill'.")
    else:
        w.line(f"hrtimer: interrupt took {rng.randint(100000, 9000000)} ns")


_TRACE_GLOBAL = (
    "dump_stack_lvl+0x44/0x5c",
    "dump_header+0x4a/0x211",
    "oom_kill_process.cold+0xb/0x10",
    "out_of_memory+0x1fd/0x4c0",
    "__alloc_pages_slowpath.constprop.0+0xc43/0xdc0",
    "__alloc_pages+0x305/0x330",
    "folio_alloc+0x17/0x50",
    "__filemap_get_folio+0x155/0x340",
    "filemap_fault+0x139/0x910",
    "__do_fault+0x31/0x80",
    "do_fault+0x1b9/0x410",
    "__handle_mm_fault+0x660/0xfa0",
    "handle_mm_fault+0xdb/0x2d0",
    "do_user_addr_fault+0x191/0x560",
    "exc_page_fault+0x70/0x170",
    "asm_exc_page_fault+0x22/0x30",
)
_TRACE_MEMCG = (
    "dump_stack_lvl+0x44/0x5c",
    "dump_header+0x4a/0x211",
    "oom_kill_process.cold+0xb/0x10",
    "out_of_memory+0x1fd/0x4c0",
    "mem_cgroup_out_of_memory+0x134/0x150",
    "try_charge_memcg+0x696/0x780",
    "charge_memcg+0x39/0xf0",
    "__mem_cgroup_charge+0x28/0x80",
    "do_anonymous_page+0x1c9/0x6e0",
    "__handle_mm_fault+0x8da/0xfa0",
    "handle_mm_fault+0xdb/0x2d0",
    "do_user_addr_fault+0x191/0x560",
    "exc_page_fault+0x70/0x170",
    "asm_exc_page_fault+0x22/0x30",
)
_MEMCG_STAT_KEYS = (
    "anon",
    "file",
    "kernel",
    "kernel_stack",
    "pagetables",
    "sec_pagetables",
    "percpu",
    "sock",
    "vmalloc",
    "shmem",
    "zswap",
    "zswapped",
    "file_mapped",
    "file_dirty",
    "file_writeback",
    "swapcached",
    "anon_thp",
    "file_thp",
    "shmem_thp",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "slab_reclaimable",
    "slab_unreclaimable",
    "slab",
    "workingset_refault_anon",
    "workingset_refault_file",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_restore_anon",
    "workingset_restore_file",
    "workingset_nodereclaim",
    "pgscan",
    "pgsteal",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "pgfault",
    "pgmajfault",
    "pgrefill",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pglazyfreed",
    "thp_fault_alloc",
    "thp_collapse_alloc",
)


def _registers(w: _Writer, rng: random.Random) -> None:
    w.line(f"RIP: 0033:0x7f{_hex(rng, 10)}")
    w.line(f"Code: Unable to access opcode bytes at 0x7f{_hex(rng, 10)}.")
    w.line(f"RSP: 002b:00007ffd{_hex(rng, 8)} EFLAGS: 00010206")
    w.line(f"RAX: {_hex(rng, 16)} RBX: {_hex(rng, 16)} RCX: {_hex(rng, 16)}")
    w.line(f"RDX: {_hex(rng, 16)} RSI: {_hex(rng, 16)} RDI: {_hex(rng, 16)}")
    w.line(f"RBP: {_hex(rng, 16)} R08: {_hex(rng, 16)} R09: {_hex(rng, 16)}")
    w.line(f"R10: {_hex(rng, 16)} R11: 0000000000000246 R12: {_hex(rng, 16)}")
    w.line(f"R13: {_hex(rng, 16)} R14: {_hex(rng, 16)} R15: {_hex(rng, 16)}")
    w.line(" </TASK>")


def _mem_info(w: _Writer, rng: random.Random) -> None:
    r = rng.randint
    w.line("Mem-Info:")
    w.record(
        f"active_anon:{r(1000, 90000)} inactive_anon:{r(4000000, 6000000)} isolated_anon:0",
        [
            f" active_file:{r(10, 900)} inactive_file:{r(10, 900)} isolated_file:0",
            f" unevictable:0 dirty:{r(0, 40)} writeback:0",
            f" slab_reclaimable:{r(5000, 20000)} slab_unreclaimable:{r(10000, 30000)}",
            f" mapped:{r(100, 3000)} shmem:{r(100, 5000)} pagetables:{r(5000, 20000)}",
            " sec_pagetables:0 bounce:0",
            " kernel_misc_reclaimable:0",
            f" free:{r(30000, 40000)} free_pcp:{r(0, 900)} free_cma:0",
        ],
    )
    w.line(
        f"Node 0 active_anon:{r(4000, 400000)}kB inactive_anon:{r(16000000, 24000000)}kB active_file:{r(40, 3600)}kB "
        f"inactive_file:{r(40, 3600)}kB unevictable:0kB isolated(anon):0kB isolated(file):0kB mapped:{r(400, 12000)}kB "
        f"dirty:0kB writeback:0kB shmem:{r(400, 20000)}kB shmem_thp:0kB shmem_pmdmapped:0kB anon_thp:0kB "
        "writeback_tmp:0kB kernel_stack:4512kB pagetables:61032kB sec_pagetables:0kB all_unreclaimable? yes"
    )
    w.line(
        "Node 0 DMA free:15360kB boost:0kB min:20kB low:32kB high:44kB reserved_highatomic:0KB active_anon:0kB "
        "inactive_anon:0kB active_file:0kB inactive_file:0kB unevictable:0kB writepending:0kB present:15992kB "
        "managed:15360kB mlocked:0kB bounce:0kB free_pcp:0kB local_pcp:0kB free_cma:0kB"
    )
    w.line("lowmem_reserve[]: 0 2991 23917 23917 23917")
    w.line(
        f"Node 0 DMA32 free:{r(60000, 90000)}kB boost:0kB min:4200kB low:7260kB high:10320kB reserved_highatomic:0KB "
        f"active_anon:{r(0, 900)}kB inactive_anon:{r(2000000, 3000000)}kB active_file:0kB inactive_file:0kB "
        "unevictable:0kB writepending:0kB present:3129200kB managed:3063664kB mlocked:0kB bounce:0kB "
        f"free_pcp:{r(0, 900)}kB local_pcp:0kB free_cma:0kB"
    )
    w.line("lowmem_reserve[]: 0 0 20926 20926 20926")
    w.line(
        f"Node 0 Normal free:{r(40000, 60000)}kB boost:0kB min:29376kB low:50804kB high:72232kB "
        f"reserved_highatomic:2048KB active_anon:{r(4000, 40000)}kB inactive_anon:{r(18000000, 21000000)}kB "
        "active_file:120kB inactive_file:96kB unevictable:0kB writepending:0kB present:21757952kB "
        f"managed:21428488kB mlocked:0kB bounce:0kB free_pcp:{r(0, 2000)}kB local_pcp:0kB free_cma:0kB"
    )
    w.line("lowmem_reserve[]: 0 0 0 0 0")
    w.line(
        "Node 0 DMA: 0*4kB 0*8kB 0*16kB 0*32kB 0*64kB 0*128kB 0*256kB 0*512kB 1*1024kB (U) 1*2048kB (M) "
        "3*4096kB (M) = 15360kB"
    )
    for zone in ("DMA32", "Normal"):
        buddies = " ".join(f"{r(0, 900)}*{4 << i}kB (UME)" for i in range(11))
        w.line(f"Node 0 {zone}: {buddies} = {r(40000, 90000)}kB")
    w.line("Node 0 hugepages_total=0 hugepages_free=0 hugepages_surp=0 hugepages_size=1048576kB")
    w.line("Node 0 hugepages_total=0 hugepages_free=0 hugepages_surp=0 hugepages_size=2048kB")
    w.line(f"{r(1000, 9000)} total pagecache pages")
    w.line("0 pages in swap cache")
    w.line("Free swap  = 0kB")
    w.line("Total swap = 0kB")
    w.line("6291354 pages RAM")
    w.line("0 pages HighMem/MovableOnly")
    w.line(f"{r(150000, 160000)} pages reserved")
    w.line("0 pages hwpoisoned")


def _memcg_info(w: _Writer, rng: random.Random, memcg: str, limit_kb: int) -> None:
    w.line(f"memory: usage {limit_kb}kB, limit {limit_kb}kB, failcnt {rng.randint(1, 90000)}")
    w.line("swap: usage 0kB, limit 0kB, failcnt 0")
    w.line(f"Memory cgroup stats for {memcg}:")
    for key in _MEMCG_STAT_KEYS:
        w.line(f"{key} {rng.randint(0, limit_kb) * 1024 if not key.startswith('pg') else rng.randint(0, 10**7)}")


def _task_table(w: _Writer, rng: random.Random, victim: Dict[str, object], rows: int, new_layout: bool) -> None:
    w.line("Tasks state (memory values in pages):")
    if new_layout:
        w.line(
            "[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents "
            "oom_score_adj name"
        )
    else:
        w.line("[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name")
    victim_row = rng.randint(0, rows - 1)
    for index in range(rows):
        if index == victim_row:
            pid, uid, comm = victim["pid"], victim["uid"], victim["comm"]
            rss = victim["anon_kb"] // 4 + victim["file_kb"] // 4
            anon, file_ = victim["anon_kb"] // 4, victim["file_kb"] // 4
            total_vm, adj = victim["total_vm_kb"] // 4, victim["adj"]
        else:
            pid, uid = rng.randint(100, 4000000), rng.choice((0, 0, 0, 101, 1000, 1001, 65534))
            comm = rng.choice(_OTHER_TASKS)
            anon, file_ = rng.randint(10, 40000), rng.randint(10, 9000)
            rss, total_vm = anon + file_, rng.randint(anon + file_, 900000)
            adj = rng.choice((0, 0, 0, -1000, -999, -900, 200, 300, 1000))
        pgtables = rng.randint(40, 4000) * 1024
        if new_layout:
            w.line(
                f"[{pid:7d}] {uid:5d} {pid:5d} {total_vm:8d} {rss:8d} {anon:8d} {file_:8d} {0:9d} {pgtables:14d} "
                f"{0:8d} {adj:13d} {comm}"
            )
        else:
            w.line(f"[{pid:7d}] {uid:5d} {pid:5d} {total_vm:8d} {rss:8d} {pgtables:14d} {0:8d} {adj:13d} {comm}")


def _oom_report(w: _Writer, rng: random.Random, pid: int, counters: Dict[str, int]) -> Dict[str, object]:
    comm, unit = rng.choice(_VICTIMS)
    kind = rng.random()
    memcg_kill = kind < 0.6
    bare = rng.random() < 0.1
    if memcg_kill:
        flavour = rng.random()
        if flavour < 0.5:
            memcg = f"/system.slice/{unit}"
        elif flavour < 0.75:
            memcg = f"/system.slice/docker-{_hex(rng, 64)}.scope"
        else:
            memcg = (
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
                f"{_hex(rng, 8)}_{_hex(rng, 4)}_{_hex(rng, 4)}_{_hex(rng, 4)}_{_hex(rng, 12)}.slice/"
                f"cri-containerd-{_hex(rng, 64)}.scope"
            )
        task_memcg = memcg
        context, constraint = "Memory cgroup out of memory", "CONSTRAINT_MEMCG"
        limit_kb = rng.choice((262144, 524288, 1048576, 2097152, 4194304))
        anon_kb = limit_kb - rng.randint(1000, limit_kb // 8)
    else:
        memcg = None
        task_memcg = rng.choice((f"/system.slice/{unit}", "/user.slice/user-1000.slice/session-3.scope"))
        context, constraint = "Out of memory", "CONSTRAINT_NONE"
        limit_kb = 0
        anon_kb = rng.randint(8000000, 22000000)
    victim = {
        "pid": pid,
        "comm": comm,
        "uid": rng.choice((0, 101, 999, 1000, 1001)),
        "anon_kb": anon_kb,
        "file_kb": rng.randint(0, 90000),
        "total_vm_kb": anon_kb + rng.randint(100000, 4000000),
        "adj": rng.choice((0, 0, 0, 200, 300, 500, 1000)),
    }
    if not bare:
        trigger = comm if rng.random() < 0.5 else rng.choice(_TRIGGERS)
        trigger_pid = pid if trigger == comm else rng.randint(100, 4000000)
        gfp = "0xcc0(GFP_KERNEL)" if memcg_kill else "0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP)"
        w.line(f"{trigger} invoked oom-killer: gfp_mask={gfp}, order=0, oom_score_adj={rng.choice((0, 0, 200))}")
        w.line(f"CPU: {rng.randint(0, 1)} PID: {trigger_pid} Comm: {trigger} Not tainted {_KERNEL}  Debian 6.1.115-1")
        w.line("Hardware name: Google Google Compute Engine/Google Compute Engine, BIOS Google 10/01/2024")
        w.line("Call Trace:")
        w.line(" <TASK>")
        for frame in _TRACE_MEMCG if memcg_kill else _TRACE_GLOBAL:
            w.line(" " + frame)
        _registers(w, rng)
        if memcg_kill:
            _memcg_info(w, rng, memcg, limit_kb)
        else:
            _mem_info(w, rng)
        _task_table(w, rng, victim, rng.randint(3, 40), new_layout=rng.random() < 0.5)
        memcg_part = f"oom_memcg={memcg}" if memcg_kill else "global_oom"
        w.line(
            f"oom-kill:constraint={constraint},nodemask=(null),cpuset=/,mems_allowed=0,{memcg_part},"
            f"task_memcg={task_memcg},task={comm},pid={pid},uid={victim['uid']}"
        )
    w.line(
        f"{context}: Killed process {pid} ({comm}) total-vm:{victim['total_vm_kb']}kB, anon-rss:{anon_kb}kB, "
        f"file-rss:{victim['file_kb']}kB, shmem-rss:0kB, UID:{victim['uid']} pgtables:{rng.randint(100, 40000)}kB "
        f"oom_score_adj:{victim['adj']}"
    )
    if rng.random() < 0.8:
        w.line(f"oom_reaper: reaped process {pid} ({comm}), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB")
    counters["kills"] += 1
    counters["memcg_kills" if memcg_kill else "global_kills"] += 1
    counters["bare_kills"] += int(bare)
    return {
        "pid": pid,
        "comm": comm,
        "constraint": None if bare else constraint,
        "oom_memcg": None if bare or not memcg_kill else memcg,
        "format": w.fmt,
    }


def generate_kernel_log(
    path,
    lines: int = 1_000_000,
    oom_reports: Optional[int] = None,
    fmt: str = "mixed",
    seed: int = 1,
    host: str = "vm-1",
    boots: int = 8,
) -> GeneratedLog:
    """Write a synthetic kernel log of exactly ``lines`` lines to ``path`` (gzip when it ends in ``.gz``).

    ``oom_reports`` defaults to 3 per 1000 lines (3000 in a million). ``fmt`` is one of ``FORMATS`` or
    ``mixed`` (``boots`` boots, each in the next format). The wall clock of the last line is about now, the
    first one about 30 days earlier, so syslog stamps without a year are in the past.
    """
    if fmt != "mixed" and fmt not in FORMATS:
        raise ValueError(f"fmt must be mixed or one of {FORMATS}")
    if oom_reports is None:
        oom_reports = max(1, lines * 3 // 1000)
    path = Path(path)
    rng = random.Random(seed)
    now = datetime.datetime.now().replace(microsecond=0)
    start = now - datetime.timedelta(days=30)
    boots = max(1, boots) if fmt == "mixed" else 1
    formats = [FORMATS[i % len(FORMATS)] if fmt == "mixed" else fmt for i in range(boots)]
    # Space the OOM reports evenly (with jitter) over the line budget; an average report has ~100 lines.
    report_budget = max(1, lines // oom_reports)
    counters = {"kills": 0, "memcg_kills": 0, "global_kills": 0, "bare_kills": 0, "lookalikes": 0}
    first_kill = last_kill = None
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        w = _Writer(handle, rng, host, start)
        lines_per_boot = lines // boots
        seconds_per_line = (30 * 86400) / lines
        pid = 100000
        boot_index = -1
        reports_left = oom_reports
        next_report_at = rng.randint(report_budget // 4, report_budget)
        while w.count < lines:
            wanted_boot = min(boots - 1, w.count // max(1, lines_per_boot))
            if wanted_boot != boot_index:
                boot_index = wanted_boot
                wall = start + datetime.timedelta(seconds=w.count * seconds_per_line)
                w.boot(formats[boot_index], wall)
                if w.fmt == "journal" and boot_index > 0 and fmt == "mixed":
                    w.raw(f"-- Boot {_hex(rng, 32)} --")
                if w.count >= lines:
                    break
                w.line("Linux version 6.1.0-27-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP Debian 6.1.115-1")
                continue
            w.tick(rng.expovariate(1.0 / seconds_per_line))
            remaining = lines - w.count
            if reports_left and (w.count >= next_report_at or remaining <= reports_left * 160):
                if remaining < 160:  # too little room for a full report: emit the kill line alone
                    pid += rng.randint(1, 50)
                    w.line(
                        f"Out of memory: Killed process {pid} (java) total-vm:9000000kB, anon-rss:8000000kB, "
                        "file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:16000kB oom_score_adj:0"
                    )
                    counters["kills"] += 1
                    counters["global_kills"] += 1
                    counters["bare_kills"] += 1
                    kill = {"pid": pid, "comm": "java", "constraint": None, "oom_memcg": None, "format": w.fmt}
                else:
                    pid += rng.randint(1, 50)
                    kill = _oom_report(w, rng, pid, counters)
                first_kill = first_kill or kill
                last_kill = kill
                reports_left -= 1
                next_report_at = w.count + rng.randint(report_budget // 2, report_budget * 3 // 2)
                continue
            _noise(w, rng, counters)
        w.flush()
        written = w.count
        size = w.bytes
    if written != lines:  # multi-line noise may overshoot by a few lines: trim to the exact count
        _truncate_lines(path, lines)
        written = lines
    if reports_left:
        raise RuntimeError(f"{reports_left} OOM reports did not fit in {lines} lines")
    return GeneratedLog(
        path=path,
        lines=written,
        bytes=path.stat().st_size if path.suffix != ".gz" else size,
        fmt=fmt,
        seed=seed,
        oom_reports=oom_reports,
        first_kill=first_kill,
        last_kill=last_kill,
        **counters,
    )


def _truncate_lines(path: Path, lines: int) -> None:
    """Cut a generated file to ``lines`` lines (only trailing noise is cut: reports are never split)."""
    opener = gzip.open if path.suffix == ".gz" else open
    tmp = path.with_name(path.name + ".tmp")
    with opener(path, "rt", encoding="utf-8") as source, opener(tmp, "wt", encoding="utf-8") as target:
        for index, line in enumerate(source):
            if index >= lines:
                break
            target.write(line)
    tmp.replace(path)


def cached_kernel_log(
    directory, lines: int, fmt: str = "mixed", seed: int = 1, gz: bool = False, oom_reports: Optional[int] = None
) -> GeneratedLog:
    """``generate_kernel_log()`` into ``directory``, reused when a log with the same recipe is already there."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    reports = "" if oom_reports is None else f"-k{oom_reports}"
    name = f"kern-{fmt}-{lines}{reports}-s{seed}-v{GENERATOR_VERSION}.log" + (".gz" if gz else "")
    path = directory / name
    meta = path.with_name(name + ".json")
    if path.exists() and meta.exists():
        data = json.loads(meta.read_text())
        data["path"] = path
        return GeneratedLog(**data)
    generated = generate_kernel_log(path, lines=lines, fmt=fmt, seed=seed, oom_reports=oom_reports)
    meta.write_text(json.dumps(generated.as_dict(), indent=1))
    return generated
