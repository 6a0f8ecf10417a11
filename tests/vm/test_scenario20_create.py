"""Scenario 20 in the enforcing VM: ``secure-child postfix-out --create --listen 127.0.0.1:2525``
on a fresh host. 2525 is a port the reference policy does not let postfix_master_t bind, so the
tool must label it (and only it); postmulti's create step fails under SELinux and the plan must
finish the job. Undo puts the local policy back exactly."""

import json

import pytest

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def run(vm):
    result = vm("20_create_on_2525")
    assert result.rc == 0, result.log
    return result


def test_creates_labels_the_port_and_serves_smtp_while_enforcing(run):
    assert run.facts["secure_rc"] == "0", run.log
    assert run.facts["enforce_before"] == run.facts["enforce_after"] == "Enforcing"
    report = json.loads(run.read("secure.json"))
    kinds = [a["kind"] for a in report["applied"]]
    assert kinds[0] == "create-child"
    assert "port-label" in kinds
    assert report["store_rebuilds"] == 1, report
    checks = dict((c["name"], c["ok"]) for c in report["verification"])
    assert set(checks) == {"enforcing", "master", "listener 127.0.0.1:2525", "avc", "labels"}, checks
    assert all(checks.values()), report["verification"]
    assert run.facts["port_local"] == "smtp_port_t"
    assert run.facts["unit_state"] == "active"
    assert run.facts["listening"] == "yes"
    assert run.facts["smtp"] == "ehlo=250 refused=0"


def test_the_kernel_denied_the_bind_before_and_allows_it_after(run):
    # The negative control for the port, answered by the kernel (security_compute_av).
    assert run.facts["bind_before"].endswith(" denied"), run.facts["bind_before"]
    assert run.facts["bind_after"] == "smtp_port_t allowed"


def test_undo_restores_the_local_policy(run):
    assert run.facts["undo_rc"] == "0"
    assert run.facts["undo_policy_identical"] == "yes"
    assert run.facts["child_registered_after_undo"] == "0"
    assert run.facts["enforce_end"] == "Enforcing"


# -- the whole host in one run (issue 16) ---------------------------------------------------------

CHILD_PORTS = ("10025", "10026", "2525")
OK_SMTP = "ehlo=250 refused=0"


def test_children_made_while_enforcing_do_not_serve_without_the_tool(run):
    for name in ("postfix-a", "postfix-srv", "postfix-relay"):
        assert run.facts["create_rc:" + name] in ("0", "1")  # set-permissions is denied
    for port in CHILD_PORTS:
        assert run.facts["host_before_smtp" + port] != OK_SMTP, port
    assert run.facts["host_before_parent"] == OK_SMTP  # postfix@NAME units: the parent runs


def test_secure_child_all_is_one_rebuild_and_one_restart(run):
    assert run.facts["all_rc"] == "0", run.read("all.json")
    report = json.loads(run.read("all.json"))
    assert report["ok"] is True
    assert sorted(report["instances"]) == ["postfix-a", "postfix-relay", "postfix-srv"]
    assert report["store_rebuilds"] == 1 and run.facts["all_commits"] == "1"
    assert report["restarts"] == 1
    assert run.facts["all_parent_restarted"] == "yes"
    assert [c["ok"] for c in report["children"]] == [True, True, True]
    ports = [a for a in report["applied"] if a["kind"] == "port-label"]
    # 10025 is amavisd_send_port_t, which this policy lets postfix_master_t bind: no label
    assert sorted(a["instance"] for a in ports) == ["postfix-relay", "postfix-srv"]


def test_after_a_plain_restart_all_three_accept_mail_with_no_new_denials(run):
    assert run.facts["host_plain_restart_rc"] == "0"
    for port in CHILD_PORTS:
        assert run.facts["host_after_smtp" + port] == OK_SMTP, port
    assert run.facts["host_after_parent"] == OK_SMTP
    assert run.facts["host_masters"].strip() == "4 system_u:system_r:postfix_master_t:s0"
    assert run.facts["host_new_denials"] == "0"


def test_a_rerun_is_a_noop_and_check_all_passes(run):
    assert run.facts["rerun_rc"] == "0"
    rerun = json.loads(run.read("all.rerun.json"))
    assert rerun["changed"] is False and rerun["applied"] == []
    assert rerun["restarts"] == 0 and rerun["store_rebuilds"] == 0
    assert run.facts["rerun_commits"] == "0"
    assert run.facts["check_all_rc"] == "0"


def test_undo_all_restores_the_prior_state(run):
    assert run.facts["undo_all_rc"] == "0", run.read("undo_all.json")
    assert run.facts["undo_all_policy_identical"] == "yes"
    assert run.facts["undo_all_files_identical"] == "yes"
    assert run.facts["undo_all_labels_as_policy"] == "yes"
    assert run.facts["undo_all_parent"] == OK_SMTP


def test_secure_child_against_the_manual_fix(run, record_vm_figure):
    assert run.facts["tool_rc"] == "0", run.read("tool.json")
    report = json.loads(run.read("tool.json"))
    rules = [a for a in report["plan"]["actions"]
             if a["kind"] in ("fcontext-equivalence", "port-label")]
    assert run.facts["manual_rules"] == str(len(rules))  # the equivalences and the port
    assert run.facts["tool_smtp"] == run.facts["manual_smtp"] == OK_SMTP
    # Files Postfix makes at start are relabelled in place: one restart, verification included.
    assert report["restarts"] == 1, report["rounds"]
    tool, manual = float(run.facts["tool_seconds"]), float(run.facts["manual_seconds"])
    timings = report.get("timings", {})
    record_vm_figure("scenario 20: secure-child {:.1f} s vs the manual fix {:.1f} s ({:.2f}x); "
                     "secure-child --all on three children {} s; where the tool's time went: {}"
                     .format(tool, manual, tool / manual, run.facts["all_seconds"],
                             ", ".join("{} {}".format(k, v) for k, v in sorted(timings.items()))))
