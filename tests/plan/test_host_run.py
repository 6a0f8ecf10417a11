"""Issue 16: several children in one run (``--all``, ``-g GROUP``, NAME..., ``--instances-json``)
against an offline root on both policy families: one plan, one policy transaction (one rebuild
at most), one relabel; a rerun writes nothing; undo puts the whole run back exactly; a child
that cannot be planned is reported and the others are still secured."""

import json
import os
import subprocess
import sys

from postmulti_selinux.selinux import PolicyRoot, relabel
from tests.plan.conftest import offline_tree
from tests.plan.test_secure_offline import _digest

EXE = os.path.join(os.path.dirname(sys.executable), "postmulti-selinux")
LISTEN = {"postfix-sub": "127.0.0.1:10025", "postfix-srv": "127.0.0.1:10026",
          "postfix-out": "127.0.0.1:2525"}


def _tool(tree, *args, **kwargs):
    proc = subprocess.run([EXE] + list(args) + ["--root", tree.root], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, **kwargs)
    return proc


def _json(proc):
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def _three_children(family):
    """The issue's host: postfix-sub on default paths, postfix-srv with its queue and data
    under /srv in group mta, postfix-out on 2525; listeners set by the admin in master.cf."""
    tree = offline_tree(family["pristine"], family["type"])
    tree.family = family
    srv = os.path.join(tree.root, "srv", "postfix-srv")
    tree.manager.create("postfix-srv", group="mta", queue_directory=os.path.join(srv, "queue"),
                        data_directory=os.path.join(srv, "data"))
    tree.manager.create("postfix-out")
    for name, listen in LISTEN.items():
        tree.manager.set_listener(name, listen)
        tree.manager.set_main(name, {"myhostname": name + ".example.test"})  # as an admin does
    # Labeled as a host's restorecon leaves new trees, so that undo's relabel has a start to
    # return to (no kernel labeled this tree).
    relabel([top + name for top in ("/etc/", "/var/spool/", "/var/lib/")
             for name in ["postfix", "postfix-sub", "postfix-out"]] + ["/etc/postfix-srv", "/srv"],
            PolicyRoot(tree.root))
    return tree


def _subs_and_counter(tree):
    root = PolicyRoot(tree.root)
    stamp = os.stat(root.subs_path).st_mtime_ns if os.path.exists(root.subs_path) else None
    return stamp, root.commit_number()


def test_all_children_in_one_transaction_then_a_noop_rerun_then_one_exact_undo(family):
    tree = _three_children(family)
    try:
        before = _digest(tree)
        plan = _json(_tool(tree, "plan", "--all", "--json"))
        assert plan["instances"] == sorted(LISTEN) or set(plan["instances"]) == set(LISTEN)
        kinds = [a["kind"] for a in plan["plan"]["actions"]]
        assert kinds.count("commit-policy") == 1 and kinds.count("relabel") == 1, kinds
        shared = [a for a in plan["plan"]["actions"] if a["instance"] is None]
        assert set(a["kind"] for a in shared) == {"commit-policy", "relabel"}
        assert set(a["instance"] for a in plan["plan"]["actions"]) - {None} == set(LISTEN)
        assert _digest(tree) == before, "plan changed the root"

        proc = _tool(tree, "secure", "--all", "--json")
        report = _json(proc)
        assert proc.returncode == 0 and report["ok"], report
        applied = [a["kind"] for a in report["applied"]]
        assert applied.count("commit-policy") == 1 and applied.count("relabel") == 1, applied
        assert report["store_rebuilds"] <= 1 and report["restarts"] == 0
        ports = [a for a in plan["plan"]["actions"] if a["kind"] == "port-label"]
        assert report["store_rebuilds"] == (1 if ports else 0), report
        assert [c["instance"] for c in report["children"]] == report["instances"]
        assert all(c["ok"] and c["secured"] for c in report["children"])
        assert set(report["diff"]["before"]) == set(LISTEN)
        assert all(v["mislabeled_paths"] == 0 for v in report["diff"]["after"].values())
        assert report["probes"]["label_walks"] > 0 and report["probes"]["processes"]["postconf"]
        assert set(report["timings"]) >= {"observe", "config", "relabel", "total"}

        check = _json(_tool(tree, "check", "--all", "--json"))
        assert check["status"] == 0, check
        assert len(check["instances"]) == 3

        stamp = _subs_and_counter(tree)
        again = _json(_tool(tree, "secure", "--all", "--json"))
        assert again["applied"] == [] and not again["changed"] and again["store_rebuilds"] == 0
        assert _subs_and_counter(tree) == stamp, "a rerun wrote the store"

        alone = _tool(tree, "undo", "postfix-sub")
        assert alone.returncode != 0 and len(alone.stderr.strip().splitlines()) == 1
        assert "secured together with" in alone.stderr and "postfix-srv" in alone.stderr

        undone = _json(_tool(tree, "undo", "--all", "--json"))
        assert set(undone["instances"]) == set(LISTEN) and undone["changed"]
        assert all(item["instance"] in set(LISTEN) | {None} for item in undone["undone"])
        assert _digest(tree) == before
        assert not os.path.exists(os.path.join(tree.state, "journal", "host.json"))
    finally:
        tree.remove()


def test_a_group_selects_its_members_and_a_bad_child_does_not_stop_the_others(family):
    tree = _three_children(family)
    try:
        group = _json(_tool(tree, "plan", "-g", "mta", "--json"))
        assert group["instances"] == ["postfix-srv"]
        nosuch = _tool(tree, "plan", "-g", "nosuch")
        assert nosuch.returncode != 0 and "groups: mta" in nosuch.stderr
        assert len(nosuch.stderr.strip().splitlines()) == 1

        # postfix-out's queue directory now lies under a directory that does not exist.
        main_cf = os.path.join(tree.root, "etc/postfix-out/main.cf")
        with open(main_cf, "a") as handle:
            handle.write("queue_directory = {}/gone/postfix-out\n".format(tree.root))
        proc = _tool(tree, "secure", "--all", "--json")
        report = _json(proc)
        assert proc.returncode == 1 and not report["ok"]
        outcome = dict((c["instance"], c) for c in report["children"])
        assert not outcome["postfix-out"]["secured"]
        assert "does not exist" in outcome["postfix-out"]["error"]
        assert outcome["postfix-sub"]["ok"] and outcome["postfix-srv"]["ok"]
        assert [a["kind"] for a in report["applied"]].count("relabel") == 1
        assert "postfix-out" not in set(a["instance"] for a in report["applied"])
    finally:
        tree.remove()


def test_instances_json_gives_each_child_its_listener_in_one_run(family):
    tree = offline_tree(family["pristine"], family["type"])
    try:
        items = [{"name": "postfix-sub", "listen": "127.0.0.1:10025"},
                 {"name": "postfix-new", "create": True, "group": "mta", "port": 10027}]
        proc = _tool(tree, "secure", "--instances-json", "-", "--json",
                     input=json.dumps(items))
        report = _json(proc)
        assert proc.returncode == 0 and report["ok"], report
        assert report["instances"] == ["postfix-sub", "postfix-new"]
        kinds = [(a["instance"], a["kind"]) for a in report["applied"]]
        assert ("postfix-new", "create-child") in kinds
        assert ("postfix-sub", "set-listener") in kinds and ("postfix-new", "set-listener") in kinds
        assert [k for _, k in kinds].count("commit-policy") == 1
        for bad, says in [("[]", "non-empty list"), ('[{"name": "postfix-x", "prot": 1}]',
                                                     "unknown key 'prot'"),
                          ('[{"name": "postfix-x", "port": 99999}]', "port must be 1-65535"),
                          ("{", "is not JSON")]:
            proc = _tool(tree, "secure", "--instances-json", "-", input=bad)
            assert proc.returncode != 0 and says in proc.stderr, (bad, proc.stderr)
            assert len(proc.stderr.strip().splitlines()) == 1
    finally:
        tree.remove()
