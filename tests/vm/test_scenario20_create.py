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
