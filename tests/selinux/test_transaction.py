"""Store transactions with modules, undo and rollback, on copies of the real stores."""

import os

import pytest

from postmulti_selinux.errors import ToolError
from postmulti_selinux.selinux import PolicyTransaction, PortCheck, UndoRecord
from postmulti_selinux.selinux.transaction import installed_module
from tests.selinux.conftest import build_module


def test_module_and_port_in_one_rebuild_then_undo(writable_root, tmp_path):
    root = writable_root
    subs_before = open(root.subs_path, "rb").read() if os.path.exists(root.subs_path) else None
    pp = build_module(str(tmp_path), "pmtest_bind")
    start = root.commit_number()
    transaction = PolicyTransaction(root)
    transaction.add_equivalence("/var/spool/postfix", "/var/spool/postfix-sub")
    transaction.add_port(2526, "tcp", "smtp_port_t")
    assert transaction.install_module(pp) == "pmtest_bind"
    assert [c.kind for c in transaction.pending()] == ["equivalence", "port", "module-install"]
    report = transaction.commit()
    assert (report.store_commits, report.rebuilds, root.commit_number() - start) == (1, 1, 1)
    assert installed_module(root, "pmtest_bind") is not None
    assert PortCheck(root).check([(2526, "tcp")])[0].port_type == "smtp_port_t"

    again = PolicyTransaction(root)
    again.install_module(pp)
    assert again.commit().rebuilds == 0 and root.commit_number() - start == 1

    record = UndoRecord.from_dict(transaction.undo_record.as_dict())  # survives JSON round trip
    undo = PolicyTransaction.revert(record)
    assert undo.rebuilds == 1
    assert installed_module(root, "pmtest_bind") is None
    assert PortCheck(root).check([(2526, "tcp")])[0].port_type == "unreserved_port_t"
    after = open(root.subs_path, "rb").read() if os.path.exists(root.subs_path) else None
    assert after == subs_before


def test_failed_commit_changes_nothing(writable_root, tmp_path):
    root = writable_root
    subs_before = open(root.subs_path, "rb").read() if os.path.exists(root.subs_path) else None
    bogus = tmp_path / "broken.pp"
    bogus.write_bytes(b"this is not a policy module")
    start = root.commit_number()
    transaction = PolicyTransaction(root)
    transaction.add_equivalence("/var/spool/postfix", "/var/spool/postfix-sub")
    transaction.add_port(2527, "tcp", "smtp_port_t")
    transaction.install_module(str(bogus))
    with pytest.raises(ToolError):
        transaction.commit()
    after = open(root.subs_path, "rb").read() if os.path.exists(root.subs_path) else None
    assert after == subs_before and root.commit_number() == start
    assert PortCheck(root).check([(2527, "tcp")])[0].port_type == "unreserved_port_t"


def test_bad_requests_are_tool_errors(readonly_root):
    transaction = PolicyTransaction(readonly_root)
    with pytest.raises(ToolError):
        transaction.add_port(70000, "tcp", "smtp_port_t")
    with pytest.raises(ToolError):
        transaction.add_port(2525, "icmp", "smtp_port_t")
    with pytest.raises(ToolError):
        transaction.install_module("/nonexistent/x.pp")
    with pytest.raises(ToolError):
        PortCheck(readonly_root).check([("smtp", "tcp")])
    assert transaction.commit().changes == []


_COMMIT_ONE_PORT = """
import sys
from postmulti_selinux.selinux import PolicyRoot, PolicyTransaction
from postmulti_selinux.selinux.store_libsemanage import show_messages
show_messages(sys.argv[3] == "verbose")
tx = PolicyTransaction(PolicyRoot(sys.argv[1], sys.argv[2]))
tx.add_port(int(sys.argv[4]), "tcp", "smtp_port_t")
assert tx.commit().rebuilds == 1
"""


@pytest.mark.parametrize("family", ["debian"], indirect=True)
def test_libsemanage_messages_only_with_verbose(writable_root):
    """Debian's store says 'libsemanage.add_user: user sddm not in password file' on every
    commit: silenced unless --verbose (show_messages), where libsemanage speaks as before."""
    import subprocess
    import sys
    from postmulti_selinux.selinux.store_libsemanage import binding_available
    if not binding_available():
        pytest.skip("no semanage Python binding here")
    outputs = {}
    for mode, port in (("quiet", 2531), ("verbose", 2532)):
        proc = subprocess.run([sys.executable, "-c", _COMMIT_ONE_PORT, writable_root.root,
                               writable_root.policy_type, mode, str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True)
        assert proc.returncode == 0, proc.stderr
        outputs[mode] = proc.stderr
    assert outputs["quiet"] == ""
    assert "libsemanage." in outputs["verbose"]
