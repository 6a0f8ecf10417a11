"""Store changes for 3 equivalences + 1 port: one-by-one ``semanage`` calls, ``semanage import``,
and the engine's single transaction, each on its own copy of the Debian policy store.

Usage: .venv/bin/python bench/bench_store.py [--smoke]
The semanage CLI has no alternate-root option, so its runs happen in a private mount namespace
(``unshare -m``) where the copy is bind-mounted over /etc/selinux/default and
/var/lib/selinux/default: the host's store is never written. Prints seconds and policy rebuilds
(the store's commit counter) for each, and the ratio.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from postmulti_selinux.selinux import PolicyRoot, PolicyTransaction  # noqa: E402

PAIRS = [("/etc/postfix", "/etc/postfix-sub"), ("/var/spool/postfix", "/var/spool/postfix-sub"),
         ("/var/lib/postfix", "/var/lib/postfix-sub")]
PORT = 2525


def copy_store(workdir, name):
    root = os.path.join(workdir, name)
    for part in ("etc/selinux", "var/lib/selinux"):
        os.makedirs(os.path.join(root, part))
        shutil.copytree(os.path.join("/", part, "default"), os.path.join(root, part, "default"),
                        symlinks=True)
    return PolicyRoot(root, "default")


def in_namespace(root, commands):
    """Run shell ``commands`` with the copy bind-mounted over the host's store paths."""
    mounts = " && ".join("mount --bind {0}/{1} /{1}".format(root.root, part) for part in
                         ("etc/selinux/default", "var/lib/selinux/default"))
    script = "set -e; {}; {}".format(mounts, "; ".join(commands))
    started = time.monotonic()
    subprocess.check_call(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def one_by_one(root):
    commands = ["semanage fcontext -N -a -e {} {}".format(p, c) for p, c in PAIRS]
    commands.append("semanage port -N -a -t smtp_port_t -p tcp {}".format(PORT))
    return in_namespace(root, commands)


def semanage_import(root):
    lines = ["fcontext -a -e {} {}".format(p, c) for p, c in PAIRS]
    lines.append("port -a -t smtp_port_t -p tcp {}".format(PORT))
    path = os.path.join(root.root, "import.txt")
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return in_namespace(root, ["semanage import -N -f {}".format(path)])


def engine(root):
    started = time.monotonic()
    transaction = PolicyTransaction(root)
    for parent, child in PAIRS:
        transaction.add_equivalence(parent, child)
    transaction.add_port(PORT, "tcp", "smtp_port_t")
    report = transaction.commit()
    return time.monotonic() - started, report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="engine and one CLI variant only")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-store-")
    try:
        results = []
        root = copy_store(workdir, "engine")
        before = root.commit_number()
        seconds, report = engine(root)
        results.append(("engine transaction", seconds, root.commit_number() - before))
        assert report.rebuilds == 1, report
        variants = [("semanage one-by-one", one_by_one)]
        if not args.smoke:
            variants.append(("semanage import", semanage_import))
        for name, func in variants:
            root = copy_store(workdir, name.replace(" ", "-"))
            before = root.commit_number()
            try:
                seconds = func(root)
            except (OSError, subprocess.CalledProcessError) as exc:
                print("{:22s} skipped ({})".format(name, exc))
                continue
            results.append((name, seconds, root.commit_number() - before))
        for name, seconds, rebuilds in results:
            print("{:22s} {:6.2f} s  {} rebuild(s)".format(name, seconds, rebuilds))
        for name, seconds, _ in results[1:]:
            print("ratio {} / engine: {:.2f}".format(name, seconds / results[0][1]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
