#!/bin/bash
# Scenario 30, fleets: the postmulti.selinux collection's example playbook, run by the guest's own
# ansible-core (Debian package) with -c local on the seed's broken child. The role installs the
# tool from the payload's wheel into /opt/postmulti-selinux; then check mode (reports changed,
# changes nothing), a real run (the child serves SMTP while enforcing), a rerun (changed=0), and
# state=absent (the prior policy and files come back). (state=absent twice is
# idempotent in the collection's host tests, with the real CLI too.)
# Needs on the payload: ansible/ (the collection, beside scenarios/) and wheel/*.whl.
. "$(dirname "$0")/lib.sh"
CHILD=postfix-sub
LISTEN=127.0.0.1:10025
PAYLOAD=$(cd "$(dirname "$0")/.." && pwd)
COLLECTIONS=$PAYLOAD/ansible
PLAYBOOK=$COLLECTIONS/ansible_collections/postmulti/selinux/playbooks/secure_children.yml
WHEEL=$(ls "$PAYLOAD"/wheel/*.whl 2>/dev/null | head -1)
WORK=/root/pms-ansible
mkdir -p "$WORK"
export HOME=${HOME:-/root} ANSIBLE_COLLECTIONS_PATH=$COLLECTIONS ANSIBLE_NOCOLOR=1 \
    ANSIBLE_LOCAL_TEMP=$WORK/tmp ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_DEPRECATION_WARNINGS=0 \
    ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3

fact context "$(id -Z)"
fact enforce_before "$(getenforce)"
fact ansible_version "$(ansible-playbook --version 2>/dev/null | head -1)"
fact collection_present "$([ -f "$PLAYBOOK" ] && echo yes || echo no)"
fact wheel_present "$([ -n "$WHEEL" ] && echo yes || echo no)"
if ! command -v ansible-playbook >/dev/null || [ ! -f "$PLAYBOOK" ] || [ -z "$WHEEL" ]; then
    echo "missing ansible-core in the image, the collection or the wheel on the payload"
    exit 0
fi

# The seed's recipe (lib.sh's seed_recipe where it exists).
if ! declare -F seed_recipe >/dev/null; then
    seed_recipe() {
        postmulti -e init; fact init_rc $?
        postmulti -I "$1" -e create; fact create_rc $?
        sed -i -E "s/^smtp([[:space:]]+inet[[:space:]])/$2\1/" "/etc/$1/master.cf"
        sed -i -E 's/^(master_service_disable[[:space:]]*=[[:space:]]*inet)/#\1/' "/etc/$1/main.cf"
        postmulti -i "$1" -e enable; fact enable_rc $?
    }
fi

# snapshot NAME: what "changes nothing" and "restores the prior state" compare, in three files:
# NAME.policy (local fcontext and port customisations, modules), NAME.config (Postfix config
# checksums), NAME.labels (the child's three trees: type, owner, mode).
snapshot() {
    { semanage fcontext -l -C; semanage port -l -C; semodule -l; } >"$PMS_OUT/$1.policy" 2>&1
    md5sum /etc/postfix/main.cf /etc/postfix/master.cf /etc/$CHILD/main.cf /etc/$CHILD/master.cf \
        >"$PMS_OUT/$1.config" 2>&1
    for d in /etc/$CHILD /var/spool/$CHILD /var/lib/$CHILD; do
        echo "$d $(label "$d") $(stat -c '%U %a' "$d")"
    done >"$PMS_OUT/$1.labels"
}
# same A B WHAT: "yes" when snapshot A's WHAT file equals B's (the diff goes to the log).
same() {
    if cmp -s "$PMS_OUT/$1.$3" "$PMS_OUT/$2.$3"; then echo yes
    else diff "$PMS_OUT/$1.$3" "$PMS_OUT/$2.$3" >&2; echo no; fi
}

# play PHASE ARGS...: run the example playbook; facts PHASE_rc, PHASE_changed (from the recap).
play() {
    local phase=$1; shift
    ansible-playbook -c local -i localhost, "$PLAYBOOK" "$@" >"$WORK/$phase.log" 2>&1
    local rc=$?
    cat "$WORK/$phase.log"
    cp "$WORK/$phase.log" "$PMS_OUT/ansible-$phase.log"
    fact "${phase}_rc" "$rc"
    fact "${phase}_changed" "$(sed -n -E 's/^localhost +:.* changed=([0-9]+).*/\1/p' "$WORK/$phase.log" | tail -1)"
    fact "${phase}_failed" "$(sed -n -E 's/^localhost +:.* failed=([0-9]+).*/\1/p' "$WORK/$phase.log" | tail -1)"
}

step "the seed's recipe, and the failing start it leads to"
seed_recipe "$CHILD" "$LISTEN"
restart_postfix
sleep 3
fact unit_state_before "$(systemctl is-active "$(instance_unit $CHILD)")"
fact listening_before "$(listening $LISTEN)"

step "the role installs the tool from the wheel (no instances yet)"
# The guest has no network: the role's package step can only confirm what the image holds.
ROLE_PACKAGES=$(sed -n 's/^  - //p' "$COLLECTIONS"/ansible_collections/postmulti/selinux/roles/secure_children/vars/Debian.yml)
MISSING=$(for p in $ROLE_PACKAGES python3-apt; do dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || echo "$p"; done | tr '\n' ' ')
fact packages_missing "$MISSING"
INSTALL_PACKAGES=$([ -z "${MISSING// /}" ] && echo true || echo false)
fact role_installs_packages "$INSTALL_PACKAGES"
# The same role variables on every run, as one inventory would give them.
ROLE_VARS="{\"postmulti_selinux_wheel\": \"$WHEEL\", \"postmulti_selinux_wheel_remote\": true,
  \"postmulti_selinux_pip_extra_args\": \"--no-index --no-deps\", \"postmulti_selinux_install_packages\": $INSTALL_PACKAGES}"
play install -e "$ROLE_VARS" -e '{"postmulti_selinux_instances": []}'
fact installed_tool "$(/usr/local/sbin/postmulti-selinux --version 2>&1)"
fact installed_tool_path "$(readlink -f /usr/local/sbin/postmulti-selinux)"
snapshot before

step "check mode: reports changed, changes nothing"
play check --check --diff -e "$ROLE_VARS"
snapshot check
fact check_policy_unchanged "$(same before check policy)"
fact check_config_unchanged "$(same before check config)"
fact check_labels_unchanged "$(same before check labels)"
fact check_diff_shown "$(grep -c -e '^--- before' -e 'would change:' "$WORK/check.log")"
fact unit_state_after_check "$(systemctl is-active "$(instance_unit $CHILD)")"

step "real run: the child serves SMTP while enforcing"
AFTER=$(date +%s)
t0=$(date +%s.%N)
play apply -v -e "$ROLE_VARS"
fact apply_seconds "$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")"
fact unit "$(instance_unit $CHILD)"
fact unit_state "$(systemctl is-active "$(instance_unit $CHILD)")"
fact listening "$(listening $LISTEN)"
fact masters "$(ps -eZ | awk '$NF == "master" {print $1}' | sort | uniq -c | tr -s ' ')"
fact smtp "$(smtp_probe 127.0.0.1 10025)"
fact verification_failed "$(grep -c '"ok": false' "$WORK/apply.log")"
for d in /etc/$CHILD /var/spool/$CHILD /var/lib/$CHILD; do fact "label:$d" "$(label "$d")"; done
fact denials_after "$(postfix_denials "$AFTER" | wc -l)"
postfix_denials "$AFTER"
fact enforce_after_apply "$(getenforce)"

step "rerun: changed=0"
play rerun -e "$ROLE_VARS"
fact rerun_unit_state "$(systemctl is-active "$(instance_unit $CHILD)")"

step "state=absent: the prior state comes back"
play absent -e postmulti_selinux_state=absent -e "$ROLE_VARS"
snapshot absent
fact absent_policy_restored "$(same before absent policy)"
fact absent_config_restored "$(same before absent config)"
fact absent_labels_restored "$(same before absent labels)"
# Undo restores the policy and files exactly; labels become what the restored policy says
# (restorecon semantics), owner and mode what they were.
as_policy=yes
for d in /etc/$CHILD /var/spool/$CHILD /var/lib/$CHILD; do
    [ "$(stat -c %C "$d")" = "$(matchpathcon -n "$d")" ] || as_policy=no
done
fact absent_labels_as_policy "$as_policy"
fact absent_owner_mode_restored "$(cmp -s <(awk '{print $1, $3, $4}' "$PMS_OUT/before.labels") \
    <(awk '{print $1, $3, $4}' "$PMS_OUT/absent.labels") && echo yes || echo no)"

fact enforce_end "$(getenforce)"
exit 0
