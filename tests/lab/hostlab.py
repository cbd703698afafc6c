# SPDX-License-Identifier: GPL-3.0-or-later
"""``HostLab``: one set of lab hosts, described by ``.cache/lab/run/<name>/state.json``, brought up and down."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from tests.lab import hosts, inventory
from tests.lab.cleanup import (
    kill_cgroup_processes,
    lab_cgroups,
    lab_processes,
    leftovers_of,
    remove_cgroup_tree,
    stop_pid,
    thaw_cgroup,
    unmount_below,
)
from tests.lab.common import RUNS, TOOL_VERSION, lab_name, log, run
from tests.lab.images import build_image
from tests.lab.networking import bridge_name, create_bridge, delete_bridge, pick_subnet


class HostLab:
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
    def up(
        self,
        vms: Sequence[Tuple[str, Optional[int]]],
        containers: int,
        container_suite: str,
        memory: int,
        smp: int,
        container_memory: Sequence[int] = (),
    ) -> None:
        """Boot ``vms`` ((suite, MiB or None for ``memory``) each) and ``containers`` containers;
        ``container_memory`` (MiB) limits the containers' memory in turn (512, 1024: ct01 512, ct02 1024, ...)."""
        started = time.monotonic()
        self.dir.mkdir(parents=True)
        self.state = {"name": self.name, "created": time.time(), "hosts": [], "tool_version": TOOL_VERSION}
        self.save()
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"lab-{self.name}", "-f", str(self.key)])
        self.state["key"] = str(self.key)
        self.save()

        planned_vms = []
        counts: Dict[str, int] = {}
        for suite, size in vms:
            counts[suite] = counts.get(suite, 0) + 1
            name = f"vm-{suite}" if counts[suite] == 1 else f"vm-{suite}-{counts[suite]}"
            planned_vms.append((name, suite, size or memory))
        planned = [vm[0] for vm in planned_vms] + [f"ct{index:02d}" for index in range(1, containers + 1)]
        wanted = [("vm", suite) for suite in dict.fromkeys(suite for suite, _size in vms)]
        if containers:
            wanted.append(("ct", container_suite))
        # Hosts start as soon as their image is there: a VM boots while the other images are still built.
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            builds = {pool.submit(build_image, kind, suite): (kind, suite) for kind, suite in wanted}
            for built in concurrent.futures.as_completed(builds):
                kind, suite = builds[built]
                image = built.result()
                if kind == "vm":
                    for host, vm_suite, vm_memory in planned_vms:
                        if vm_suite == suite:
                            hosts.start_vm(self, host, suite, image, vm_memory, smp)
                else:
                    self.start_containers(containers, suite, image, container_memory)
        images_done = time.monotonic()
        with self.lock:
            self.state["hosts"].sort(key=lambda host: planned.index(host["name"]))
        self.save()
        hosts.wait_ready(self)
        self.state["ready_seconds"] = round(time.monotonic() - images_done, 1)
        self.state["up_seconds"] = round(time.monotonic() - started, 1)
        self.save()
        inventory.write_inventory(self)
        log(
            f"lab {self.name!r} is up: {len(self.hosts)} hosts ready in {self.state['ready_seconds']}s "
            f"(images and starts {images_done - started:.0f}s); inventory: {self.inventory_file}"
        )

    def start_containers(self, count: int, suite: str, image: Path, memory: Sequence[int]) -> None:
        """Start ct01..ctNN on the lab's bridge; ``memory`` (MiB) limits them in turn."""
        self.start_bridge()
        if memory:
            hosts.start_lxcfs(self)
        for index in range(1, count + 1):
            size = memory[(index - 1) % len(memory)] if memory else None
            hosts.start_container(self, f"ct{index:02d}", suite, image, index, size)

    def add_host(self, host: Dict[str, Any]) -> None:
        with self.lock:
            self.state["hosts"].append(host)
        self.save()

    def start_bridge(self) -> None:
        name = bridge_name(self.name)
        subnet = pick_subnet()
        self.state["bridge"] = {"name": name, "subnet": str(subnet)}
        self.save()
        create_bridge(name, subnet)

    def down(self) -> List[str]:
        """Remove everything this lab started; return what could not be removed."""
        if not self.exists():
            return []
        for host in self.hosts:
            if host["kind"] == "ct":
                for command in ("lxc-unfreeze", "lxc-stop"):  # the processes of a frozen container cannot die
                    argv = [command, "-P", str(self.lxcpath), "-n", host["lxc_name"]]
                    run(argv + (["-k"] if command == "lxc-stop" else []), check=False, capture_output=True)
        for host in self.hosts:
            if host["kind"] == "vm":
                stop_pid(host["pid"], str(self.dir))
        # Anything else of ours still running (also from a state file that missed an update).
        for proc in lab_processes(self.name):
            stop_pid(proc["pid"], str(self.dir))
        # A container that did not stop: kill what is left in its cgroups, then remove them.
        for path in lab_cgroups(self.name):
            thaw_cgroup(Path(path))
            kill_cgroup_processes(Path(path))
        if lab_cgroups(self.name):
            time.sleep(0.5)
        for path in lab_cgroups(self.name):
            remove_cgroup_tree(Path(path))
        for pivot in Path("/sys/fs/cgroup").glob("*/lxc.pivot"):
            with contextlib.suppress(OSError):
                pivot.rmdir()  # LXC's scratch group; fails harmlessly while another container uses it
        delete_bridge(self.state.get("bridge", {}).get("name", ""))
        unmount_below(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)
        leftovers = leftovers_of(self.name)
        if self.dir.exists():
            leftovers.append(f"run dir {self.dir}")
        return leftovers
