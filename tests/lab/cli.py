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
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

from tests.lab import hosts, inventory
from tests.lab.cleanup import leftovers_of, pid_alive
from tests.lab.common import REPO, RUNS, STOP, Interrupted, all_states, log
from tests.lab.hostlab import HostLab
from tests.lab.images import SUITES, build_image, prune_images


@contextlib.contextmanager
def teardown_on_failure(lab: HostLab) -> Iterator[None]:
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
        HostLab(lab.name).down()
        raise
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def cmd_up(args: argparse.Namespace) -> int:
    lab = HostLab(args.name)
    vms = vm_specs(args.vms)
    if not vms and not args.containers:
        raise SystemExit("lab: nothing to start (use --vms and/or --containers)")
    lab.ensure_absent()
    with teardown_on_failure(lab):
        lab.up(vms, args.containers, args.container_suite, args.memory, args.smp, args.container_memory)
    if args.instance_config:
        Path(args.instance_config).write_text(
            "# Molecule managed (tests/lab/lab.py)\n" + json.dumps(inventory.instance_config(lab), indent=2) + "\n"
        )
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    lab = HostLab(args.name)
    if not lab.exists():
        log(f"lab {lab.name!r} is not up")
        return 0
    leftovers = lab.down()
    for item in leftovers:
        log(f"left behind: {item}")
    log(f"lab {lab.name!r} is down" if not leftovers else "down incomplete")
    return 1 if leftovers else 0


def cmd_inventory(args: argparse.Namespace) -> int:
    lab = HostLab(args.name)
    if not lab.state:
        raise SystemExit(f"lab: lab {lab.name!r} is not up")
    if args.format == "path":
        text = str(lab.inventory_file) + "\n"
    elif args.format == "json":
        text = json.dumps(inventory.inventory(lab), indent=2) + "\n"
    elif args.format == "instance-config":
        text = json.dumps(inventory.instance_config(lab), indent=2) + "\n"
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
        lab = HostLab(name)
        if not lab.state:
            print(f"lab {name}: not up")
            continue
        print(f"lab {name}: {lab.dir}  (up in {lab.state.get('up_seconds', '?')}s)")
        if lab.state.get("bridge"):
            print(f"  bridge {lab.state['bridge']['name']} {lab.state['bridge']['subnet']}")
        print(f"  {'host':<16}{'kind':<5}{'suite':<10}{'ssh':<22}{'state':<11}{'ready':>7}{'RSS MiB':>9}")
        for host in lab.hosts:
            alive = pid_alive(host["pid"]) if host["kind"] == "vm" else bool(hosts.lab_cgroups_of(host))
            state = "stopped" if not alive else host.get("power", "running")
            if state == "running":
                try:
                    state = hosts.ssh(lab, host, "systemctl is-system-running", timeout=20).stdout.strip() or "no-ssh"
                except subprocess.TimeoutExpired:
                    state = "no-ssh"
            rss = hosts.rss_of(host)
            print(
                f"  {host['name']:<16}{host['kind']:<5}{host['suite']:<10}"
                f"{host['address'] + ':' + str(host['port']):<22}{state:<11}"
                f"{str(host.get('ready_seconds', '-')) + 's':>7}{'-' if rss is None else round(rss / 2**20):>9}"
            )
        print(f"  inventory: {lab.inventory_file}")
    return 0


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
        for item in HostLab(path.name).down():
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
    lab = HostLab(args.name)
    vms = vm_specs(args.vms)
    rc = 1
    lab.ensure_absent()
    with teardown_on_failure(lab):
        lab.up(vms, args.containers, args.container_suite, args.memory, args.smp, args.container_memory)
        env = dict(os.environ, LAB_NAME=lab.name, LAB_INVENTORY=str(lab.inventory_file))
        rc = subprocess.run(command, env=env, check=False).returncode
    leftovers = HostLab(lab.name).down()
    for item in leftovers:
        log(f"left behind: {item}")
    log(f"lab {lab.name!r} is down; command exited {rc}")
    return rc or (1 if leftovers else 0)


def memory_sizes(text: str) -> List[int]:
    """'512M,1G,2048' -> [512, 1024, 2048] (MiB; a bare number is MiB)."""
    sizes = []
    for word in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*([MG]?)i?B?\s*", word, re.IGNORECASE)
        if not match or int(match.group(1)) == 0:
            raise argparse.ArgumentTypeError(f"not a memory size: {word!r} (e.g. 512M, 1G)")
        sizes.append(int(match.group(1)) * (1024 if match.group(2).upper() == "G" else 1))
    return sizes


def vm_specs(text: str) -> List[Tuple[str, Optional[int]]]:
    """'bookworm:512M,trixie' -> [('bookworm', 512), ('trixie', None)]: suites, each with its own memory or not."""
    specs = []
    for word in filter(None, text.split(",")):
        suite, _colon, size = word.partition(":")
        if suite not in SUITES:
            raise SystemExit(f"lab: unknown suite {suite!r} in --vms (known: {', '.join(SUITES)})")
        specs.append((suite, memory_sizes(size)[0] if size else None))
    return specs


def cmd_power(args: argparse.Namespace) -> int:
    """stop, start, freeze or thaw hosts of a lab that is up (between two plays of a playbook, for example)."""
    lab = HostLab(args.name)
    if not lab.state:
        raise SystemExit(f"lab: lab {lab.name!r} is not up")
    by_name = {host["name"]: host for host in lab.hosts}
    unknown = [name for name in args.hosts if name not in by_name]
    if unknown:
        raise SystemExit(f"lab: no host {', '.join(unknown)} in lab {lab.name!r} (hosts: {', '.join(by_name)})")
    action = {"stop": hosts.stop_host, "start": hosts.start_host, "freeze": hosts.freeze_host, "thaw": hosts.thaw_host}
    for name in args.hosts:
        action[args.action](lab, by_name[name])
        log(f"{name}: {by_name[name].get('power', 'running')}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="lab", description=__doc__.split("\n\n", maxsplit=1)[0])
    top.add_argument("--name", help="lab name (default: $LAB_NAME or 'default'); several labs can be up at once")
    sub = top.add_subparsers(dest="command_name", required=True)
    # --name is accepted after the command too ("lab down --name x"); absent there, the top-level one counts.
    named = argparse.ArgumentParser(add_help=False)
    named.add_argument("--name", default=argparse.SUPPRESS, help="lab name (as before the command)")

    def host_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--vms",
            default="",
            help="comma-separated suites of VM hosts, each with its own memory or not, e.g. bookworm:512M,trixie",
        )
        p.add_argument("--containers", type=int, default=0, help="number of LXC container hosts")
        p.add_argument("--container-suite", default="bookworm", choices=SUITES)
        p.add_argument("--memory", type=int, default=hosts.VM_MEMORY_MIB, help="VM memory in MiB (default: 1024)")
        p.add_argument("--smp", type=int, default=1, help="vCPUs per VM (default: 1)")
        p.add_argument(
            "--container-memory",
            type=memory_sizes,
            default=[],
            metavar="SIZES",
            help="memory limits of the containers in turn, seen as their RAM, e.g. 512M,1G,2G,4G (default: none)",
        )

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
    for command, what in (
        ("stop", "power hosts off at once: SSH fails, Ansible marks them UNREACHABLE"),
        ("start", "boot stopped hosts again and wait until they settle"),
        ("freeze", "freeze hosts: they accept TCP and never answer, like a hung host"),
        ("thaw", "let frozen hosts run again"),
    ):
        p = sub.add_parser(command, parents=[named], help=what)
        p.add_argument("hosts", nargs="+", metavar="HOST", help="host names (vm-bookworm, ct01, ...)")
        p.set_defaults(func=cmd_power, action=command)
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
