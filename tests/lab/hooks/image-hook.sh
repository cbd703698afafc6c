#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# mmdebstrap hook of the lab images (tests/lab/lab.py); its content is part of the image cache key.
# Called as: image-hook.sh ROOTFS KIND   with KIND = vm | ct, and MMDEBSTRAP_HOOK = essential | customize.
# Nothing per-host or per-lab goes into the image: SSH key, hostname and machine id come at boot.
set -eu
rootfs=$1
kind=$2

if [ "${MMDEBSTRAP_HOOK:-}" = essential ]; then
    # Before the kernel is installed: a small initramfs with only what a QEMU virtio guest needs.
    if [ "$kind" = vm ]; then
        mkdir -p "$rootfs/etc/initramfs-tools/conf.d"
        printf 'MODULES=list\nCOMPRESS=gzip\n' >"$rootfs/etc/initramfs-tools/conf.d/lab.conf"
        mkdir -p "$rootfs/etc/initramfs-tools"
        printf 'virtio_pci\nvirtio_blk\nvirtio_net\next4\n' >"$rootfs/etc/initramfs-tools/modules"
    fi
    exit 0
fi

# --- customize: runs once, after all packages are installed -------------------------------------
# Units a short-lived test host does not need; masked rather than disabled, so that no preset can
# turn them on again.
for unit in apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service \
    man-db.timer man-db.service e2scrub_all.timer e2scrub_all.service e2scrub_reap.service \
    fstrim.timer fstrim.service dpkg-db-backup.timer dpkg-db-backup.service logrotate.timer \
    systemd-networkd-wait-online.service systemd-timesyncd.service remote-fs.target \
    systemd-pstore.service; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done

# The userspace OOM killers and sysstat are installed for the roles to turn on; an image starts
# none of them. earlyoom and systemd-oomd enable themselves when installed (sysstat does not: its
# debconf default is off), so they are disabled here, not masked: `systemctl enable --now` works.
for unit in earlyoom.service systemd-oomd.service systemd-oomd.socket sysstat.service \
    sysstat-collect.timer sysstat-summary.timer; do
    if [ -e "$rootfs/lib/systemd/system/$unit" ] || [ -e "$rootfs/usr/lib/systemd/system/$unit" ]; then
        chroot "$rootfs" systemctl disable --quiet "$unit"
    fi
done

# Not a first boot: a first boot (empty /etc/machine-id) applies presets and runs first-boot units.
# The lab gives every host its own id at boot (systemd.machine_id= for VMs, /etc/machine-id in the
# container's overlay). ConditionNeedsUpdate= units (hwdb, ldconfig, catalog) are done here, once.
tr -d '-' </proc/sys/kernel/random/uuid >"$rootfs/etc/machine-id"
chroot "$rootfs" systemd-hwdb update || true
chroot "$rootfs" journalctl --update-catalog || true
touch "$rootfs/etc/.updated" "$rootfs/var/.updated"

# journald keeps the log on disk, so journalctl -k shows this boot's kernel log and kills survive a
# journald restart.
mkdir -p "$rootfs/etc/systemd/journald.conf.d" "$rootfs/var/log/journal"
printf '[Journal]\nStorage=persistent\n' >"$rootfs/etc/systemd/journald.conf.d/lab.conf"

# No static hostname: the kernel command line (VM) or lxc.uts.name (container) names the host.
rm -f "$rootfs/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"

# SSH: root by key only; no DNS lookups of the client.
mkdir -p "$rootfs/etc/ssh/sshd_config.d" "$rootfs/root/.ssh"
chmod 700 "$rootfs/root/.ssh"
printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' \
    >"$rootfs/etc/ssh/sshd_config.d/lab.conf"

mkdir -p "$rootfs/etc/systemd/network"
if [ "$kind" = vm ]; then
    # QEMU user-mode networking hands out 10.0.2.15 by DHCP.
    printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' \
        >"$rootfs/etc/systemd/network/10-lab.network"
    ln -sf /lib/systemd/system/systemd-networkd.service \
        "$rootfs/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
    printf '/dev/vda / ext4 rw,errors=remount-ro 0 0\n' >"$rootfs/etc/fstab"
    # The per-lab public key comes on the kernel command line: lab.ssh_key=<base64 of the key line>.
    cat >"$rootfs/usr/local/sbin/lab-ssh-key" <<'SCRIPT'
#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Install the lab's public key (kernel command line lab.ssh_key=BASE64) for root.
set -eu
for word in $(cat /proc/cmdline); do
    case "$word" in
        lab.ssh_key=*) key=${word#lab.ssh_key=} ;;
    esac
done
[ -n "${key:-}" ] || exit 0
install -d -m 0700 /root/.ssh
printf '%s' "$key" | base64 -d >/root/.ssh/authorized_keys
chmod 0600 /root/.ssh/authorized_keys
SCRIPT
    chmod 0755 "$rootfs/usr/local/sbin/lab-ssh-key"
    cat >"$rootfs/etc/systemd/system/lab-ssh-key.service" <<'UNIT'
[Unit]
Description=Install the lab SSH key from the kernel command line
DefaultDependencies=no
After=local-fs.target
Before=ssh.service sysinit.target
ConditionKernelCommandLine=lab.ssh_key

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/lab-ssh-key
RemainAfterExit=yes

[Install]
WantedBy=sysinit.target
UNIT
    mkdir -p "$rootfs/etc/systemd/system/sysinit.target.wants"
    ln -sf /etc/systemd/system/lab-ssh-key.service \
        "$rootfs/etc/systemd/system/sysinit.target.wants/lab-ssh-key.service"
    # Module loads and pseudo file systems a test VM does not need cost seconds each under TCG.
    for unit in modprobe@fuse.service modprobe@dm_mod.service modprobe@loop.service modprobe@drm.service \
        modprobe@efi_pstore.service sys-fs-fuse-connections.mount sys-kernel-tracing.mount \
        sys-kernel-debug.mount dev-hugepages.mount; do
        ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
    done
    mkdir -p "$rootfs/etc/modprobe.d"
    printf 'blacklist %s\n' kvm kvm_amd kvm_intel pcspkr serio_raw floppy joydev psmouse evdev \
        i2c_piix4 crc32_pclmul crct10dif_pclmul ghash_clmulni_intel sha512_ssse3 aesni_intel \
        >"$rootfs/etc/modprobe.d/lab.conf"
    chroot "$rootfs" update-initramfs -u -k all
else
    # LXC configures the address of eth0 before init starts; networkd must leave it alone, and the
    # container has no consoles to serve.
    printf '' >"$rootfs/etc/fstab"
    for unit in systemd-networkd.service systemd-networkd.socket console-getty.service \
        getty@tty1.service getty-static.service; do
        ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
    done
fi
