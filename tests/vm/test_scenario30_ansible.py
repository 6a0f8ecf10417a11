"""Scenario 30 in the enforcing VM: the postmulti.selinux collection's example playbook, run by
the guest's own ansible-core on the seed's broken child: check mode changes nothing, a real run
makes the child serve SMTP while enforcing, a rerun reports changed=0, state=absent restores."""

import pytest

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def run(vm):
    result = vm("30_ansible")
    assert result.rc == 0, result.log
    assert result.facts["collection_present"] == "yes" and result.facts["wheel_present"] == "yes"
    assert result.facts["ansible_version"].startswith("ansible-playbook [core 2.14"), result.facts
    return result


def test_role_installs_the_tool(run):
    assert run.facts["install_rc"] == "0" and run.facts["install_failed"] == "0"
    assert run.facts["installed_tool"].startswith("postmulti-selinux, version")
    assert run.facts["packages_missing"].strip() == ""
    assert run.facts["role_installs_packages"] == "true"


def test_check_mode_reports_changed_and_changes_nothing(run):
    assert run.facts["unit_state_before"] == "failed"
    assert run.facts["check_rc"] == "0" and int(run.facts["check_changed"]) >= 1
    assert run.facts["check_policy_unchanged"] == "yes"
    assert run.facts["check_config_unchanged"] == "yes"
    assert run.facts["check_labels_unchanged"] == "yes"
    assert int(run.facts["check_diff_shown"]) >= 1
    assert run.facts["unit_state_after_check"] == "failed"


def test_real_run_serves_smtp_while_enforcing(run):
    assert run.facts["apply_rc"] == "0" and run.facts["apply_failed"] == "0"
    assert int(run.facts["apply_changed"]) >= 1
    assert run.facts["verification_failed"] == "0"
    assert run.facts["unit_state"] == "active" and run.facts["listening"] == "yes"
    assert run.facts["smtp"] == "ehlo=250 refused=0"
    assert run.facts["denials_after"] == "0"
    assert run.facts["enforce_before"] == run.facts["enforce_after_apply"] == "Enforcing"


def test_rerun_is_idempotent(run):
    assert run.facts["rerun_rc"] == "0" and run.facts["rerun_changed"] == "0"
    assert run.facts["rerun_unit_state"] == "active"


def test_absent_restores_the_prior_state(run):
    assert run.facts["absent_rc"] == "0" and int(run.facts["absent_changed"]) >= 1
    assert run.facts["absent_policy_restored"] == "yes"
    assert run.facts["absent_config_restored"] == "yes"
    assert run.facts["absent_labels_as_policy"] == "yes"
    assert run.facts["absent_owner_mode_restored"] == "yes"
    assert run.facts["enforce_end"] == "Enforcing"
