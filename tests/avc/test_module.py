"""Module rendering, guard, compile with the real checkmodule, link into copies of the Debian
and EL9 stores, idempotent versioning; hostile log fields never change the module text."""

import os
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from postmulti_selinux.avc.analysis import analyse, plan_module
from postmulti_selinux.avc.build import (compile_module, copy_store, next_version, pp_name_version,
                                         read_installed)
from postmulti_selinux.avc.render import render_module
from postmulti_selinux.avc.triage import Finding, Rule
from postmulti_selinux.errors import ToolError
from postmulti_selinux.selinux import PolicyTransaction
from tests.avc.conftest import cached_policy, fixture_path

GAP = ('type=AVC msg=audit(1716800000.100:101): avc:  denied  { setattr } for  pid=812 comm="COMM" '
       'name="NAME" dev="vda1" ino=1311 scontext=system_u:system_r:postfix_master_t:s0 '
       'tcontext=system_u:object_r:postfix_etc_t:s0 tclass=dir permissive=0')
SYSCALL = ('type=SYSCALL msg=audit(1716800000.100:101): arch=c000003e syscall=260 success=no exit=-13 '
           'items=1 comm="COMM" exe="EXE" key=(null)')
PATH = 'type=PATH msg=audit(1716800000.100:101): item=0 name="PATHNAME" inode=1311 dev=fe:01'


def install_module(pp_path, store, root):
    """Through the product's single policy transaction; returns the number of rebuilds."""
    transaction = PolicyTransaction(root, store)
    transaction.install_module(pp_path)
    return transaction.commit().rebuilds


def constructed(debian):
    return analyse(cached_policy(debian.policy), files=[fixture_path("constructed_cases.log")],
                   expected_context=debian.expected()).findings


def test_rendered_module_has_only_the_gap_and_the_role(debian, tmp_path):
    module, unchanged = plan_module(constructed(debian), "postmulti_avc")
    assert not unchanged
    te = module.te
    assert te.startswith("module postmulti_avc 1.1.h{};".format(module.digest))
    assert "allow postfix_master_t postfix_etc_t:dir { setattr };" in te
    assert "role unconfined_r types postfix_master_t;" in te
    assert "# Answers 1 denial(s) of postfix_master_t on postfix_etc_t:dir, first audit(1716800000.100:101)." in te
    for refused in ("shadow_t", "sys_module", "cifs_t", "unreserved_port_t", "httpd_t", "postfix_spool_t"):
        assert refused not in te
    built = compile_module(module, str(tmp_path))
    assert pp_name_version(open(built.pp_path, "rb").read()) == ("postmulti_avc", module.version)


def test_links_into_debian_store_copy_and_rerun_is_noop(debian, debian_store_copy, tmp_path):
    findings = constructed(debian)
    module, _ = plan_module(findings, "postmulti_avc", None, with_fc=True)
    assert module.fc and "/var/spool/postfix-sub/etc/resolv\\.conf\t--\tsystem_u:object_r:etc_t:s0" in module.fc
    built = compile_module(module, str(tmp_path))
    assert install_module(built.pp_path, "default", debian_store_copy) == 1
    installed = read_installed("postmulti_avc", "default", debian_store_copy)
    assert installed.version == module.version
    assert Rule("postfix_master_t", "postfix_etc_t", "dir", ("setattr",)) in installed.rules
    # rerun against the same log: same rule set, same version, nothing to install
    again = analyse(cached_policy(debian.policy), files=[fixture_path("constructed_cases.log")],
                    expected_context=debian.expected(), installed=installed).findings
    module2, unchanged = plan_module(again, "postmulti_avc", installed)
    assert unchanged and module2.version == module.version
    # a new denial bumps the version and keeps the old rules
    new = GAP.replace("setattr", "rmdir")
    more = analyse(cached_policy(debian.policy), lines=[new], installed=installed).findings
    module3, unchanged3 = plan_module(more, "postmulti_avc", installed)
    assert not unchanged3 and module3.version.startswith("1.2.h")
    assert "allow postfix_master_t postfix_etc_t:dir { rmdir setattr };" in module3.te


def test_links_into_el9_targeted_store_copy(el9, tmp_path):
    findings = analyse(cached_policy(el9.policy), files=[fixture_path("constructed_cases.log")],
                       expected_context=el9.expected()).findings
    module, _ = plan_module(findings, "postmulti_avc")
    assert "shadow_t" not in module.te
    built = compile_module(module, str(tmp_path))
    root = copy_store(el9.root, "targeted", str(tmp_path / "root"))
    assert install_module(built.pp_path, "targeted", root) == 1
    assert read_installed("postmulti_avc", "targeted", root).version == module.version


def test_next_version_rules():
    assert next_version(None, "abc123") == ("1.1.habc123", False)
    assert next_version("1.4.habc123", "abc123") == ("1.4.habc123", True)
    assert next_version("1.4.habc123", "def456") == ("1.5.hdef456", False)
    assert next_version("7.0", "def456") == ("1.1.hdef456", False)


@pytest.mark.parametrize("bad", [Rule("postfix_master_t", "x;allow", "dir", ("read",)),
                                 Rule("postfix_master_t", "etc_t", "dir", ("read }",))])
def test_invalid_identifiers_never_reach_the_template(bad):
    finding = Finding("missing_rule", "x", rule=bad)
    with pytest.raises(ToolError):
        render_module("postmulti_avc", "1.1.habc", [finding])
    with pytest.raises(ToolError):
        render_module("bad name", "1.1", [])


def _module_for(debian, comm, exe, name, path):
    lines = [GAP.replace("COMM", comm).replace("NAME", name),
             SYSCALL.replace("COMM", comm).replace("EXE", exe),
             PATH.replace("PATHNAME", path)]
    findings = analyse(cached_policy(debian.policy), lines=lines,
                       expected_context=debian.expected()).findings
    module, _ = plan_module(findings, "postmulti_avc")
    return module


HOSTILE = st.lists(st.sampled_from(list('x;{}()" \'\\/=:_-*#') + ["allow ", "\\n}", "role ", "shadow_t", "%s"]),
                   max_size=12).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(comm=HOSTILE, exe=HOSTILE, name=HOSTILE)
def test_hostile_fields_do_not_change_the_module(debian, comm, exe, name):
    """A log line cannot hold a newline; everything else an attacker can put in a field."""
    baseline = _module_for(debian, "postfix", "/usr/sbin/postfix", "postfix-sub", "/etc/postfix-sub")
    hostile = _module_for(debian, comm, exe, name, "/etc/postfix-sub")
    assert hostile is not None and hostile.te == baseline.te


def test_crafted_tcontext_adds_nothing(debian):
    baseline = _module_for(debian, "postfix", "/usr/sbin/postfix", "postfix-sub", "/etc/postfix-sub")
    crafted = GAP.replace("postfix_etc_t:s0", 'shadow_t:s0 tclass=file\\nallow postfix_master_t shadow_t:file *;')
    lines = [GAP.replace("COMM", "postfix").replace("NAME", "postfix-sub"),
             PATH.replace("PATHNAME", "/etc/postfix-sub"),
             crafted.replace("1716800000.100:101", "1716800009.000:200"),
             GAP.replace("tcontext=system_u:object_r:postfix_etc_t:s0",
                         'tcontext="system_u:object_r:etc_t;allow x:s0"').replace(":101)", ":201)")]
    findings = analyse(cached_policy(debian.policy), lines=lines, expected_context=debian.expected()).findings
    module, _ = plan_module(findings, "postmulti_avc")
    assert "shadow_t" not in module.te and "allow x" not in module.te
    assert [l for l in module.te.splitlines() if not l.startswith("#")] == \
        [l for l in baseline.te.splitlines() if not l.startswith("#")]
