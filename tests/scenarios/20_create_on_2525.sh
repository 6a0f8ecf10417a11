#!/bin/bash
# Scenario 20: on a fresh enforcing host, let the tool create the child itself on a port the
# policy does not let postfix_master_t bind by default (2525 on the reference policy).
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
exit 0
