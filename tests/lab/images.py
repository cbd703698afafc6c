# SPDX-License-Identifier: GPL-3.0-or-later
"""Host images: Debian root filesystems built with mmdebstrap from this machine's Debian sources, cached under
``.cache/lab/images`` by a hash of their recipe (suite, packages, the hook script, the tool version)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

from tests.lab.cleanup import unmount_below
from tests.lab.common import HERE, IMAGES, TOOL_VERSION, all_states, log, run

HOOK = HERE / "hooks" / "image-hook.sh"

# Packages of every host image; VMs add a kernel and an initramfs.
BASE_PACKAGES = ["systemd-sysv", "udev", "openssh-server", "python3", "procps", "iproute2", "dbus", "kmod"]
# Installed for the roles and oom_facts to use, not running (the image hook disables them).
OOM_PACKAGES = ["earlyoom", "systemd-oomd", "sysstat"]
VM_PACKAGES = ["linux-image-cloud-amd64", "initramfs-tools"]
# Per-suite additions (none so far: trixie still ships systemd-networkd in the systemd package).
SUITE_PACKAGES: Dict[str, List[str]] = {"bookworm": [], "trixie": []}
SUITES = tuple(SUITE_PACKAGES)

VM_DISK_SIZE = "2G"


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
    packages = BASE_PACKAGES + OOM_PACKAGES + SUITE_PACKAGES[suite] + (VM_PACKAGES if kind == "vm" else [])
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
