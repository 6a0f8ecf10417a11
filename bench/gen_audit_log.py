"""Write a synthetic raw audit.log: half non-AVC noise, SYSCALL and PROCTITLE records (and
sometimes PATH/EOE) per AVC in the kernel's order, a skewed domain/type mix with a few out-of-scope domains.

Denied objects come from a fixed catalog of files, as on a real host: each file has one inode,
one path and one label, and a few files draw most denials (Zipf-like weights within a type).

Usage: .venv/bin/python bench/gen_audit_log.py LINES OUTPUT [--seed N]
"""

import argparse
import random

DOMAINS = [("postfix_master_t", 40), ("postfix_smtpd_t", 15), ("postfix_qmgr_t", 10),
           ("postfix_pickup_t", 8), ("postfix_local_t", 5), ("httpd_t", 12), ("sshd_t", 6),
           ("named_t", 4)]
TARGETS = [("postfix_spool_t", "fifo_file", ["read", "write", "open", "getattr"], 30),
           ("postfix_spool_t", "sock_file", ["write", "create", "unlink", "setattr"], 20),
           ("postfix_etc_t", "dir", ["setattr", "write", "add_name"], 10),
           ("var_lib_t", "file", ["read", "write", "lock", "open"], 10),
           ("etc_t", "file", ["read", "getattr"], 8),
           ("var_spool_t", "dir", ["search", "write", "add_name"], 8),
           ("tmp_t", "file", ["create", "write"], 6),
           ("shadow_t", "file", ["read"], 1)]
NOISE = ['type=USER_ACCT msg=audit({s}): pid=1{n} uid=0 auid=0 ses=1 msg=\'op=PAM:accounting grantors=pam_permit acct="root" exe="/usr/sbin/cron" hostname=? addr=? terminal=cron res=success\'',
         'type=CRED_DISP msg=audit({s}): pid=2{n} uid=0 auid=0 ses=2 msg=\'op=PAM:setcred grantors=pam_env,pam_unix acct="root" exe="/usr/sbin/cron" hostname=? addr=? terminal=cron res=success\'',
         'type=SERVICE_START msg=audit({s}): pid=1 uid=0 auid=4294967295 ses=4294967295 msg=\'unit=postfix@- comm="systemd" exe="/usr/lib/systemd/systemd" hostname=? addr=? terminal=? res=success\'',
         'type=LOGIN msg=audit({s}): pid=3{n} uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=3 res=1',
         'type=PROCTITLE msg=audit({s}): proctitle=2F7573722F7362696E2F63726F6E']


FILES_PER_TYPE = 200


def weighted(rng, items):
    return rng.choices(items, weights=[i[-1] for i in items])[0]


def catalog():
    """target type -> (files [(path, inode)], cumulative Zipf weights)."""
    files = {}
    inode = 1000
    for target, tclass, _, _ in TARGETS:
        if target in files:
            continue
        entries = []
        for i in range(FILES_PER_TYPE):
            inode += 1
            inst = ("sub", "out", "in")[i % 3]
            entries.append(("/var/spool/postfix-{}/{}/f{}".format(inst, target[:-2], inode), inode))
        cum, total = [], 0.0
        for i in range(FILES_PER_TYPE):
            total += 1.0 / (i + 1)
            cum.append(total)
        files[target] = (entries, cum)
    return files


def generate(lines, out, seed=1, repeat=1):
    """Write ``lines`` lines (``repeat`` times over: the same events again with later stamps,
    so that length grows while the set of distinct denials stays the same)."""
    files = catalog()
    t, serial = 1700000000.0, 1000
    with open(out, "w") as handle:
        for _ in range(repeat):
            t, serial = _write(handle, random.Random(seed), files, lines, t, serial)


def _write(handle, rng, files, lines, t, serial):
    written = 0
    while written < lines:
        t += rng.random() * 0.5
        serial += 1
        stamp = "{:.3f}:{}".format(t, serial)
        if rng.random() < 0.5:
            handle.write(rng.choice(NOISE).format(s=stamp, n=serial % 1000) + "\n")
            written += 1
            continue
        domain = weighted(rng, DOMAINS)[0]
        target, tclass, perms, _ = weighted(rng, TARGETS)
        perm = " ".join(sorted(rng.sample(perms, min(len(perms), rng.choice([1, 1, 2])))))
        entries, cum = files[target]
        path, ino = rng.choices(entries, cum_weights=cum)[0]
        name = path.rsplit("/", 1)[1]
        handle.write('type=AVC msg=audit({}): avc:  denied  {{ {} }} for  pid={} comm="{}" name="{}" '
                     'dev="vda1" ino={} scontext=system_u:system_r:{}:s0 tcontext=system_u:object_r:{}:s0 '
                     'tclass={} permissive=0\n'.format(stamp, perm, 100 + serial % 900, domain[:-2][-15:],
                                                        name, ino, domain, target, tclass))
        handle.write('type=SYSCALL msg=audit({}): arch=c000003e syscall=2 success=no exit=-13 a0=1 a1=2 '
                     'a2=3 a3=0 items=1 ppid=1 pid={} auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 '
                     'egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="{}" exe="/usr/lib/postfix/sbin/x" '
                     'subj=system_u:system_r:{}:s0 key=(null)\n'.format(stamp, 100 + serial % 900,
                                                                       domain[:-2][-15:], domain))
        with_path = rng.random() < 0.5
        if with_path:
            handle.write('type=PATH msg=audit({}): item=0 name="{}" inode={} '
                         'dev=fe:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 obj=system_u:object_r:{}:s0 '
                         'nametype=NORMAL\n'.format(stamp, path, ino, target))
        handle.write("type=PROCTITLE msg=audit({}): proctitle={}\n".format(
            stamp, domain[:-2][-15:].encode().hex().upper()))
        written += 4 if with_path else 3
        if with_path:
            handle.write("type=EOE msg=audit({}):\n".format(stamp))
            written += 1
    return t, serial


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lines", type=int)
    parser.add_argument("output")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="write the same events this many times")
    args = parser.parse_args()
    generate(args.lines, args.output, args.seed, args.repeat)
