#!/bin/bash
# Scenario 40, the EL family (el9 or el7 image: an EL targeted policy, EL's Postfix layout and its
# one postfix.service). Phase 1, while enforcing:
#   - the parent alone: the denials it raises without any child are the baseline (EL7-era: dac_read_search);
#   - postfix-sub made while enforcing: create exits 1, postfix.service fails and takes the parent
#     down (negative control), then secure-child and a plain restart;
#   - postfix-perm made the seed's way (permissive, relabelled as the re-enabling relabel does,
#     enforcing again): the seed's AVCs, postfix.service and the parent down (negative control),
#     then secure-child;
#   - postfix-bad (EL7-era boot only: the recovery path does not depend on the policy, and the
#     run stays within CI's hour), which cannot start (its listener's address is not on this
#     host): secure-child exits non-zero and the parent still answers on 25;
# then a reboot. Phase 2: everything starts at boot, enforcing, no new Postfix denials; check;
# undo of all three restores the policy customisations exactly.
. "$(dirname "$0")/lib.sh"
BASE=$PMS_OUT/baseline.tuples
PHASE=${PMS_PHASE:-1}

smtp_facts() {  # smtp_facts PREFIX: what answers, which masters run
    local p=$1
    fact "${p}service" "$(systemctl is-active postfix.service)"
    fact "${p}smtp25" "$(smtp_probe 127.0.0.1 25)"
    fact "${p}smtp10025" "$(smtp_probe 127.0.0.1 10025)"
    fact "${p}smtp2525" "$(smtp_probe 127.0.0.1 2525)"
    fact "${p}masters" "$(ps -eZ | awk '$NF == "master" {print $1}' | sort | uniq -c | tr -s ' ')"
}

plain_restart() {  # plain_restart PREFIX CHILD: restart as the admin would, then what answers
    step "a plain restart, as the admin would"
    local after
    after=$(date +%s)
    restart_postfix; fact "${1}_plain_restart_rc" $?
    sleep 3
    smtp_facts "${1}_after_"
    fact "${1}_new_denials" "$(new_postfix_denials "$after" "$BASE" | wc -l)"
    new_postfix_denials "$after" "$BASE"
    postmulti-selinux check "$2"; fact "${1}_check_rc" $?
}

if [ "$PHASE" = 2 ]; then
    step "after the reboot"
    sleep 5
    fact enforce_boot "$(getenforce)"
    smtp_facts boot_
    BOOT=$(awk '/^btime/ {print $2}' /proc/stat)
    fact boot_new_denials "$(new_postfix_denials "$BOOT" "$BASE" | wc -l)"
    new_postfix_denials "$BOOT" "$BASE"
    fact boot_denials_all "$(postfix_denials "$BOOT" | wc -l)"
    for c in postfix-sub postfix-perm; do
        postmulti-selinux check "$c"; fact "boot_check_rc:$c" $?
    done
    step "undo every child, newest first"
    for c in postfix-bad postfix-perm postfix-sub; do
        [ -d "/etc/$c" ] || continue
        postmulti-selinux undo "$c"; fact "undo_rc:$c" $?
    done
    fact undo_service "$(systemctl is-active postfix.service)"
    fact undo_smtp25 "$(smtp_probe 127.0.0.1 25)"
    policy_state "$PMS_OUT/policy.undone"
    fact undo_policy_identical "$(cmp -s "$PMS_OUT/policy.before" "$PMS_OUT/policy.undone" && echo yes || echo no)"
    diff "$PMS_OUT/policy.before" "$PMS_OUT/policy.undone"
    fact enforce_end "$(getenforce)"
    exit 0
fi

fact family "$(cat /etc/pms-family)"
fact context "$(id -Z)"
fact policy "$(awk -F= '/^SELINUXTYPE=/{print $2}' /etc/selinux/config)"
fact enforce_before "$(getenforce)"
fact semanage_binding "$(python3 -c 'import semanage' 2>/dev/null && echo yes || echo no)"
fact setools_binding "$(python3 -c 'import setools' 2>/dev/null && echo yes || echo no)"

step "the parent alone, restarted twice: what it raises without any child"
ALONE=$(date +%s)
# ... serving mail as it does every day (the EL7-era policy denies its smtpd dac_read_search
# into private/, the parent's and any child's alike).
for round in 1 2; do restart_postfix; sleep 2; smtp_probe 127.0.0.1 25; done
postfix_denial_tuples "$ALONE" >"$BASE"
fact parent_alone_denials "$(postfix_denials "$ALONE" | wc -l)"
cat "$BASE"
fact parent_master "$(ps -eZ | awk '$NF == "master" {print $1}')"
policy_state "$PMS_OUT/policy.before"

step "postfix-sub, made while enforcing (negative control)"
T=$(date +%s)
seed_recipe postfix-sub 127.0.0.1:10025
for d in /etc/postfix-sub /var/spool/postfix-sub /var/lib/postfix-sub; do fact "label:$d" "$(label "$d")"; done
fact sub_public_made "$([ -d /var/spool/postfix-sub/public ] && echo yes || echo no)"
restart_postfix; fact sub_restart_rc $?
sleep 3
smtp_facts sub_before_
fact sub_fowner_denials "$(postfix_denials "$T" | grep -c '{ fowner }')"
fact sub_missing_queue "$(journalctl -b --no-pager | grep -c 'unable to create missing queue directories')"

step "secure-child postfix-sub"
commit_before=$(commit_num)
t0=$(date +%s.%N)
secure-child postfix-sub --verbose; fact sub_secure_rc $?
fact sub_secure_seconds "$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")"
fact sub_store_rebuilds "$(( $(commit_num) - commit_before ))"
for d in /etc/postfix-sub /var/spool/postfix-sub /var/spool/postfix-sub/public /var/spool/postfix-sub/private /var/lib/postfix-sub; do
    fact "sub_label:$d" "$(label "$d")"
done
plain_restart sub postfix-sub
commit_before=$(commit_num)
secure-child postfix-sub --json >"$PMS_OUT/sub_rerun.json"; fact sub_rerun_rc $?
fact sub_rerun_changed "$(python3 -c "import json;print(json.load(open('$PMS_OUT/sub_rerun.json'))['changed'])")"
fact sub_rerun_store_rebuilds "$(( $(commit_num) - commit_before ))"

step "postfix-perm, made the seed's way: permissive, relabelled, enforcing again (negative control)"
setenforce 0
postmulti -I postfix-perm -e create; fact perm_create_rc $?
restorecon -R /etc/postfix-perm /var/spool/postfix-perm /var/lib/postfix-perm
setenforce 1
sed -i -E "s/^smtp([[:space:]]+inet[[:space:]])/127.0.0.1:2525\1/" /etc/postfix-perm/master.cf
postconf -c /etc/postfix-perm -e myhostname=perm.pms-vm.localdomain  # its own name: no mail loop
sed -i -E 's/^(master_service_disable[[:space:]]*=[[:space:]]*inet)/#\1/' /etc/postfix-perm/main.cf
postmulti -i postfix-perm -e enable
T=$(date +%s)
restart_postfix; fact perm_restart_rc $?
sleep 3
smtp_facts perm_before_
fact perm_seed_avcs "$(postfix_denials "$T" | grep -E 'tcontext=[^ ]*:postfix_spool_t' | grep -cE 'tclass=(fifo_file|sock_file)')"
fact perm_bind_denials "$(postfix_denials "$T" | grep -c '{ name_bind }')"
postfix_denials "$T" | head -20
step "secure-child postfix-perm"
secure-child postfix-perm --verbose; fact perm_secure_rc $?
plain_restart perm postfix-perm

if [ "$(cat /etc/pms-family)" = el7 ]; then
step "postfix-bad cannot start (its listener's address is not on this host)"
postmulti -I postfix-bad -e create
sed -i -E "s/^smtp([[:space:]]+inet[[:space:]])/192.0.2.1:10027\1/" /etc/postfix-bad/master.cf
postconf -c /etc/postfix-bad -e myhostname=bad.pms-vm.localdomain
sed -i -E 's/^(master_service_disable[[:space:]]*=[[:space:]]*inet)/#\1/' /etc/postfix-bad/main.cf
postmulti -i postfix-bad -e enable
secure-child postfix-bad --verbose; fact bad_secure_rc $?
sleep 2
smtp_facts bad_after_
fact bad_enabled "$(postconf -c /etc/postfix-bad -h multi_instance_enable)"
fi
ls /var/lib/postmulti-selinux/ >"$PMS_OUT/journals.txt" 2>&1
fact tool_modules "$(semodule -l | grep -c postmulti)"

fact enforce_after "$(getenforce)"
step "reboot"
exit 100
