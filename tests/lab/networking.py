# SPDX-License-Identifier: GPL-3.0-or-later
"""Networking of the lab: free loopback ports for the VMs' SSH forwarding, the containers' bridge and subnet."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
from pathlib import Path
from typing import List

from tests.lab.common import log, run

SUBNET_BASE = "10.213"  # container bridges: 10.213.N.0/24, first free N


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


def bridge_name(lab_name: str) -> str:
    return "lab" + hashlib.sha256(lab_name.encode()).hexdigest()[:8]


def create_bridge(name: str, subnet: ipaddress.IPv4Network) -> None:
    """Create the bridge with the subnet's first address (only on this machine: no forwarding, no NAT)."""
    gateway = f"{subnet[1]}/{subnet.prefixlen}"
    if Path(f"/sys/class/net/{name}").exists():  # left by a lab of this name that was SIGKILLed
        run(["ip", "link", "del", name])
    run(["ip", "link", "add", name, "type", "bridge"])
    run(["ip", "addr", "add", gateway, "dev", name])
    run(["ip", "link", "set", name, "up"])
    log(f"bridge {name} {gateway}")


def delete_bridge(name: str) -> None:
    if name and Path(f"/sys/class/net/{name}").exists():
        run(["ip", "link", "del", name], check=False)
