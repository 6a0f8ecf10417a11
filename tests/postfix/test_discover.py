"""Reading instances back through postconf/postmulti from temp-tree hosts (real Postfix)."""

import os

import pytest

from postmulti_selinux.errors import ToolError
from postmulti_selinux.postfix import Postfix, discover, postmulti_list
from postmulti_selinux.postfix.model import Listener

from tests.postfix.conftest import needs_root_postfix

pytestmark = needs_root_postfix


def test_parent_alone_before_init(parent_tree):
    host = discover(parent_tree.parent_dir)
    assert host.children == ()
    assert host.multi_instance_ready is False
    parent = host.parent
    assert parent.primary and parent.enabled  # postmulti: single-instance mode
    assert parent.name == "" and parent.label == parent_tree.parent_dir
    assert parent.config_directory == parent_tree.parent_dir
    assert parent.queue_directory == parent_tree.path("var", "spool", "postfix")
    assert parent.data_directory == parent_tree.path("var", "lib", "postfix")
    assert parent.myhostname == "parent.example.test"
    assert parent.mydestination == ("parent.example.test", "localhost")
    assert parent.inet_interfaces == ("loopback-only",)
    assert parent.inet_protocols == ("ipv4",)
    assert parent.master_service_disable == ()
    assert parent.listeners == (Listener("127.0.0.1", 25, "smtp", "smtpd", False),)
    assert postmulti_list(Postfix(parent_tree.parent_dir)) == [
        ("", "", True, parent_tree.parent_dir)]


def test_two_children_read_back(shared_host):
    tree = shared_host
    host = discover(tree.parent_dir)
    assert host.multi_instance_ready
    assert host.mail_version.split(".")[0].isdigit()
    assert [c.name for c in host.children] == ["postfix-one", "postfix-two"]
    one, two = host.children
    assert one.config_directory == tree.path("etc", "postfix-one")
    assert one.queue_directory == tree.path("var", "spool", "postfix-one")
    assert one.data_directory == tree.path("var", "lib", "postfix-one")
    assert (one.enabled, one.group, one.primary) == (False, "", False)
    assert two.config_directory == tree.path("etc", "postfix-two")
    assert two.queue_directory == tree.path("srv", "mailq", "two")
    assert two.data_directory == tree.path("srv", "maildata", "two")
    assert (two.enabled, two.group, two.primary) == (False, "mx", False)
    for child in (one, two):
        assert child.error == ""
        assert child.master_service_disable == ("inet",)
        assert child.inet_interfaces == ("all",)  # stock child main.cf
        assert child.myhostname  # Postfix's default, whatever this host is called
        assert child.listeners == (Listener("*", 25, "smtp", "smtpd", True),)
        assert any(e.key == "pickup/unix" for e in child.master_entries)
        for path in (child.config_directory, child.queue_directory, child.data_directory):
            assert os.path.isdir(path)
    assert host.parent.enabled is True  # multi_instance_enable = yes after init
    # postmulti itself agrees, row by row
    assert postmulti_list(Postfix(tree.parent_dir)) == [
        ("", "", True, tree.parent_dir),
        ("postfix-one", "", False, one.config_directory),
        ("postfix-two", "mx", False, two.config_directory)]
    assert host.child("postfix-two") == two
    assert host.child("two") == two  # postmulti also accepts the suffix
    assert host.child(one.config_directory) == one
    with pytest.raises(ToolError, match="no Postfix child instance named 'postfix-nope'"):
        host.child("postfix-nope")
    as_dict = host.as_dict()
    assert as_dict["children"][1]["listeners"][0]["port"] == 25
    assert as_dict["children"][1]["queue_directory"] == tree.path("srv", "mailq", "two")


def test_unreadable_child_is_reported_not_fatal(shared_host):
    tree = shared_host
    main_cf = tree.path("etc", "postfix-one", "main.cf")
    os.rename(main_cf, main_cf + ".away")
    try:
        host = discover(tree.parent_dir)
    finally:
        os.rename(main_cf + ".away", main_cf)
    broken = host.children[0]
    assert broken.config_directory == tree.path("etc", "postfix-one")
    assert "main.cf is missing" in broken.error
    assert host.children[1].error == ""


def test_broken_main_cf_is_a_tool_error(tmp_path):
    (tmp_path / "main.cf").write_text("this line is not a parameter\n")
    (tmp_path / "master.cf").write_text("")
    with pytest.raises(ToolError, match="postconf -c .* failed"):
        discover(str(tmp_path))
