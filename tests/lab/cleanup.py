# SPDX-License-Identifier: GPL-3.0-or-later
"""Finding and removing what labs leave on this machine: processes, container cgroups, mounts, run dirs.

A process is only ever stopped when its command line names the lab's run dir (pids get reused), and only the
cgroups LXC made for a lab's containers are touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from tests.lab.common import CACHE, RUNS, run


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
        ours = program.startswith(("qemu-system", "lxc-")) or program in ("ssh", "lxcfs")
        ours = ours or cmdline.startswith("[lxc monitor]")
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


def thaw_cgroup(path: Path) -> None:
    """Thaw a frozen cgroup tree (v1 freezer.state, v2 cgroup.freeze), so that its processes can be killed."""
    for name, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
        for control in [path / name, *path.rglob(name)]:
            with contextlib.suppress(OSError):
                control.write_text(value)


def remove_cgroup_tree(path: Path) -> None:
    if not path.is_dir():
        return
    for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            child.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()


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
        os.kill(pid, signal.SIGCONT)  # a frozen (SIGSTOPped) VM
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
