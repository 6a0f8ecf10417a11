# Helpers shared by every scenario script (VM test bed and vagrant/ boxes alike). Sourced, not run.
# PMS_OUT: where facts and captures go (the runner copies it back to the host).
PMS_OUT=${PMS_OUT:-/tmp/pms-out}
mkdir -p "$PMS_OUT"

# fact KEY VALUE: record one observation as KEY=VALUE (newlines folded) for the host-side test.
fact() {
    local key=$1; shift
    printf '%s=%s\n' "$key" "$(printf '%s' "$*" | tr '\n' ' ')" >>"$PMS_OUT/facts"
    printf 'fact %s=%s\n' "$key" "$*"
}

# step TEXT: a visible marker in the scenario log.
step() { printf '\n=== [%ss] %s\n' "$SECONDS" "$*"; }

# label PATH: the SELinux type of PATH (or "missing").
label() { if [ -e "$1" ]; then stat -c %C "$1" | cut -d: -f3; else echo missing; fi; }

# Restart Postfix the way the host's service manager does it, for parent and children.
# Debian: a systemd generator turns multi_instance_directories into postfix@NAME units.
# EL7/8/9: one postfix.service whose "postfix start" runs the multi-instance wrapper.
restart_postfix() {
    if [ -x /lib/systemd/system-generators/postfix-instance-generator ] || \
       [ -x /usr/lib/systemd/system-generators/postfix-instance-generator ]; then
        systemctl daemon-reload
    fi
    if command -v systemctl >/dev/null 2>&1; then
        systemctl restart postfix
    else
        service postfix restart
    fi
}

# The unit that runs instance $1 under the service manager.
instance_unit() {
    if systemctl cat "postfix@$1.service" >/dev/null 2>&1; then echo "postfix@$1.service"; else echo postfix.service; fi
}

# listening ADDR:PORT -> "yes" if a TCP socket listens there.
listening() {
    if ss -Hltn "sport = :${1##*:}" 2>/dev/null | grep -q "${1%:*}:${1##*:}"; then echo yes; else echo no; fi
}

# smtp_probe HOST PORT: print the greeting code, EHLO code and the DATA result code.
smtp_probe() {
    python3 - "$1" "$2" <<'PY'
import smtplib, sys
try:
    s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=20)
    code, _ = s.ehlo("probe.example")
    refused = s.sendmail("probe@example.com", ["root@localhost"], "Subject: pms probe\r\n\r\nhello\r\n")
    print("ehlo={} refused={}".format(code, len(refused)))
    s.quit()
except Exception as exc:
    print("error={}:{}".format(type(exc).__name__, str(exc).replace(" ", "_")))
PY
}

# Mark the audit log so "new AVCs since here" can be counted.
audit_mark() { date +%s >"$PMS_OUT/audit_mark.$1"; }

# postfix_denials SINCE_EPOCH: AVC/SELINUX_ERR records naming a postfix domain since that time.
postfix_denials() {
    local since=$1
    grep -hE 'type=(AVC|USER_AVC|SELINUX_ERR)' /var/log/audit/audit.log | grep -E 'postfix_[a-z_]*_t' |
        awk -v since="$since" '{ split($0, a, "audit\\("); split(a[2], b, "."); if (b[1] + 0 >= since) print }'
}

# seed_recipe CHILD LISTEN: what the seed's admin did (minus setenforce 0): init, create, move the
# child's smtp listener to LISTEN, comment out master_service_disable = inet, enable.
seed_recipe() {
    local child=$1 listen=$2
    postmulti -e init; fact init_rc $?
    postmulti -I "$child" -e create; fact create_rc $?
    sed -i -E "s/^smtp([[:space:]]+inet[[:space:]])/$listen\1/" "/etc/$child/master.cf"
    sed -i -E 's/^(master_service_disable[[:space:]]*=[[:space:]]*inet)/#\1/' "/etc/$child/main.cf"
    grep -E '^[^#].*inet.*smtpd' "/etc/$child/master.cf"
    postmulti -i "$child" -e enable; fact enable_rc $?
    postmulti -l -a
}

# policy_state FILE: the local policy customisations and module list (what undo must restore).
policy_state() {
    { semanage fcontext -l -C; semanage port -l -C; semodule -l; } >"$1" 2>&1
}

# commit_num: the policy store's rebuild counter.
commit_num() { od -An -tu4 -N4 /var/lib/selinux/default/active/commit_num 2>/dev/null | tr -d ' '; }

# bind_verdict PORT: the kernel's answer (security_compute_av through libselinux) to "may
# postfix_master_t name_bind tcp PORT", for the port's type in the loaded policy: "type allowed"
# or "type denied".
bind_verdict() {
    python3 - "$1" <<'PY'
import errno, sys, selinux, setools
port = int(sys.argv[1])
best = None
for pc in setools.SELinuxPolicy().portcons():
    if str(pc.protocol) == "tcp" and pc.ports.low <= port <= pc.ports.high:
        if best is None or pc.ports.high - pc.ports.low < best.ports.high - best.ports.low:
            best = pc
tcon = str(best.context) if best else "system_u:object_r:port_t:s0"
try:
    rc = selinux.selinux_check_access("system_u:system_r:postfix_master_t:s0", tcon,
                                      "tcp_socket", "name_bind")
    verdict = "allowed" if rc == 0 else "denied"
except OSError as exc:  # the binding raises on -1; EACCES is the kernel's "no"
    verdict = "denied" if exc.errno == errno.EACCES else "error:{}".format(exc)
print("{} {}".format(tcon.split(":")[2], verdict))
PY
}

# postfix_denial_tuples SINCE_EPOCH: the distinct "source target class permission" of Postfix AVC
# denials since that time, one a line (what a baseline of pre-existing denials holds).
postfix_denial_tuples() {
    postfix_denials "$1" | python3 -c '
import re, sys
for line in sys.stdin:
    if "type=AVC" not in line or " denied " not in line:
        continue
    perms = re.search(r"\{ ([^}]*) \}", line).group(1).split()
    s, t, c = (re.search(k + r"=(\S+)", line).group(1) for k in ("scontext", "tcontext", "tclass"))
    for perm in perms:
        print(s.split(":")[2], t.split(":")[2], c, perm)' | sort -u
}

# new_postfix_denials SINCE_EPOCH BASELINE_FILE: Postfix AVC/SELINUX_ERR records since that time
# whose denial is not in the baseline (pre-existing: raised by the host without the child).
new_postfix_denials() {
    postfix_denials "$1" | python3 -c '
import re, sys
baseline = set(l.strip() for l in open(sys.argv[1]) if l.strip())
for line in sys.stdin:
    if "type=AVC" in line and " denied " in line:
        perms = re.search(r"\{ ([^}]*) \}", line).group(1).split()
        s, t, c = (re.search(k + r"=(\S+)", line).group(1).split(":")[2] if k != "tclass" else
                   re.search(k + r"=(\S+)", line).group(1) for k in ("scontext", "tcontext", "tclass"))
        if all("{} {} {} {}".format(s, t, c, p) in baseline for p in perms):
            continue
    sys.stdout.write(line)' "$2"
}
