"""Driving postmulti/postconf against temp-tree hosts: create, listener, enable, start/stop."""

import json
import os
import smtplib
import time

import pytest

from postmulti_selinux.errors import ToolError
from postmulti_selinux.postfix import discover, undo
from postmulti_selinux.postfix.files import read_bytes
from postmulti_selinux.postfix.tools import find_command, run_command

from tests.postfix.conftest import free_port, needs_root_postfix, tree_digest

pytestmark = needs_root_postfix


def test_create_runs_init_when_needed_and_undo_restores(parent_tree):
    tree = parent_tree
    parent_main = os.path.join(tree.parent_dir, "main.cf")
    before = read_bytes(parent_main)
    change = tree.manager.create("postfix-sub", group="g1")
    assert change.changed
    assert [e.path for e in change.edits] == [parent_main, parent_main]  # init, then create
    assert change.edits[0].before == before
    assert read_bytes(change.edits[0].backup) == before  # backed up before the change
    assert set(change.created) == {tree.path("etc", "postfix-sub"),
                                   tree.path("var", "spool", "postfix-sub"),
                                   tree.path("var", "lib", "postfix-sub")}
    host = discover(tree.parent_dir)
    assert host.multi_instance_ready and host.child("postfix-sub").group == "g1"
    # same request again: nothing changes, not one byte
    digest = tree_digest(tree.root)
    assert not tree.manager.create("postfix-sub", group="g1").changed
    assert tree_digest(tree.root) == digest
    with pytest.raises(ToolError, match="already exists with other settings"):
        tree.manager.create("postfix-sub", queue_directory=tree.path("elsewhere"))
    undo(change)
    assert read_bytes(parent_main) == before
    assert not any(os.path.exists(path) for path in change.created)
    assert discover(tree.parent_dir).children == ()


def test_bad_names_are_refused_before_postmulti(parent_tree):
    tree = parent_tree
    digest = tree_digest(tree.root)
    for name in ("sub", "postfix-a/b", ""):
        with pytest.raises(ToolError, match="instance name"):
            tree.manager.create(name)
    with pytest.raises(ToolError, match="absolute path"):
        tree.manager.create("postfix-x", queue_directory="relative/queue")
    assert tree_digest(tree.root) == digest


def test_failed_create_leaves_no_half_change(parent_tree):
    tree = parent_tree
    tree.manager.init()
    blocker = tree.path("blocker")
    with open(blocker, "w") as handle:
        handle.write("a file where postmulti wants a directory\n")
    digest = tree_digest(tree.root)
    with pytest.raises(ToolError, match="postmulti .*create.* failed"):
        tree.manager.create("postfix-bad", queue_directory=os.path.join(blocker, "queue"))
    assert tree_digest(tree.root) == digest
    assert not os.path.exists(tree.path("etc", "postfix-bad"))


def test_listener_master_service_disable_and_enable_are_idempotent(shared_host, changes):
    tree = shared_host
    mgr = tree.manager
    one_dir = tree.path("etc", "postfix-one")
    outside = dict((p, h) for p, h in tree_digest(tree.root).items()
                   if not p.startswith(one_dir + os.sep))
    master_before = read_bytes(os.path.join(one_dir, "master.cf"))

    change = mgr.set_listener("postfix-one", "10025")
    changes.append(change)
    assert [e.path for e in change.edits] == [os.path.join(one_dir, "master.cf")]
    assert read_bytes(change.edits[0].backup) == master_before
    child = discover(tree.parent_dir).child("postfix-one")
    assert [(l.address, l.port, l.service) for l in child.listeners] == [("*", 10025, "10025")]
    # only the smtp inet line changed: same fields under the new service name
    old_lines = master_before.decode().splitlines()
    new_lines = read_bytes(os.path.join(one_dir, "master.cf")).decode().splitlines()
    removed = [l for l in old_lines if l not in new_lines]
    added = [l for l in new_lines if l not in old_lines]
    assert [l.split() for l in removed] == [["smtp"] + removed[0].split()[1:]]
    assert [l.split() for l in added] == [["10025"] + removed[0].split()[1:]]

    changes.append(mgr.set_listener("postfix-one", "127.0.0.1:10026"))
    child = discover(tree.parent_dir).child("postfix-one")
    assert [(l.address, l.port) for l in child.listeners] == [("127.0.0.1", 10026)]

    changes.append(mgr.clear_master_service_disable("postfix-one"))
    changes.append(mgr.enable("postfix-one"))
    changes.append(mgr.set_main("postfix-one", {"myhostname": "one.example.test"}))
    assert changes[-1].changed
    child = discover(tree.parent_dir).child("postfix-one")
    assert child.myhostname == "one.example.test"
    assert child.enabled and child.master_service_disable == ()
    assert not child.listeners[0].disabled
    assert "#master_service_disable = inet" in read_bytes(
        os.path.join(one_dir, "main.cf")).decode()

    # asking again for what is already true changes no byte (and leaves no backup behind)
    digest = tree_digest(tree.root)
    for again in (mgr.set_listener("postfix-one", "127.0.0.1:10026"),
                  mgr.clear_master_service_disable("postfix-one"),
                  mgr.enable("postfix-one"),
                  mgr.set_main("postfix-one", {"myhostname": "one.example.test"})):
        assert not again.changed, again.description
    assert tree_digest(tree.root) == digest
    # nothing outside the named instance was touched
    assert dict((p, h) for p, h in tree_digest(tree.root).items()
                if not p.startswith(one_dir + os.sep)) == outside

    # undo, newest first, gives back the original bytes
    for change in reversed(changes):
        undo(change)
    del changes[:]
    assert read_bytes(os.path.join(one_dir, "master.cf")) == master_before
    child = discover(tree.parent_dir).child("postfix-one")
    assert not child.enabled and child.master_service_disable == ("inet",)


def test_disable_and_set_main(shared_host, changes):
    mgr = shared_host.manager
    changes.append(mgr.enable("postfix-two"))
    change = mgr.disable("postfix-two")
    changes.append(change)
    assert change.changed and not discover(shared_host.parent_dir).child("two").enabled
    assert not mgr.disable("postfix-two").changed
    changes.append(mgr.set_main("postfix-two", {"myhostname": "two.example.test"}))
    assert discover(shared_host.parent_dir).child("two").myhostname == "two.example.test"


def test_listener_errors(shared_host):
    with pytest.raises(ToolError, match="bad listener"):
        shared_host.manager.set_listener("postfix-one", "99999")
    with pytest.raises(ToolError, match="no Postfix child instance"):
        shared_host.manager.set_listener("postfix-none", "10025")


def test_start_refuses_a_disabled_child(shared_host):
    with pytest.raises(ToolError, match="disabled.*would only run 'postfix check'"):
        shared_host.manager.start("postfix-two")


def _hold_queue(postfix_config_dir):
    out = run_command([find_command("postqueue"), "-c", postfix_config_dir, "-j"])
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_child_receives_mail_on_its_own_port(parent_tree, changes):
    tree = parent_tree
    mgr = tree.manager
    mgr.create("postfix-sub")
    port = free_port()
    sub_dir = tree.path("etc", "postfix-sub")
    changes.append(mgr.set_listener("postfix-sub", "127.0.0.1:{}".format(port)))
    changes.append(mgr.clear_master_service_disable("postfix-sub"))
    changes.append(mgr.set_main("postfix-sub", {
        "myhostname": "sub.example.test",
        "maillog_file_prefixes": tree.root,
        "maillog_file": tree.path("var", "log", "postfix-sub.log"),
        "smtpd_peername_lookup": "no",
        # keep what it accepts in its own hold queue: proof that this child took it
        "smtpd_recipient_restrictions": "check_recipient_access static:HOLD",
    }))
    changes.append(mgr.enable("postfix-sub"))
    assert not mgr.status("postfix-sub")
    mgr.start("postfix-sub")
    try:
        assert mgr.status("postfix-sub")
        assert not mgr.start("postfix-sub").changed
        client = smtplib.SMTP("127.0.0.1", port, timeout=30)
        try:
            code, banner = client.ehlo()
            assert code == 250 and banner.startswith(b"sub.example.test")
            refused = client.sendmail("alice@example.org", ["bob@example.net"],
                                      "Subject: postmulti test\r\n\r\nhello\r\n")
            assert refused == {}
        finally:
            client.quit()
        queued = []
        for _ in range(100):
            queued = _hold_queue(sub_dir)
            if queued:
                break
            time.sleep(0.1)
        assert [(m["queue_name"], m["sender"], [r["address"] for r in m["recipients"]])
                for m in queued] == [("hold", "alice@example.org", ["bob@example.net"])]
        hold_dir = tree.path("var", "spool", "postfix-sub", "hold")
        assert os.listdir(hold_dir) == [queued[0]["queue_id"]]
        # The smtpd that master forked still holds the listening socket: a running child's own
        # listener is not "in use by another process" (seen in the VM as a false CRITICAL).
        from postmulti_selinux.postfix.preflight import check_bound_ports
        host = tree.host()
        child = host.child("postfix-sub")
        assert check_bound_ports(host, child) == []
    finally:
        mgr.stop("postfix-sub")
    assert not mgr.status("postfix-sub")
    assert not mgr.stop("postfix-sub").changed
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", port, timeout=5)
