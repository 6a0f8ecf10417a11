"""Turn an Observation into the ordered plan for one child instance.

Order matters on a real host: Postfix configuration first (the listener decides which ports
need labels), then every policy-store change staged into one transaction and committed once,
then the queue and data directories postmulti's set-permissions step left undone (created
before the relabel, so it labels them), then the relabel (which needs the committed
equivalences), then the restart through the service manager (see execute.py), then
verification.
"""

import os
import typing

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


Spec = typing.NamedTuple("Spec", [("name", str), ("listen", typing.Optional[str]),
                                   ("create", bool), ("group", typing.Optional[str])])
Spec.__new__.__defaults__ = (None, False, None)
Spec.__doc__ = "One child a run secures: its name, --listen, --create and the group to create in."

ChildParts = typing.NamedTuple("ChildParts", [
    ("config", list), ("staged", list), ("layout", list), ("pairs", list), ("notes", list)])


def build_plan(obs, listen=None, create=False, group=None):
    # type: (object, str, bool, str) -> Plan
    """The plan for ``obs.name``. With ``create``, a missing child is created first and the
    rest is planned once it exists (see execute.secure)."""
    return build_host_plan(obs, [Spec(obs.name, listen, create, group)])


def build_host_plan(obs, specs, skip_failed=False):
    # type: (object, typing.List[Spec], bool) -> Plan
    """One plan for every child in ``specs``: each child's configuration, then all their
    policy changes in one transaction, their queue layouts, one relabel of all their trees.

    A child that must be created first gets only its CreateChild; the rest is planned once it
    exists. With ``skip_failed`` a child that cannot be planned is left out and named in
    ``plan.failed`` (the others are still planned); otherwise its ToolError is raised."""
    creates, parts, failed = [], [], {}
    for spec in specs:
        view = obs.for_child(spec.name)
        try:
            check_name(spec.name)
            if spec.listen:
                clashes = listen_clashes(view.host, spec.listen, view.child)
                if clashes:
                    raise ToolError(clashes[0].message, hint=clashes[0].hint)
            if view.child is None:
                if not spec.create:
                    view.host.child(spec.name)  # raises "no such child" with the known names
                creates.append(_tagged(CreateChild(spec.name, spec.group, os.path.join(
                    view.host.parent.config_directory, "main.cf")), spec.name))
                continue
            parts.append(_child_parts(view, spec.listen))
        except ToolError as exc:
            if not skip_failed:
                raise
            failed[spec.name] = str(exc)
    names = [s.name for s in specs]
    if creates:
        plan = Plan(names, creates, ["the remaining steps are planned once {} exist{}".format(
            ", ".join(a.name for a in creates), "s" if len(creates) == 1 else "")])
        plan.failed = failed
        return plan
    # Kind by kind across the children, enables first: postconf (and postmulti, which reads
    # every instance) rereads a main.cf written within the last second or two until it
    # settles, so postmulti runs before this run has written any main.cf, and the other edits
    # read their scratch copies (see Manager._postconf_edit).
    order = [EnableChild.kind, SetListener.kind, ClearServiceDisable.kind]
    actions = sorted((a for p in parts for a in p.config), key=lambda a: order.index(a.kind))
    staged, seen_ports = [], set()
    for part in parts:
        for action in part.staged:
            key = (action.decision.port, action.decision.proto) if isinstance(
                action, AddPortLabel) else None
            if key is not None and key in seen_ports:
                continue  # two children on one port (other addresses): one label
            seen_ports.add(key)
            staged.append(action)
    actions.extend(staged)
    if staged:
        actions.append(CommitPolicy(len(staged)))
    actions.extend(a for p in parts for a in p.layout)
    pairs = [pair for p in parts for pair in p.pairs]
    if pairs:
        wrong = wrong_labels(obs.policy_root, pairs)
        actions.append(RelabelChild(pairs, len([w for w in wrong if w.current])))
    plan = Plan(names, actions, [n for p in parts for n in p.notes])
    plan.failed = failed
    return plan


def _tagged(action, name):
    action.instance = name
    return action


def _child_parts(obs, listen):
    # type: (object, typing.Optional[str]) -> ChildParts
    """What one existing child needs, each action tagged with its name."""
    child = obs.child
    name = obs.name
    config = []
    if listen:
        config.append(SetListener(child, listen))
    config.extend([ClearServiceDisable(child), EnableChild(child)])
    staged, notes = [], []
    for role, parent_dir, child_dir in obs.dir_pairs():
        diff = _differences(obs, parent_dir, child_dir)
        if diff:
            staged.append(AddEquivalence(role, parent_dir, child_dir, diff))
        else:
            notes.append("{}: the policy already labels {} like {}".format(
                role, child_dir, parent_dir))
    for decision in obs.port_decisions(listener_ports(child, listen)):
        if decision.action == "label":
            staged.append(AddPortLabel(decision))
        else:
            notes.append("port {}/{}: {}".format(decision.port, decision.proto, decision.reason))
    for key in ("queue_directory", "data_directory"):
        top = getattr(child, key)
        if top and not os.path.isdir(os.path.dirname(os.path.normpath(top))):
            raise ToolError("{}: the parent directory of {} {} does not exist".format(
                child.label, key, top), hint="recreate it or fix main.cf")
    entries = expected_directories(obs.manager.postfix, child)
    layout = [CompleteQueueLayout(child, entries, entry_problems(entries))]
    pairs = [(parent_dir, child_dir) for _, parent_dir, child_dir in obs.dir_pairs()]
    return ChildParts([_tagged(a, name) for a in config], [_tagged(a, name) for a in staged],
                      [_tagged(a, name) for a in layout], pairs, notes)
