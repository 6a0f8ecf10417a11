#!/bin/bash
# Boot check of the test bed: report the SELinux state and the context scenarios run in.
. "$(dirname "$0")/lib.sh"
fact enforce "$(getenforce)"
fact context "$(id -Z)"
fact policy "$(awk -F= '/^SELINUXTYPE=/{print $2}' /etc/selinux/config)"
