"""The labeling engine end to end against real policy stores (Debian refpolicy and EL9)."""

import os

import pytest

from postmulti_selinux.selinux import (
    ExpectedLabels, FileContexts, PolicyTransaction, PortCheck, context_type, read_label, relabel)
from tests.selinux.conftest import make_tree

PARENT_TREE = ["/etc/postfix/main.cf", "/etc/postfix/master.cf", "/var/spool/postfix/public/",
               "/var/spool/postfix/private/", "/var/spool/postfix/maildrop/",
               "/var/spool/postfix/active/", "/var/spool/postfix/pid/", "/var/lib/postfix/"]
LAYOUTS = {
    "default": {"/etc/postfix": "/etc/postfix-sub", "/var/spool/postfix": "/var/spool/postfix-sub",
                "/var/lib/postfix": "/var/lib/postfix-sub"},
    "custom": {"/etc/postfix": "/srv/mail/sub/etc", "/var/spool/postfix": "/srv/mail/sub/spool",
               "/var/lib/postfix": "/srv/mail/sub/data"},
}
PORTS = [(2525, "tcp"), (10025, "tcp")]


def child_tree(layout):
    """The child's copy of the parent tree, as postmulti creates it, with a queue file."""
    paths = []
    for path in PARENT_TREE:
        for parent, child in LAYOUTS[layout].items():
            if path.startswith(parent + "/"):
                paths.append(child + path[len(parent):])
    return paths + [LAYOUTS[layout]["/var/spool/postfix"] + "/active/4F2A1B3C"]


def tree_size(layout):
    """How many paths the child's trees hold (the tops included)."""
    return len({p.rstrip("/") for p in child_tree(layout)} | set(LAYOUTS[layout].values()))


def secure(root, pairs, ports):
    """One engine run: equivalences + needed port labels in one transaction, then relabel."""
    transaction = PolicyTransaction(root)
    for parent, child in pairs:
        transaction.add_equivalence(parent, child)
    decisions = PortCheck(root).check(ports, "postfix_master_t")
    for decision in decisions:
        if decision.action == "label":
            transaction.add_port(decision.port, decision.proto, decision.new_type)
    report = transaction.commit()
    result = relabel([child for _, child in pairs], root)
    return report, result, decisions


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_child_gets_parents_labels_and_rerun_changes_nothing(writable_root, family, layout):
    root = writable_root
    make_tree(root, PARENT_TREE + child_tree(layout))
    pairs = sorted(LAYOUTS[layout].items())
    contexts = FileContexts(root)
    parent_public = contexts.lookup("/var/spool/postfix/public", 0o040000)
    assert context_type(parent_public) == "postfix_public_t"

    before = ExpectedLabels(root, file_contexts=contexts).for_child(pairs)
    spool = LAYOUTS[layout]["/var/spool/postfix"]
    assert {item.path for item in before} >= {spool + "/public", spool + "/private"}
    # The policy alone does not give the child's public/ the parent's type (the seed's AVCs).
    public = [item for item in before if item.path == spool + "/public"][0]
    assert public.expected == parent_public and public.policy != parent_public

    commits_before = root.commit_number()
    report, result, _ = secure(root, pairs, PORTS)
    labeled = [change.key for change in report.changes if change.kind == "port"]
    assert labeled == ([] if family["port_2525_bindable"] else ["2525/tcp"])
    assert report.rebuilds == report.store_commits == (0 if family["port_2525_bindable"] else 1)
    assert root.commit_number() - commits_before == report.rebuilds
    assert report.subs_writes == 1
    assert result.changed == result.examined == tree_size(layout)

    assert read_label(root.path(spool + "/public")) == parent_public
    for parent, child in pairs:
        assert read_label(root.path(child)) == FileContexts(root).lookup(parent, 0o040000)
    assert ExpectedLabels(root).for_child(pairs) == []

    # Second run: everything is in place, so nothing is written and nothing rebuilt.
    report, result, decisions = secure(root, pairs, PORTS)
    assert (report.store_commits, report.subs_writes, report.rebuilds) == (0, 0, 0)
    assert report.changes == [] and len(report.skipped) == len(pairs)
    assert all(decision.bindable for decision in decisions)
    if labeled:
        assert [d.port_type for d in decisions if d.port == 2525] == ["smtp_port_t"]
    assert root.commit_number() - commits_before == (0 if family["port_2525_bindable"] else 1)
    assert result.changed == 0 and result.examined == tree_size(layout)


@pytest.mark.parametrize("backend", ["setools", "audit2why", "sesearch"])
def test_port_decisions(readonly_root, family, backend):
    ports = PORTS + [(25, "tcp"), (8080, "tcp")]
    found = PortCheck(readonly_root, backend=backend).check(ports)
    decisions = {d.port: d for d in found}
    assert decisions[10025].port_type == "amavisd_send_port_t"
    assert decisions[10025].bindable and decisions[10025].action == "none"
    assert decisions[2525].port_type == "unreserved_port_t"
    assert decisions[2525].bindable is family["port_2525_bindable"]
    if family["port_2525_bindable"]:
        assert decisions[2525].action == "none"
    else:
        assert (decisions[2525].action, decisions[2525].new_type) == ("label", "smtp_port_t")
    assert (decisions[25].port_type, decisions[25].bindable) == ("smtp_port_t", True)
    if backend != "setools":  # the EL7 fallbacks must answer exactly like setools
        assert found == PortCheck(readonly_root, backend="setools").check(ports)


def test_relabeled_xattrs_match_setfiles(writable_root, tmp_path):
    """Our labels on a temp tree are exactly what the real setfiles writes for the same tree."""
    import subprocess
    root = writable_root
    names = ["public/", "private/", "maildrop/", "pid/master.pid", "active/A/1B2C", "hold/",
             "deferred/3/3ABC", "etc/services", "lib/libc.so.6", "dev/log", "sub/symlink-target"]
    mine = ["/var/spool/postfix/" + n for n in names]
    theirs = ["/var/spool/postfix-copy/" + n for n in names]
    make_tree(root, mine + theirs)
    os.symlink("sub/symlink-target", root.path("/var/spool/postfix/link"))
    os.mkfifo(root.path("/var/spool/postfix/public/pickup"))
    result = relabel(["/var/spool/postfix"], root)
    assert result.errors == [] and result.changed == result.examined
    # setfiles labels the copy as if it were /var/spool/postfix: give it that path by renaming.
    os.rename(root.path("/var/spool/postfix"), root.path("/var/spool/postfix-mine"))
    os.rename(root.path("/var/spool/postfix-copy"), root.path("/var/spool/postfix"))
    os.symlink("sub/symlink-target", root.path("/var/spool/postfix/link"))
    os.mkfifo(root.path("/var/spool/postfix/public/pickup"))
    subprocess.check_call(["setfiles", "-F", "-r", root.root, root.file_contexts,
                           root.path("/var/spool/postfix")])
    compared = 0
    for directory, dirs, files in os.walk(root.path("/var/spool/postfix")):
        for name in dirs + files:
            path = os.path.join(directory, name)
            other = path.replace("/var/spool/postfix/", "/var/spool/postfix-mine/", 1)
            assert read_label(other) == read_label(path), path
            assert read_label(path) is not None
            compared += 1
    assert compared >= len(names) + 2
    assert result.examined == compared + 1


def test_relabel_only_writes_what_differs(writable_root):
    root = writable_root
    make_tree(root, ["/var/spool/postfix/public/", "/var/spool/postfix/active/1/ABC"])
    first = relabel(["/var/spool/postfix"], root)
    assert first.changed == first.examined == 5
    target = root.path("/var/spool/postfix/active/1/ABC")
    os.setxattr(target, "security.selinux", b"system_u:object_r:tmp_t:s0\0")
    dry = relabel(["/var/spool/postfix"], root, dry_run=True)
    assert (dry.changed, dry.examined) == (1, 5)
    assert read_label(target) == "system_u:object_r:tmp_t:s0"
    assert relabel(["/var/spool/postfix"], root).changed == 1
    assert relabel(["/var/spool/postfix"], root).changed == 0
    assert read_label(target) == FileContexts(root).lookup("/var/spool/postfix/active/1/ABC",
                                                           0o100000)
