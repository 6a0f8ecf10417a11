"""Benchmark: our explain+render path vs ``audit2allow -p POLICY -i`` on synthetic logs.

Prints time of both, the ratio, our peak RSS (child process, so each size is measured alone)
and whether both found the same (source, target, class, perm) tuples for in-scope denials.
Usage: .venv/bin/python bench/bench_avc.py [--smoke] [--sizes 10000,100000,1000000]
"""

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_audit_log  # noqa: E402

POLICY = "/etc/selinux/default/policy/policy.33"
CHILD = r'''
import resource, sys, time, json
from postmulti_selinux.avc.analysis import analyse, plan_module
from postmulti_selinux.avc.policy import open_policy
from postmulti_selinux.avc.paths import SelabelExpected
policy = open_policy(sys.argv[2], sys.argv[3])
t, c = time.time(), time.process_time()
res = analyse(policy, files=[sys.argv[1]])
plan_module(res.findings, "bench_avc")
elapsed, cpu = time.time() - t, time.process_time() - c
tuples = set()
for f in res.findings:
    if f.kind not in ("out_of_scope", "granted"):
        for p in f.perms:
            tuples.add((f.source, f.target, f.tclass, p))
print(json.dumps({"seconds": elapsed, "cpu": cpu, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "tuples": sorted(tuples), "lines": res.stats.lines}))
'''
_A2A = re.compile(r"allow (\S+) (\S+):(\S+) (\{[^}]*\}|\S+);")


def ours(log, backend):
    out = subprocess.check_output([sys.executable, "-c", CHILD, log, POLICY, backend], universal_newlines=True)
    import json
    return json.loads(out)


def audit2allow(log):
    """(wall seconds, CPU seconds of the child, tuples) for ``audit2allow -p POLICY -i LOG``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.time()
    out = subprocess.check_output(["audit2allow", "-p", POLICY, "-i", log], universal_newlines=True)
    elapsed = time.time() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    tuples = set()
    for source, target, tclass, perms in _A2A.findall(out):
        if re.match(r"postfix_\w+_t\Z", source):
            for perm in perms.strip("{} ").split():
                tuples.add((source, target, tclass, perm))
    return elapsed, cpu, tuples


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="10k lines only, quick (for CI)")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--no-audit2allow", action="store_true")
    args = parser.parse_args()
    sizes = [10000] if args.smoke else [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        print("Times in seconds, wall (CPU); the ratio is of CPU times, which a busy shared host "
              "distorts less than wall times.")
        print("{:>9} {:>16} {:>18} {:>7} {:>10} {:>12}".format(
            "lines", "ours", "audit2allow", "ratio", "peak RSS", "same tuples"))
        for size in sizes:
            log = os.path.join(tmp, "audit-{}.log".format(size))
            gen_audit_log.generate(size, log)
            mine = ours(log, args.backend)
            if args.no_audit2allow:
                theirs, theirs_cpu, same = float("nan"), float("nan"), "n/a"
            else:
                theirs, theirs_cpu, their_tuples = audit2allow(log)
                # audit2allow turns in-scope denials into rules, ours only reports them: compare
                # the tuples each saw (ours: every in-scope finding, whatever its kind).
                same = set(map(tuple, mine["tuples"])) >= their_tuples and bool(their_tuples)
            print("{:>9} {:>7.2f} ({:>6.2f}) {:>8.2f} ({:>7.2f}) {:>7.1f} {:>8.0f}MB {:>12}".format(
                size, mine["seconds"], mine["cpu"], theirs, theirs_cpu, theirs_cpu / mine["cpu"],
                mine["rss_kb"] / 1024.0, str(same)))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
