"""Triage of the raw audit.log captured in the enforcing Debian 12 VM (scenario 0: the seed's
recipe without the tool), against the Debian reference policy on this host (read only)."""

import os

import pytest

from postmulti_selinux.avc import triage as T
from postmulti_selinux.avc.analysis import analyse, plan_module
from postmulti_selinux.avc.reader import proctitle_argv
from tests.avc.conftest import REPO, cached_policy

CAPTURE = os.path.join(REPO, "tests", "fixtures", "vm", "scenario0_audit.log")
CHOWN_SERIAL = "1795572701.920:35"      # postfix set-permissions: chown root /etc/postfix-sub


@pytest.fixture(scope="module")
def capture_lines():
    with open(CAPTURE, encoding="utf-8") as handle:
        return handle.readlines()


def _analyse(debian, backend="auto", lines=None):
    kwargs = {"lines": lines} if lines is not None else {"files": [CAPTURE]}
    return analyse(cached_policy(debian.policy, backend), expected_context=debian.expected(),
                   **kwargs).findings


def _chown_event(lines):
    return [line for line in lines if "audit({})".format(CHOWN_SERIAL) in line]


def test_chroot_copies_are_mislabel(debian, backend):
    findings = _analyse(debian, backend)
    chroot = [f for f in findings if f.path and f.path.startswith("/var/spool/postfix-sub/")]
    # 6 files under etc/, 6 under lib/, 1 symlink under usr/ (Debian's start script copies)
    assert sorted(set(f.path.split("/")[4] for f in chroot)) == ["etc", "lib", "usr"]
    assert len(chroot) == 13
    for finding in chroot:
        assert finding.kind == T.MISLABEL, finding.line()
        assert finding.target == "var_spool_t" and finding.rule is None
        assert finding.expected.split(":")[2] in ("etc_t", "lib_t")
        assert finding.mapped.how == "inferred"
    # cmp's read records carry only name=: joined to find's path= record by inode, not to the
    # ambiguous command line (cmp -s etc/hosts /etc/hosts)
    hosts = [f for f in chroot if f.path == "/var/spool/postfix-sub/etc/hosts"][0]
    assert hosts.perms == ("getattr", "read") and hosts.expected.split(":")[2] == "etc_t"
    libs = [f for f in chroot if "/lib/" in f.path and f.tclass == "file"]
    assert libs and all(f.expected.split(":")[2] == "lib_t" for f in libs)


def test_selinux_err_is_a_role_problem(debian):
    (role,) = [f for f in _analyse(debian) if f.kind == T.ROLE]
    assert role.role_rule == T.RoleRule("unconfined_r", "postfix_master_t")
    assert role.refused is None            # offered: an in-scope domain, nothing sensitive
    assert "systemd" in role.reason and role.fix.startswith("systemctl")
    assert not cached_policy(debian.policy).role_types("unconfined_r") & {"postfix_master_t"}


def test_config_dir_chown_is_mislabel_then_state_fix(debian):
    findings = _analyse(debian)
    (chown,) = [f for f in findings if f.tclass == "dir" and f.perms == ("setattr",)]
    assert chown.kind == T.MISLABEL and chown.target == "etc_t" and chown.rule is None
    assert chown.path == "/etc/postfix-sub" and chown.path_from == "argv"
    assert chown.expected.split(":")[2] == "postfix_etc_t"
    # the premise: even labeled postfix_etc_t, refpolicy gives postfix_master_t no setattr there
    hits = cached_policy(debian.policy, "setools").te_rules(
        ["allow"], "postfix_master_t", "postfix_etc_t", "dir", ["setattr"])
    assert not hits
    assert "set-permissions" in chown.reason and "No allow rule" in chown.reason
    assert "no module" in chown.fix and "chmod 0700 /var/lib/postfix-sub" in chown.fix


def test_config_dir_chown_once_labeled_is_a_state_fix_not_a_module(debian, capture_lines):
    labeled = [l.replace("object_r:etc_t:", "object_r:postfix_etc_t:") for l in _chown_event(capture_lines)]
    assert len(labeled) == 3       # AVC, SYSCALL, PROCTITLE (no PATH record: items=0)
    (finding,) = _analyse(debian, lines=labeled)
    assert finding.kind == T.STATE and finding.rule is None and finding.target == "postfix_etc_t"
    assert finding.fix.startswith("no module") and "/var/lib/postfix-sub" in finding.fix
    assert plan_module([finding], "postmulti_avc") == (None, True)
    # control: the same denial from another program is a policy gap (a rule is offered)
    other = [l.replace('comm="chown"', 'comm="postfix"').replace("/usr/bin/chown", "/usr/sbin/postfix")
             .replace("proctitle=63686F776E", "proctitle=706F7374666978") for l in labeled]
    (gap,) = _analyse(debian, lines=other)
    assert gap.kind == T.MISSING_RULE and gap.rule == T.Rule("postfix_master_t", "postfix_etc_t", "dir", ("setattr",))


def test_capture_needs_no_allow_rule(debian, backend):
    findings = _analyse(debian, backend)
    assert not [f for f in findings if f.rule is not None]
    module, _ = plan_module(findings, "postmulti_avc")
    assert module.rules == ()
    assert module.role_rules == (T.RoleRule("unconfined_r", "postfix_master_t"),)
    assert "etc_t" not in module.te and "var_spool_t" not in module.te
    assert {f.kind for f in findings} == {T.MISLABEL, T.ROLE, T.OUT_OF_SCOPE}


@pytest.mark.parametrize("body, argv", [
    ("proctitle=63686F776E00726F6F74002F6574632F706F73746669782D737562",
     ("chown", "root", "/etc/postfix-sub")),
    ('proctitle="/usr/sbin/postfix"', ("/usr/sbin/postfix",)),
    ("proctitle=chown root /etc/postfix-sub", ("chown", "root", "/etc/postfix-sub")),
    ("proctitle=", ()), ("nothing", ()), ("proctitle=ZZ", ("ZZ",)),
])
def test_proctitle_argv(body, argv):
    assert proctitle_argv(body) == argv
