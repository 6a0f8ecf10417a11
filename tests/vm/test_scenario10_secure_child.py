"""Scenario 10, the product in the enforcing VM: the seed's child, then ``secure-child``.

The same host state as scenario 0 (whose test proves the child really fails without the tool);
here the child must come up under systemd, answer SMTP on 10025 and queue a message, with SELinux
enforcing throughout and no new Postfix denials. Then: the dry run changed nothing, a rerun has
nothing to do, and undo puts the policy customisations and config files back byte for byte.
"""

import json
import os

import pytest

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def run(vm):
    result = vm("10_secure_child")
    assert result.rc == 0, result.log
    return result


def test_starts_from_the_seeds_failure(run):
    assert run.facts["unit_state_before"] == "failed"
    assert run.facts["listening_before"] == "no"


def test_dry_run_changes_nothing_and_plans_the_fix(run):
    assert run.facts["dry_run_rc"] == "0" and run.facts["dry_run_json_rc"] == "0"
    assert run.facts["dry_run_policy_unchanged"] == "yes"
    plan = json.loads(run.read("plan.json"))
    assert plan["dry_run"] is True and plan["applied"] == []
    kinds = [a["kind"] for a in plan["plan"]["actions"] if not a["satisfied"]]
    assert "fcontext-equivalence" in kinds and "relabel" in kinds


def test_secure_child_brings_the_child_up_while_enforcing(run):
    assert run.facts["secure_rc"] == "0", run.log
    assert run.facts["enforce_before"] == run.facts["enforce_after"] == "Enforcing"
    assert run.facts["enforce_end"] == "Enforcing"
    assert run.facts["unit"] == "postfix@postfix-sub.service"
    assert run.facts["unit_state"] == "active"
    assert run.facts["listening"] == "yes"
    assert run.facts["smtp"] == "ehlo=250 refused=0"
    assert int(run.facts["child_queued"]) >= 1
    assert run.facts["masters"].strip() == "2 system_u:system_r:postfix_master_t:s0"
    assert run.facts["denials_after"] == "0"


def test_child_paths_carry_the_parents_types(run):
    assert run.facts["label:/etc/postfix-sub"] == "postfix_etc_t"
    assert run.facts["label:/var/spool/postfix-sub/public"] == "postfix_public_t"
    assert run.facts["label:/var/spool/postfix-sub/private"] == "postfix_private_t"
    assert run.facts["label:/var/lib/postfix-sub"] == "postfix_data_t"
    assert run.facts["data_dir_owner"] == "postfix"


def test_rerun_has_nothing_to_do(run):
    assert run.facts["rerun_rc"] == "0"
    assert run.facts["rerun_changed"] == "False"
    assert run.facts["rerun_store_rebuilds"] == "0"
    assert run.facts["rerun_restarted"] == "no"


def test_undo_restores_the_exact_prior_state(run):
    assert run.facts["undo_rc"] == "0"
    assert run.facts["undo_policy_identical"] == "yes"
    assert run.facts["undo_config_identical"] == "yes"
    assert run.facts["undo_labels_as_policy"] == "yes"


def test_admin_shell_rerun_and_check(run):
    assert run.facts["admin_rc"] == "0" and run.facts["admin_changed"] == "False"
    assert run.facts["check_rc"] == "0"


def test_a_full_policy_rebuild_keeps_the_equivalences(run):
    assert run.facts["rebuild_keeps_equivalence"] == "1"


def test_the_child_starts_at_boot_after_a_reboot(run):
    # The seed's second symptom ("OS起動時に自動起動しない"): after secure-child, a reboot.
    assert run.boots == 2
    assert run.facts["boot_enforce"] == "Enforcing"
    assert run.facts["boot_unit_state"] == "active"
    assert run.facts["boot_listening"] == "yes"
    assert run.facts["boot_smtp"] == "ehlo=250 refused=0"
    assert run.facts["boot_masters"].strip() == "2 system_u:system_r:postfix_master_t:s0"
    assert run.facts["boot_denials"] == "0"
    assert run.facts["boot_check_rc"] == "0"


def test_a_run_killed_in_its_commit_leaves_a_truthful_journal(run):
    # Issue 13, class 3, once on a kernel: SIGKILL a secure-child (--listen on 2525, so its
    # commit holds a port and a store rebuild) 0.05-3 s after its journal shows the commit
    # begun. No worker outlives it; undo reverses the port exactly when the store holds it (its
    # rebuild counter moved), says so of file_contexts.subs too, and the host is as before.
    facts = run.facts
    assert facts["kill_while_running"] == "yes", "the kill came after the run had ended"
    assert facts["kill_survivors"] == "0", facts["kill_offset"]
    assert facts["kill_undo_rc"] == "0"
    rebuilt = int(facts["kill_store_rebuilds"])
    assert rebuilt in (0, 1)
    detail = facts["kill_undo_commit_detail"]
    assert ("port 2525/tcp" in detail) == bool(rebuilt), (detail, facts["kill_offset"])
    reversed_ = facts["kill_undo_commit_reversed"]
    assert reversed_ in ("[True]", "[False]") and (reversed_ == "[True]" or not rebuilt)
    assert facts["kill_undo_policy_identical"] == "yes"
    assert facts["kill_undo_config_identical"] == "yes"
    assert facts["kill_journal_left"] == "no"


def test_the_guest_runs_the_installed_debian_package(run):
    # Issue 15: the test bed installs the project's .deb (built from this tree), not a wheel.
    assert run.facts["tool_path"] == "/usr/bin/secure-child"
    assert run.facts["tool_package"].startswith("install ok installed "), run.facts["tool_package"]
    assert "/usr/share/man/man8/secure-child.8" in run.facts["tool_man"]
