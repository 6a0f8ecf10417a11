"""Turn an Observation into the ordered plan for one child instance.

Order matters on a real host: Postfix configuration first (the listener decides which ports
need labels), then every policy-store change staged into one transaction and committed once,
then the queue and data directories postmulti's set-permissions step left undone (created
before the relabel, so it labels them), then the relabel (which needs the committed
equivalences), then the restart through the service manager (see execute.py), then
verification.
"""

import os

from postmulti_selinux.errors import ToolError
from postmulti_selinux.plan.action import Plan
from postmulti_selinux.plan.actions import (
    AddEquivalence, AddPortLabel, ClearServiceDisable, CommitPolicy, CompleteQueueLayout,
    CreateChild, EnableChild, RelabelChild, SetListener, wrong_labels)
from postmulti_selinux.postfix.discover import resolve_port, split_service
from postmulti_selinux.postfix.layout import entry_problems, expected_directories
from postmulti_selinux.postfix.manage import check_name, parse_listener_spec
from postmulti_selinux.postfix.preflight import listen_clashes
from postmulti_selinux.selinux import ExpectedLabels


def listener_ports(child, spec=None):
    # type: (object, str) -> list
    """TCP ports the child's master will bind: from --listen, else its master.cf inet services."""
    if spec:
        return [int(split_service(parse_listener_spec(spec))[1])]
    ports = set()
    for entry in child.master_entries:
        if entry.type != "inet":
            continue
        port = resolve_port(split_service(entry.service)[1])
        if port:
            ports.add(int(port))
    return sorted(ports)


def _type(context):
    # type: (str) -> str
    parts = (context or "").split(":")
    return parts[2] if len(parts) > 2 else "<<none>>"


def _differences(obs, parent, child):
    # type: (object, str, str) -> str
    """'' when the policy labels both trees alike, else the first difference in words."""
    diffs = ExpectedLabels(obs.policy_root).policy_differences(parent, child)
    if not diffs:
        return ""
    relative, mine, theirs = diffs[0]
    more = " and {} more".format(len(diffs) - 1) if len(diffs) > 1 else ""
    return "{} would be {} instead of {}{}".format(relative, _type(mine), _type(theirs), more)


def build_plan(obs, listen=None, create=False, group=None):
    # type: (object, str, bool, str) -> Plan
    """The plan for ``obs.name``. With ``create``, a missing child is created first and the
    rest is planned once it exists (see execute.secure)."""
    check_name(obs.name)
    notes = []
    actions = []
    if listen:
        clashes = listen_clashes(obs.host, listen, obs.child)
        if clashes:
            raise ToolError(clashes[0].message, hint=clashes[0].hint)
    if obs.child is None:
        if not create:
            obs.host.child(obs.name)  # raises the "no such child" error with the known names
        actions.append(CreateChild(obs.name, group, os.path.join(
            obs.host.parent.config_directory, "main.cf")))
        notes.append("the remaining steps are planned once {} exists".format(obs.name))
        return Plan(obs.name, actions, notes)
    child = obs.child
    if listen:
        actions.append(SetListener(child, listen))
    actions.append(ClearServiceDisable(child))
    actions.append(EnableChild(child))

    staged = []
    for role, parent_dir, child_dir in obs.dir_pairs():
        diff = _differences(obs, parent_dir, child_dir)
        if diff:
            staged.append(AddEquivalence(role, parent_dir, child_dir, diff))
        else:
            notes.append("{}: the policy already labels {} like {}".format(
                role, child_dir, parent_dir))
    decisions = obs.port_decisions(listener_ports(child, listen))
    for decision in decisions:
        if decision.action == "label":
            staged.append(AddPortLabel(decision))
        else:
            notes.append("port {}/{}: {}".format(decision.port, decision.proto, decision.reason))
    actions.extend(staged)
    if staged:
        actions.append(CommitPolicy(len(staged)))

    for key in ("queue_directory", "data_directory"):
        top = getattr(child, key)
        if top and not os.path.isdir(os.path.dirname(os.path.normpath(top))):
            raise ToolError("{}: the parent directory of {} {} does not exist".format(
                child.label, key, top), hint="recreate it or fix main.cf")
    entries = expected_directories(obs.manager.postfix, child)
    actions.append(CompleteQueueLayout(child, entries, entry_problems(entries)))

    pairs = [(parent_dir, child_dir) for _, parent_dir, child_dir in obs.dir_pairs()]
    wrong = wrong_labels(obs.policy_root, pairs)
    relabel = RelabelChild([c for _, c in pairs], len([w for w in wrong if w.current]))
    relabel.pairs = pairs
    actions.append(relabel)
    return Plan(obs.name, actions, notes)
