"""All policy-store changes of one run, committed together.

Port labels and module installs/removals go into one store transaction (one policy rebuild;
none when nothing changes): through the libsemanage binding where ``import semanage`` works,
else through one ``semanage import`` / ``semodule`` command (:mod:`store_cli`, EL7). Equivalences are written to ``file_contexts.subs`` as semanage does,
just before the store commit, and put back if the commit fails. Before anything is changed the
previous state is recorded in :class:`UndoRecord`, so every change can be reverted exactly with
:meth:`PolicyTransaction.revert`. :meth:`PolicyTransaction.planned_undo` gives that record before
the commit (for the journal): a run killed mid-commit can then be undone too, as
:meth:`PolicyTransaction.revert` puts back only what the store really holds of a record.
"""

import base64
import bz2
import glob
import os
import pickle
import shutil
import signal
import sys
import tempfile
import typing

from postmulti_selinux.errors import ToolError
from postmulti_selinux.selinux.equivalence import (
    Equivalence, SubsFile, check_equivalence, write_atomically)
from postmulti_selinux.selinux.policy_root import PolicyRoot
from postmulti_selinux.selinux.store_cli import CliStore, dies_with_this_process, read_local_ports
from postmulti_selinux.selinux.store_libsemanage import LibsemanageStore, binding_available

PROTOCOLS = ("tcp", "udp", "sctp", "dccp")

Change = typing.NamedTuple("Change", [("kind", str), ("key", str), ("value", str)])
Change.__doc__ = "One pending change: kind is equivalence, port, module-install or module-remove."

CommitReport = typing.NamedTuple("CommitReport", [
    ("changes", typing.List[Change]), ("skipped", typing.List[Change]), ("store_commits", int),
    ("subs_writes", int), ("rebuilds", int)])
CommitReport.__doc__ = """What a commit did: ``store_commits`` libsemanage commits (0 or 1),
``subs_writes`` writes of file_contexts.subs, ``rebuilds`` policy rebuilds measured by the store's
commit counter; ``skipped`` lists requested changes that were already in place."""


class UndoRecord(object):
    """The state before a commit, enough to restore it exactly; JSON-friendly via as_dict."""

    def __init__(self, root, policy_type, subs_before=None, subs_touched=False, ports=None,
                 modules=None):
        # type: (str, str, typing.Optional[bytes], bool, list, list) -> None
        self.root = root
        self.policy_type = policy_type
        self.subs_before = subs_before
        self.subs_touched = subs_touched
        self.ports = ports or []      # [(port, proto, previous local context or None)]
        self.modules = modules or []  # [(name, previous (lang_ext, bytes) or None)]

    @property
    def empty(self):
        # type: () -> bool
        return not (self.subs_touched or self.ports or self.modules)

    def describe(self):
        # type: () -> typing.List[str]
        """What this record puts back, one short item each."""
        return (["port {}/{}".format(port, proto) for port, proto, _ in self.ports]
                + ["module {}".format(name) for name, _ in self.modules]
                + (["file_contexts.subs"] if self.subs_touched else []))

    def as_dict(self):
        # type: () -> dict
        def encode(data):
            return None if data is None else base64.b64encode(data).decode("ascii")
        return {
            "root": self.root, "policy_type": self.policy_type,
            "subs_touched": self.subs_touched, "subs_before": encode(self.subs_before),
            "ports": [{"port": p, "proto": proto, "before": before}
                      for p, proto, before in self.ports],
            "modules": [{"name": name, "before": None if before is None else
                         {"lang_ext": before[0], "data": encode(before[1])}}
                        for name, before in self.modules],
        }

    @classmethod
    def from_dict(cls, data):
        # type: (dict) -> UndoRecord
        def decode(text):
            return None if text is None else base64.b64decode(text.encode("ascii"))
        try:
            return cls(data["root"], data["policy_type"], decode(data.get("subs_before")),
                       bool(data.get("subs_touched")),
                       [(p["port"], p["proto"], p["before"]) for p in data.get("ports", [])],
                       [(m["name"], None if m["before"] is None else
                         (m["before"]["lang_ext"], decode(m["before"]["data"])))
                        for m in data.get("modules", [])])
        except (KeyError, TypeError, ValueError) as exc:
            raise ToolError("the undo record is damaged ({})".format(exc))


def store_backend_name(policy_root):
    # type: (PolicyRoot) -> str
    """Which backend commits the store under ``policy_root`` (for --verbose)."""
    if binding_available():
        return "libsemanage (Python binding)"
    return "one {} command (no semanage Python binding here)".format(
        "semanage import" if policy_root.is_live else "semodule -p ROOT")


def _open_store(policy_root):
    # type: (PolicyRoot) -> typing.Any
    """A begun store transaction: the binding's where importable, else the CLI's."""
    store = LibsemanageStore(policy_root) if binding_available() else CliStore(policy_root)
    try:
        store.begin()
    except BaseException:
        store.close()
        raise
    return store


def _isolated(func, *args):
    """``func(*args)``, in a child process when libsemanage is used (see _in_child_process)."""
    if binding_available():
        return _in_child_process(func, *args)
    return func(*args)


def _in_child_process(func, *args):
    """Run ``func(*args)`` in a forked process and return its result (or raise its ToolError).

    libsemanage fixes its store paths in static variables the first time a process connects
    (``semanage_check_init``), so one process can only ever work on one store root. Each
    store transaction therefore runs in its own short-lived child: any number of roots (the
    live one, offline copies, one per test) can be used from one program. The child never
    outlives this process: it dies with it (prctl), and is killed when this process is
    interrupted (Ctrl-C) while waiting for it.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    guard = dies_with_this_process()
    read_end, write_end = os.pipe()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])  # none until set up
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:  # pragma: no cover - runs in the child, results travel through the pipe
        _worker(guard, mask, read_end, write_end, func, args)
    try:
        os.close(write_end)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        os.waitpid(pid, 0)
    except BaseException:  # e.g. KeyboardInterrupt: no commit goes on without this process
        _kill_and_reap(pid)
        raise
    if not data:
        raise ToolError("the policy store worker died without an answer")
    kind, value = pickle.loads(data)
    if kind == "ok":
        return value
    if kind == "tool":
        raise ToolError(value[0], hint=value[1], exit_code=value[2])
    raise RuntimeError("policy store worker failed: {}".format(value))


def _worker(guard, mask, read_end, write_end, func, args):  # pragma: no cover - in the child
    """The forked child of _in_child_process: answers through the pipe, never returns."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it with the tool
        guard()
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(read_end)
        try:
            outcome = ("ok", func(*args))
        except ToolError as exc:
            outcome = ("tool", (exc.args[0] if exc.args else str(exc), exc.hint, exc.exit_code))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            outcome = ("error", "{}: {}".format(type(exc).__name__, exc))
        try:
            data = pickle.dumps(outcome)
        except Exception as exc:  # noqa: BLE001
            data = pickle.dumps(("error", "unpicklable result: {}".format(exc)))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(0)


def _kill_and_reap(pid):
    # type: (int) -> None
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:  # already reaped
        pass


def installed_module(policy_root, name):
    # type: (PolicyRoot, str) -> typing.Optional[typing.Tuple[str, bytes]]
    """(lang_ext, bytes) of the highest-priority installed module ``name``, or None."""
    found = sorted(glob.glob(os.path.join(policy_root.store_dir, "active", "modules", "[0-9]*",
                                          name)))
    for directory in reversed(found):
        if os.path.isdir(directory) and os.path.exists(os.path.join(directory, "hll")):
            try:
                with open(os.path.join(directory, "lang_ext")) as handle:
                    lang_ext = handle.read().strip() or "pp"
            except FileNotFoundError:
                lang_ext = "pp"
            with open(os.path.join(directory, "hll"), "rb") as handle:
                data = handle.read()
            if data.startswith(b"BZh"):
                data = bz2.decompress(data)
            return lang_ext, data
    return None


class _StoreView(object):
    """The store as its files say, read only: lets _apply_store plan a commit without one."""

    def __init__(self, policy_root):
        # type: (PolicyRoot) -> None
        self._records = read_local_ports(policy_root)

    def local_port(self, port, proto):
        # type: (int, str) -> typing.Optional[str]
        for record in self._records:
            if record.proto == proto and record.low == port == record.high:
                return record.context
        return None

    def set_port(self, *args):
        """Planning only: nothing is changed."""

    install_module_file = remove_module = set_port


def outstanding(undo, policy_root):
    # type: (UndoRecord, PolicyRoot) -> UndoRecord
    """The part of ``undo`` the store still differs from: what a revert really has to put back
    (all of it after a commit, none of it when an interrupted commit never reached the store)."""
    if (undo.ports or undo.modules) and not os.path.isdir(
            os.path.join(policy_root.store_dir, "active")):
        raise ToolError("the policy store {} has no active/ directory".format(
            policy_root.store_dir), hint="an interrupted commit left it mid-rename: move "
            "previous/ back to active/, then undo again")
    view = _StoreView(policy_root)
    subs = undo.subs_touched and SubsFile(policy_root).original != undo.subs_before
    return UndoRecord(
        undo.root, undo.policy_type, undo.subs_before if subs else None, subs,
        [p for p in undo.ports if view.local_port(p[0], p[1]) != p[2]],
        [m for m in undo.modules if installed_module(policy_root, m[0]) != m[1]])


def module_name(path):
    # type: (str) -> str
    """libsemanage names a module after its file: ``/x/postfix_sub.pp`` -> ``postfix_sub``."""
    base = os.path.basename(path)
    return base.rsplit(".", 1)[0] if "." in base else base


class PolicyTransaction(object):
    """Collect store changes, then :meth:`commit` them at once (or not at all)."""

    def __init__(self, root="/", policy_type=None):
        # type: (typing.Any, typing.Optional[str]) -> None
        self.policy_root = root if isinstance(root, PolicyRoot) else PolicyRoot(root, policy_type)
        self._subs = SubsFile(self.policy_root)
        self._equivalences = []  # type: typing.List[Equivalence]
        self._ports = []  # type: typing.List[typing.Tuple[int, str, str]]
        self._modules = []  # type: typing.List[typing.Tuple[str, str, typing.Optional[str]]]
        self._skipped = []  # type: typing.List[Change]
        self._planned = None  # type: typing.Optional[UndoRecord]
        self.undo_record = None  # type: typing.Optional[UndoRecord]
        self.report = None  # type: typing.Optional[CommitReport]

    @property
    def backend_name(self):
        # type: () -> str
        """Which backend commits the store (the binding, or one semanage/semodule command)."""
        return store_backend_name(self.policy_root)

    # -- collecting ---------------------------------------------------------------------------
    def add_equivalence(self, parent, child):
        # type: (str, str) -> bool
        """``semanage fcontext -a -e PARENT CHILD``; False when it already exists."""
        item = Equivalence(parent, child)
        if item in self._equivalences:
            return False
        if not check_equivalence(self._subs, self.policy_root, item, self._equivalences):
            self._skipped.append(Change("equivalence", child, parent))
            return False
        self._equivalences.append(item)
        return True

    def add_port(self, port, proto, setype):
        # type: (int, str, str) -> None
        """Label ``port/proto`` with ``setype`` (a local record; checked against the store)."""
        if proto not in PROTOCOLS:
            raise ToolError("unsupported protocol {!r}".format(proto))
        if not 1 <= int(port) <= 65535:
            raise ToolError("port {} is out of range".format(port))
        self._ports.append((int(port), proto, setype))

    def install_module(self, path):
        # type: (str) -> str
        """Install the compiled module file ``path`` (.pp or .cil); returns the module name."""
        if not os.path.isfile(path):
            raise ToolError("policy module file {} does not exist".format(path))
        name = module_name(path)
        self._modules.append(("install", name, os.path.abspath(path)))
        return name

    def remove_module(self, name):
        # type: (str) -> None
        self._modules.append(("remove", name, None))

    def pending(self):
        # type: () -> typing.List[Change]
        """Changes requested so far (before checking the store for ones already in place)."""
        changes = [Change("equivalence", e.child, e.parent) for e in self._equivalences]
        changes += [Change("port", "{}/{}".format(p, proto), t) for p, proto, t in self._ports]
        changes += [Change("module-" + action, name, path or "")
                    for action, name, path in self._modules]
        return changes

    # -- committing ---------------------------------------------------------------------------
    def _port_context(self, setype):
        # type: (str) -> str
        mls = ":s0" if _policy_is_mls(self.policy_root) else ""
        return "system_u:object_r:{}{}".format(setype, mls)

    def planned_undo(self):
        # type: () -> UndoRecord
        """The undo record :meth:`commit` will make, from the store as it is now, changing
        nothing; the commit then refuses to run if the store no longer matches it."""
        undo = UndoRecord(self.policy_root.root, self.policy_root.policy_type)
        self._apply_store(_StoreView(self.policy_root), undo, [])
        if self._equivalences:
            undo.subs_before, undo.subs_touched = self._subs.original, True
        self._planned = undo
        return undo

    def commit(self):
        # type: () -> CommitReport
        """Apply everything in one store transaction; a no-op run touches nothing."""
        if self.report is not None:
            raise ToolError("this transaction was already committed")
        rebuild_before = self.policy_root.commit_number()
        if self._ports or self._modules:
            changes, skipped, undo, store_commits, subs_writes = _isolated(self._commit)
        else:
            changes, skipped, undo, store_commits, subs_writes = self._commit()
        self.undo_record = undo
        self.report = CommitReport(changes, skipped, store_commits, subs_writes,
                                   self.policy_root.commit_number() - rebuild_before)
        return self.report

    def _commit(self):
        """The commit itself (in a child process whenever libsemanage is involved)."""
        undo = UndoRecord(self.policy_root.root, self.policy_root.policy_type)
        changes = [Change("equivalence", e.child, e.parent) for e in self._equivalences]
        skipped = list(self._skipped)
        store = None
        store_commits = subs_writes = 0
        try:
            if self._ports or self._modules:
                store = _open_store(self.policy_root)
                changes += self._apply_store(store, undo, skipped)
                planned = self._planned
                if planned is not None and (undo.ports, undo.modules) != (
                        planned.ports, planned.modules):
                    raise ToolError("the policy store changed since this run journalled its "
                                    "plan; nothing was committed", hint="run it again")
            if self._equivalences:
                undo.subs_before, undo.subs_touched = self._subs.original, True
                write_atomically(self._subs.path, self._subs.render(self._equivalences))
                subs_writes = 1
            if store is not None and (undo.ports or undo.modules):
                store.commit()
                store_commits = 1
        except BaseException:
            if undo.subs_touched:
                write_atomically(self._subs.path, undo.subs_before)
            raise
        finally:
            if store is not None:
                store.close()
        return changes, skipped, undo, store_commits, subs_writes

    def _apply_store(self, store, undo, skipped):
        # type: (typing.Any, UndoRecord, typing.List[Change]) -> typing.List[Change]
        changes = []
        for port, proto, setype in self._ports:
            wanted = self._port_context(setype)
            before = store.local_port(port, proto)
            change = Change("port", "{}/{}".format(port, proto), setype)
            if before is not None and before.split(":")[2] == setype:
                skipped.append(change)
                continue
            if before is not None:
                raise ToolError("port {}/{} already has the local label {}".format(
                    port, proto, before.split(":")[2]),
                    hint="remove it with: semanage port -d -p {} {}".format(proto, port))
            store.set_port(port, proto, wanted)
            undo.ports.append((port, proto, before))
            changes.append(change)
        for action, name, path in self._modules:
            before = installed_module(self.policy_root, name)
            change = Change("module-" + action, name, path or "")
            if action == "install":
                with open(path, "rb") as handle:
                    data = handle.read()
                if before is not None and before[1] == (
                        bz2.decompress(data) if data.startswith(b"BZh") else data):
                    skipped.append(change)
                    continue
                store.install_module_file(path)
            else:
                if before is None:
                    skipped.append(change)
                    continue
                store.remove_module(name)
            undo.modules.append((name, before))
            changes.append(change)
        return changes

    # -- undoing ------------------------------------------------------------------------------
    @classmethod
    def outstanding(cls, undo, root=None):
        # type: (UndoRecord, typing.Optional[str]) -> UndoRecord
        """What of ``undo`` the store under ``root`` (default: the record's) still holds."""
        return outstanding(undo, PolicyRoot(root or undo.root, undo.policy_type))

    @classmethod
    def revert(cls, undo, root=None):
        # type: (UndoRecord, typing.Optional[str]) -> CommitReport
        """Put back the state recorded in ``undo`` (one store transaction, like a commit), as
        far as the store still differs from it: see :meth:`outstanding`."""
        policy_root = PolicyRoot(root or undo.root, undo.policy_type)
        undo = outstanding(undo, policy_root)
        rebuild_before = policy_root.commit_number()
        changes, store_commits, subs_writes = [], 0, 0
        if undo.ports or undo.modules:
            changes = _isolated(_revert_store, policy_root, undo)
            store_commits = 1
        if undo.subs_touched:
            write_atomically(policy_root.subs_path, undo.subs_before)
            subs_writes = 1
            changes.append(Change("equivalence-restore", policy_root.subs_path, ""))
        return CommitReport(changes, [], store_commits, subs_writes,
                            policy_root.commit_number() - rebuild_before)


def _revert_store(policy_root, undo):
    # type: (PolicyRoot, UndoRecord) -> typing.List[Change]
    """Store half of a revert: previous port records and modules, in one transaction."""
    changes = []
    workdir = tempfile.mkdtemp(prefix="postmulti-selinux-undo-")
    try:
        store = _open_store(policy_root)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    try:
        for port, proto, before in undo.ports:
            store.set_port(port, proto, before)
            changes.append(Change("port", "{}/{}".format(port, proto), before or ""))
        for name, before in undo.modules:
            if before is None:
                store.remove_module(name)
            else:
                saved = os.path.join(workdir, "{}.{}".format(name, before[0]))
                with open(saved, "wb") as handle:
                    handle.write(before[1])
                store.install_module_file(saved)
            changes.append(Change("module-restore", name, "" if before else "removed"))
        store.commit()
    finally:
        store.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return changes


def _policy_is_mls(policy_root):
    # type: (PolicyRoot) -> bool
    """MLS/MCS policies carry a level in every context; read it off the file contexts."""
    try:
        with open(policy_root.file_contexts) as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 2 and fields[-1].count(":") >= 2 and not line.startswith("#"):
                    return fields[-1].count(":") >= 3
    except (IOError, OSError):
        pass
    return True
