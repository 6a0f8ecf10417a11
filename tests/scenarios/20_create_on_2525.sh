#!/bin/bash
# Scenario 20: on a fresh enforcing host, let the tool create the child itself on a port the
# policy does not let postfix_master_t bind by default (2525 on the reference policy), and undo.
# Then the whole host (issue 16): three children the admin made while enforcing (default paths
# on 127.0.0.1:10025; queue and data under /srv in group mta on 10026; 127.0.0.1:2525), which
# fail to start (negative control); secure-child --all (one rebuild, one restart), a plain
# restart (all three accept mail, no new Postfix denials), a rerun (no-op), check --all, undo
# --all; then secure-child against the manual fix on two more children of one shape.
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

# --- the whole host ------------------------------------------------------------------------
HOST_CHILDREN="postfix-a postfix-srv postfix-relay"
# admin_child NAME LISTEN [postmulti create args...]: the seed's recipe for one more child.
admin_child() {
    local name=$1 listen=$2; shift 2
    postmulti -I "$name" "$@"; fact "create_rc:$name" $?
    sed -i -E "s/^smtp([[:space:]]+inet[[:space:]])/$listen\1/" "/etc/$name/master.cf"
    sed -i -E 's/^(master_service_disable[[:space:]]*=[[:space:]]*inet)/#\1/' "/etc/$name/main.cf"
    postconf -c "/etc/$name" -e "myhostname = $name.localdomain"  # no mail loops between them
    postmulti -i "$name" -e enable
}
host_files() {  # host_files FILE: the Postfix config files of the parent and the three children
    md5sum /etc/postfix/main.cf /etc/postfix/master.cf \
        $(for c in $HOST_CHILDREN; do echo "/etc/$c/main.cf /etc/$c/master.cf"; done) >"$1"
}
tree_dirs() {  # the children's config, queue and data directories
    for c in $HOST_CHILDREN; do postconf -c "/etc/$c" -h config_directory queue_directory data_directory; done
}

step "the parent alone, restarted twice: what it raises without any child"
ALONE=$(date +%s)
for round in 1 2; do restart_postfix; sleep 2; done
BASE=$PMS_OUT/host.baseline
postfix_denial_tuples "$ALONE" >"$BASE"
cat "$BASE"

step "three children made while enforcing; a restart: none of them serves (negative control)"
postmulti -e init; fact host_init_rc $?  # undo above put the parent's main.cf back as it was
admin_child postfix-a 127.0.0.1:10025 -e create
mkdir -p /srv/postfix-srv
admin_child postfix-srv 127.0.0.1:10026 -G mta -e create \
    queue_directory=/srv/postfix-srv/queue data_directory=/srv/postfix-srv/data
admin_child postfix-relay 127.0.0.1:2525 -e create
postmulti -l -a
restart_postfix; sleep 3
for port in 10025 10026 2525; do fact "host_before_smtp$port" "$(smtp_probe 127.0.0.1 $port)"; done
fact host_before_parent "$(smtp_probe 127.0.0.1 25)"
policy_state "$PMS_OUT/host.policy.before"
host_files "$PMS_OUT/host.files.before"

step "secure-child --all"
COMMITS=$(commit_num)
PARENT_PID=$(cat /var/spool/postfix/pid/master.pid 2>/dev/null | tr -d ' ')
t0=$(date +%s.%N)
secure-child --all --json >"$PMS_OUT/all.json"
fact all_rc $?
fact all_seconds "$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")"
fact all_commits "$(( $(commit_num) - COMMITS ))"
fact all_parent_restarted "$([ "$(cat /var/spool/postfix/pid/master.pid 2>/dev/null | tr -d ' ')" != "$PARENT_PID" ] && echo yes || echo no)"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps({k: r.get(k) for k in ("ok","instances","restarts","store_rebuilds","timings","probes","notes")}, indent=1))' "$PMS_OUT/all.json"

step "a plain restart, as the admin would: all three accept mail"
AFTER=$(date +%s)
restart_postfix; fact host_plain_restart_rc $?
sleep 3
for port in 10025 10026 2525; do fact "host_after_smtp$port" "$(smtp_probe 127.0.0.1 $port)"; done
fact host_after_parent "$(smtp_probe 127.0.0.1 25)"
fact host_masters "$(ps -eZ | awk '$NF == "master" {print $1}' | sort | uniq -c | tr -s ' ')"
fact host_new_denials "$(new_postfix_denials "$AFTER" "$BASE" | wc -l)"
new_postfix_denials "$AFTER" "$BASE"

step "rerun: a no-op"
COMMITS=$(commit_num)
secure-child --all --json >"$PMS_OUT/all.rerun.json"; fact rerun_rc $?
fact rerun_commits "$(( $(commit_num) - COMMITS ))"
postmulti-selinux check --all; fact check_all_rc $?

step "undo --all"
postmulti-selinux undo --all --json >"$PMS_OUT/undo_all.json"; fact undo_all_rc $?
policy_state "$PMS_OUT/host.policy.undone"
host_files "$PMS_OUT/host.files.undone"
fact undo_all_policy_identical "$(cmp -s "$PMS_OUT/host.policy.before" "$PMS_OUT/host.policy.undone" && echo yes || echo no)"
diff "$PMS_OUT/host.policy.before" "$PMS_OUT/host.policy.undone"
fact undo_all_files_identical "$(cmp -s "$PMS_OUT/host.files.before" "$PMS_OUT/host.files.undone" && echo yes || echo no)"
diff "$PMS_OUT/host.files.before" "$PMS_OUT/host.files.undone"
# Labels end up as the restored policy says (undo relabels last, restorecon's semantics).
as_policy=yes
for d in $(tree_dirs); do
    [ "$(stat -c %C "$d")" = "$(matchpathcon -n "$d")" ] || { as_policy=no; echo "not as policy: $d $(stat -c %C "$d") $(matchpathcon -n "$d")"; }
done
fact undo_all_labels_as_policy "$as_policy"
fact undo_all_parent "$(smtp_probe 127.0.0.1 25)"

step "secure-child against the manual fix, on two children of one shape"
admin_child postfix-tool 127.0.0.1:2527 -e create
admin_child postfix-manual 127.0.0.1:2528 -e create
t0=$(date +%s.%N)
secure-child postfix-tool --json >"$PMS_OUT/tool.json"; fact tool_rc $?
fact tool_seconds "$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")"
# The manual fix: the same rules the tool applied (its plan says which), one semanage import,
# restorecon -R of the child's trees, the set-permissions that postmulti's create could not
# finish (denied under enforcing even once relabelled: a moment of permissive, as an admin
# would do it; the tool completes the layout itself), one restart.
python3 - "$PMS_OUT/tool.json" >"$PMS_OUT/manual.rules" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for action in report["plan"]["actions"]:
    if action["kind"] == "fcontext-equivalence":
        print("fcontext -a -e {} {}".format(action["parent"],
                                            action["child"].replace("postfix-tool", "postfix-manual")))
    elif action["kind"] == "port-label":
        print("port -a -t {} -p {} 2528".format(action["type"], action["proto"]))
PY
cat "$PMS_OUT/manual.rules"
t0=$(date +%s.%N)
semanage import -f "$PMS_OUT/manual.rules"
restorecon -R /etc/postfix-manual /var/spool/postfix-manual /var/lib/postfix-manual
setenforce 0; postfix -c /etc/postfix-manual set-permissions; setenforce 1
restart_postfix
fact manual_seconds "$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")"
sleep 3
fact manual_smtp "$(smtp_probe 127.0.0.1 2528)"
fact tool_smtp "$(smtp_probe 127.0.0.1 2527)"
fact manual_rules "$(grep -c . "$PMS_OUT/manual.rules")"
fact enforce_end "$(getenforce)"
exit 0
