#!/bin/bash
# Scenario 10, the product: the seed's recipe on an enforcing host (the child fails to start, as
# in scenario 0), then `secure-child postfix-sub`, then a restart by hand. Also: dry run changes
# nothing, a rerun has nothing to do, undo restores the exact prior state.
# Then a reboot: the child starts at boot under enforcing with no Postfix denials; then undo.
# Context: secure-child runs from the boot-time unit (initrc_t on Debian).
. "$(dirname "$0")/lib.sh"
CHILD=postfix-sub
LISTEN=127.0.0.1:10025
UNIT_OF() { instance_unit "$1"; }

if [ "${PMS_PHASE:-1}" = 1 ]; then

fact context "$(id -Z)"
fact tool_path "$(command -v secure-child)"
fact tool_package "$(dpkg-query -W -f='${Status} ${Version}' postmulti-selinux 2>&1)"
fact tool_man "$(man -w secure-child 2>/dev/null || ls /usr/share/man/man8/secure-child.8* 2>/dev/null)"
fact enforce_before "$(getenforce)"

step "the seed's recipe, and the failing start it leads to"
seed_recipe "$CHILD" "$LISTEN"
restart_postfix
sleep 3
fact unit_state_before "$(systemctl is-active "$(UNIT_OF $CHILD)")"
fact listening_before "$(listening $LISTEN)"
policy_state "$PMS_OUT/policy.before"
md5sum /etc/postfix/main.cf /etc/$CHILD/main.cf /etc/$CHILD/master.cf >"$PMS_OUT/config.before"
stat -c '%U %a' /var/lib/$CHILD >>"$PMS_OUT/config.before"

step "secure-child --dry-run changes nothing"
secure-child "$CHILD" --dry-run; fact dry_run_rc $?
secure-child "$CHILD" --dry-run --json >"$PMS_OUT/plan.json"; fact dry_run_json_rc $?
policy_state "$PMS_OUT/policy.dryrun"
fact dry_run_policy_unchanged "$(cmp -s "$PMS_OUT/policy.before" "$PMS_OUT/policy.dryrun" && echo yes || echo no)"

step "secure-child $CHILD"
commit_before=$(commit_num)
t0=$(date +%s.%N)
secure-child "$CHILD" --verbose; fact secure_rc $?
fact secure_child_seconds "$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")"
fact store_rebuilds "$(( $(commit_num) - commit_before ))"
for d in /etc/$CHILD /var/spool/$CHILD /var/lib/$CHILD /var/spool/$CHILD/public /var/spool/$CHILD/private; do
    fact "label:$d" "$(label "$d")"
done
fact data_dir_owner "$(stat -c %U /var/lib/$CHILD)"

step "restart by hand, as the admin would"
sleep 1
AFTER=$(date +%s)
restart_postfix; fact restart_rc $?
sleep 5
fact unit "$(UNIT_OF $CHILD)"
fact unit_state "$(systemctl is-active "$(UNIT_OF $CHILD)")"
fact listening "$(listening $LISTEN)"
fact masters "$(ps -eZ | awk '$NF == "master" {print $1}' | sort | uniq -c | tr -s ' ')"
fact smtp "$(smtp_probe 127.0.0.1 10025)"
sleep 3
fact child_queued "$(journalctl -b --no-pager | grep -c "postfix-sub/qmgr.*from=<probe@example.com>")"
fact denials_after "$(postfix_denials "$AFTER" | wc -l)"
postfix_denials "$AFTER"
fact enforce_after "$(getenforce)"

step "rerun: nothing to do"
echo "what restorecon would still change (runtime files Postfix created itself):"
restorecon -Rnv /etc/$CHILD /var/spool/$CHILD /var/lib/$CHILD
echo "and in the parent's trees:"
restorecon -Rnv /etc/postfix /var/spool/postfix /var/lib/postfix
commit_before=$(commit_num)
since=$(systemctl show -p ActiveEnterTimestampMonotonic --value "$(UNIT_OF $CHILD)")
secure-child "$CHILD" --json >"$PMS_OUT/rerun.json"; fact rerun_rc $?
fact rerun_changed "$(python3 -c "import json;print(json.load(open('$PMS_OUT/rerun.json'))['changed'])")"
fact rerun_store_rebuilds "$(( $(commit_num) - commit_before ))"
fact rerun_restarted "$([ "$since" = "$(systemctl show -p ActiveEnterTimestampMonotonic --value "$(UNIT_OF $CHILD)")" ] && echo no || echo yes)"

step "an admin shell (unconfined_t) sees the same: nothing to do"
runcon unconfined_u:unconfined_r:unconfined_t:s0 secure-child "$CHILD" --json >"$PMS_OUT/admin.json"
fact admin_rc $?
fact admin_changed "$(python3 -c "import json;print(json.load(open('$PMS_OUT/admin.json'))['changed'])")"
runcon unconfined_u:unconfined_r:unconfined_t:s0 postmulti-selinux check "$CHILD"; fact check_rc $?

step "a full policy rebuild keeps the equivalences"
semodule -B
fact rebuild_keeps_equivalence "$(semanage fcontext -l -C | grep -c "^/var/spool/$CHILD = /var/spool/postfix")"

step "reboot"
exit 100
fi

step "after the reboot: the child starts at boot, enforcing, no Postfix denials"
sleep 5
BOOT=$(awk '/^btime/ {print $2}' /proc/stat)
fact boot_enforce "$(getenforce)"
fact boot_unit_state "$(systemctl is-active "$(UNIT_OF $CHILD)")"
fact boot_listening "$(listening $LISTEN)"
fact boot_smtp "$(smtp_probe 127.0.0.1 10025)"
fact boot_masters "$(ps -eZ | awk '$NF == "master" {print $1}' | sort | uniq -c | tr -s ' ')"
fact boot_denials "$(postfix_denials "$BOOT" | wc -l)"
postfix_denials "$BOOT"
postmulti-selinux check "$CHILD"; fact boot_check_rc $?

step "undo restores the exact prior state"
postmulti-selinux undo "$CHILD"; fact undo_rc $?
policy_state "$PMS_OUT/policy.undone"
md5sum /etc/postfix/main.cf /etc/$CHILD/main.cf /etc/$CHILD/master.cf >"$PMS_OUT/config.undone"
stat -c '%U %a' /var/lib/$CHILD >>"$PMS_OUT/config.undone"
fact undo_policy_identical "$(cmp -s "$PMS_OUT/policy.before" "$PMS_OUT/policy.undone" && echo yes || echo no)"
fact undo_config_identical "$(cmp -s "$PMS_OUT/config.before" "$PMS_OUT/config.undone" && echo yes || echo no)"
diff "$PMS_OUT/policy.before" "$PMS_OUT/policy.undone"
as_policy=yes
for d in /etc/$CHILD /var/spool/$CHILD /var/lib/$CHILD; do
    [ "$(stat -c %C "$d")" = "$(matchpathcon -n "$d")" ] || as_policy=no
done
fact undo_labels_as_policy "$as_policy"

step "secure-child SIGKILLed inside its policy commit: no survivor, undo says what it reversed"
JOURNAL=/var/lib/postmulti-selinux/journal/$CHILD.json
commit_before=$(commit_num)
# --listen on 2525, which this policy denies postfix_master_t: the commit has a port, so a store
# rebuild (tens of seconds under TCG) for the kill to land in.
secure-child "$CHILD" --no-restart --listen 127.0.0.1:2525 >"$PMS_OUT/killed.log" 2>&1 &
KILLED=$!
python3 - "$JOURNAL" "$KILLED" <<'PY'
import json, os, sys, time
deadline = time.time() + 600
while time.time() < deadline and os.path.exists("/proc/" + sys.argv[2]):
    try:
        runs = json.load(open(sys.argv[1]))["runs"]
    except (OSError, ValueError, KeyError):
        runs = []
    if any(e["action"]["kind"] == "commit-policy" for r in runs for e in r["entries"]):
        break
    time.sleep(0.01)
PY
offset=$(python3 -c "import random; print(round(random.uniform(0.05, 3.0), 2))")
sleep "$offset"
fact kill_offset "$offset"
fact kill_while_running "$([ -d /proc/$KILLED ] && echo yes || echo no)"
kill -9 "$KILLED"
wait "$KILLED" 2>/dev/null
sleep 2
fact kill_survivors "$(pgrep -fc 'bin/secure-child |sefcontext_compile|setfiles|semodule|load_policy')"
fact kill_store_rebuilds "$(( $(commit_num) - commit_before ))"
postmulti-selinux undo "$CHILD" --json >"$PMS_OUT/kill_undo.json"; fact kill_undo_rc $?
cat "$PMS_OUT/kill_undo.json"
fact kill_undo_commit_reversed "$(python3 -c "
import json
items = json.load(open('$PMS_OUT/kill_undo.json')).get('undone', [])
print([i['reversed'] for i in items if i['kind'] == 'commit-policy'])")"
fact kill_undo_commit_detail "$(python3 -c "
import json
items = json.load(open('$PMS_OUT/kill_undo.json')).get('undone', [])
print([i.get('detail', '') for i in items if i['kind'] == 'commit-policy'])")"
policy_state "$PMS_OUT/policy.killundone"
md5sum /etc/postfix/main.cf /etc/$CHILD/main.cf /etc/$CHILD/master.cf >"$PMS_OUT/config.killundone"
stat -c '%U %a' /var/lib/$CHILD >>"$PMS_OUT/config.killundone"
fact kill_undo_policy_identical "$(cmp -s "$PMS_OUT/policy.before" "$PMS_OUT/policy.killundone" && echo yes || echo no)"
fact kill_undo_config_identical "$(cmp -s "$PMS_OUT/config.before" "$PMS_OUT/config.killundone" && echo yes || echo no)"
fact kill_journal_left "$([ -e "$JOURNAL" ] && echo yes || echo no)"
fact enforce_end "$(getenforce)"
exit 0
