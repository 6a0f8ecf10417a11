"""The run journal: written before each action, so an interrupted run can be resumed or undone.

One JSON file per instance under the state directory (default /var/lib/postmulti-selinux),
holding every run that changed something, each a list of entries
``{"action": {...}, "state": "begun"|"done", "data": {...}}``. It is rewritten atomically
(temp file, fsync, rename) at every step. A lock file keeps two runs from interleaving.
"""

import errno
import fcntl
import json
import os
import time
import typing

from postmulti_selinux.errors import ToolError
from postmulti_selinux.plan.scope import under
from postmulti_selinux.postfix.manage import check_name

STATES = ("begun", "done")
HOST = "host"  # the journal of runs that secured several children at once (no child is "host")
# Keys of an entry's data that hold paths on disk (under the root): a journal that names a path
# outside the root is refused before anything is written through it.
_PATH_LISTS = ("created", "backups")


def _unusable(directory, exc):
    # type: (str, EnvironmentError) -> ToolError
    return ToolError("the state directory {} cannot be used: {}".format(
        directory, exc.strerror or exc), hint="give a writable directory with --state-dir")


class Lock(object):
    """An exclusive, non-blocking lock for the whole tool (one run at a time per host)."""

    def __init__(self, directory):
        # type: (str) -> None
        self.path = os.path.join(directory, "lock")
        self.handle = None

    def __enter__(self):
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self.handle = open(self.path, "w")
        except (IOError, OSError) as exc:
            raise _unusable(os.path.dirname(self.path), exc)
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError) as exc:
            self.handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise ToolError("another postmulti-selinux run holds {}".format(self.path),
                                hint="wait for it to finish")
            raise _unusable(os.path.dirname(self.path), exc)
        return self

    def __exit__(self, *exc):
        self.handle.close()


def _paths(data):
    # type: (dict) -> typing.List[str]
    """The on-disk paths an entry's data names (files it restores, creates or removes)."""
    paths = list(data.get("files") or {})
    for key in _PATH_LISTS:
        paths.extend(data.get(key) or [])
    paths.extend(s.get("path") for s in data.get("states") or [] if isinstance(s, dict))
    if "path" in data:
        paths.append(data["path"])
    return paths


def journal_problem(data, instance, root="/"):
    # type: (typing.Any, str, str) -> str
    """Why ``data`` is not a journal of ``instance`` under ``root`` ("" when it is one)."""
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        return "it is not a postmulti-selinux journal (no list of runs)"
    if data.get("instance") != instance:
        return "it is the journal of {!r}, not of {!r}".format(data.get("instance"), instance)
    for run in data["runs"]:
        entries = run.get("entries") if isinstance(run, dict) else None
        if not isinstance(entries, list):
            return "a run without a list of entries"
        for entry in entries:
            if not (isinstance(entry, dict) and isinstance(entry.get("action"), dict)
                    and isinstance(entry["action"].get("kind"), str)
                    and isinstance(entry["action"].get("title"), str)
                    and entry.get("state") in STATES and isinstance(entry.get("data"), dict)):
                return "an entry that is not an action, a state and its data"
            for path in _paths(entry["data"]):
                if not isinstance(path, str) or not os.path.isabs(path) or \
                        not under(root, os.path.normpath(path)) or \
                        os.path.normpath(path) == root:
                    return "it names {!r}, which is outside the root {}".format(path, root)
    return ""


class Journal(object):
    """The journal of one instance."""

    def __init__(self, directory, instance, root="/", covers=None):
        # type: (str, str, str, typing.Optional[typing.List[str]]) -> None
        """``instance``: a child's name, or HOST for runs over several children, each run
        then naming the children it ``covers``."""
        if instance != HOST:
            check_name(instance)  # never a path: "../x" cannot reach outside the state directory
        self.covers = list(covers or [])
        self.path = os.path.join(directory, "journal", "{}.json".format(instance))
        self.instance = instance
        self.data = {"instance": instance, "runs": []}
        if os.path.lexists(self.path):
            try:
                with open(self.path, encoding="utf-8") as handle:
                    self.data = json.load(handle)
            except (IOError, OSError, ValueError) as exc:
                raise ToolError("cannot read the journal {}: {}".format(self.path, exc))
            problem = journal_problem(self.data, instance, root)
            if problem:
                raise ToolError("refusing the journal {}: {}".format(self.path, problem),
                                hint="move it aside if it is not this tool's journal")
        self._run = None

    @property
    def runs(self):
        return self.data["runs"]

    def entries(self):
        """Every journalled entry of every run, oldest first."""
        for run in self.runs:
            for entry in run["entries"]:
                yield entry

    def begin(self, action, snapshot, save=True):
        # type: (object, dict, bool) -> dict
        """Record that ``action`` is about to change the host (written before it does; with
        ``save=False`` the caller saves once for several, before any of them runs)."""
        if self._run is None:
            self._run = {"started": time.time(), "entries": []}
            if self.covers:
                self._run["instances"] = list(self.covers)
            self.runs.append(self._run)
        described = action.as_dict()
        if getattr(action, "instance", None):
            described["instance"] = action.instance
        entry = {"action": described, "state": "begun", "data": snapshot}
        self._run["entries"].append(entry)
        if save:
            self.save()
        return entry

    def done(self, entry, result, save=True):
        # type: (dict, dict, bool) -> None
        entry["data"].update(result or {})
        entry["state"] = "done"
        if save:
            self.save()

    def save(self):
        # type: () -> None
        """Write the journal atomically; a state directory that cannot take it is one error
        (raised before the action it would have recorded runs)."""
        tmp = self.path + ".tmp"
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            text = json.dumps(self.data, sort_keys=True)  # no indent: the C encoder
            with open(tmp, "w") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(tmp, self.path)
        except (IOError, OSError) as exc:
            raise _unusable(os.path.dirname(self.path), exc)

    def clear(self, runs=None):
        # type: (typing.Optional[list]) -> None
        """Forget ``runs`` (default: every run), after they were undone; no runs left, no file."""
        kept = [] if runs is None else [r for r in self.runs if not any(r is x for x in runs)]
        self.data = {"instance": self.instance, "runs": kept}
        if kept:
            self.save()
        elif os.path.exists(self.path):
            os.unlink(self.path)
