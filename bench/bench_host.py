"""Securing a whole host at scale: ``secure-child --all --root R --json`` on offline roots with
1, 5, 20 and 50 children made by real postmulti, on the Debian and EL9 policy families.

Usage: .venv/bin/python bench/bench_host.py [--smoke] [--sizes 1,5,20] [--families debian,el9]
Each root is a temp directory holding a copy of a real policy store (SELinux "enforcing" in its
etc/selinux/config) and a Postfix parent tree whose children postmulti created (in a private mount
namespace, as the tests do); child i's smtp listener is moved to 127.0.0.1:40100+i, a port both
policies make it label (smtp_port_t), so every run commits equivalences and port labels.
Nothing on the host is touched; offline runs never restart Postfix. One run per size; prints
wall time, the report's phase timings, processes started (by program), label walks and store
rebuilds (the report's figure and the store's commit counter), then the targets: one rebuild at
every size; 20 children in at most 2x one child's wall time; processes and label walks per child
at the largest size at most 1.5x those at 5 children. Full mode (1/5/20/50 on both families)
exits 1 when a target fails; --smoke (CI: 1 and 5 children on Debian, under ~90 s) prints the
same figures and fails only on more than one rebuild.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "src"))
sys.path.insert(0, REPO)

from postmulti_selinux.postfix.tools import Postfix, find_command  # noqa: E402
from postmulti_selinux.selinux import PolicyRoot  # noqa: E402
from tests.postfix.conftest import make_parent  # noqa: E402
from tests.selinux.conftest import EL9_TARBALL, FAMILIES  # noqa: E402

TOOL = os.path.join(os.path.dirname(sys.executable), "secure-child")
FULL_SIZES = (1, 5, 20, 50)
SMOKE_SIZES = (1, 5)  # postmulti needs ~2.5 s a child to build the roots
SMOKE_FAMILIES = ("debian",)
SMTP_LINE = re.compile(r"^smtp(\s+inet\s)", re.M)
TIMEOUT = 1800
PORT_BASE = 40100


def listener(index):
    """Child ``index``'s smtp listener, the same for every size so that per-child work is
    comparable: 127.0.0.1:40100+index. Both policies need a label for these ports (Debian:
    unreserved_port_t, EL9: ephemeral_port_t, neither bindable by postfix_master_t), so each run
    commits one port label per child besides the equivalences: one store transaction."""
    return "127.0.0.1:{}".format(PORT_BASE + index)


def pristine_store(workdir, family):
    """A pristine root holding the family's store (etc/selinux/TYPE, var/lib/selinux/TYPE)."""
    target = os.path.join(workdir, "pristine-" + family)
    policy_type = FAMILIES[family]["type"]
    if family == "debian":
        for part in ("etc/selinux", "var/lib/selinux"):
            source = os.path.join("/", part, policy_type)
            if not os.path.isdir(source):
                return None
            os.makedirs(os.path.join(target, part))
            shutil.copytree(source, os.path.join(target, part, policy_type), symlinks=True)
        return target
    if not os.path.exists(EL9_TARBALL):
        return None
    os.makedirs(target)
    with tarfile.open(EL9_TARBALL) as archive:
        archive.extractall(target)
    return target


def age_config_files(root):
    """Postfix treats a main.cf/master.cf younger than ~2 s as still being written and waits;
    age them (mtimes only) so neither the build nor the measured run sleeps on them."""
    past = time.time() - 60
    for dirpath, _, names in os.walk(os.path.join(root, "etc")):
        if "selinux" in dirpath.split(os.sep):
            continue
        for name in names:
            if name in ("main.cf", "master.cf"):
                os.utime(os.path.join(dirpath, name), (past, past))


def build_root(workdir, pristine, family, size):
    """ROOT with the store copy, SELinux enforcing, a parent and ``size`` postmulti children."""
    root = tempfile.mkdtemp(prefix="{}-{}-".format(family, size), dir=workdir)
    os.chmod(root, 0o755)  # Postfix daemons drop to the postfix user: it must reach the tree
    policy_type = FAMILIES[family]["type"]
    for part in ("etc/selinux", "var/lib/selinux"):
        shutil.copytree(os.path.join(pristine, part), os.path.join(root, part), symlinks=True)
    with open(os.path.join(root, "etc/selinux/config"), "w") as handle:
        handle.write("SELINUX=enforcing\nSELINUXTYPE={}\n".format(policy_type))
    parent = make_parent(root)
    postfix = Postfix(parent)
    postfix.postmulti(["-e", "init"])
    for index in range(1, size + 1):
        name = "postfix-b{:02d}".format(index)
        age_config_files(root)
        postfix.postmulti(["-I", name, "-e", "create",
                           "config_directory=" + os.path.join(root, "etc", name),
                           "data_directory=" + os.path.join(root, "var/lib", name),
                           "queue_directory=" + os.path.join(root, "var/spool", name)])
        master_cf = os.path.join(root, "etc", name, "master.cf")
        with open(master_cf) as handle:
            text = handle.read()
        text, count = SMTP_LINE.subn(listener(index) + r"\1", text, count=1)
        if count != 1:
            raise SystemExit("{}: no 'smtp inet' line to move".format(master_cf))
        with open(master_cf, "w") as handle:
            handle.write(text)
    age_config_files(root)
    return root, PolicyRoot(root, policy_type)


def run_tool(root, store):
    """One measured ``secure-child --all --root ROOT --json``; the figures of its report."""
    before = store.commit_number()
    started = time.monotonic()
    proc = subprocess.run([TOOL, "--all", "--root", root, "--json"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=TIMEOUT)
    wall = time.monotonic() - started
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise SystemExit("secure-child exited {} without a JSON report:\n{}".format(
            proc.returncode, proc.stderr[-3000:]))
    figures = {"wall": wall, "rc": proc.returncode, "counter": store.commit_number() - before}
    if isinstance(report, list):  # the tool before issue 16: one report per child
        figures.update(shape="list", rebuilds=sum(r.get("store_rebuilds", 0) for r in report),
                       ok=all(r.get("ok") for r in report), probes=None, timings=None,
                       instances=len(report))
    else:
        figures.update(shape="object", rebuilds=report.get("store_rebuilds"),
                       ok=report.get("ok"), probes=report.get("probes"),
                       timings=report.get("timings"), instances=len(report.get("instances", [])))
        figures["failed"] = [c.get("instance") for c in report.get("children", [])
                             if not c.get("ok")]
    return figures


def show(family, size, fig):
    print("{} {:2d} child(ren): wall {:6.2f} s, rc {}, ok {}, {} instance(s) in the report ({})"
          .format(family, size, fig["wall"], fig["rc"], fig["ok"], fig["instances"],
                  fig["shape"]))
    print("    store rebuilds: {} (report), {} (commit counter)".format(fig["rebuilds"],
                                                                        fig["counter"]))
    if fig["timings"]:
        phases = dict((k, v) for k, v in fig["timings"].items() if isinstance(v, (int, float)))
        line = ", ".join("{} {:.2f}".format(k, v) for k, v in sorted(
            phases.items(), key=lambda kv: (kv[0] == "total", kv[0])))
        if "total" in phases:
            line += " (outside the phases {:.2f})".format(
                phases["total"] - sum(v for k, v in phases.items() if k != "total"))
        print("    seconds by phase: " + line)
    probes = fig["probes"]
    if probes is None:
        print("    processes: n/a, label walks: n/a (old tool: no probes)")
    else:
        by_program = ", ".join("{} {}".format(k, v) for k, v in sorted(
            probes.get("processes", {}).items(), key=lambda kv: (-kv[1], kv[0])))
        print("    processes: {} ({}); label walks: {}".format(
            probes.get("processes_total"), by_program or "none", probes.get("label_walks")))
        print("    per child: {:.1f} processes, {:.1f} label walks".format(
            probes.get("processes_total", 0) / size, probes.get("label_walks", 0) / size))
    if fig.get("failed"):
        print("    children not ok: " + ", ".join(fig["failed"]))
    sys.stdout.flush()


def summary(table):
    """One line per run: the figures the README quotes."""
    if not table:
        return
    print("summary: family children wall-s tool-s processes walks rebuilds")
    for family, size, fig in table:
        probes = fig["probes"] or {}
        print("  {:7s} {:3d} {:7.2f} {:>7s} {:>6s} {:>5s} {:>3}".format(
            family, size, fig["wall"],
            "{:.2f}".format(fig["timings"]["total"]) if fig["timings"] and
            "total" in fig["timings"] else "n/a",
            str(probes.get("processes_total", "n/a")), str(probes.get("label_walks", "n/a")),
            fig["rebuilds"]))


def targets(family, results):
    """[(name, verdict)], where verdict is True, False or None (cannot be checked here)."""
    checks = []
    sizes = sorted(results)
    bad = [s for s in sizes if results[s]["rebuilds"] != 1 or results[s]["counter"] != 1]
    checks.append(("one rebuild at every size ({})".format(", ".join(
        "{}: {}/{}".format(s, results[s]["rebuilds"], results[s]["counter"]) for s in sizes)),
        not bad))
    checks.append(("every run ok", all(results[s]["ok"] and results[s]["rc"] == 0
                                       for s in sizes)))
    if 1 in results and 20 in results:
        ratio = results[20]["wall"] / results[1]["wall"]
        checks.append(("20 children within 2x one child's wall time ({:.2f} s / {:.2f} s = "
                       "{:.2f}x)".format(results[20]["wall"], results[1]["wall"], ratio),
                       ratio <= 2.0))
    else:
        checks.append(("20 children within 2x one child's wall time (sizes 1 and 20 needed)",
                       None))
    big = max(sizes)
    for key, label in (("processes_total", "processes"), ("label_walks", "label walks")):
        if 5 not in results or big <= 5:
            checks.append(("{} per child grow at most 1.5x from 5 children to the largest size "
                           "(5 and a larger size needed)".format(label), None))
            continue
        name = "{} per child at {} within 1.5x those at 5".format(label, big)
        if results[5]["probes"] is None or results[big]["probes"] is None:
            checks.append((name + " (old tool: no probes)", None))
            continue
        small = results[5]["probes"].get(key, 0) / 5.0
        large = results[big]["probes"].get(key, 0) / float(big)
        ratio = large / small if small else float("inf") if large else 1.0
        marginal = (results[big]["probes"].get(key, 0) - results[5]["probes"].get(key, 0)) / \
            float(big - 5)
        checks.append(("{} ({:.1f} vs {:.1f} = {:.2f}x; each child past 5 adds {:.1f})".format(
            name, large, small, ratio, marginal), ratio <= 1.5))
    return checks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="sizes 1 and 5 on Debian only; fail only on >1 rebuild (CI)")
    parser.add_argument("--sizes", help="comma-separated child counts [1,5,20,50]")
    parser.add_argument("--families", help="comma-separated: debian, el9 [both]")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_host: skipped (needs root: postmulti in a mount namespace, chown, xattrs)")
        return 0
    try:
        find_command("postmulti")
    except Exception:  # noqa: BLE001 - any failure means "not installed"
        print("bench_host: skipped (Postfix is not installed)")
        return 0
    sizes = sorted(set(int(s) for s in args.sizes.split(","))) if args.sizes else list(
        SMOKE_SIZES if args.smoke else FULL_SIZES)
    families = args.families.split(",") if args.families else list(
        SMOKE_FAMILIES if args.smoke else sorted(FAMILIES))
    workdir = tempfile.mkdtemp(prefix="bench-host-")
    os.chmod(workdir, 0o755)
    failed = []
    table = []
    try:
        for family in families:
            pristine = pristine_store(workdir, family)
            if pristine is None:
                print("{}: skipped (policy store not found)".format(family))
                continue
            results = {}
            for size in sizes:
                started = time.monotonic()
                root, store = build_root(workdir, pristine, family, size)
                print("{} {:2d} child(ren): root built by postmulti in {:.1f} s".format(
                    family, size, time.monotonic() - started), flush=True)
                results[size] = run_tool(root, store)
                show(family, size, results[size])
                table.append((family, size, results[size]))
                shutil.rmtree(root, ignore_errors=True)
            print("targets ({}):".format(family))
            for name, verdict in targets(family, results):
                print("    {} {}".format({True: "PASS", False: "FAIL", None: "n/a "}[verdict],
                                         name))
                if verdict is False and not args.smoke:
                    failed.append("{}: {}".format(family, name))
            extra = [s for s in sizes
                     if max(results[s]["rebuilds"] or 0, results[s]["counter"]) > 1]
            if args.smoke and extra:
                failed.append("{}: more than one rebuild at {} child(ren)".format(
                    family, ", ".join(str(s) for s in extra)))
            sys.stdout.flush()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary(table)
    if failed:
        print("bench_host: {} target(s) failed".format(len(failed)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
