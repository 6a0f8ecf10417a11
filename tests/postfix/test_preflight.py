"""Each preflight check: one case that triggers it and one that does not (real temp hosts)."""

import json
import os
import shutil
import socket

import pytest
from click.testing import CliRunner

from postmulti_selinux.cli.errors import GuardedGroup
from postmulti_selinux.cli.instances import register
from postmulti_selinux.postfix import discover
from postmulti_selinux.postfix.preflight import check_version, preflight

from tests.postfix.conftest import free_port, needs_root_postfix

root_only = needs_root_postfix


def codes(findings, instance=None):
    return sorted(set(f.code for f in findings if instance is None or f.instance == instance))


def test_version_check():
    assert codes(check_version("2.5.6")) == ["postfix-too-old"]
    assert codes(check_version("")) == ["postfix-too-old"]
    assert check_version("2.6.0") == []
    assert check_version("3.7.11") == []
    finding = check_version("2.5.6")[0]
    assert finding.as_dict() == {"code": "postfix-too-old", "severity": "error", "instance": "-",
                                 "message": finding.message, "hint": finding.hint}


@pytest.fixture
def ready_child(shared_host, changes):
    """postfix-one configured the way the seed ends up: own port, enabled, own hostname."""
    mgr = shared_host.manager
    changes.append(mgr.set_listener("postfix-one", "127.0.0.1:{}".format(free_port())))
    changes.append(mgr.clear_master_service_disable("postfix-one"))
    changes.append(mgr.set_main("postfix-one", {"myhostname": "one.example.test"}))
    changes.append(mgr.enable("postfix-one"))
    return shared_host


@root_only[0]
@root_only[1]
@root_only[2]
class TestOnRealHost(object):

    def test_clean_child_has_no_findings(self, ready_child):
        host = discover(ready_child.parent_dir)
        assert preflight(host, "postfix-one") == []
        assert preflight(host, "one") == []

    def test_master_service_disable_still_set(self, shared_host, changes):
        changes.append(shared_host.manager.enable("postfix-two"))
        host = discover(shared_host.parent_dir)
        assert "inet-disabled" in codes(preflight(host, "postfix-two"))
        # a disabled child with the same setting is not reported
        assert "inet-disabled" not in codes(preflight(host, "postfix-one"))

    def test_listener_clash_with_parent_and_sibling(self, ready_child, changes):
        mgr = ready_child.manager
        one = discover(ready_child.parent_dir).child("postfix-one")
        port = one.listeners[0].port
        changes.append(mgr.set_listener("postfix-two", "127.0.0.1:{}".format(port)))
        changes.append(mgr.clear_master_service_disable("postfix-two"))
        changes.append(mgr.enable("postfix-two"))
        host = discover(ready_child.parent_dir)
        assert "listener-clash" in codes(preflight(host, "postfix-two"))
        assert "listener-clash" in codes(preflight(host))
        # port 25 on the parent's loopback address
        changes.append(mgr.set_listener("postfix-two", "25"))
        host = discover(ready_child.parent_dir)
        clash = [f for f in preflight(host, "postfix-two") if f.code == "listener-clash"]
        assert clash and "instance {}".format(host.parent.label) in clash[0].message
        changes.append(mgr.set_listener("postfix-two", "127.0.0.1:{}".format(free_port())))
        assert "listener-clash" not in codes(preflight(discover(ready_child.parent_dir)))

    def test_port_already_bound_by_another_process(self, ready_child):
        host = discover(ready_child.parent_dir)
        port = host.child("postfix-one").listeners[0].port
        blocker = socket.socket()
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", port))
        blocker.listen(1)
        try:
            found = [f for f in preflight(host, "postfix-one") if f.code == "port-in-use"]
            assert found and "PID {}".format(os.getpid()) in found[0].message
        finally:
            blocker.close()
        assert "port-in-use" not in codes(preflight(host, "postfix-one"))

    def test_running_child_does_not_clash_with_itself(self, ready_child, changes):
        mgr = ready_child.manager
        changes.append(mgr.set_main("postfix-one", {"smtpd_peername_lookup": "no"}))
        mgr.start("postfix-one")
        try:
            assert preflight(discover(ready_child.parent_dir), "postfix-one") == []
        finally:
            mgr.stop("postfix-one")

    def test_mail_loop_and_shared_hostname(self, ready_child, changes):
        mgr = ready_child.manager
        changes.append(mgr.set_main("postfix-one", {"mydestination": ""}))
        found = preflight(discover(ready_child.parent_dir), "postfix-one")
        assert codes(found) == ["mail-loop"]
        assert "loops back to myself" in found[0].message
        changes.append(mgr.set_main("postfix-one", {
            "mydestination": "$myhostname, localhost", "myhostname": "parent.example.test"}))
        assert codes(preflight(discover(ready_child.parent_dir), "postfix-one")) == [
            "shared-myhostname"]

    def test_bad_and_unknown_names(self, shared_host, changes):
        host = discover(shared_host.parent_dir)
        assert codes(preflight(host, "sub")) == ["bad-instance-name"]
        assert codes(preflight(host, "postfix-nothere")) == ["unknown-instance"]
        changes.append(shared_host.manager.set_main("postfix-two", {"multi_instance_name": "mx"}))
        host = discover(shared_host.parent_dir)
        assert codes(preflight(host), "mx") == ["bad-instance-name"]
        assert codes(preflight(host), "postfix-one") == []

    def test_missing_child_directory(self, shared_host):
        data = shared_host.path("srv", "maildata", "two")
        os.rename(data, data + ".away")
        try:
            found = preflight(discover(shared_host.parent_dir), "postfix-two")
        finally:
            os.rename(data + ".away", data)
        assert codes(found) == ["missing-directory"] and data in found[0].message
        assert "missing-directory" not in codes(preflight(discover(shared_host.parent_dir)))

    def test_unreadable_child(self, shared_host):
        main_cf = shared_host.path("etc", "postfix-two", "main.cf")
        shutil.move(main_cf, main_cf + ".away")
        try:
            found = preflight(discover(shared_host.parent_dir))
        finally:
            shutil.move(main_cf + ".away", main_cf)
        assert "unreadable-instance" in codes(found)

    def test_cli_instances_and_preflight(self, shared_host, changes):
        group = GuardedGroup("postmulti-selinux")
        register(group)
        runner = CliRunner()
        result = runner.invoke(group, ["instances", "--config-dir", shared_host.parent_dir,
                                       "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert [c["name"] for c in data["children"]] == ["postfix-one", "postfix-two"]
        result = runner.invoke(group, ["instances", "--config-dir", shared_host.parent_dir])
        assert "child postfix-two [disabled, group mx]" in result.output
        assert shared_host.path("srv", "mailq", "two") in result.output
        changes.append(shared_host.manager.enable("postfix-two"))
        result = runner.invoke(group, ["preflight", "postfix-two", "--config-dir",
                                       shared_host.parent_dir, "--json"])
        assert result.exit_code == 2
        assert "inet-disabled" in [f["code"] for f in json.loads(result.output)]
        result = runner.invoke(group, ["preflight", "postfix-one", "--config-dir",
                                       shared_host.parent_dir])
        assert (result.exit_code, result.output) == (0, "preflight: no problems found\n")


def test_cli_errors_are_one_line(tmp_path):
    group = GuardedGroup("postmulti-selinux")
    register(group)
    result = CliRunner().invoke(group, ["instances", "--config-dir", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.strip().endswith("does not exist")
    assert len(result.output.strip().splitlines()) == 1
