"""Benchmark: our explain+render path vs ``audit2allow -p POLICY -i`` on synthetic logs.

Each side runs as its own process and is measured whole (interpreter start, imports, policy,
reading, explaining, rendering) with that process's own rusage: wall and CPU seconds and peak
RSS. Ours runs twice: cold (empty policy-rule index) and warm (the index the cold run wrote,
as on every later run on a host). Also printed: whether both found the same (source, target,
class, perm) tuples for in-scope denials, and how many distinct denials the log holds. The last
row ("x3") is the largest log's events written three times over: three times the length, the
same distinct denials, so its peak RSS shows whether memory depends on length.
Usage: .venv/bin/python bench/bench_avc.py [--smoke] [--sizes 10000,100000,1000000]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_audit_log  # noqa: E402

POLICY = "/etc/selinux/default/policy/policy.33"
CHILD = r'''
import json, sys
from postmulti_selinux.avc.analysis import analyse, plan_module
from postmulti_selinux.avc.policy import open_policy
policy = open_policy(sys.argv[2], sys.argv[3])
res = analyse(policy, files=[sys.argv[1]])
plan_module(res.findings, "bench_avc")
tuples = set()
groups = 0
for f in res.findings:
    if f.kind not in ("out_of_scope", "granted"):
        groups += 1
        for p in f.perms:
            tuples.add((f.source, f.target, f.tclass, p))
print(json.dumps({"tuples": sorted(tuples), "groups": groups, "avc": res.stats.avc,
                  "loaded": getattr(policy, "_loaded", True) is not None, "walker": res.stats.walker}))
'''
_A2A = re.compile(r"allow (\S+) (\S+):(\S+) (\{[^}]*\}|\S+);")


def measure(argv, env=None):
    """(stdout, wall seconds, CPU seconds, peak RSS in MB) of one child process."""
    start = time.time()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, universal_newlines=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = status
    wall = time.time() - start
    if status != 0:
        raise SystemExit("{} failed: status {}".format(argv[0], status))
    return out, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def ours(log, backend, cache_dir):
    env = dict(os.environ, POSTMULTI_SELINUX_CACHE_DIR=cache_dir)
    out, wall, cpu, rss = measure([sys.executable, "-c", CHILD, log, POLICY, backend], env)
    return json.loads(out), wall, cpu, rss


def audit2allow(log):
    out, wall, cpu, rss = measure(["audit2allow", "-p", POLICY, "-i", log])
    tuples = set()
    for source, target, tclass, perms in _A2A.findall(out):
        if re.match(r"postfix_\w+_t\Z", source):
            for perm in perms.strip("{} ").split():
                tuples.add((source, target, tclass, perm))
    return tuples, wall, cpu, rss


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="10k lines only, quick (for CI)")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--pure", action="store_true",
                        help="ours without the native walker (POSTMULTI_SELINUX_NATIVE=0)")
    args = parser.parse_args()
    if args.pure:
        os.environ["POSTMULTI_SELINUX_NATIVE"] = "0"
    sizes = [10000] if args.smoke else [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        print("Whole processes, wall s (CPU s). Ours cold: empty policy-rule index; warm: as on "
              "every later run. Ratios: audit2allow / ours warm.")
        print("{:>10} {:>8} {:>15} {:>15} {:>16} {:>11} {:>11} {:>14} {:>6}".format(
            "lines", "denials", "ours cold", "ours warm", "audit2allow", "ratio wall",
            "ratio CPU", "RSS ours/a2a", "same"))
        for size, repeat in [(size, 1) for size in sizes] + [(sizes[-1], 3)]:
            log = os.path.join(tmp, "audit-{}x{}.log".format(size, repeat))
            gen_audit_log.generate(size, log, repeat=repeat)
            cache = tempfile.mkdtemp(dir=tmp)
            _, cold_wall, cold_cpu, _ = ours(log, args.backend, cache)
            mine, wall, cpu, rss = ours(log, args.backend, cache)
            theirs, a_wall, a_cpu, a_rss = audit2allow(log)
            same = set(map(tuple, mine["tuples"])) == theirs and bool(theirs)
            if size == sizes[0] and repeat == 1:
                print("(ours: raw logs walked by the {})".format(
                    "native walker (_fastscan.c)" if mine["walker"] == "native" else "pure-Python pattern"))
            label = "{}{}".format(size, " x3" if repeat > 1 else "")
            print("{:>10} {:>8} {:>6.2f} ({:>5.2f}) {:>6.2f} ({:>5.2f}) {:>7.2f} ({:>5.2f}) {:>10.1f}x "
                  "{:>10.1f}x {:>6.0f}/{:<4.0f}MB {:>6}".format(
                      label, mine["groups"], cold_wall, cold_cpu, wall, cpu, a_wall, a_cpu,
                      a_wall / wall, a_cpu / cpu, rss, a_rss, str(same)))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
