# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's hosts: QEMU TCG virtual machines and LXC system containers, how they start, how the lab reaches them
over SSH, when they are ready, and what they cost on this machine."""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from tests.lab.cleanup import lab_cgroups, pid_alive, stop_pid
from tests.lab.common import STOP, Interrupted, log, run
from tests.lab.networking import free_port

if TYPE_CHECKING:
    from tests.lab.hostlab import HostLab

VM_MEMORY_MIB = 1024  # e2-micro
TB_SIZE_MIB = 256  # TCG translation cache; QEMU's default of 1 GiB more than doubles a guest's RSS
VM_BOOT_TIMEOUT = 420
CT_BOOT_TIMEOUT = 120
SETTLED = ("running", "degraded")
SSH_OPTIONS = [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "ConnectTimeout=5",
]


def start_vm(lab: HostLab, host: str, suite: str, image: Path, memory: int, smp: int) -> None:
    pubkey = (lab.key.with_suffix(".pub")).read_text().strip()
    append = " ".join(
        [
            "root=/dev/vda",
            "rw",
            "console=ttyS0",
            "loglevel=4",
            "mitigations=off",
            "modprobe.blacklist=kvm,kvm_amd,kvm_intel,ata_piix,ata_generic,binfmt_misc",
            "systemd.mask=systemd-binfmt.service",
            "systemd.mask=proc-sys-fs-binfmt_misc.automount",
            "systemd.unified_cgroup_hierarchy=1",
            "systemd.show_status=error",
            f"systemd.hostname={host}",
            f"systemd.machine_id={os.urandom(16).hex()}",
            f"lab.ssh_key={base64.b64encode(pubkey.encode()).decode()}",
        ]
    )
    serial = lab.dir / f"{host}.serial.log"
    pidfile = lab.dir / f"{host}.pid"
    tmpdir = lab.dir / f"{host}.tmp"
    tmpdir.mkdir()
    for _attempt in range(5):
        port = free_port()
        cmd = [
            "qemu-system-x86_64",
            "-name",
            f"guest=lab-{lab.name}-{host},process=lab-{host}"[:60],
            "-machine",
            os.environ.get("LAB_QEMU_MACHINE", "pc"),
            "-accel",
            f"tcg,thread=multi,tb-size={TB_SIZE_MIB}",
            "-cpu",
            "max",
            "-smp",
            str(smp),
            "-m",
            str(memory),
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-serial",
            f"file:{serial}",
            "-kernel",
            str(image / "vmlinuz"),
            "-initrd",
            str(image / "initrd.img"),
            "-append",
            append,
            "-drive",
            f"file={image / 'disk.img'},if=virtio,format=raw,snapshot=on,cache=unsafe",
            "-netdev",
            f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22",
            "-device",
            "virtio-net-pci,netdev=n0",
            "-device",
            "virtio-rng-pci",
            "-pidfile",
            str(pidfile),
        ]
        proc = launch_qemu(lab, host, cmd)
        lab.add_host(
            {
                "name": host,
                "kind": "vm",
                "suite": suite,
                "image": str(image),
                "pid": proc.pid,
                "address": "127.0.0.1",
                "port": port,
                "started": time.time(),
                "serial_log": str(serial),
                "memory_mib": memory,
                "argv": cmd,
            }
        )
        time.sleep(1.0)
        if proc.poll() is None:
            log(f"{host}: qemu pid {proc.pid}, ssh 127.0.0.1:{port}, serial log {serial.name}")
            return
        output = (lab.dir / f"{host}.qemu.log").read_text()
        with lab.lock:
            lab.state["hosts"] = [h for h in lab.hosts if h["name"] != host]
        lab.save()
        if "hostfwd" not in output and "Could not set up host forwarding" not in output:
            raise SystemExit(f"lab: qemu for {host} failed:\n{output}")
    raise SystemExit(f"lab: no free port for {host}")


def launch_qemu(lab: HostLab, host: str, cmd: List[str]) -> subprocess.Popen:
    with open(lab.dir / f"{host}.qemu.log", "a") as qlog:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=qlog,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(os.environ, TMPDIR=str(lab.dir / f"{host}.tmp")),
            cwd=lab.dir,
        )


def start_container(
    lab: HostLab, host: str, suite: str, image: Path, index: int, memory_mib: Optional[int] = None
) -> None:
    """Start one LXC system container; with ``memory_mib`` its memory cgroup is limited to that much and it
    sees the limit as its RAM (``/proc/meminfo`` from the lab's lxcfs, see ``start_lxcfs``)."""
    bridge = lab.state["bridge"]
    subnet = ipaddress.ip_network(bridge["subnet"])
    address = str(subnet[10 + index])
    lxc_name = f"lab-{lab.name}-{host}"
    cdir = lab.lxcpath / lxc_name
    upper = cdir / "delta0"
    (upper / "root" / ".ssh").mkdir(parents=True, mode=0o700)
    os.chmod(upper / "root", 0o700)
    keys = upper / "root" / ".ssh" / "authorized_keys"
    keys.write_text(lab.key.with_suffix(".pub").read_text())
    keys.chmod(0o600)
    (upper / "etc").mkdir()
    (upper / "etc" / "machine-id").write_text(os.urandom(16).hex() + "\n")
    config = f"""\
# Generated by tests/lab/lab.py for lab {lab.name}
lxc.include = /usr/share/lxc/config/common.conf
lxc.arch = linux64
lxc.uts.name = {host}
lxc.rootfs.path = overlay:{image / "rootfs"}:{upper}
lxc.mount.auto =
lxc.mount.auto = proc:mixed sys:mixed cgroup:rw
lxc.init.cmd = /lib/systemd/systemd
lxc.apparmor.profile = unconfined
lxc.tty.max = 0
lxc.net.0.type = veth
lxc.net.0.link = {bridge["name"]}
lxc.net.0.flags = up
lxc.net.0.name = eth0
lxc.net.0.ipv4.address = {address}/{subnet.prefixlen}
lxc.net.0.ipv4.gateway = {subnet[1]}
lxc.console.logfile = {lab.dir / (host + ".console.log")}
lxc.log.file = {lab.dir / (host + ".lxc.log")}
lxc.log.level = WARN
"""
    if memory_mib:
        config += memory_limit_config(memory_mib, lab.state["lxcfs"]["mount"])
    (cdir / "config").write_text(config)
    lab.add_host(
        {
            "name": host,
            "kind": "ct",
            "suite": suite,
            "image": str(image),
            "lxc_name": lxc_name,
            "address": address,
            "port": 22,
            "started": time.time(),
            "memory_mib": memory_mib,
        }
    )
    run(["lxc-start", "-P", str(lab.lxcpath), "-n", lxc_name, "-d"])
    run(["lxc-wait", "-P", str(lab.lxcpath), "-n", lxc_name, "-s", "RUNNING", "-t", "30"])


def memory_controller_version() -> int:
    """1 when this machine's memory controller sits on a cgroup v1 hierarchy (hybrid), else 2."""
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) > 3 and fields[2] == "cgroup" and "memory" in fields[3].split(","):
                return 1
    return 2


def memory_limit_config(memory_mib: int, lxcfs_mount: str) -> str:
    """LXC settings that limit a container's memory (no swap beyond it) and show the limit as its MemTotal.

    lxcfs answers reads of its ``proc/meminfo`` from the memory limit of the reader's cgroup; the bind mount
    comes after LXC mounted the container's /proc (lxc.mount.auto), so it covers the kernel's file.
    """
    limit = memory_mib << 20
    if memory_controller_version() == 1:
        lines = [f"lxc.cgroup.memory.limit_in_bytes = {limit}"]
        if any(Path("/sys/fs/cgroup/memory").glob("memory.memsw.limit_in_bytes")):
            lines.append(f"lxc.cgroup.memory.memsw.limit_in_bytes = {limit}")
    else:
        lines = [f"lxc.cgroup2.memory.max = {limit}", "lxc.cgroup2.memory.swap.max = 0"]
    lines.append(f"lxc.mount.entry = {lxcfs_mount}/proc/meminfo proc/meminfo none bind,optional 0 0")
    return "\n".join(lines) + "\n"


def start_lxcfs(lab: HostLab) -> None:
    """Run the lab's own lxcfs (a FUSE file system) on ``<run dir>/lxcfs``; ``down`` stops and unmounts it.

    One per lab, not the machine-wide /var/lib/lxcfs, so that labs come and go independently.
    """
    if not shutil.which("lxcfs"):
        raise SystemExit("lab: containers with a memory size need lxcfs (tests/setup-env.sh --lab installs it)")
    mount = lab.dir / "lxcfs"
    mount.mkdir()
    with open(lab.dir / "lxcfs.log", "a") as lxcfs_log:
        proc = subprocess.Popen(
            ["lxcfs", "--foreground", str(mount)],
            stdin=subprocess.DEVNULL,
            stdout=lxcfs_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab.state["lxcfs"] = {"pid": proc.pid, "mount": str(mount)}
    lab.save()
    deadline = time.monotonic() + 10
    while not (mount / "proc" / "meminfo").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"lab: lxcfs did not mount {mount}: {(lab.dir / 'lxcfs.log').read_text()[-500:]}")
        time.sleep(0.1)
    log(f"lxcfs pid {proc.pid} on {mount}")


def ssh(lab: HostLab, host: Dict[str, Any], command: str, timeout: int = 60) -> subprocess.CompletedProcess:
    cmd = ["ssh", *SSH_OPTIONS, "-i", str(lab.key), "-p", str(host["port"]), f"root@{host['address']}", command]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def wait_host(lab: HostLab, host: Dict[str, Any]) -> Dict[str, Any]:
    deadline = time.monotonic() + (VM_BOOT_TIMEOUT if host["kind"] == "vm" else CT_BOOT_TIMEOUT)
    last = ""
    while time.monotonic() < deadline and not STOP.is_set():
        if host["kind"] == "vm" and not pid_alive(host["pid"]):
            raise SystemExit(f"lab: {host['name']}: qemu exited; see {host['serial_log']}")
        try:
            result = ssh(lab, host, "systemctl is-system-running --wait", timeout=20)
        except subprocess.TimeoutExpired:
            last = "ssh timed out"
            continue
        state = result.stdout.strip()
        if state in SETTLED:
            ready = round(time.time() - host["started"], 1)
            failed = ""
            if state == "degraded":
                failed = ssh(lab, host, "systemctl --failed --plain --no-legend").stdout.strip()
                log(f"{host['name']}: degraded; failed units: {failed}")
            log(f"{host['name']}: {state} after {ready}s")
            return {"system_state": state, "ready_seconds": ready, "failed_units": failed}
        last = (state or result.stderr.strip())[-300:]
        STOP.wait(1 if host["kind"] == "ct" else 3)
    if STOP.is_set():
        raise Interrupted("stopped")
    raise SystemExit(f"lab: {host['name']} did not settle (last: {last})")


def wait_ready(lab: HostLab) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(lab.hosts))) as pool:
        results = list(pool.map(lambda host: wait_host(lab, host), lab.hosts))
    for host, result in zip(lab.hosts, results):
        host.update(result)
    lab.save()


def rss_of(host: Dict[str, Any]) -> Optional[int]:
    """Resident memory of a host on this machine, in bytes."""
    if host["kind"] == "vm":
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{host['pid']}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return None
    for base in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        for name in ("memory.usage_in_bytes", "memory.current"):
            path = Path(base) / f"lxc.payload.{host['lxc_name']}" / name
            if path.is_file():
                usage = int(path.read_text())
                stat = path.with_name("memory.stat")
                if stat.is_file():  # count process memory, not the page cache of the shared image
                    fields = dict(line.split() for line in stat.read_text().splitlines())
                    cache = int(fields.get("total_cache", fields.get("file", 0)))
                    usage = max(0, usage - cache)
                return usage
    return None


def lab_cgroups_of(host: Dict[str, Any]) -> List[str]:
    return [p for p in lab_cgroups() if p.endswith("lxc.payload." + host["lxc_name"])]


# -- one host down and up again: a host that becomes unreachable in the middle of a playbook ---------------------


def lxc(lab: HostLab, command: str, host: Dict[str, Any], *args: str, check: bool = True) -> None:
    run([f"lxc-{command}", "-P", str(lab.lxcpath), "-n", host["lxc_name"], *args], check=check, capture_output=True)


def stop_host(lab: HostLab, host: Dict[str, Any]) -> None:
    """Power the host off at once (a container's processes killed, the VM's QEMU ended): SSH to it then fails
    (connection refused for a VM, no route to host for a container), so Ansible marks it UNREACHABLE."""
    if host["kind"] == "ct":
        lxc(lab, "unfreeze", host, check=False)
        lxc(lab, "stop", host, "-k")
    else:
        stop_pid(host["pid"], str(lab.dir))
    host["power"] = "stopped"
    lab.save()


def start_host(lab: HostLab, host: Dict[str, Any]) -> None:
    """Boot a stopped host again (same name, address, port and key) and wait until systemd settles."""
    if host.get("power", "running") == "running":
        return  # nothing to do: `start` after a `stop` that did not happen (or twice) is not an error
    if host["power"] == "frozen":
        raise SystemExit(f"lab: {host['name']} is frozen: thaw it instead")
    host["started"] = time.time()
    if host["kind"] == "ct":
        lxc(lab, "start", host, "-d")
        lxc(lab, "wait", host, "-s", "RUNNING", "-t", "30")
    else:
        host["pid"] = launch_qemu(lab, host["name"], host["argv"]).pid
    host["power"] = "running"
    lab.save()
    host.update(wait_host(lab, host))
    lab.save()


def freeze_host(lab: HostLab, host: Dict[str, Any]) -> None:
    """Freeze every process of the host (cgroup freezer; SIGSTOP of QEMU): TCP still connects, nothing answers,
    as with a host that hangs; Ansible's SSH then fails on its timeouts."""
    if host["kind"] == "ct":
        lxc(lab, "freeze", host)
    else:
        os.kill(host["pid"], signal.SIGSTOP)
    host["power"] = "frozen"
    lab.save()


def thaw_host(lab: HostLab, host: Dict[str, Any]) -> None:
    if host["kind"] == "ct":
        lxc(lab, "unfreeze", host)
    else:
        os.kill(host["pid"], signal.SIGCONT)
    host["power"] = "running"
    lab.save()
