"""Relabel a big Postfix spool: the engine's in-process relabel vs ``setfiles`` on the same tree.

Usage: .venv/bin/python bench/bench_relabel.py [--smoke] [--files N] [--rounds R]
Prints seconds for a full relabel and a no-op rerun of each, and the ratios (targets: full
relabel within 1.1x of setfiles, no-op rerun no slower than setfiles' no-op). Works on a copy of
the installed Debian policy's file contexts under a temp root; nothing on the host is touched.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from postmulti_selinux.selinux import PolicyRoot, relabel  # noqa: E402

SPOOL = "/var/spool/postfix-sub"
STALE = b"system_u:object_r:var_t:s0\0"


def build_root(workdir, files):
    root = os.path.join(workdir, "root")
    os.makedirs(os.path.join(root, "etc/selinux/default/contexts"))
    shutil.copytree("/etc/selinux/default/contexts/files",
                    os.path.join(root, "etc/selinux/default/contexts/files"))
    base = os.path.join(root, SPOOL.lstrip("/"))
    for queue in ("active", "deferred", "incoming", "maildrop", "hold", "corrupt", "bounce",
                  "defer", "public", "private", "pid", "flush", "trace", "saved"):
        os.makedirs(os.path.join(base, queue))
    per_dir = max(1, files // 48)
    made = 0
    for queue in ("deferred", "active", "defer"):
        for hashdir in "0123456789ABCDEF":
            directory = os.path.join(base, queue, hashdir)
            os.makedirs(directory)
            for index in range(per_dir):
                open(os.path.join(directory, "{}{:09X}".format(hashdir, index)), "w").close()
                made += 1
    return root, made


def stale(root):
    top = os.path.join(root, SPOOL.lstrip("/"))
    os.setxattr(top, "security.selinux", STALE, follow_symlinks=False)
    for directory, dirs, names in os.walk(os.path.join(root, SPOOL.lstrip("/"))):
        for name in dirs + names:
            os.setxattr(os.path.join(directory, name), "security.selinux", STALE,
                        follow_symlinks=False)


def run_setfiles(root):
    started = time.monotonic()
    subprocess.check_call(["setfiles", "-F", "-r", root,
                           os.path.join(root, "etc/selinux/default/contexts/files/file_contexts"),
                           os.path.join(root, SPOOL.lstrip("/"))])
    return time.monotonic() - started


def run_engine(root):
    started = time.monotonic()
    result = relabel([SPOOL], PolicyRoot(root, "default"), progress=open(os.devnull, "w"))
    return time.monotonic() - started, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small tree, one round (CI)")
    parser.add_argument("--files", type=int, default=100800)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    files, rounds = (4800, 1) if args.smoke else (args.files, args.rounds)
    workdir = tempfile.mkdtemp(prefix="bench-relabel-")
    try:
        root, made = build_root(workdir, files)
        print("tree: {} queue files under {}".format(made, SPOOL), flush=True)
        best = {}
        for _ in range(rounds):  # interleaved rounds, best of each: the host may be busy
            stale(root)
            t_set = run_setfiles(root)
            t_set_noop = run_setfiles(root)
            stale(root)
            t_eng, result = run_engine(root)
            t_eng_noop, noop = run_engine(root)
            assert noop.changed == 0 and result.changed == result.examined, (result, noop)
            for key, value in (("setfiles", t_set), ("setfiles no-op", t_set_noop),
                               ("engine", t_eng), ("engine no-op", t_eng_noop)):
                best[key] = min(best.get(key, value), value)
        print("engine relabeled {} of {} paths".format(result.changed, result.examined))
        for key in ("setfiles", "engine", "setfiles no-op", "engine no-op"):
            print("{:16s} {:7.2f} s".format(key, best[key]))
        print("full relabel ratio engine/setfiles: {:.2f} (target <= 1.10)".format(
            best["engine"] / best["setfiles"]))
        print("no-op ratio engine/setfiles:        {:.2f} (target <= 1.00)".format(
            best["engine no-op"] / best["setfiles no-op"]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
