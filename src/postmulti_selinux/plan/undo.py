"""Reverse everything the journal says the tool did for one instance, newest first."""

import os
import typing

from postmulti_selinux.errors import ToolError
from postmulti_selinux.plan.action import Context
from postmulti_selinux.plan.actions import (
    AddEquivalence, AddPortLabel, ClearServiceDisable, CommitPolicy, CompleteQueueLayout,
    CreateChild, EnableChild, OwnDataDirectory, RelabelChild, SetListener)
from postmulti_selinux.plan.journal import Journal, Lock
from postmulti_selinux.plan.recovery import TakeChildOutOfStartSet
from postmulti_selinux.selinux import PolicyRoot

# kind -> class whose undo() knows how to reverse journalled data ("policy-module" installs are
# journalled as commit-policy entries and reverted through their undo record).
UNDOERS = dict((cls.kind, cls) for cls in (
    CreateChild, SetListener, ClearServiceDisable, EnableChild, AddEquivalence, AddPortLabel,
    CommitPolicy, CompleteQueueLayout, RelabelChild, OwnDataDirectory, TakeChildOutOfStartSet))


def undo(name, state, root="/", log=None, dry_run=False):
    # type: (str, str, str, typing.Callable, bool) -> typing.List[dict]
    """Undo every journalled action of ``name``; return what was (or, dry run, would be)
    undone, newest first. Relabels run last, once the policy is back as it was, so the child's
    files end up labeled as the restored policy says.

    Each item has ``reversed``: False when there was nothing to put back (e.g. a commit
    killed before it reached the store), with the reason in ``detail``; for a policy commit,
    ``detail`` otherwise lists what was put back. An action whose undo returns a dict (and
    offers ``preview`` for dry runs) says so; the others are counted as reversed."""
    log = log or (lambda text: None)
    with Lock(state):
        journal = Journal(state, name, os.path.abspath(root))
        entries = list(journal.entries())
        undone = []
        relabels = []
        ctx = Context(None, PolicyRoot(root), None, log)
        for entry in reversed(entries):
            kind = entry["action"]["kind"]
            cls = UNDOERS.get(kind)
            if cls is None:
                raise ToolError("the journal {} has an unknown action {!r}".format(
                    journal.path, kind))
            item = {"kind": kind, "title": entry["action"]["title"], "state": entry["state"],
                    "reversed": True}
            undone.append(item)
            if dry_run:
                item.update(getattr(cls, "preview", lambda ctx, data: {})(ctx, entry["data"]))
                continue
            if cls is RelabelChild:
                relabels.append(entry["data"])
                continue
            log("undo {}: {}".format(kind, entry["action"]["title"]))
            outcome = cls.undo(ctx, entry["data"])
            if isinstance(outcome, dict):
                item.update(outcome)
        if not dry_run:
            paths = sorted(set(p for data in relabels for p in data.get("paths", [])))
            if paths:
                log("relabel {} as the restored policy says".format(", ".join(paths)))
                RelabelChild.undo(ctx, {"paths": paths})
            journal.clear()
        return undone
