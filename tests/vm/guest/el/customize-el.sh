#!/bin/sh
# Turn a copy of the Debian guest's root "$1" into the EL family of the test bed: Debian 12
# userspace judged by an EL targeted policy (tarball "$2", see shared/policies/README.md), with
# EL's Postfix layout and EL's single postfix.service. "$3" is el9 or el7; "$4" is this folder.
# el7 also hides the python3 semanage and setools bindings from python3 (EL7 has neither), while
# the semanage/sesearch/seinfo commands keep working, as EL7's python2 and C tools do.
set -eu
root=$1
tarball=$2
family=$3
here=$4

# The EL policy and its store, and the config that selects it.
tar -xJf "$tarball" -C "$root" etc/selinux/targeted var/lib/selinux/targeted
cat >"$root/etc/selinux/config" <<CFG
SELINUX=enforcing
SELINUXTYPE=targeted
CFG
if [ "$family" = el7 ]; then
    # libsemanage writes the policy version the store was built for (EL7: policy.31).
    echo 'policy-version = 31' >>"$root/etc/selinux/semanage.conf"
fi

# EL's Postfix layout: the daemons in /usr/libexec/postfix (EL's file contexts label master,
# qmgr, pickup... only there), no chroot for any service (EL's default master.cf), new
# instances made from the same prototypes.
mkdir -p "$root/usr/libexec/postfix"
cp -a "$root"/usr/lib/postfix/sbin/. "$root/usr/libexec/postfix/"
chroot "$root" postconf -e daemon_directory=/usr/libexec/postfix
sed -i 's|^daemon_directory = .*|daemon_directory = /usr/libexec/postfix|' \
    "$root/etc/postfix/main.cf.proto"
awk 'BEGIN { OFS = "\t" }
     /^[^#[:space:]]/ && NF >= 8 { $5 = "n" } { print }' "$root/etc/postfix/master.cf" \
    >"$root/etc/postfix/master.cf.el"
mv "$root/etc/postfix/master.cf.el" "$root/etc/postfix/master.cf"
cp "$root/etc/postfix/master.cf" "$root/etc/postfix/master.cf.proto"
# debugfs rdump (how this tree was read back from the Debian image) keeps no set-gid bits and
# not every mode: Postfix's own set-permissions puts its files back as postfix-files says.
chroot "$root" postfix set-permissions

# EL's unit instead of Debian's generator and postfix@ units: "postfix start" runs the
# multi-instance wrapper for every enabled instance, and fails if one of them fails.
rm -f "$root/usr/lib/systemd/system-generators/postfix-instance-generator" \
      "$root/lib/systemd/system-generators/postfix-instance-generator"
ln -sf /dev/null "$root/etc/systemd/system/postfix@.service"
install -m 0644 "$here/postfix.service" "$root/etc/systemd/system/postfix.service"
# The test bed's only change to EL's unit, in a drop-in: under TCG, starting three instances
# (each postfix-script a few dozen processes) takes longer than systemd's default 90 s start
# timeout, which on real hardware is never near. The timeout would stop the parent too.
mkdir -p "$root/etc/systemd/system/postfix.service.d"
printf '[Service]\nTimeoutStartSec=600\nTimeoutStopSec=300\n' \
    >"$root/etc/systemd/system/postfix.service.d/pms-test-bed.conf"
ln -sf /etc/systemd/system/postfix.service \
    "$root/etc/systemd/system/multi-user.target.wants/postfix.service"

if [ "$family" = el7 ]; then
    # EL7: no python3 libsemanage binding, no setools python3 API. The commands stay usable.
    hidden=/usr/lib/pms-el7-hidden
    mkdir -p "$root$hidden"
    for item in semanage.py _semanage.cpython-*.so setools; do
        for path in "$root"/usr/lib/python3/dist-packages/$item; do
            [ -e "$path" ] && mv "$path" "$root$hidden/"
        done
    done
    for tool in usr/sbin/semanage usr/bin/sesearch usr/bin/seinfo usr/bin/sedta usr/bin/seinfoflow \
            usr/bin/sediff usr/bin/sechecker usr/bin/audit2allow usr/bin/audit2why; do
        script="$root/$tool"
        [ -f "$script" ] && head -1 "$script" | grep -q python || continue
        sed -i "1a import sys; sys.path.insert(0, '$hidden')" "$script"
    done
fi
echo "$family" >"$root/etc/pms-family"
