#!/bin/bash
# Scenario 0, the negative control: what the seed's admin did, on an enforcing host, WITHOUT
# postmulti-selinux. Expected: the child instance does not come up under the service manager.
# Context: the boot-time unit's (initrc_t on Debian); the admin-shell case runs under runcon.
. "$(dirname "$0")/lib.sh"
CHILD=postfix-sub
LISTEN=127.0.0.1:10025
START=$(date +%s)

fact context "$(id -Z)"
fact policy "$(awk -F= '/^SELINUXTYPE=/{print $2}' /etc/selinux/config)"
fact enforce_before "$(getenforce)"

step "the seed's recipe: init, create, listener $LISTEN, master_service_disable, enable"
seed_recipe "$CHILD" "$LISTEN"
for d in /etc/$CHILD /var/spool/$CHILD /var/lib/$CHILD /etc/postfix /var/spool/postfix \
         /var/lib/postfix /var/spool/$CHILD/public /var/spool/postfix/public; do
    fact "label:$d" "$(label "$d")"
done
fact data_dir_owner "$(stat -c %U /var/lib/$CHILD)"

step "restart through the service manager"
restart_postfix; fact restart_rc $?
sleep 5
UNIT=$(instance_unit "$CHILD")
fact unit "$UNIT"
fact unit_state "$(systemctl is-active "$UNIT")"
fact parent_state "$(systemctl is-active postfix@-.service 2>/dev/null || systemctl is-active postfix)"
fact listening "$(listening $LISTEN)"
fact masters "$(ps -eZ | awk '$NF == "master" {print $1}' | sort | uniq -c | tr -s ' ')"
journalctl -b --no-pager -u "$UNIT" | tail -20
fact lock_denied "$(journalctl -b --no-pager | grep -c "open lock file /var/lib/$CHILD/master.lock: cannot open file: Permission denied")"
fact smtp "$(smtp_probe 127.0.0.1 10025)"
fact denials_boot_unit "$(postfix_denials "$START" | wc -l)"

step "the admin-shell case: an unconfined root shell starts the child"
ADMIN=$(date +%s)
runcon unconfined_u:unconfined_r:unconfined_t:s0 id -Z; fact runcon_rc $?
runcon unconfined_u:unconfined_r:unconfined_t:s0 postmulti -i "$CHILD" -p start 2>&1 | tail -5
fact admin_start_rc "${PIPESTATUS[0]}"
sleep 3
fact admin_listening "$(listening $LISTEN)"
fact denials_admin "$(postfix_denials "$ADMIN" | wc -l)"
fact selinux_err_admin "$(grep -c 'SELINUX_ERR.*invalid_context=.*postfix' /var/log/audit/audit.log)"

fact enforce_after "$(getenforce)"
exit 0
