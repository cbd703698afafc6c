# SPDX-License-Identifier: GPL-3.0-or-later
"""The test lab: throwaway systemd hosts on this machine for the collection's tests.

VM hosts are QEMU TCG guests (cgroup v2, a real kernel log in the journal); container hosts are
LXC 5 system containers sharing one read-only root filesystem through overlayfs. Images are built
with mmdebstrap from the machine's own Debian sources and cached under ``.cache/lab/images`` by a
hash of their recipe. Everything one lab starts is recorded in ``.cache/lab/run/<name>/state.json``
so that ``lab down`` (from any process) removes it again. See tests/lab/README.md.

Usage, as root from the repository root: ``python -m tests.lab COMMAND`` or ``python3 tests/lab/lab.py COMMAND``.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import contextlib
import hashlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

TOOL_VERSION = "1"
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = REPO / ".cache" / "lab"
IMAGES = CACHE / "images"
RUNS = CACHE / "run"
HOOK = HERE / "hooks" / "image-hook.sh"

# Packages of every host image; VMs add a kernel and an initramfs.
BASE_PACKAGES = ["systemd-sysv", "udev", "openssh-server", "python3", "procps", "iproute2", "dbus", "kmod"]
VM_PACKAGES = ["linux-image-cloud-amd64", "initramfs-tools"]
# Per-suite additions (none so far: trixie still ships systemd-networkd in the systemd package).
SUITE_PACKAGES: Dict[str, List[str]] = {"bookworm": [], "trixie": []}
SUITES = tuple(SUITE_PACKAGES)

VM_MEMORY_MIB = 1024  # e2-micro
VM_DISK_SIZE = "2G"
TB_SIZE_MIB = 256  # TCG translation cache; QEMU's default of 1 GiB more than doubles a guest's RSS
VM_BOOT_TIMEOUT = 420
CT_BOOT_TIMEOUT = 120
SUBNET_BASE = "10.213"  # container bridges: 10.213.N.0/24, first free N
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


STOP = threading.Event()  # set by a signal: stop waiting, tear down


class Interrupted(Exception):
    pass


def log(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


def run(cmd: List[str], check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, text=True, **kwargs)


def lab_name(name: Optional[str]) -> str:
    value = name or os.environ.get("LAB_NAME") or "default"
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,19}", value):
        raise SystemExit(f"lab: invalid lab name {value!r} (lowercase letters, digits, '-', at most 20)")
    return value


# ---------------------------------------------------------------------------------------------
# Debian sources and image recipes


def host_debian_sources() -> Dict[str, str]:
    """Map 'main' and 'security' to the Debian archive URIs configured on this machine."""
    found: Dict[str, str] = {}
    entries: List[tuple] = []  # (uri, suites)
    apt = Path("/etc/apt")
    files = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]
    for path in files:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) >= 3 and words[0] == "deb":
                rest = [w for w in words[1:] if not w.startswith("[")]
                if len(rest) >= 2:
                    entries.append((rest[0], [rest[1]]))
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields: Dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[0].isspace():
                    continue
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                for uri in fields.get("uris", "").split():
                    entries.append((uri, fields.get("suites", "").split()))
    for uri, suites in entries:
        for suite in suites:
            if suite.endswith("-security") or "/updates" in suite:
                found.setdefault("security", uri.rstrip("/"))
            elif "-" not in suite and suite in (*SUITES, "stable", "oldstable", "testing", "sid"):
                found.setdefault("main", uri.rstrip("/"))
    if "main" not in found:
        raise SystemExit("lab: no Debian archive found in /etc/apt/sources.list*")
    return found


def mirror_has_suite(uri: str, suite: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/dists/{suite}/InRelease", timeout=20) as response:
            return response.status == 200
    except OSError:
        return False


def suite_mirrors(suite: str) -> List[str]:
    sources = host_debian_sources()
    if not mirror_has_suite(sources["main"], suite):
        raise SystemExit(f"lab: the configured Debian mirror {sources['main']} does not serve {suite}")
    mirrors = [f"deb {sources['main']} {suite} main", f"deb {sources['main']} {suite}-updates main"]
    if "security" in sources and mirror_has_suite(sources["security"], f"{suite}-security"):
        mirrors.append(f"deb {sources['security']} {suite}-security main")
    return mirrors


def recipe(kind: str, suite: str) -> Dict[str, Any]:
    if suite not in SUITES:
        raise SystemExit(f"lab: unknown suite {suite!r} (known: {', '.join(SUITES)})")
    packages = BASE_PACKAGES + SUITE_PACKAGES[suite] + (VM_PACKAGES if kind == "vm" else [])
    return {
        "tool_version": TOOL_VERSION,
        "kind": kind,
        "suite": suite,
        "variant": "minbase",
        "packages": sorted(packages),
        "hook_sha256": hashlib.sha256(HOOK.read_bytes()).hexdigest(),
    }


def image_dir(kind: str, suite: str) -> Path:
    key = hashlib.sha256(json.dumps(recipe(kind, suite), sort_keys=True).encode()).hexdigest()[:16]
    return IMAGES / f"{kind}-{suite}-{key}"


def image_ready(path: Path) -> bool:
    return (path / "recipe.json").is_file()


def build_image(kind: str, suite: str) -> Path:
    """Return the cached image for (kind, suite), building it first when its recipe changed."""
    final = image_dir(kind, suite)
    if image_ready(final):
        return final
    IMAGES.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{kind}-{suite}-", dir=IMAGES))
    tmp.chmod(0o755)  # apt downloads as the _apt user
    started = time.monotonic()
    try:
        rootfs = tmp / "rootfs"
        hook = f'{shlex.quote(str(HOOK))} "$1" {kind}'
        cmd = [
            "mmdebstrap",
            "--mode=root",
            "--variant=minbase",
            f"--include={','.join(recipe(kind, suite)['packages'])}",
            "--aptopt=Acquire::Retries 3",
            "--skip=cleanup/reproducible",  # keeps the hook's /etc/machine-id: no first boot
            "--essential-hook=" + hook,
            "--customize-hook=" + hook,
            suite,
            str(rootfs),
            *suite_mirrors(suite),
        ]
        log(f"building {kind} image {suite} -> {final.name} (log: {tmp.name}/build.log)")
        with open(tmp / "build.log", "w") as build_log:
            build_log.write("$ " + shlex.join(cmd) + "\n")
            build_log.flush()
            result = subprocess.run(cmd, stdout=build_log, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            tail = (tmp / "build.log").read_text().splitlines()[-30:]
            raise SystemExit(f"lab: mmdebstrap failed for {kind}/{suite}:\n" + "\n".join(tail))
        if kind == "vm":
            boot = rootfs / "boot"
            kernels = sorted(boot.glob("vmlinuz-*"))
            initrds = sorted(boot.glob("initrd.img-*"))
            if not kernels or not initrds:
                raise SystemExit(f"lab: no kernel/initrd in the {suite} VM image")
            shutil.copy2(kernels[-1], tmp / "vmlinuz")
            shutil.copy2(initrds[-1], tmp / "initrd.img")
            disk = tmp / "disk.img"
            run(["truncate", "-s", VM_DISK_SIZE, str(disk)])
            run(["mkfs.ext4", "-q", "-F", "-L", "labroot", "-d", str(rootfs), str(disk)])
            shutil.rmtree(rootfs)
        elapsed = time.monotonic() - started
        meta = dict(recipe(kind, suite), build_seconds=round(elapsed, 1), built=time.strftime("%Y-%m-%dT%H:%M:%S"))
        (tmp / "recipe.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        try:
            os.rename(tmp, final)  # atomic: readers see a complete image or none
        except OSError:
            if not image_ready(final):
                raise
            log(f"{final.name} was built concurrently; using that one")
        else:
            log(f"built {final.name} in {elapsed:.0f}s")
        return final
    finally:
        if tmp.exists():
            unmount_below(tmp)
            shutil.rmtree(tmp, ignore_errors=True)


def prune_images() -> None:
    """Remove cached images whose recipe is no longer current and leftovers of broken builds."""
    keep = {image_dir(kind, suite).name for kind in ("vm", "ct") for suite in SUITES}
    for state in all_states():
        keep.update(Path(h["image"]).name for h in state.get("hosts", []) if h.get("image"))
    for path in IMAGES.glob("*") if IMAGES.is_dir() else []:
        if path.name not in keep:
            log(f"removing stale image {path.name}")
            unmount_below(path)
            shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Mounts, processes, cgroups


def mounts_below(path: Path) -> List[str]:
    prefix = str(path)
    found = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def unmount_below(path: Path) -> None:
    for point in sorted(mounts_below(path), key=len, reverse=True):
        run(["umount", "-l", point], check=False)


def lab_processes(name: Optional[str] = None) -> List[Dict[str, Any]]:
    """QEMU, LXC and SSH client processes that belong to a lab (any lab when name is None).

    A process belongs to a lab when its command line names the lab's run directory (QEMU's image,
    serial log and pid file, LXC's lxcpath, SSH's identity file or control path) and it is one of
    those programs, so a user's shell or ansible that merely mentions the inventory is never touched.
    """
    marker = str(RUNS / name) if name else str(CACHE)
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        cmdline = b" ".join(argv).decode(errors="replace").strip()
        program = os.path.basename(argv[0].decode(errors="replace"))
        ours = program.startswith(("qemu-system", "lxc-")) or program == "ssh" or cmdline.startswith("[lxc monitor]")
        if ours and marker in cmdline:
            found.append({"pid": int(proc.name), "cmdline": cmdline})
    return found


def lab_cgroups(name: Optional[str] = None) -> List[str]:
    """The cgroups LXC made for a lab's containers (any lab when name is None), in every hierarchy."""
    prefix = f"lab-{name}-" if name else "lab-"
    found = []
    root = Path("/sys/fs/cgroup")
    for hierarchy in [root, *root.iterdir()] if root.is_dir() else []:
        if not hierarchy.is_dir():
            continue
        for entry in hierarchy.glob("lxc.*"):
            if entry.name.startswith(("lxc.payload." + prefix, "lxc.monitor." + prefix)):
                found.append(str(entry))
            elif name is None and entry.name == "lxc.pivot" and not cgroup_has_processes(entry):
                found.append(str(entry))  # LXC's scratch group, empty once no container runs
    return sorted(set(found))


def cgroup_has_processes(path: Path) -> bool:
    for procs in path.rglob("cgroup.procs"):
        with contextlib.suppress(OSError):
            if procs.read_text().strip():
                return True
    return False


def kill_cgroup_processes(path: Path) -> None:
    for procs in path.rglob("cgroup.procs"):
        with contextlib.suppress(OSError):
            for pid in procs.read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)


def remove_cgroup_tree(path: Path) -> None:
    if not path.is_dir():
        return
    for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            child.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def used_subnets() -> List[ipaddress.IPv4Network]:
    out = run(["ip", "-4", "-o", "addr", "show"], capture_output=True).stdout
    nets = [ipaddress.ip_interface(m).network for m in re.findall(r"inet (\S+)", out)]
    out = run(["ip", "-4", "route", "show", "table", "all"], capture_output=True).stdout
    for word in re.findall(r"^(?:\S+ )?(\d+\.\d+\.\d+\.\d+/\d+)", out, re.M):
        nets.append(ipaddress.ip_network(word, strict=False))
    return nets


def pick_subnet() -> ipaddress.IPv4Network:
    used = used_subnets()
    for third in range(0, 256):
        candidate = ipaddress.ip_network(f"{SUBNET_BASE}.{third}.0/24")
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise SystemExit(f"lab: no free {SUBNET_BASE}.N.0/24 subnet")


# ---------------------------------------------------------------------------------------------
# The lab


def all_states() -> List[Dict[str, Any]]:
    states = []
    for path in sorted(RUNS.glob("*/state.json")) if RUNS.is_dir() else []:
        with contextlib.suppress(OSError, ValueError):
            states.append(json.loads(path.read_text()))
    return states


class Lab:
    """One set of hosts, described by <run dir>/state.json."""

    def __init__(self, name: Optional[str] = None) -> None:
        self.name = lab_name(name)
        self.dir = RUNS / self.name
        self.state_file = self.dir / "state.json"
        self.key = self.dir / "id_ed25519"
        self.lxcpath = self.dir / "lxc"
        self.inventory_file = self.dir / "inventory.yml"
        self.lock = threading.Lock()
        self.state: Dict[str, Any] = {}
        if self.state_file.is_file():
            self.state = json.loads(self.state_file.read_text())

    # -- state ----------------------------------------------------------------------------------
    def save(self) -> None:
        with self.lock:
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.state, indent=2, sort_keys=True) + "\n")
            os.replace(tmp, self.state_file)

    @property
    def hosts(self) -> List[Dict[str, Any]]:
        return self.state.get("hosts", [])

    def exists(self) -> bool:
        return self.dir.exists()

    def ensure_absent(self) -> None:
        """Refuse to start over a lab that is up (checked before any teardown-on-failure applies)."""
        if self.exists():
            raise SystemExit(f"lab: lab {self.name!r} exists ({self.dir}); run 'lab down --name {self.name}' first")

    # -- up -------------------------------------------------------------------------------------
    def up(self, vms: List[str], containers: int, container_suite: str, memory: int, smp: int) -> None:
        started = time.monotonic()
        wanted = [("vm", suite) for suite in dict.fromkeys(vms)]
        if containers:
            wanted.append(("ct", container_suite))
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            images = dict(zip(wanted, pool.map(lambda w: build_image(*w), wanted)))
        images_done = time.monotonic()

        self.dir.mkdir(parents=True)
        self.state = {"name": self.name, "created": time.time(), "hosts": [], "tool_version": TOOL_VERSION}
        self.save()
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"lab-{self.name}", "-f", str(self.key)])
        self.state["key"] = str(self.key)
        self.save()

        counts: Dict[str, int] = {}
        for suite in vms:
            counts[suite] = counts.get(suite, 0) + 1
            host = f"vm-{suite}" if counts[suite] == 1 else f"vm-{suite}-{counts[suite]}"
            self.start_vm(host, suite, images[("vm", suite)], memory, smp)
        if containers:
            self.start_bridge()
            for index in range(1, containers + 1):
                self.start_container(f"ct{index:02d}", container_suite, images[("ct", container_suite)], index)
        self.wait_ready()
        self.state["ready_seconds"] = round(time.monotonic() - images_done, 1)
        self.state["up_seconds"] = round(time.monotonic() - started, 1)
        self.save()
        self.write_inventory()
        log(
            f"lab {self.name!r} is up: {len(self.hosts)} hosts ready in {self.state['ready_seconds']}s "
            f"(images {images_done - started:.0f}s); inventory: {self.inventory_file}"
        )

    def add_host(self, host: Dict[str, Any]) -> None:
        with self.lock:
            self.state["hosts"].append(host)
        self.save()

    def start_vm(self, host: str, suite: str, image: Path, memory: int, smp: int) -> None:
        pubkey = (self.key.with_suffix(".pub")).read_text().strip()
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
        serial = self.dir / f"{host}.serial.log"
        pidfile = self.dir / f"{host}.pid"
        tmpdir = self.dir / f"{host}.tmp"
        tmpdir.mkdir()
        for _attempt in range(5):
            port = free_port()
            cmd = [
                "qemu-system-x86_64",
                "-name",
                f"guest=lab-{self.name}-{host},process=lab-{host}"[:60],
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
            with open(self.dir / f"{host}.qemu.log", "a") as qlog:
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=qlog,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=dict(os.environ, TMPDIR=str(tmpdir)),
                    cwd=self.dir,
                )
            self.add_host(
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
                }
            )
            time.sleep(1.0)
            if proc.poll() is None:
                log(f"{host}: qemu pid {proc.pid}, ssh 127.0.0.1:{port}, serial log {serial.name}")
                return
            output = (self.dir / f"{host}.qemu.log").read_text()
            with self.lock:
                self.state["hosts"] = [h for h in self.hosts if h["name"] != host]
            self.save()
            if "hostfwd" not in output and "Could not set up host forwarding" not in output:
                raise SystemExit(f"lab: qemu for {host} failed:\n{output}")
        raise SystemExit(f"lab: no free port for {host}")

    def start_bridge(self) -> None:
        bridge = "lab" + hashlib.sha256(self.name.encode()).hexdigest()[:8]
        subnet = pick_subnet()
        gateway = f"{subnet[1]}/{subnet.prefixlen}"
        self.state["bridge"] = {"name": bridge, "subnet": str(subnet)}
        self.save()
        if Path(f"/sys/class/net/{bridge}").exists():  # left by a lab of this name that was SIGKILLed
            run(["ip", "link", "del", bridge])
        run(["ip", "link", "add", bridge, "type", "bridge"])
        run(["ip", "addr", "add", gateway, "dev", bridge])
        run(["ip", "link", "set", bridge, "up"])
        log(f"bridge {bridge} {gateway}")

    def start_container(self, host: str, suite: str, image: Path, index: int) -> None:
        bridge = self.state["bridge"]
        subnet = ipaddress.ip_network(bridge["subnet"])
        address = str(subnet[10 + index])
        lxc_name = f"lab-{self.name}-{host}"
        cdir = self.lxcpath / lxc_name
        upper = cdir / "delta0"
        (upper / "root" / ".ssh").mkdir(parents=True, mode=0o700)
        os.chmod(upper / "root", 0o700)
        keys = upper / "root" / ".ssh" / "authorized_keys"
        keys.write_text(self.key.with_suffix(".pub").read_text())
        keys.chmod(0o600)
        (upper / "etc").mkdir()
        (upper / "etc" / "machine-id").write_text(os.urandom(16).hex() + "\n")
        config = f"""\
# Generated by tests/lab/lab.py for lab {self.name}
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
lxc.console.logfile = {self.dir / (host + ".console.log")}
lxc.log.file = {self.dir / (host + ".lxc.log")}
lxc.log.level = WARN
"""
        (cdir / "config").write_text(config)
        self.add_host(
            {
                "name": host,
                "kind": "ct",
                "suite": suite,
                "image": str(image),
                "lxc_name": lxc_name,
                "address": address,
                "port": 22,
                "started": time.time(),
            }
        )
        run(["lxc-start", "-P", str(self.lxcpath), "-n", lxc_name, "-d"])
        run(["lxc-wait", "-P", str(self.lxcpath), "-n", lxc_name, "-s", "RUNNING", "-t", "30"])

    def ssh(self, host: Dict[str, Any], command: str, timeout: int = 60) -> subprocess.CompletedProcess:
        cmd = ["ssh", *SSH_OPTIONS, "-i", str(self.key), "-p", str(host["port"]), f"root@{host['address']}", command]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)

    def wait_host(self, host: Dict[str, Any]) -> Dict[str, Any]:
        deadline = time.monotonic() + (VM_BOOT_TIMEOUT if host["kind"] == "vm" else CT_BOOT_TIMEOUT)
        last = ""
        while time.monotonic() < deadline and not STOP.is_set():
            if host["kind"] == "vm" and not pid_alive(host["pid"]):
                raise SystemExit(f"lab: {host['name']}: qemu exited; see {host['serial_log']}")
            try:
                result = self.ssh(host, "systemctl is-system-running --wait", timeout=20)
            except subprocess.TimeoutExpired:
                last = "ssh timed out"
                continue
            state = result.stdout.strip()
            if state in SETTLED:
                ready = round(time.time() - host["started"], 1)
                failed = ""
                if state == "degraded":
                    failed = self.ssh(host, "systemctl --failed --plain --no-legend").stdout.strip()
                    log(f"{host['name']}: degraded; failed units: {failed}")
                log(f"{host['name']}: {state} after {ready}s")
                return {"system_state": state, "ready_seconds": ready, "failed_units": failed}
            last = (state or result.stderr.strip())[-300:]
            STOP.wait(1 if host["kind"] == "ct" else 3)
        if STOP.is_set():
            raise Interrupted("stopped")
        raise SystemExit(f"lab: {host['name']} did not settle (last: {last})")

    def wait_ready(self) -> None:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(self.hosts))) as pool:
            results = list(pool.map(self.wait_host, self.hosts))
        for host, result in zip(self.hosts, results):
            host.update(result)
        self.save()

    # -- inventory ------------------------------------------------------------------------------
    def hostvars(self, host: Dict[str, Any]) -> Dict[str, Any]:
        return {
            "ansible_host": host["address"],
            "ansible_port": host["port"],
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.key),
            "ansible_ssh_common_args": " ".join(SSH_OPTIONS[:8]),
            "ansible_python_interpreter": "/usr/bin/python3",
            "lab_kind": host["kind"],
            "lab_suite": host["suite"],
        }

    def inventory(self) -> Dict[str, Any]:
        groups: Dict[str, Dict[str, Any]] = {"vms": {}, "containers": {}}
        for suite in SUITES:
            groups[suite] = {}
        for host in self.hosts:
            groups["vms" if host["kind"] == "vm" else "containers"][host["name"]] = self.hostvars(host)
            groups[host["suite"]][host["name"]] = {}
        return {"all": {"children": {g: {"hosts": hosts} for g, hosts in groups.items() if hosts}}}

    def instance_config(self) -> List[Dict[str, Any]]:
        """The list Molecule's default driver reads from its instance_config.yml."""
        return [
            {
                "instance": host["name"],
                "address": host["address"],
                "port": host["port"],
                "user": "root",
                "identity_file": str(self.key),
            }
            for host in self.hosts
        ]

    def write_inventory(self) -> None:
        self.inventory_file.write_text(
            "# SPDX-License-Identifier: GPL-3.0-or-later\n"
            f"# Generated by tests/lab/lab.py for lab {self.name}\n" + to_yaml(self.inventory())
        )

    # -- down -----------------------------------------------------------------------------------
    def down(self) -> List[str]:
        """Remove everything this lab started; return what could not be removed."""
        if not self.exists():
            return []
        for host in self.hosts:
            if host["kind"] == "ct":
                run(
                    ["lxc-stop", "-P", str(self.lxcpath), "-n", host["lxc_name"], "-k"],
                    check=False,
                    capture_output=True,
                )
        for host in self.hosts:
            if host["kind"] == "vm":
                stop_pid(host["pid"], str(self.dir))
        # Anything else of ours still running (also from a state file that missed an update).
        for proc in lab_processes(self.name):
            stop_pid(proc["pid"], str(self.dir))
        # A container that did not stop: kill what is left in its cgroups, then remove them.
        for path in lab_cgroups(self.name):
            kill_cgroup_processes(Path(path))
        if lab_cgroups(self.name):
            time.sleep(0.5)
        for path in lab_cgroups(self.name):
            remove_cgroup_tree(Path(path))
        for pivot in Path("/sys/fs/cgroup").glob("*/lxc.pivot"):
            with contextlib.suppress(OSError):
                pivot.rmdir()  # LXC's scratch group; fails harmlessly while another container uses it
        bridge = self.state.get("bridge", {}).get("name")
        if bridge and Path(f"/sys/class/net/{bridge}").exists():
            run(["ip", "link", "del", bridge], check=False)
        unmount_below(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)
        leftovers = leftovers_of(self.name)
        if self.dir.exists():
            leftovers.append(f"run dir {self.dir}")
        return leftovers


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True


def stop_pid(pid: int, marker: str) -> None:
    """Stop a process only if its command line names our run dir (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return
    if marker not in cmdline:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def leftovers_of(name: Optional[str] = None) -> List[str]:
    found = [f"process {p['pid']}: {p['cmdline'][:200]}" for p in lab_processes(name)]
    found += [f"cgroup {path}" for path in lab_cgroups(name)]
    found += [f"mount {point}" for point in mounts_below(RUNS / name if name else CACHE)]
    if name is None:
        found += [f"bridge {b.name}" for b in Path("/sys/class/net").glob("lab*") if (b / "bridge").is_dir()]
        found += [f"run dir {d}" for d in sorted(RUNS.glob("*"))] if RUNS.is_dir() else []
    return found


def to_yaml(data: Any, indent: int = 0) -> str:
    """A small YAML writer for the inventory (dicts of dicts/str/int); keeps the lab stdlib-only."""
    lines = []
    pad = "  " * indent
    for key, value in data.items():
        if isinstance(value, dict):
            if value:
                lines.append(f"{pad}{key}:")
                lines.append(to_yaml(value, indent + 1).rstrip("\n"))
            else:
                lines.append(f"{pad}{key}: {{}}")
        else:
            lines.append(f"{pad}{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def rss_of(host: Dict[str, Any], lab: Lab) -> Optional[int]:
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


# ---------------------------------------------------------------------------------------------
# Command line


@contextlib.contextmanager
def teardown_on_failure(lab: Lab) -> Iterator[None]:
    """Bring the lab down when the body fails or a signal arrives (used by up and run)."""

    def handler(signum: int, _frame: Any) -> None:
        STOP.set()  # lets the threads that wait for hosts give up at once
        raise Interrupted(f"signal {signum}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    except BaseException:
        log(f"tearing lab {lab.name!r} down after a failure")
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        Lab(lab.name).down()
        raise
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def cmd_up(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    vms = [s for s in args.vms.split(",") if s] if args.vms else []
    if not vms and not args.containers:
        raise SystemExit("lab: nothing to start (use --vms and/or --containers)")
    lab.ensure_absent()
    with teardown_on_failure(lab):
        lab.up(vms, args.containers, args.container_suite, args.memory, args.smp)
    if args.instance_config:
        Path(args.instance_config).write_text(
            "# Molecule managed (tests/lab/lab.py)\n" + json.dumps(lab.instance_config(), indent=2) + "\n"
        )
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    if not lab.exists():
        log(f"lab {lab.name!r} is not up")
        return 0
    leftovers = lab.down()
    for item in leftovers:
        log(f"left behind: {item}")
    log(f"lab {lab.name!r} is down" if not leftovers else "down incomplete")
    return 1 if leftovers else 0


def cmd_inventory(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    if not lab.state:
        raise SystemExit(f"lab: lab {lab.name!r} is not up")
    if args.format == "path":
        text = str(lab.inventory_file) + "\n"
    elif args.format == "json":
        text = json.dumps(lab.inventory(), indent=2) + "\n"
    elif args.format == "instance-config":
        text = json.dumps(lab.instance_config(), indent=2) + "\n"
    else:
        text = lab.inventory_file.read_text()
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    names = [args.name] if args.name or os.environ.get("LAB_NAME") else [s["name"] for s in all_states()]
    if not names:
        print("no lab is up")
    for name in names:
        lab = Lab(name)
        if not lab.state:
            print(f"lab {name}: not up")
            continue
        print(f"lab {name}: {lab.dir}  (up in {lab.state.get('up_seconds', '?')}s)")
        if lab.state.get("bridge"):
            print(f"  bridge {lab.state['bridge']['name']} {lab.state['bridge']['subnet']}")
        print(f"  {'host':<16}{'kind':<5}{'suite':<10}{'ssh':<22}{'state':<11}{'ready':>7}{'RSS MiB':>9}")
        for host in lab.hosts:
            alive = pid_alive(host["pid"]) if host["kind"] == "vm" else bool(lab_cgroups_of(host))
            state = "stopped"
            if alive:
                try:
                    state = lab.ssh(host, "systemctl is-system-running", timeout=20).stdout.strip() or "no-ssh"
                except subprocess.TimeoutExpired:
                    state = "no-ssh"
            rss = rss_of(host, lab)
            print(
                f"  {host['name']:<16}{host['kind']:<5}{host['suite']:<10}"
                f"{host['address'] + ':' + str(host['port']):<22}{state:<11}"
                f"{str(host.get('ready_seconds', '-')) + 's':>7}{'-' if rss is None else round(rss / 2**20):>9}"
            )
        print(f"  inventory: {lab.inventory_file}")
    return 0


def lab_cgroups_of(host: Dict[str, Any]) -> List[str]:
    return [p for p in lab_cgroups() if p.endswith("lxc.payload." + host["lxc_name"])]


def cmd_check_clean(_args: argparse.Namespace) -> int:
    leftovers = leftovers_of(None)
    for item in leftovers:
        print(f"left behind: {item}")
    if leftovers:
        print("lab: NOT clean (run 'python -m tests.lab down --all' to remove it)")
        return 1
    print("lab: clean (no lab processes, containers, cgroups, mounts, bridges or run dirs)")
    return 0


def cmd_down_all(_args: argparse.Namespace) -> int:
    status = 0
    for path in sorted(RUNS.glob("*")) if RUNS.is_dir() else []:
        for item in Lab(path.name).down():
            log(f"left behind: {item}")
            status = 1
    return status


def cmd_build(args: argparse.Namespace) -> int:
    wanted = [("vm", s) for s in args.vms.split(",") if s] + [("ct", s) for s in args.containers.split(",") if s]
    for kind, suite in wanted:
        started = time.monotonic()
        path = build_image(kind, suite)
        print(f"{kind} {suite}: {path.relative_to(REPO)} ({time.monotonic() - started:.1f}s)")
    if args.prune:
        prune_images()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """lab up, run a command with LAB_INVENTORY set, lab down whatever happens."""
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SystemExit("lab: run needs a command after --")
    lab = Lab(args.name)
    vms = [s for s in args.vms.split(",") if s] if args.vms else []
    rc = 1
    lab.ensure_absent()
    with teardown_on_failure(lab):
        lab.up(vms, args.containers, args.container_suite, args.memory, args.smp)
        env = dict(os.environ, LAB_NAME=lab.name, LAB_INVENTORY=str(lab.inventory_file))
        rc = subprocess.run(command, env=env, check=False).returncode
    leftovers = Lab(lab.name).down()
    for item in leftovers:
        log(f"left behind: {item}")
    log(f"lab {lab.name!r} is down; command exited {rc}")
    return rc or (1 if leftovers else 0)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="lab", description=__doc__.split("\n\n", maxsplit=1)[0])
    top.add_argument("--name", help="lab name (default: $LAB_NAME or 'default'); several labs can be up at once")
    sub = top.add_subparsers(dest="command_name", required=True)
    # --name is accepted after the command too ("lab down --name x"); absent there, the top-level one counts.
    named = argparse.ArgumentParser(add_help=False)
    named.add_argument("--name", default=argparse.SUPPRESS, help="lab name (as before the command)")

    def host_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--vms", default="", help="comma-separated suites of VM hosts, e.g. bookworm,trixie")
        p.add_argument("--containers", type=int, default=0, help="number of LXC container hosts")
        p.add_argument("--container-suite", default="bookworm", choices=SUITES)
        p.add_argument("--memory", type=int, default=VM_MEMORY_MIB, help="VM memory in MiB (default: 1024)")
        p.add_argument("--smp", type=int, default=1, help="vCPUs per VM (default: 1)")

    p = sub.add_parser("up", parents=[named], help="build/reuse images, boot the hosts, wait until they settle")
    host_options(p)
    p.add_argument("--instance-config", help="also write Molecule's instance_config.yml here")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", parents=[named], help="stop and remove everything of a lab")
    p.add_argument("--all", action="store_true", help="every lab under .cache/lab/run")
    p.set_defaults(func=lambda a: cmd_down_all(a) if a.all else cmd_down(a))
    p = sub.add_parser("status", parents=[named], help="hosts, their state and memory")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("inventory", parents=[named], help="print the Ansible inventory of a lab")
    p.add_argument("--format", choices=["yaml", "json", "path", "instance-config"], default="yaml")
    p.add_argument("--output", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_inventory)
    p = sub.add_parser("check-clean", parents=[named], help="exit 1 if anything of any lab is left")
    p.set_defaults(func=cmd_check_clean)
    p = sub.add_parser("build", parents=[named], help="build (or reuse) images without starting hosts")
    p.add_argument("--vms", default="bookworm,trixie")
    p.add_argument("--containers", default="bookworm")
    p.add_argument("--prune", action="store_true", help="remove images of old recipes")
    p.set_defaults(func=cmd_build)
    p = sub.add_parser("run", parents=[named], help="up, run a command (LAB_INVENTORY set), down")
    host_options(p)
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_run)
    return top


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    if os.geteuid() != 0 and args.command_name not in ("inventory", "status"):
        raise SystemExit("lab: needs root (LXC, bridges, mmdebstrap)")
    try:
        return args.func(args)
    except Interrupted as exc:
        log(f"interrupted ({exc})")
        return 130


if __name__ == "__main__":
    sys.exit(main())
