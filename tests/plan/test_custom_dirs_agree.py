"""Issue 13, class 8: a child with custom queue and data directories under /srv. After secure,
files Postfix (re)creates at start carry what the parent's twins carry, which can differ from
what the policy names; secure's own rule accepts them, and ``check`` (the same probes, the same
rule: plan.verify.label_check) must agree, as must a rerun of secure."""

import json
import os
import subprocess
import sys

from postmulti_selinux.plan.execute import Options, secure
from postmulti_selinux.selinux import read_label, write_label
from tests.plan.conftest import offline_tree

NAME = "postfix-srv"
# A start-time file in each tree, and a context its parent twin carries that is not the
# policy's for the path (a file a daemon created at run time, inheriting its directory's type).
RUNTIME = {"queue": ("pid/master.pid", "system_u:object_r:postfix_spool_t:s0"),
           "data": ("master.lock", "system_u:object_r:var_lib_t:s0")}


def _check(tree):
    exe = os.path.join(os.path.dirname(sys.executable), "postmulti-selinux")
    proc = subprocess.run([exe, "check", NAME, "--root", tree.root, "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    data = json.loads(proc.stdout)
    return dict((c["name"], (c["status"], c["detail"])) for c in data["instances"][0]["checks"])


def test_check_and_secure_agree_on_custom_dirs_under_srv(family):
    tree = offline_tree(family["pristine"], family["type"])
    try:
        srv = os.path.join(tree.root, "srv", NAME)
        tree.manager.create(NAME, group="mta", queue_directory=os.path.join(srv, "queue"),
                            data_directory=os.path.join(srv, "data"))
        tree.manager.set_listener(NAME, "127.0.0.1:10026")
        options = Options(config_dir=tree.parent_dir, root=tree.root, state=tree.state,
                          restart=False)
        assert _check(tree)["labels"][0] == 1, "the fixture's child must start mislabeled"
        report = secure(NAME, options)
        assert report.ok and "relabel" in [a["kind"] for a in report.applied]
        assert _check(tree)["labels"][0] == 0

        parents = {"queue": os.path.join(tree.root, "var/spool/postfix"),
                   "data": os.path.join(tree.root, "var/lib/postfix")}
        for top in (srv, None):  # the child's files first: then also the parent's twins
            for tree_name, (relative, context) in RUNTIME.items():
                path = os.path.join(top or parents[tree_name], tree_name if top else "", relative)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as handle:
                    handle.write("1\n")
                write_label(path, context)  # as the running masters left them
            status, detail = _check(tree)["labels"]
            if top:  # negative control: unlike the parent's twins, they are flagged
                assert status == 1 and "master" in detail, detail
        assert status == 0, detail
        again = secure(NAME, Options(config_dir=tree.parent_dir, root=tree.root,
                                     state=tree.state, restart=False))
        assert again.applied == [] and not again.changed
        for tree_name, (relative, context) in RUNTIME.items():
            assert read_label(os.path.join(srv, tree_name, relative)) == context
    finally:
        tree.remove()
