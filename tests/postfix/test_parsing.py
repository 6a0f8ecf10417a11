"""Pure parsing and error paths that need neither root nor a Postfix tree."""

import pytest

from postmulti_selinux.errors import ToolError
from postmulti_selinux.postfix import Postfix, discover
from postmulti_selinux.postfix.discover import (
    interface_addresses, listeners_for, parse_master_line, split_list, split_service)
from postmulti_selinux.postfix.manage import name_problem, parse_listener_spec
from postmulti_selinux.postfix.model import Listener
from postmulti_selinux.postfix.tools import find_command


def test_missing_parent_is_a_tool_error(tmp_path):
    with pytest.raises(ToolError, match="does not exist"):
        discover(str(tmp_path / "nothing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ToolError, match="main.cf is missing"):
        discover(str(tmp_path / "empty"))


def test_postfix_missing_is_a_tool_error(tmp_path):
    with pytest.raises(ToolError, match="Postfix is not installed: 'postconf'"):
        find_command("postconf", search=(str(tmp_path),))
    (tmp_path / "main.cf").write_text("myhostname = x.test\n")
    with pytest.raises(ToolError, match="Postfix is not installed") as info:
        Postfix(str(tmp_path), search=(str(tmp_path),)).mail_version()
    assert "install the postfix package" in str(info.value)


def test_split_list_and_service():
    assert split_list("a, b,c  d\n e") == ("a", "b", "c", "d", "e")
    assert split_list("") == ()
    assert split_service("smtp") == ("", "smtp")
    assert split_service("127.0.0.1:10025") == ("127.0.0.1", "10025")
    assert split_service("[::1]:10025") == ("::1", "10025")
    assert split_service("localhost:smtp") == ("localhost", "smtp")


def test_listeners_resolve_services_and_interfaces():
    entries = [parse_master_line(line) for line in (
        "smtp inet n - y - - smtpd",
        "submission inet n - y - - smtpd -o syslog_name=postfix/submission",
        "[::1]:10026 inet n - n - - smtpd",
        "10.1.2.3:10025 inet n - n - - smtpd",
        "nosuchservicename inet n - n - - smtpd",
        "pickup unix n - y 60 1 pickup")]
    got = listeners_for(entries, ("all",), ("all",), ("submission/inet",))
    assert got == (
        Listener("*", 25, "smtp", "smtpd", False),
        Listener("*", 587, "submission", "smtpd", True),
        Listener("::1", 10026, "[::1]:10026", "smtpd", False),
        Listener("10.1.2.3", 10025, "10.1.2.3:10025", "smtpd", False),
        Listener("*", None, "nosuchservicename", "smtpd", False),
    )
    assert entries[1].args == ("-o", "syslog_name=postfix/submission")
    # master_service_disable = inet switches off every inet service
    assert all(l.disabled for l in listeners_for(entries, ("all",), ("all",), ("inet",)))
    # inet_interfaces only applies to address-less services
    got = listeners_for(entries[:1] + entries[3:4], ("192.0.2.7",), ("ipv4",), ())
    assert [l.address for l in got] == ["192.0.2.7", "10.1.2.3"]


def test_interface_addresses():
    assert interface_addresses(("all",), ("all",)) == ("*",)
    assert interface_addresses(("loopback-only",), ("all",)) == ("127.0.0.1", "::1")
    assert interface_addresses(("loopback-only",), ("ipv4",)) == ("127.0.0.1",)
    assert interface_addresses(("192.0.2.1", "[2001:db8::1]"), ("all",)) == (
        "192.0.2.1", "2001:db8::1")
    assert interface_addresses(("localhost",), ("ipv4",)) == ("127.0.0.1",)


@pytest.mark.parametrize("name", ["postfix-sub", "postfix-a.b_c", "postfix-mx1"])
def test_good_names(name):
    assert name_problem(name) == ""


@pytest.mark.parametrize("name,why", [
    ("sub", "does not start with 'postfix-'"), ("", "empty"), ("postfix-", "nothing after"),
    ("postfix-a/b", "contains '/'"), ("postfix-a b", "characters postmulti refuses")])
def test_bad_names(name, why):
    assert why in name_problem(name)


@pytest.mark.parametrize("spec,service", [
    ("10025", "10025"), (" 10025 ", "10025"), ("127.0.0.1:10025", "127.0.0.1:10025"),
    ("[::1]:10025", "[::1]:10025"), ("localhost:2525", "localhost:2525")])
def test_listener_specs(spec, service):
    assert parse_listener_spec(spec) == service


@pytest.mark.parametrize("spec", ["", "0", "65536", "smtp", "1.2.3.4:", ":25", "a b:25", "[::1]"])
def test_bad_listener_specs(spec):
    with pytest.raises(ToolError, match="bad listener"):
        parse_listener_spec(spec)
