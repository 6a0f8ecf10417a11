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

from postmulti_selinux.errors import ToolError

DEFAULT_STATE_DIR = "/var/lib/postmulti-selinux"


def state_dir(override=None):
    # type: (str) -> str
    return override or os.environ.get("POSTMULTI_SELINUX_STATE_DIR") or DEFAULT_STATE_DIR


class Lock(object):
    """An exclusive, non-blocking lock for the whole tool (one run at a time per host)."""

    def __init__(self, directory):
        # type: (str) -> None
        self.path = os.path.join(directory, "lock")
        self.handle = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.handle = open(self.path, "w")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError) as exc:
            self.handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise ToolError("another postmulti-selinux run holds {}".format(self.path),
                                hint="wait for it to finish")
            raise
        return self

    def __exit__(self, *exc):
        self.handle.close()


class Journal(object):
    """The journal of one instance."""

    def __init__(self, directory, instance):
        # type: (str, str) -> None
        self.path = os.path.join(directory, "journal", "{}.json".format(instance))
        self.instance = instance
        self.data = {"instance": instance, "runs": []}
        if os.path.exists(self.path):
            try:
                with open(self.path) as handle:
                    self.data = json.load(handle)
            except (IOError, OSError, ValueError) as exc:
                raise ToolError("cannot read the journal {}: {}".format(self.path, exc))
        self._run = None

    @property
    def runs(self):
        return self.data["runs"]

    def entries(self):
        """Every journalled entry of every run, oldest first."""
        for run in self.runs:
            for entry in run["entries"]:
                yield entry

    def begin(self, action, snapshot):
        # type: (object, dict) -> dict
        """Record that ``action`` is about to change the host (written before it does)."""
        if self._run is None:
            self._run = {"started": time.time(), "entries": []}
            self.runs.append(self._run)
        entry = {"action": action.as_dict(), "state": "begun", "data": snapshot}
        self._run["entries"].append(entry)
        self.save()
        return entry

    def done(self, entry, result):
        # type: (dict, dict) -> None
        entry["data"].update(result or {})
        entry["state"] = "done"
        self.save()

    def save(self):
        # type: () -> None
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(self.data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, self.path)

    def clear(self):
        # type: () -> None
        """Forget every run (after a complete undo)."""
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.data = {"instance": self.instance, "runs": []}
