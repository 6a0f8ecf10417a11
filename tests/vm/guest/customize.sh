#!/bin/sh
# mmdebstrap --customize-hook: turn the chroot "$1" into a bootable, enforcing test guest.
# Runs on the host; "$2" is the directory holding this script's sibling files.
set -eu
root=$1
guest=$2
echo pms-vm >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tpms-vm.localdomain pms-vm\n' >"$root/etc/hosts"
echo 'LABEL=pmsroot / ext4 defaults 0 1' >"$root/etc/fstab"
cat >"$root/etc/selinux/config" <<CFG
SELINUX=enforcing
SELINUXTYPE=default
CFG
chroot "$root" passwd -d root >/dev/null
install -m 0755 "$guest/pms-runner" "$root/usr/local/sbin/pms-runner"
install -m 0644 "$guest/pms-scenario.service" "$root/etc/systemd/system/pms-scenario.service"
ln -sf /etc/systemd/system/pms-scenario.service \
    "$root/etc/systemd/system/multi-user.target.wants/pms-scenario.service"
# Nothing on the guest may wait for a network or a timer during the short test boots.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
        fstrim.timer man-db.timer systemd-networkd-wait-online.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
# The audit log must exist from the first boot on (auditd is enabled by its package).
mkdir -p "$root/var/log/audit"
