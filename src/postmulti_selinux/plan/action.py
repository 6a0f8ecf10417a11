"""Actions and plans: each action says why, whether it is already done, how to apply and undo."""

import typing


class Context(object):
    """What actions share while a plan is applied: the Postfix manager, the policy root, the
    one policy transaction of the run, a log function for progress lines, and ``meter(kind)``:
    a progress meter for a long step (``relabel``, ``commit``) or None (the CLI's, on a
    terminal)."""

    def __init__(self, manager, policy_root, transaction=None, log=None, meter=None):
        self.manager = manager
        self.policy_root = policy_root
        self.transaction = transaction
        self.log = log or (lambda text: None)
        self.meter = meter or (lambda kind: None)


class Action(object):
    """One step of a plan.

    ``kind`` is a stable machine name, ``title`` what it does, ``reason`` why it is needed.
    ``staged`` actions only add themselves to the run's policy transaction (see CommitPolicy);
    the others change the host directly. ``snapshot`` is taken (and journalled) before
    ``apply``, so an interrupted run can be undone from what the journal holds.
    """

    kind = "action"
    staged = False
    batched = False  # consecutive actions of this kind are applied together (apply_together)
    instance = None  # type: typing.Optional[str]  # the child it is for (None: shared by all)

    def __init__(self, title, reason):
        # type: (str, str) -> None
        self.title = title
        self.reason = reason

    def satisfied(self, ctx):
        # type: (Context) -> bool
        """True when the host is already as this action would leave it."""
        return False

    def snapshot(self, ctx):
        # type: (Context) -> dict
        """JSON-friendly prior state that ``undo`` needs (taken before ``apply``)."""
        return {}

    def apply(self, ctx):
        # type: (Context) -> dict
        """Make the change; return JSON-friendly facts to add to the undo data."""
        raise NotImplementedError

    @classmethod
    def apply_together(cls, ctx, actions):
        # type: (Context, list) -> list
        """For a ``batched`` kind: apply several of its actions that come one after another in
        a plan, side by side; each one's result, or the ToolError it raised."""
        raise NotImplementedError

    @classmethod
    def undo(cls, ctx, data):
        # type: (Context, dict) -> None
        """Put back the state recorded in ``data`` (snapshot merged with apply's result).

        A classmethod: undo works from the journal alone, long after the run that applied it."""

    def as_dict(self):
        # type: () -> dict
        return {"kind": self.kind, "title": self.title, "reason": self.reason}


class Plan(object):
    """An ordered list of actions for one or more instances, plus what observation found.
    ``failed`` names the children that could not be planned, with why."""

    def __init__(self, instances, actions, notes=None):
        # type: (typing.Any, typing.List[Action], typing.List[str]) -> None
        self.instances = [instances] if isinstance(instances, str) else list(instances)
        self.actions = actions
        self.notes = notes or []  # type: typing.List[str]
        self.failed = {}  # type: typing.Dict[str, str]

    @property
    def instance(self):
        # type: () -> str
        return ", ".join(self.instances)

    def as_dict(self, ctx=None, tagged=False):
        # type: (typing.Optional[Context], bool) -> dict
        """With ``ctx``, each action says whether it is satisfied; ``tagged`` adds the child
        each is for (None for the shared commit and relabel)."""
        items = []
        for action in self.actions:
            item = action.as_dict()
            if tagged:
                item["instance"] = action.instance
            if ctx is not None:
                item["satisfied"] = action.satisfied(ctx)
            items.append(item)
        return {"instance": self.instance, "actions": items, "notes": list(self.notes)}
