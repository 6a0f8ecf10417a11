"""Triage against real policies: labels, ports and booleans before rules; scope; guard."""

import pytest

from postmulti_selinux.avc.analysis import analyse, plan_module
from postmulti_selinux.avc.paths import InstanceDirs, PathMapper
from postmulti_selinux.avc import triage as T
from tests.avc.conftest import cached_policy as open_policy, fixture_path


def kinds(findings):
    return dict(((f.source, f.target, f.tclass), f) for f in findings)


def test_seed_is_all_mislabel_and_needs_no_module(debian, backend):
    result = analyse(open_policy(debian.policy, backend), files=[fixture_path("seed_audit.log")],
                     expected_context=debian.expected())
    assert [f.kind for f in result.findings] == [T.MISLABEL] * 4
    assert all(f.rule is None for f in result.findings)
    cleanup = [f for f in result.findings if f.tclass == "sock_file"][0]
    assert cleanup.path == "/var/spool/postfix-sub/public/cleanup" and cleanup.path_from == "directory"
    assert all(f.mapped.how == "inferred" and "inferred" in f.reason for f in result.findings)
    assert all("postfix_public_t" in f.expected for f in result.findings)
    assert plan_module(result.findings, "postmulti_avc") == (None, True)


def test_seed_on_el9_targeted_is_also_mislabel(el9):
    result = analyse(open_policy(el9.policy, "setools"), files=[fixture_path("seed_audit.log")],
                     expected_context=el9.expected())
    assert set(f.kind for f in result.findings) == {T.MISLABEL}


def test_discovered_instances_map_paths_without_inference(debian):
    child = InstanceDirs("postfix-out", "/etc/postfix-out", "/srv/spool/out", "/srv/lib/out")
    mapper = PathMapper([child])
    lines = [open(fixture_path("seed_audit.log"), encoding="utf-8").readlines()[7].replace(
        "/var/spool/postfix-sub/", "/srv/spool/out/")]
    (finding,) = analyse(open_policy(debian.policy), lines=lines, expected_context=debian.expected(),
                         mapper=mapper).findings
    assert finding.kind == T.MISLABEL and finding.mapped.how == "instance"
    assert finding.instance == "postfix-out" and "inferred" not in finding.reason


def test_constructed_cases_each_kind(debian, backend):
    result = analyse(open_policy(debian.policy, backend), files=[fixture_path("constructed_cases.log")],
                     expected_context=debian.expected())
    by = kinds(result.findings)
    gap = by[("postfix_master_t", "postfix_etc_t", "dir")]
    assert gap.kind == T.MISSING_RULE and gap.rule.perms == ("setattr",) and gap.path == "/etc/postfix-sub"
    assert by[("postfix_smtp_t", "postfix_spool_t", "file")].kind == T.MISLABEL
    assert by[("postfix_master_t", "var_lib_t", "file")].expected.endswith(":postfix_data_t:s0")
    port = by[("postfix_master_t", "unreserved_port_t", "tcp_socket")]
    assert port.kind == T.PORT and port.fix == "semanage port -a -t smtp_port_t -p tcp 2525"
    boolean = by[("postfix_local_t", "cifs_t", "dir")]
    assert boolean.kind == T.BOOLEAN and boolean.booleans == ("use_samba_home_dirs",) and boolean.rule is None
    shadow = by[("postfix_master_t", "shadow_t", "file")]
    assert shadow.rule is None and "security-sensitive" in shadow.refused.reason
    assert by[("postfix_master_t", "postfix_master_t", "capability")].rule is None
    assert by[("httpd_t", "var_t", "dir")].kind == T.OUT_OF_SCOPE
    role = [f for f in result.findings if f.kind == T.ROLE][0]
    assert role.role_rule == T.RoleRule("unconfined_r", "postfix_master_t")
    assert "systemd" in role.reason


def test_extra_domain_and_since_last_load(debian):
    policy = open_policy(debian.policy)
    result = analyse(policy, files=[fixture_path("constructed_cases.log")], domains=["httpd_t"])
    assert T.OUT_OF_SCOPE not in [f.kind for f in result.findings if f.source == "httpd_t"]
    after = analyse(policy, files=[fixture_path("constructed_cases.log")], since_last_load=True,
                    expected_context=debian.expected())
    assert [(f.kind, f.path) for f in after.findings] == [(T.MISLABEL, "/var/lib/postfix-sub/master.lock")]


def test_allow_sensitive_is_explicit(debian):
    policy = open_policy(debian.policy)
    strict = analyse(policy, files=[fixture_path("constructed_cases.log")])
    loose = analyse(policy, files=[fixture_path("constructed_cases.log")], allow_sensitive=True)
    targets = lambda res: set(f.rule.target for f in res.findings if f.rule)
    assert "shadow_t" not in targets(strict) and "shadow_t" in targets(loose)


def test_dontaudit_and_constraint_kinds(debian):
    policy = open_policy(debian.policy)
    hidden = policy.te_rules(["dontaudit"], "postfix_master_t", None, "dir", ["getattr"])
    assert hidden, "reference policy has dontaudit rules for postfix_master_t"
    target = sorted(h.target for h in hidden if h.boolean is None and policy.has_type(h.target))
    allowed = set(h.target for h in policy.te_rules(["allow"], "postfix_master_t", None, "dir", ["getattr"]))
    target = [t for t in target if t not in allowed][0]
    line = ('type=AVC msg=audit(1.0:1): avc:  denied  { getattr } for  pid=1 comm="master" '
            'scontext=system_u:system_r:postfix_master_t:s0 tcontext=system_u:object_r:TARGET:s0 tclass=dir').replace(
        "TARGET", target)
    allowed_line = line.replace(target, "postfix_etc_t")
    by = kinds(analyse(policy, lines=[line, allowed_line]).findings)
    assert by[("postfix_master_t", target, "dir")].kind == T.DONTAUDIT
    assert by[("postfix_master_t", "postfix_etc_t", "dir")].kind == T.CONSTRAINT
