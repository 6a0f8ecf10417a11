"""Scenario 0, the negative control: the seed's recipe on an enforcing host, without the tool.

What really happens in the enforcing Debian 12 VM is asserted, so the test fails if the child
came up cleanly (the tool's own scenarios depend on this failure being real). The raw audit
records of one such run are committed as tests/fixtures/vm/scenario0_audit.log for the AVC
work; this test never rewrites it, it checks that today's run still raises every kind of
denial that capture holds (the capture of this run stays in the run's result directory).
"""

import os
import re

import pytest

pytestmark = pytest.mark.vm

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "fixtures", "vm", "scenario0_audit.log")


@pytest.fixture(scope="module")
def seed(vm):
    result = vm("00_seed_without_tool")
    assert result.rc == 0, result.log
    return result


_AVC = re.compile(r"avc:  denied  \{ ([^}]*) \}.* scontext=\S+?:\S+?:(\w+)\S* "
                  r"tcontext=\S+?:\S+?:(\w+)\S* tclass=(\w+)")


def denial_kinds(text):
    """(source type, target type, class, permission) of every Postfix AVC denial in ``text``."""
    kinds = set()
    for match in _AVC.finditer(text):
        if not match.group(2).startswith("postfix_"):
            continue
        for perm in match.group(1).split():
            kinds.add((match.group(2), match.group(3), match.group(4), perm))
    return kinds


def test_the_committed_capture_is_what_the_kernel_still_denies(seed):
    with open(FIXTURE) as handle:
        committed = denial_kinds(handle.read())
    today = denial_kinds(seed.audit_log)
    assert committed and today
    assert committed <= today, sorted(committed - today)


def test_host_stays_enforcing(seed):
    # The test bed itself: the reference policy, enforcing, scenarios run by the boot unit.
    assert seed.facts["policy"] == "default"
    assert seed.facts["context"] == "system_u:system_r:initrc_t:s0"
    assert seed.facts["enforce_before"] == "Enforcing"
    assert seed.facts["enforce_after"] == "Enforcing"


def test_child_paths_do_not_get_the_parents_labels(seed):
    for parent, child in (("/etc/postfix", "/etc/postfix-sub"),
                          ("/var/spool/postfix", "/var/spool/postfix-sub"),
                          ("/var/lib/postfix", "/var/lib/postfix-sub")):
        assert seed.facts["label:" + child] != "missing"
        assert seed.facts["label:" + child] != seed.facts["label:" + parent], child


def test_child_service_fails_on_the_lock_file(seed):
    assert seed.facts["unit"] == "postfix@postfix-sub.service"
    assert seed.facts["unit_state"] == "failed"
    assert seed.facts["parent_state"] == "active"
    assert int(seed.facts["lock_denied"]) >= 1
    # postmulti -e create itself fails: its set-permissions step is denied.
    assert seed.facts["create_rc"] != "0"
    assert seed.facts["data_dir_owner"] == "root"


def test_nothing_listens_and_smtp_is_refused(seed):
    assert seed.facts["listening"] == "no"
    assert seed.facts["smtp"].startswith("error=ConnectionRefusedError")


def test_postfix_master_denials_are_recorded(seed):
    setattr_dir = seed.audit_records("avc:  denied", "{ setattr }", "postfix_master_t",
                                     'name="postfix-sub"', "tclass=dir")
    assert setattr_dir, "no setattr denial on the child's config dir"
    spool_reads = [r for r in seed.audit_records("avc:  denied", "postfix_master_t",
                                                 "tclass=file")
                   if "{ read }" in r or "{ getattr }" in r]
    assert spool_reads, "no getattr/read denials on files copied into the child's spool"
    assert int(seed.facts["denials_boot_unit"]) >= len(setattr_dir) + len(spool_reads)


def test_admin_shell_cannot_start_the_child(seed):
    assert seed.facts["runcon_rc"] == "0"
    assert seed.facts["admin_start_rc"] != "0"
    assert seed.facts["admin_listening"] == "no"
    errs = seed.audit_records("SELINUX_ERR", 'invalid_context="unconfined_u:unconfined_r:postfix_master_t')
    assert errs and int(seed.facts["selinux_err_admin"]) >= 1
