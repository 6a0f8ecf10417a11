#!/bin/bash
# Scenario 20: on a fresh enforcing host, let the tool create the child itself on a port the
# policy does not let postfix_master_t bind by default (2525 on the reference policy).
# Then (issue 16) the whole host in one run: three children the admin made while enforcing,
# secured by one `secure-child --all`; and secure-child's time against the manual fix, in this
# same boot, on two children of one shape.
# Context: the boot-time unit (initrc_t on Debian).
. "$(dirname "$0")/lib.sh"
CHILD=postfix-out
LISTEN=127.0.0.1:2525

fact enforce_before "$(getenforce)"
fact bind_before "$(bind_verdict 2525)"
policy_state "$PMS_OUT/policy.before"

step "secure-child $CHILD --create --listen $LISTEN"
secure-child "$CHILD" --create --listen "$LISTEN" --verbose --json >"$PMS_OUT/secure.json"
fact secure_rc $?
python3 -m json.tool "$PMS_OUT/secure.json" | head -120
fact port_local "$(semanage port -l -C | awk '$3 ~ /2525/ {print $1}')"
fact unit_state "$(systemctl is-active "$(instance_unit "$CHILD")")"
fact listening "$(listening $LISTEN)"
fact smtp "$(smtp_probe 127.0.0.1 2525)"
fact bind_after "$(bind_verdict 2525)"
fact enforce_after "$(getenforce)"

step "undo"
postmulti-selinux undo "$CHILD"; fact undo_rc $?
policy_state "$PMS_OUT/policy.undone"
fact undo_policy_identical "$(cmp -s "$PMS_OUT/policy.before" "$PMS_OUT/policy.undone" && echo yes || echo no)"
diff "$PMS_OUT/policy.before" "$PMS_OUT/policy.undone"
fact child_registered_after_undo "$(postmulti -l -a | grep -c "^$CHILD ")"
fact enforce_end "$(getenforce)"

# admin_child NAME LISTEN [postmulti create args]: what an admin does while enforcing: create
# the child, move its smtpd to LISTEN, drop master_service_disable = inet, give it its own
# myhostname, enable it.
admin_child() {
    local child=$1 listen=$2; shift 2
    postmulti -I "$child" "$@" -e create; fact "create_rc:$child" $?
    sed -i -E "s/^smtp([[:space:]]+inet[[:space:]])/$listen\1/" "/etc/$child/master.cf"
    sed -i -E 's/^(master_service_disable[[:space:]]*=[[:space:]]*inet)/#\1/' "/etc/$child/main.cf"
    postconf -c "/etc/$child" -e "myhostname = $child.example.test"
    postmulti -i "$child" -e enable; fact "enable_rc:$child" $?
}
THREE="postfix-a postfix-srv postfix-out"
declare -A AT=([postfix-a]=127.0.0.1:10025 [postfix-srv]=127.0.0.1:10026 [postfix-out]=127.0.0.1:2525)
trees() { for c in $THREE; do echo "/etc/$c $(postconf -c /etc/$c -h queue_directory) $(postconf -c /etc/$c -h data_directory)"; done; }
# labels_of FILE: every path of the three children's trees with its type, owner and mode.
labels_of() { find $(trees) -printf '%p %U %m\n' 2>/dev/null | while read -r p u m; do echo "$p $(label "$p") $u $m"; done | sort >"$1"; }
# parent_starts SINCE: how often the parent's master started since then (its syslog lines).
parent_starts() { journalctl --no-pager -o cat -t postfix/master --since "@$1" | grep -cE 'daemon started .*configuration /etc/postfix$'; }
json_get() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

step "three children made by the admin while enforcing"
postmulti -e init; fact three_init_rc $?
mkdir -p /srv/postfix-srv
admin_child postfix-a "${AT[postfix-a]}"
admin_child postfix-srv "${AT[postfix-srv]}" -G mta queue_directory=/srv/postfix-srv/queue data_directory=/srv/postfix-srv/data
admin_child postfix-out "${AT[postfix-out]}"
postmulti -l -a
restart_postfix
sleep 5
for c in $THREE; do
    fact "three_before_listening:$c" "$(listening "${AT[$c]}")"
done
policy_state "$PMS_OUT/three.policy.before"
md5sum /etc/postfix/main.cf /etc/postfix/master.cf $(for c in $THREE; do echo /etc/$c/main.cf /etc/$c/master.cf; done) >"$PMS_OUT/three.config.before"
labels_of "$PMS_OUT/three.labels.before"

step "secure-child --all: one transaction, one restart"
commit_before=$(commit_num)
T_ALL=$(date +%s)
sleep 1
secure-child --all --json >"$PMS_OUT/all.json"; fact all_rc $?
fact all_store_rebuilds "$(( $(commit_num) - commit_before ))"
fact all_parent_starts "$(parent_starts "$T_ALL")"
fact all_restarts "$(json_get "$PMS_OUT/all.json" 'd["restarts"]')"
fact all_children_ok "$(json_get "$PMS_OUT/all.json" '" ".join("%s=%s" % (c["instance"], c["ok"]) for c in d["children"])')"
fact all_commits "$(json_get "$PMS_OUT/all.json" '[a["kind"] for a in d["applied"]].count("commit-policy")')"
fact all_relabels "$(json_get "$PMS_OUT/all.json" '[a["kind"] for a in d["applied"]].count("relabel")')"
fact all_timings "$(json_get "$PMS_OUT/all.json" 'd["timings"]')"
python3 -m json.tool "$PMS_OUT/all.json" | head -80

step "a plain restart: all three answer SMTP and accept a message, no Postfix AVCs"
sleep 1
AFTER_ALL=$(date +%s)
restart_postfix; fact three_restart_rc $?
sleep 5
for c in $THREE; do
    fact "three_listening:$c" "$(listening "${AT[$c]}")"
    fact "three_smtp:$c" "$(smtp_probe "${AT[$c]%:*}" "${AT[$c]##*:}")"
done
sleep 3
for c in $THREE; do
    fact "three_queued:$c" "$(journalctl -b --no-pager | grep -c "$c/qmgr.*from=<probe@example.com>")"
done
fact three_denials "$(postfix_denials "$AFTER_ALL" | wc -l)"
postfix_denials "$AFTER_ALL"
fact three_masters "$(ps -eZ | awk '$NF == "master" {print $1}' | sort | uniq -c | tr -s ' ')"

step "rerun --all: nothing to do; check --all"
commit_before=$(commit_num)
since=$(systemctl show -p ActiveEnterTimestampMonotonic --value postfix@-.service)
secure-child --all --json >"$PMS_OUT/all_rerun.json"; fact all_rerun_rc $?
fact all_rerun_changed "$(json_get "$PMS_OUT/all_rerun.json" 'd["changed"]')"
fact all_rerun_store_rebuilds "$(( $(commit_num) - commit_before ))"
fact all_rerun_restarted "$([ "$since" = "$(systemctl show -p ActiveEnterTimestampMonotonic --value postfix@-.service)" ] && echo no || echo yes)"
postmulti-selinux check --all; fact check_all_rc $?

step "undo --all: the exact prior state"
postmulti-selinux undo --all --json >"$PMS_OUT/undo_all.json"; fact undo_all_rc $?
policy_state "$PMS_OUT/three.policy.undone"
md5sum /etc/postfix/main.cf /etc/postfix/master.cf $(for c in $THREE; do echo /etc/$c/main.cf /etc/$c/master.cf; done) >"$PMS_OUT/three.config.undone"
labels_of "$PMS_OUT/three.labels.undone"
fact undo_all_policy_identical "$(cmp -s "$PMS_OUT/three.policy.before" "$PMS_OUT/three.policy.undone" && echo yes || echo no)"
fact undo_all_config_identical "$(cmp -s "$PMS_OUT/three.config.before" "$PMS_OUT/three.config.undone" && echo yes || echo no)"
fact undo_all_labels_identical "$(cmp -s "$PMS_OUT/three.labels.before" "$PMS_OUT/three.labels.undone" && echo yes || echo no)"
fact undo_all_labels_as_policy "$([ -z "$(restorecon -Rnv $(trees) 2>&1)" ] && echo yes || echo no)"
diff "$PMS_OUT/three.policy.before" "$PMS_OUT/three.policy.undone"
diff "$PMS_OUT/three.labels.before" "$PMS_OUT/three.labels.undone" | head -20
fact undo_all_journal_left "$(ls /var/lib/postmulti-selinux/journal/ 2>/dev/null | tr '\n' ' ')"
for c in $THREE; do postmulti -i "$c" -e disable; done
restart_postfix

step "secure-child against the manual fix, on two children of one shape"
admin_child postfix-tool 127.0.0.1:10028
admin_child postfix-twin 127.0.0.1:10027
t0=$(date +%s.%N)
secure-child postfix-tool --json >"$PMS_OUT/tool.json"; fact tool_rc $?
fact tool_seconds "$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")"
fact tool_timings "$(json_get "$PMS_OUT/tool.json" 'd["timings"]')"
fact tool_ok "$(json_get "$PMS_OUT/tool.json" 'd["ok"]')"
commit_before=$(commit_num)
t0=$(date +%s.%N)
semanage import <<'RULES'
fcontext -a -e /etc/postfix /etc/postfix-twin
fcontext -a -e /var/spool/postfix /var/spool/postfix-twin
fcontext -a -e /var/lib/postfix /var/lib/postfix-twin
RULES
fact manual_import_rc $?
restorecon -R /etc/postfix-twin /var/spool/postfix-twin /var/lib/postfix-twin
systemctl daemon-reload
systemctl restart postfix; fact manual_restart_rc $?
fact manual_seconds "$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")"
fact manual_store_rebuilds "$(( $(commit_num) - commit_before ))"
sleep 3
fact manual_smtp "$(smtp_probe 127.0.0.1 10027)"
fact tool_smtp "$(smtp_probe 127.0.0.1 10028)"
fact enforce_final "$(getenforce)"
exit 0
