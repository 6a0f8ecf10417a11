"""The SELinux labeling engine: expected labels, equivalences, ports, one store transaction,
in-process relabel — all against the live system or an alternate root.

Typical use (offline or live)::

    root = PolicyRoot("/", None)
    ExpectedLabels(root).for_child([("/var/spool/postfix", "/var/spool/postfix-sub")])
    decisions = PortCheck(root).check([(2525, "tcp")], "postfix_master_t")
    tx = PolicyTransaction(root)
    tx.add_equivalence("/var/spool/postfix", "/var/spool/postfix-sub")
    for d in decisions:
        if d.action == "label":
            tx.add_port(d.port, d.proto, d.new_type)
    report = tx.commit()          # one rebuild at most; tx.undo_record reverts it
    relabel(["/var/spool/postfix-sub"], root)
"""

from postmulti_selinux.selinux.equivalence import Equivalence, SubsFile, check_equivalence
from postmulti_selinux.selinux.labels import (
    ExpectedLabels, FileContexts, PathLabel, context_type, read_label, write_label)
from postmulti_selinux.selinux.policy_root import PolicyRoot
from postmulti_selinux.selinux.ports import PortCheck, PortDecision, setools_available
from postmulti_selinux.selinux.relabel import RelabelResult, relabel
from postmulti_selinux.selinux.transaction import (
    Change, CommitReport, PolicyTransaction, UndoRecord)

__all__ = [
    "Change", "CommitReport", "Equivalence", "ExpectedLabels", "FileContexts", "PathLabel",
    "PolicyRoot", "PolicyTransaction", "PortCheck", "PortDecision", "RelabelResult", "SubsFile",
    "UndoRecord", "check_equivalence", "context_type", "read_label", "relabel",
    "setools_available", "write_label",
]
