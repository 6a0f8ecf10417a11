"""The concrete actions of a secure-child plan, in the order they run.

Postfix configuration actions change files through the Postfix manager (backed up, atomic) and
undo by restoring the exact prior bytes; staged actions join the run's single policy
transaction, committed by CommitPolicy; the rest act on the file system or the services.
"""

import base64
import os
import pwd
import shutil
import stat
import typing

from postmulti_selinux.errors import ToolError
from postmulti_selinux.plan.action import Action
from postmulti_selinux.postfix import files as postfix_files
from postmulti_selinux.postfix import layout
from postmulti_selinux.postfix.manage import parse_listener_spec
from postmulti_selinux.selinux import (
    ExpectedLabels, PolicyTransaction, UndoRecord, read_label, relabel)


def _encode(data):
    return None if data is None else base64.b64encode(data).decode("ascii")


def _decode(text):
    return None if text is None else base64.b64decode(text.encode("ascii"))


class ConfigAction(Action):
    """An edit of Postfix configuration files; undo restores each file's exact prior bytes."""

    def __init__(self, title, reason, name, watched):
        super(ConfigAction, self).__init__(title, reason)
        self.name = name
        self.watched = watched  # paths this action may change
        self.config_dir = os.path.dirname(watched[0]) if watched else None
        self._verdict = None  # type: typing.Optional[bool]

    def satisfied(self, ctx):
        """Decided once, from the configuration as it was before this run's first edit (the
        report and the apply ask the same question): a child's config actions edit different
        settings, so one's edit never decides another's."""
        if self._verdict is None:
            self._verdict = bool(self.holds(ctx))
        return self._verdict

    def holds(self, ctx):
        # type: (typing.Any) -> bool
        """Whether the configuration already is as this action leaves it."""
        raise NotImplementedError

    def current(self, ctx):
        """The child as its configuration says now (read alone: two postconf runs)."""
        return ctx.manager.read_child(self.config_dir)

    def snapshot(self, ctx):
        return {"files": dict((path, _encode(postfix_files.read_bytes(path)))
                              for path in self.watched)}

    @classmethod
    def _differing(cls, data):
        """The journalled files whose bytes differ now, and the created directories still there."""
        files = [(path, _decode(text)) for path, text in sorted(data.get("files", {}).items())
                 if postfix_files.read_bytes(path) != _decode(text)]
        return files, [path for path in data.get("created", []) if os.path.lexists(path)]

    @staticmethod
    def _outcome(files, created):
        if files or created:
            return {"reversed": True}
        return {"reversed": False, "detail": "the files are already as they were"}

    @classmethod
    def preview(cls, ctx, data):
        """What :meth:`undo` would report, changing nothing."""
        return cls._outcome(*cls._differing(data))

    @classmethod
    def undo(cls, ctx, data):
        files, created = cls._differing(data)
        for path, before in files:
            if before is None:
                os.unlink(path)
            else:
                postfix_files.atomic_write(path, before)
        for path in reversed(created):
            shutil.rmtree(path, ignore_errors=True)
        for path in data.get("backups", []):
            if os.path.exists(path):
                os.unlink(path)  # the journal holds the prior bytes; leave no trace behind
        return cls._outcome(files, created)


def _change_data(change):
    """What undo needs from a Postfix manager Change beyond the snapshot: its backup files."""
    return {"backups": [edit.backup for edit in change.edits if edit.backup],
            "created": list(change.created)}


def _child_files(child, *names):
    # type: (typing.Any, str) -> typing.List[str]
    """The child's configuration files an action may change (default: main.cf and master.cf);
    the journal keeps their prior bytes, so an action names only those it edits."""
    return [os.path.join(child.config_directory, name)
            for name in names or ("main.cf", "master.cf")]


class CreateChild(ConfigAction):
    kind = "create-child"

    def __init__(self, name, group, parent_main_cf):
        super(CreateChild, self).__init__(
            "create Postfix child instance {}".format(name),
            "--create was given and {} is not in multi_instance_directories".format(name),
            name, [parent_main_cf])
        self.group = group

    def holds(self, ctx):
        return any(c.matches(self.name) for c in ctx.manager.host().children)

    def apply(self, ctx):
        change = ctx.manager.create(self.name, group=self.group, tolerate_set_permissions=True)
        if "postmulti reported" in change.description:
            ctx.log(change.description)
        return _change_data(change)


class SetListener(ConfigAction):
    kind = "set-listener"

    def __init__(self, child, spec):
        super(SetListener, self).__init__(
            "{}: SMTP listener {}".format(child.label, spec),
            "the child must accept mail on {} instead of the parent's smtp port".format(spec),
            child.name, _child_files(child, "master.cf"))
        self.spec = spec

    def holds(self, ctx):
        service = parse_listener_spec(self.spec)
        child = self.current(ctx)
        smtpd = [e for e in child.master_entries if e.type == "inet" and e.command == "smtpd"]
        return (any(e.service == service for e in smtpd)
                and not any(e.service == "smtp" for e in smtpd))

    def apply(self, ctx):
        return _change_data(ctx.manager.set_listener(self.name, self.spec))


class ClearServiceDisable(ConfigAction):
    kind = "clear-master-service-disable"

    def __init__(self, child):
        super(ClearServiceDisable, self).__init__(
            "{}: remove inet from master_service_disable".format(child.label),
            "postmulti creates children with master_service_disable = inet, so none of their "
            "inet listeners would ever open", child.name, _child_files(child, "main.cf"))

    def holds(self, ctx):
        child = self.current(ctx)
        return not any(t == "inet" or t.endswith("/inet") for t in child.master_service_disable)

    def apply(self, ctx):
        return _change_data(ctx.manager.clear_master_service_disable(self.name))


class EnableChild(ConfigAction):
    kind = "enable-child"
    batched = True

    def __init__(self, child):
        super(EnableChild, self).__init__(
            "{}: multi_instance_enable = yes".format(child.label),
            "only enabled children start with the parent under the service manager",
            child.name, _child_files(child, "main.cf"))

    def holds(self, ctx):
        return self.current(ctx).enabled

    def apply(self, ctx):
        return _change_data(ctx.manager.enable(self.name))

    @classmethod
    def apply_together(cls, ctx, actions):
        """Side by side (see Manager.enable_each)."""
        return [outcome if isinstance(outcome, ToolError) else _change_data(outcome)
                for outcome in ctx.manager.enable_each([a.name for a in actions])]


class AddEquivalence(Action):
    """``semanage fcontext -a -e PARENT CHILD``: label CHILD's tree exactly like PARENT's."""
    kind = "fcontext-equivalence"
    staged = True

    def __init__(self, role, parent, child, differences):
        super(AddEquivalence, self).__init__(
            "fcontext equivalence {} = {}".format(child, parent),
            "the policy labels the child's {} differently from the parent's ({})".format(
                role.replace("_", " "), differences))
        self.parent = parent
        self.child = child

    def satisfied(self, ctx):
        from postmulti_selinux.selinux import SubsFile
        return SubsFile(ctx.policy_root).substitute_of(self.child) == self.parent

    def apply(self, ctx):
        ctx.transaction.add_equivalence(self.parent, self.child)
        return {}

    def as_dict(self):
        data = super(AddEquivalence, self).as_dict()
        data.update(parent=self.parent, child=self.child)
        return data


class AddPortLabel(Action):
    """``semanage port -a -t TYPE -p tcp PORT``, only where the policy denies the bind."""
    kind = "port-label"
    staged = True

    def __init__(self, decision):
        super(AddPortLabel, self).__init__(
            "label port {}/{} {}".format(decision.port, decision.proto, decision.new_type),
            decision.reason)
        self.decision = decision

    def satisfied(self, ctx):
        return False  # the decision was taken against the current policy: it is needed

    def apply(self, ctx):
        d = self.decision
        ctx.transaction.add_port(d.port, d.proto, d.new_type)
        return {}

    def as_dict(self):
        data = super(AddPortLabel, self).as_dict()
        data.update(port=self.decision.port, proto=self.decision.proto,
                    type=self.decision.new_type, current_type=self.decision.port_type)
        return data


class CommitPolicy(Action):
    """Commit every staged store change of the run at once: one policy rebuild at most.

    The snapshot journals the planned undo record before the commit, so a run killed during
    it can be undone; undo reverses only what the store really holds of it, and says so."""
    kind = "commit-policy"

    def __init__(self, count, title=None):
        # type: (int, typing.Optional[str]) -> None
        super(CommitPolicy, self).__init__(
            title or "commit {} policy change(s) in one transaction".format(count),
            "one rebuild per run, and one undo record for all of it")

    def snapshot(self, ctx):
        return {"planned": ctx.transaction.planned_undo().as_dict()}

    def apply(self, ctx):
        meter = ctx.meter("commit")
        if meter is not None:
            meter.begin()
        report = ctx.transaction.commit()
        if meter is not None:
            meter.done()
        ctx.log("policy store: {} change(s), {} rebuild(s)".format(len(report.changes),
                                                                    report.rebuilds))
        return {"undo_record": ctx.transaction.undo_record.as_dict(),
                "rebuilds": report.rebuilds, "planned": None}  # the record replaces the plan

    @classmethod
    def _outstanding(cls, ctx, data):
        """What of the journalled record the store holds now; None: no record was journalled."""
        record = data.get("undo_record") or data.get("planned")
        if not record:
            return None
        return PolicyTransaction.outstanding(UndoRecord.from_dict(record),
                                             root=ctx.policy_root.root)

    @staticmethod
    def _outcome(left):
        if left is None:
            return {"reversed": False, "detail": "no undo record in the journal (an earlier "
                    "version's interrupted commit): check the store by hand"}
        if left.empty:
            return {"reversed": False, "detail": "the store does not hold this change"}
        return {"reversed": True, "detail": ", ".join(left.describe())}

    @classmethod
    def preview(cls, ctx, data):
        """What :meth:`undo` would report, changing nothing."""
        return cls._outcome(cls._outstanding(ctx, data))

    @classmethod
    def undo(cls, ctx, data):
        left = cls._outstanding(ctx, data)
        if left is not None and not left.empty:
            PolicyTransaction.revert(left, root=ctx.policy_root.root)
        return cls._outcome(left)


class RelabelChild(Action):
    """restorecon -R of the child's trees, in process, touching only files that differ."""
    kind = "relabel"

    def __init__(self, pairs, count):
        # type: (typing.List[typing.Tuple[str, str]], int) -> None
        """``pairs``: (parent_dir, child_dir) system paths; the child dirs are relabeled."""
        self.pairs = list(pairs)
        self.paths = [child for _, child in self.pairs]
        super(RelabelChild, self).__init__(
            "relabel {}".format(", ".join(self.paths)),
            "{} path(s) do not carry the label of the parent's corresponding path".format(count)
            if count else "the equivalences change what the policy says for these trees")

    def satisfied(self, ctx):
        return not wrong_labels(ctx.policy_root, self.pairs)

    def snapshot(self, ctx):
        return {"paths": list(self.paths)}

    def apply(self, ctx):
        result = relabel(self.paths, ctx.policy_root, progress=ctx.meter("relabel"))
        ctx.log("relabel: {} of {} file(s) changed".format(result.changed, result.examined))
        if result.errors:
            raise ToolError("relabel failed for {} file(s), first: {}".format(
                len(result.errors), result.errors[0]))
        return {"changed": result.changed}

    @classmethod
    def undo(cls, ctx, data):
        # Runs after the policy revert (undo goes backwards): restore what the policy says now.
        paths = [p for p in data.get("paths", []) if os.path.exists(ctx.policy_root.path(p))]
        if paths:
            relabel(paths, ctx.policy_root)


# A child path is labeled like the parent's when it carries what the policy gives the parent's
# corresponding path, or what that path really carries on disk: Debian's start script copies
# /etc files into each instance's chroot, where they get etc_runtime_t by type transition in the
# parent's spool and the child's alike.
#
# Queue sub-directories whose entries Postfix daemons create and remove all the time (message
# files, their hash directories' files, deferred logs, pid files). Their labels come from type
# transitions when they are created, not from file_contexts, exactly as in the parent's spool; so
# they do not make a child "mislabeled" (they are still relabeled when a relabel runs).
TRANSIENT_QUEUE_DIRS = ("incoming", "active", "deferred", "defer", "bounce", "hold", "corrupt",
                        "flush", "trace", "maildrop", "saved", "pid")


def wrong_labels(policy_root, pairs):
    """PathLabels of the child trees that differ from the parent's, transient queue files aside."""
    wrong = []
    for label in ExpectedLabels(policy_root).for_child(pairs):
        top = [p for p, _ in pairs if label.parent_path.startswith(p + "/")]
        relative = label.parent_path[len(top[0]):].split("/") if top else []
        transient = any(part in TRANSIENT_QUEUE_DIRS for part in relative[:-1])
        if transient and not os.path.isdir(policy_root.path(label.path)):
            continue
        if label.current and label.current == read_label(policy_root.path(label.parent_path)):
            continue  # exactly what the parent's twin carries (e.g. start-script copies)
        wrong.append(label)
    return wrong


class CompleteQueueLayout(Action):
    """The child's queue and data directories made as postfix-files says (owner, group, mode),
    from the tool's own context, before the relabel labels them: postmulti's set-permissions
    step left them undone, and the start script's own attempt (as postfix_master_t) is denied
    (capability fowner). Undo removes only directories it created (when empty) and puts back
    the owner, group and mode of the ones it changed."""
    kind = "queue-layout"

    def __init__(self, child, entries, problems):
        # type: (object, list, list) -> None
        count = len(set(p.path for p in problems))
        super(CompleteQueueLayout, self).__init__(
            "{}: queue and data directories as postfix-files says ({} to fix)".format(
                child.label, count),
            "postmulti's 'postfix set-permissions' step is denied under SELinux, so the child's "
            "queue layout is left incomplete{}; the start script cannot finish it (postfix_master_t "
            "is denied capability fowner)".format(
                " ({}{})".format(problems[0].line(), " and {} more".format(len(problems) - 1)
                                 if len(problems) > 1 else "") if problems else ""))
        self.entries = entries
        self.problems = [p.line() for p in problems]

    def satisfied(self, ctx):
        return not layout.entry_problems(self.entries)

    def snapshot(self, ctx):
        return {"states": [layout.path_state(e.path) for e in self.entries]}

    def apply(self, ctx):
        result = layout.complete_layout(self.entries)
        ctx.log("queue layout: {} directory(ies) created".format(len(result["created"])))
        return result

    @classmethod
    def undo(cls, ctx, data):
        states = data.get("states", [])
        created = data.get("created")
        if created is None:  # interrupted before apply returned: what did not exist before
            created = [s["path"] for s in states if not s.get("exists")]
        layout.restore_layout(states, created)

    def as_dict(self):
        data = super(CompleteQueueLayout, self).as_dict()
        data["problems"] = list(self.problems)
        return data


class OwnDataDirectory(Action):
    """The data directory owned by mail_owner, mode 0700. No longer planned (CompleteQueueLayout
    covers it); kept so that journals written by earlier versions can still be undone."""
    kind = "data-directory-owner"

    def __init__(self, path, on_disk, mail_owner):
        super(OwnDataDirectory, self).__init__(
            "{}: owner {}, mode 0700".format(path, mail_owner),
            "Postfix daemons running as {} keep their caches there; postmulti's "
            "'postfix set-permissions' step is denied under SELinux before it gets there"
            .format(mail_owner))
        self.on_disk = on_disk
        self.mail_owner = mail_owner

    def _uid(self):
        try:
            return pwd.getpwnam(self.mail_owner).pw_uid
        except KeyError:
            raise ToolError("mail_owner {} is not a user on this host".format(self.mail_owner))

    def satisfied(self, ctx):
        try:
            st = os.lstat(self.on_disk)
        except OSError:
            return False
        return st.st_uid == self._uid() and stat.S_IMODE(st.st_mode) == 0o700

    def snapshot(self, ctx):
        st = os.lstat(self.on_disk)
        return {"path": self.on_disk, "uid": st.st_uid, "gid": st.st_gid,
                "mode": stat.S_IMODE(st.st_mode)}

    def apply(self, ctx):
        os.chown(self.on_disk, self._uid(), -1)
        os.chmod(self.on_disk, 0o700)
        return {}

    @classmethod
    def undo(cls, ctx, data):
        path = data.get("path")
        if path and os.path.exists(path):
            os.chown(path, data["uid"], data["gid"])
            os.chmod(path, data["mode"])
