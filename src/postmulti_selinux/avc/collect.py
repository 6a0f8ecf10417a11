"""Fold a stream of reader items into distinct denials (memory bounded by distinct denials, not
by log length), then fill in paths of records that carried only ``name=`` from other records
of the same inode; failing that, from the event's command line (PROCTITLE); failing that, from
a unique known path with that file name; failing that, from the one directory the same domain
is seen working in (``path_from`` says which)."""

import os
from collections import OrderedDict

from postmulti_selinux.avc.records import Denial, PolicyLoad, SelinuxError, Stamp

MAX_INDEX = 200000      # inode/name index entries kept for path resolution


class DenialGroup(object):
    """Identical denials (same types, class, object, result) with their perms merged."""

    __slots__ = ("source", "target", "tclass", "result", "path", "path_from", "argv_path", "name", "dev",
                 "ino", "port", "perms", "count", "first", "scontext", "tcontext", "comm",
                 "exe", "permissive", "ioctlcmds", "capabilities")

    def __init__(self, denial):
        self.source = denial.scontext.type
        self.target = denial.tcontext.type
        self.tclass = denial.tclass
        self.result = denial.result
        # A path read off the command line is only a hint: another record of the inode wins.
        self.argv_path = denial.path if denial.path_from == "argv" else None
        self.path = None if self.argv_path else denial.path
        self.path_from = "record" if self.path else None
        self.name = denial.name
        self.dev = denial.dev
        self.ino = denial.ino
        self.port = denial.port
        self.perms = set()
        self.count = 0
        self.first = denial.stamp
        self.scontext = denial.scontext
        self.tcontext = denial.tcontext
        self.comm = denial.comm
        self.exe = denial.exe
        self.permissive = denial.permissive
        self.ioctlcmds = set()
        self.capabilities = set()

    def add(self, denial):
        if self.count and _earlier(denial.stamp, self.first):
            # The earliest record speaks for the group, whatever order records arrive in.
            self.first = denial.stamp
            self.scontext, self.tcontext = denial.scontext, denial.tcontext
            self.comm, self.exe = denial.comm, denial.exe
            if denial.path_from == "argv":
                self.argv_path = denial.path
        self.perms.update(denial.perms)
        self.count += denial.count
        if denial.ioctlcmd and len(self.ioctlcmds) < 32:
            self.ioctlcmds.add(denial.ioctlcmd)
        if denial.capability is not None:
            self.capabilities.add(denial.capability)
        if denial.permissive is not None:
            self.permissive = denial.permissive if self.permissive is None else (self.permissive and denial.permissive)


    def absorb(self, row):
        """Take in a group with the same key from another part of the log, as a row
        (:meth:`to_row`): no group object is made for it."""
        (_, _, _, _, _, _, argv_path, _, _, _, _, perms, count, first, scontext, tcontext,
         comm, exe, permissive, ioctlcmds, capabilities) = row
        first = Stamp._make(first)
        if _earlier(first, self.first):
            self.first, self.scontext, self.tcontext = first, scontext, tcontext
            self.comm, self.exe = comm, exe
            self.argv_path = argv_path or self.argv_path
        self.perms.update(perms)
        self.count += count
        self.ioctlcmds.update(list(ioctlcmds)[:max(0, 32 - len(self.ioctlcmds))])
        self.capabilities.update(capabilities)
        if permissive is not None:
            self.permissive = permissive if self.permissive is None else (self.permissive and permissive)

    def to_row(self):
        """The group as a tuple of plain values (see :meth:`Collection.state`); the contexts
        stay objects: groups share them, so each is pickled once."""
        return (self.source, self.target, self.tclass, self.result, self.path, self.path_from,
                self.argv_path, self.name, self.dev, self.ino, self.port, tuple(self.perms),
                self.count, tuple(self.first), self.scontext, self.tcontext,
                self.comm, self.exe, self.permissive, tuple(self.ioctlcmds), tuple(self.capabilities))

    @classmethod
    def from_row(cls, row):
        group = cls.__new__(cls)
        (group.source, group.target, group.tclass, group.result, group.path, group.path_from,
         group.argv_path, group.name, group.dev, group.ino, group.port, perms, group.count, first,
         scontext, tcontext, group.comm, group.exe, group.permissive, ioctlcmds, capabilities) = row
        group.perms, group.ioctlcmds, group.capabilities = set(perms), set(ioctlcmds), set(capabilities)
        group.first, group.scontext, group.tcontext = Stamp._make(first), scontext, tcontext
        return group


def _key(denial, path):
    obj = path if path and denial.path_from != "argv" else (denial.dev, denial.ino, denial.name)
    return (denial.scontext.type, denial.tcontext.type, denial.tclass, denial.result, obj, denial.port)


class Collection(object):
    """What a log says, folded: in-scope denial groups, SELinux errors, out-of-scope counts."""

    def __init__(self, in_scope, since_last_load=False):
        self.in_scope = in_scope
        self.since_last_load = since_last_load
        self.groups = OrderedDict()
        self.errors = OrderedDict()
        self.out_of_scope = OrderedDict()    # (source, target, tclass) -> [perms, count]
        self.policy_loads = 0
        self._inodes = {}
        self._names = {}
        self._dirs = {}          # (source, dev or None) -> directories its known paths are in

    def add(self, item):
        if isinstance(item, Denial):
            self._add_denial(item)
        elif isinstance(item, SelinuxError):
            key = (item.op, item.reason, item.invalid_context, item.scontext, item.tcontext, item.tclass)
            if key not in self.errors:
                self.errors[key] = [item, 0]
            self.errors[key][1] += 1
        elif isinstance(item, PolicyLoad):
            self.policy_loads += 1
            if self.since_last_load:
                self._clear()

    def state(self):
        """What the collection holds, as plain values (groups as rows) for :meth:`merge`: a
        worker process sends it back pickled."""
        return {"groups": [(key, group.to_row()) for key, group in self.groups.items()],
                "errors": self.errors, "out_of_scope": self.out_of_scope,
                "policy_loads": self.policy_loads, "inodes": self._inodes, "names": self._names,
                "dirs": self._dirs}

    def empty(self):
        """A new, empty collection with the same scope and settings."""
        return Collection(self.in_scope, since_last_load=self.since_last_load)

    def merge(self, state):
        """Take in the :meth:`state` of a collection of a later part of the same log (read by
        another process); groups it shares with this one are merged from their rows."""
        if state["policy_loads"] and self.since_last_load:
            self._clear()         # the later part saw a policy load: what came before is moot
        self.policy_loads += state["policy_loads"]
        groups = self.groups
        for key, row in state["groups"]:
            mine = groups.get(key)
            if mine is None:
                groups[key] = DenialGroup.from_row(row)
            else:
                mine.absorb(row)
        for key, (item, count) in state["errors"].items():
            if key in self.errors:
                self.errors[key][1] += count
            else:
                self.errors[key] = [item, count]
        for key, (perms, count) in state["out_of_scope"].items():
            entry = self.out_of_scope.setdefault(key, [set(), 0])
            entry[0].update(perms)
            entry[1] += count
        for key, path in state["inodes"].items():
            if len(self._inodes) < MAX_INDEX or key in self._inodes:
                self._inodes[key] = path      # the later record wins, as when read in one go
        for mine, theirs in ((self._names, state["names"]), (self._dirs, state["dirs"])):
            for key, values in theirs.items():
                mine.setdefault(key, set()).update(values)
        return self

    def _clear(self):
        self.groups.clear()
        self.errors.clear()
        self.out_of_scope.clear()

    def add_all(self, items):
        for item in items:
            self.add(item)
        return self

    def _add_denial(self, denial):
        source = denial.scontext.type
        if not self.in_scope(source):
            key = (source, denial.tcontext.type, denial.tclass)
            entry = self.out_of_scope.get(key)
            if entry is None:
                if len(self.out_of_scope) >= MAX_INDEX:
                    return
                entry = self.out_of_scope[key] = [set(), 0]
            entry[0].update(denial.perms)
            entry[1] += denial.count
            return
        if denial.path and denial.path_from != "argv" and len(self._inodes) < MAX_INDEX:
            if denial.ino is not None:
                self._inodes[(denial.dev, denial.ino)] = denial.path
            self._names.setdefault(os.path.basename(denial.path), set()).add(denial.path)
            directory = os.path.dirname(denial.path)
            for dev in (denial.dev, None):
                self._dirs.setdefault((source, dev), set()).add(directory)
        key = _key(denial, denial.path)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = DenialGroup(denial)
        group.add(denial)

    def resolved_groups(self):
        """Groups with paths filled in from the same inode (or a unique file name), re-merged."""
        merged = OrderedDict()
        for group in self.groups.values():
            if not group.path:
                path = self._inodes.get((group.dev, group.ino)) if group.ino is not None else None
                if path:
                    group.path, group.path_from = path, "inode"
                elif group.argv_path:
                    group.path, group.path_from = group.argv_path, "argv"
                elif group.name:
                    candidates = self._names.get(group.name, ())
                    dirs = self._dirs.get((group.source, group.dev), ())
                    if len(candidates) == 1:
                        group.path, group.path_from = next(iter(candidates)), "name"
                    elif not candidates and len(dirs) == 1 and "/" not in group.name:
                        # Only name=: the entry is most likely in the one directory this
                        # domain is seen working in (e.g. master creating public/cleanup).
                        group.path = os.path.join(next(iter(dirs)), group.name)
                        group.path_from = "directory"
            obj = group.path or (group.dev, group.ino, group.name)
            key = (group.source, group.target, group.tclass, group.result, obj, group.port)
            into = merged.get(key)
            if into is None:
                merged[key] = group
                continue
            if _earlier(group.first, into.first):     # the earliest record speaks for the group
                merged[key] = group
                group, into = into, group
            into.perms.update(group.perms)
            into.count += group.count
            into.ioctlcmds.update(group.ioctlcmds)
            into.capabilities.update(group.capabilities)
            if _PATH_TRUST.index(group.path_from) < _PATH_TRUST.index(into.path_from):
                into.path_from = group.path_from
        # Log order, whatever order the reader finished its events in.
        return sorted(merged.values(), key=_log_order)


_PATH_TRUST = ("record", "inode", "argv", "name", "directory", None)


def _log_order(group):
    stamp = group.first
    return (stamp.time is None, stamp.time or 0.0, stamp.serial or 0)


def _earlier(a, b):
    if a.time is None:
        return False
    return b.time is None or a.time < b.time
