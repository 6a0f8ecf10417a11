#!/bin/bash
# Provision an EL7/EL9 box for postmulti-selinux: enforcing SELinux, Postfix, the policy tools and
# the project installed from the synced checkout (/vagrant). Idempotent.
set -euo pipefail
. /etc/os-release
major=${VERSION_ID%%.*}

if [ "$major" = 7 ] && [ -n "${PMS_EL7_BASEURL:-}" ]; then
    # CentOS 7 is end of life: point every repository at the vault given by the user.
    sed -i -e 's/^mirrorlist=/#mirrorlist=/' \
        -e "s|^#\?baseurl=.*/\$releasever/|baseurl=${PMS_EL7_BASEURL%/}/7.9.2009/|" \
        /etc/yum.repos.d/CentOS-*.repo
fi

if [ "$major" = 7 ]; then
    yum -y install postfix policycoreutils-python setools-console python3 libselinux-python3 \
        checkpolicy iproute
else
    dnf -y install postfix policycoreutils-python-utils setools-console python3 python3-libselinux \
        python3-setools python3-policycoreutils checkpolicy iproute
fi

# SELinux stays enforcing: this is the whole point.
sed -i 's/^SELINUX=.*/SELINUX=enforcing/' /etc/selinux/config
setenforce 1 || true
getenforce

systemctl enable --now postfix
python3 -m pip install --upgrade /vagrant
