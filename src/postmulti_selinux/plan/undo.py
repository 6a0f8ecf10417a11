"""Reverse everything the journals say the tool did for some children, newest first."""

import os
import shlex
import typing

from postmulti_selinux.errors import ToolError
from postmulti_selinux.plan.action import Action, Context
from postmulti_selinux.plan.actions import RelabelChild
from postmulti_selinux.plan.journal import HOST, Journal, Lock
from postmulti_selinux.selinux import PolicyRoot


def _undoers(*classes):
    # type: (type) -> typing.Dict[str, type]
    """kind -> class, for every Action subclass below ``classes`` that has a kind: a new action
    class can always be undone from a journal."""
    found = {}  # type: typing.Dict[str, type]
    stack = list(classes)
    while stack:
        cls = stack.pop()
        if cls.kind != Action.kind:
            found[cls.kind] = cls
        stack.extend(cls.__subclasses__())
    return found


def undoers():
    # type: () -> typing.Dict[str, type]
    """Every action kind a journal may hold ("policy-module" installs are journalled as
    commit-policy entries and reverted through their undo record)."""
    import postmulti_selinux.plan.actions  # noqa: F401 - the action classes register by import
    import postmulti_selinux.plan.recovery  # noqa: F401
    return _undoers(Action)


def undo(name, state, root="/", log=None, dry_run=False):
    # type: (str, str, str, typing.Callable, bool) -> typing.List[dict]
    """Undo every journalled action of child ``name``; see :func:`undo_children`."""
    return undo_children([name], state, root, log, dry_run)


def journalled_children(state, root="/"):
    # type: (str, str) -> typing.List[str]
    """Every child a journal under ``state`` names (what ``undo --all`` puts back)."""
    names = set()
    directory = os.path.join(state, "journal")
    for entry in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if entry.endswith(".json") and entry != HOST + ".json":
            names.add(entry[:-len(".json")])
    if os.path.exists(os.path.join(directory, HOST + ".json")):
        for run in Journal(state, HOST, os.path.abspath(root)).runs:
            names.update(run.get("instances") or [])
    return sorted(names)


def undo_children(names, state, root="/", log=None, dry_run=False):
    # type: (typing.List[str], str, str, typing.Callable, bool) -> typing.List[dict]
    """Undo every journalled action of the children ``names``: their own journals and the
    runs that secured several of them at once, newest run first; return what was (or, dry
    run, would be) undone, newest first. A run that also secured a child not in ``names`` is
    refused (its policy transaction is one: undo them together). Relabels run last, once,
    when the policy is back as it was, so the files end up labeled as the restored policy says.

    Each item has ``reversed``: False when there was nothing to put back (e.g. a commit
    killed before it reached the store), with the reason in ``detail``; for a policy commit,
    ``detail`` otherwise lists what was put back. An action whose undo returns a dict (and
    offers ``preview`` for dry runs) says so; the others are counted as reversed."""
    log = log or (lambda text: None)
    root = os.path.abspath(root)
    wanted = set(names)
    kinds = undoers()
    with Lock(state):
        journals = [Journal(state, name, root) for name in names]
        host = Journal(state, HOST, root)
        shared = [run for run in host.runs if wanted & set(run.get("instances") or [])]
        for run in shared:
            others = sorted(set(run.get("instances") or []) - wanted)
            if others:
                together = sorted(set(run["instances"]))
                raise ToolError(
                    "{} was secured together with {} in one run (one policy transaction): "
                    "they are undone together".format(", ".join(sorted(wanted & set(together))),
                                                      ", ".join(others)),
                    hint=" ".join(shlex.quote(a) for a in ["postmulti-selinux", "undo"] + together))
        runs = [(run.get("started", 0), run) for journal in journals for run in journal.runs]
        runs += [(run.get("started", 0), run) for run in shared]
        runs.sort(key=lambda item: item[0], reverse=True)
        undone = []
        relabels = []
        ctx = Context(None, PolicyRoot(root), None, log)
        for _, run in runs:
            for entry in reversed(run["entries"]):
                kind = entry["action"]["kind"]
                cls = kinds.get(kind)
                if cls is None:
                    raise ToolError("a journal under {} has an unknown action {!r}".format(
                        state, kind))
                item = {"kind": kind, "title": entry["action"]["title"],
                        "state": entry["state"], "reversed": True}
                if len(names) > 1:
                    item["instance"] = entry["action"].get("instance")
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
            for journal in journals:
                journal.clear()
            if shared:
                host.clear(shared)
        return undone
