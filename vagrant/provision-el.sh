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
    # libselinux-python3 exists from CentOS 7.8 on. EL7 has no python3 libsemanage binding and
    # setools 3.3.8 has no Python 3 API: the tool commits through one `semanage import` and asks
    # the policy through libselinux's audit2why and the CLIs (`--verbose` names the backends).
    minor=$(sed -E 's/^[^0-9]*7\.([0-9]+).*/\1/' /etc/centos-release /etc/redhat-release 2>/dev/null | head -1)
    if [ -n "$minor" ] && [ "$minor" -lt 8 ]; then
        echo "CentOS/RHEL 7.$minor: libselinux-python3 needs 7.8 or later; update the box first" >&2
        exit 1
    fi
    yum -y install postfix policycoreutils-python setools-console python3 python3-pip \
        libselinux-python3 checkpolicy iproute
else
    dnf -y install postfix policycoreutils-python-utils setools-console python3 python3-pip \
        python3-libselinux python3-libsemanage python3-setools python3-policycoreutils \
        checkpolicy iproute
fi

# SELinux stays enforcing: this is the whole point.
sed -i 's/^SELINUX=.*/SELINUX=enforcing/' /etc/selinux/config
setenforce 1 || true
getenforce

systemctl enable --now postfix
python3 -m pip install --upgrade /vagrant
