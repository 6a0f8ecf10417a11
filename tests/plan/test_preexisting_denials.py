"""Denials the host raised without the child are pre-existing: reported, not counted."""

from postmulti_selinux.plan.verify import Baseline, denial_check, split_denials

MASTER = "system_u:system_r:postfix_master_t:s0"


def _avc(stamp, serial, perm, tcontext, tclass, extra=""):
    return ("type=AVC msg=audit({}.100:{}): avc:  denied  {{ {} }} for  pid={} comm=\"find\" {}"
            "scontext={} tcontext={} tclass={} permissive=0\n").format(
                stamp, serial, perm, serial, extra, MASTER, tcontext, tclass)


def _log(tmp_path, lines):
    path = tmp_path / "audit.log"
    path.write_text("".join(lines))
    return str(path)


# The EL7-era policy denies the parent's own postfix-script `find` dac_read_search, with no child
# at all (seen in the EL7 VM boot); a child's mislabeled queue is denied setattr on its own path.
PARENT_FIND = (MASTER, "capability", "capability=2  ")
CHILD_SETATTR = ("system_u:object_r:var_spool_t:s0", "dir",
                 'path="/var/spool/postfix-sub/private" dev="vda" ino=12 ')


def _lines():
    return [
        _avc(1000, 1, "dac_read_search", *PARENT_FIND),
        _avc(1001, 2, "setattr", *CHILD_SETATTR),  # before the run, but in the child's tree
        _avc(2000, 3, "dac_read_search", *PARENT_FIND),
        _avc(2001, 4, "setattr", *CHILD_SETATTR),
        _avc(2002, 5, "getattr", MASTER, "capability", "capability=2  "),  # never seen before
    ]


def test_only_the_hosts_own_denials_are_pre_existing(tmp_path):
    log = _log(tmp_path, _lines())
    new, old = split_denials(1500, ["/var/spool/postfix-sub"], log)
    assert [d.perms for d in old] == [("dac_read_search",)]
    assert sorted(d.perms for d in new) == [("getattr",), ("setattr",)]


def test_without_a_baseline_every_denial_counts(tmp_path):
    log = _log(tmp_path, _lines()[2:])
    new, old = split_denials(1500, ["/var/spool/postfix-sub"], log)
    assert old == [] and len(new) == 3


def test_the_self_heal_never_writes_a_rule_for_a_pre_existing_denial(tmp_path):
    baseline = Baseline(1500, ["/var/spool/postfix-sub"], _log(tmp_path, _lines()))
    assert baseline.covers("postfix_master_t", "postfix_master_t", "capability",
                           ["dac_read_search"])
    assert not baseline.covers("postfix_master_t", "postfix_master_t", "capability",
                               ["dac_read_search", "getattr"])
    assert not baseline.covers("postfix_master_t", "var_spool_t", "dir", ["setattr"])
    assert not baseline.covers("postfix_master_t", "postfix_master_t", "capability", [])


def test_the_check_reports_both(tmp_path):
    log = _log(tmp_path, _lines()[:3])
    check = denial_check(1500, ["/var/spool/postfix-sub"], audit_log=log)
    assert check.ok, check.detail
    assert "0 new" in check.detail and "1 pre-existing" in check.detail
    assert "postfix_master_t postfix_master_t capability dac_read_search" in check.detail
