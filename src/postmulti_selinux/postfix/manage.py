"""Change a multi-instance Postfix host through postmulti and postconf.

Each operation checks first and does nothing when the host is already as asked (no byte
changes), backs up every file before changing it, writes atomically, touches only the named
instance (plus the parent's main.cf for init/create), and returns a ``Change`` that ``undo``
reverts byte for byte. A failed operation restores what it had changed before raising.
"""

import concurrent.futures
import ipaddress
import os
import re
import shutil
import time
import typing

from postmulti_selinux.errors import ToolError
from postmulti_selinux.postfix import files
from postmulti_selinux.postfix.discover import (
    discover, instance_running, parse_master_line, read_instance, split_list, split_service)
from postmulti_selinux.postfix.files import Change, ScratchCopy
from postmulti_selinux.postfix.tools import Postfix

NAME_PREFIX = "postfix-"
MAX_NAME = 200  # a journal file is NAME.json: file systems refuse names over 255 bytes
STOP_TIMEOUT = 30
_SAFE_NAME = re.compile(r"^[A-Za-z0-9!@%\-_=+:.]+$")  # postmulti's safe set, minus "/"
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9\-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9\-]*[A-Za-z0-9])?)*$")


def name_problem(name):
    # type: (str) -> str
    """Why postmulti would refuse ``name`` as a new instance name ("" when it is fine)."""
    if not name:
        return "the instance name is empty"
    if "/" in name:
        return "instance name {!r} contains '/'".format(name)
    if len(name) > MAX_NAME:
        return "instance name {!r}... is longer than {} characters".format(name[:20], MAX_NAME)
    if not _SAFE_NAME.match(name):
        return "instance name {!r} has characters postmulti refuses (allowed: letters, digits, " \
               "!@%-_=+:.)".format(name)
    if not name.startswith(NAME_PREFIX):
        return "instance name {!r} does not start with '{}'".format(name, NAME_PREFIX)
    if name == NAME_PREFIX:
        return "instance name {!r} has nothing after '{}'".format(name, NAME_PREFIX)
    return ""


def check_name(name):
    # type: (str) -> None
    problem = name_problem(name)
    if problem:
        raise ToolError(problem, hint="use a name such as postfix-sub")


def parse_listener_spec(spec):
    # type: (str) -> str
    """Validate ``PORT`` or ``ADDR:PORT`` (``[v6]:PORT``) and return it as a master.cf service."""
    text = (spec or "").strip()
    host, port = split_service(text)
    if not re.match(r"^[0-9]{1,5}$", port) or not 0 < int(port) < 65536:
        raise ToolError("bad listener {!r}: the port must be a number from 1 to 65535".format(spec),
                        hint="give PORT (e.g. 10025) or ADDR:PORT (e.g. 127.0.0.1:10025)")
    port = str(int(port))
    if not host:
        if text.startswith("[") or ":" in text:
            raise ToolError("bad listener {!r}: empty address".format(spec))
        return port
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.match(host):
            raise ToolError("bad listener {!r}: {!r} is neither an IP address nor a host "
                            "name".format(spec, host))
        return "{}:{}".format(host, port)
    if address.version == 6:
        return "[{}]:{}".format(address, port)
    return "{}:{}".format(address, port)


def default_child_dirs(parent, name):
    # type: (object, str) -> dict
    """postmulti's default directories: the parent's, last component replaced by ``name``."""
    def sibling(path):
        return os.path.join(os.path.dirname(path.rstrip("/")) or "/", name)
    return {"config_directory": sibling(parent.config_directory),
            "queue_directory": sibling(parent.queue_directory),
            "data_directory": sibling(parent.data_directory)}


def _stamp(config_dir):
    # type: (str) -> tuple
    """(mtime, size, inode) of main.cf and master.cf: what tells a changed configuration."""
    stamp = []
    for name in ("main.cf", "master.cf"):
        try:
            st = os.stat(os.path.join(config_dir, name))
            stamp.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            stamp.append(None)
    return tuple(stamp)


class Manager(object):
    """Operations on the instances of one parent configuration directory."""

    def __init__(self, config_dir="/etc/postfix", postfix=None):
        # type: (str, Postfix) -> None
        self.postfix = postfix or Postfix(config_dir)
        self._dirs = {}  # type: typing.Dict[str, str]  # child name -> config dir, from host()
        self._read = {}  # type: typing.Dict[str, typing.Tuple[tuple, Instance]]  # dir -> (stamp, child)

    @property
    def parent_main_cf(self):
        # type: () -> str
        return os.path.join(self.postfix.config_dir, "main.cf")

    def host(self):
        settled_ns = int((time.time() - 1) * 1e9)  # files older than this did not change below
        host = discover(postfix=self.postfix)
        self._dirs = dict((c.name, c.config_directory) for c in host.children if c.name)
        for child in host.children:
            stamp = _stamp(child.config_directory)
            if child.name and all(s is None or s[0] < settled_ns for s in stamp):
                self._read[child.config_directory] = (stamp, child)  # unchanged while read
        return host

    def child(self, name):
        """Child ``name``: read alone when an earlier look placed it (a child's name lives in
        its own main.cf), else from a look at the whole host."""
        directory = self._dirs.get(name)
        if directory:
            try:
                child = self.read_child(directory)
            except ToolError:
                child = None
            if child is not None and child.matches(name):
                return child
        return self.host().child(name)

    def read_child(self, config_dir):
        # type: (str) -> Instance
        """The child whose configuration is ``config_dir``, read alone (no whole-host look);
        read again only when its main.cf or master.cf changed since the last read."""
        stamp = _stamp(config_dir)
        known = self._read.get(config_dir)
        if known is not None and known[0] == stamp:
            return known[1]
        child = read_instance(self.postfix, config_dir)
        self._read[config_dir] = (stamp, child)
        return child

    # -- postmulti edits ------------------------------------------------------------------
    def _postmulti_edit(self, description, args, watched, done_anyway=None):
        # type: (str, list, list, typing.Optional[typing.Callable[[], bool]]) -> Change
        """Run ``postmulti ARGS`` after backing up ``watched`` files; undo them on failure,
        unless ``done_anyway()`` says the command did its job despite its exit status."""
        before = dict((path, files.read_bytes(path)) for path in watched)
        backups = dict((path, files.backup_file(path, data))
                       for path, data in before.items() if data is not None)
        try:
            self.postfix.postmulti(args)
        except ToolError as exc:
            if done_anyway is not None and done_anyway():
                description += " (postmulti reported: {})".format(exc)
                return self._edits_since(description, watched, before, backups)
            for path, data in before.items():
                if data is not None and files.read_bytes(path) != data:
                    files.atomic_write(path, data)
            for backup in backups.values():
                os.unlink(backup)
            raise
        return self._edits_since(description, watched, before, backups)

    @staticmethod
    def _edits_since(description, watched, before, backups):
        # type: (str, list, dict, dict) -> Change
        edits = []
        for path in watched:
            after = files.read_bytes(path)
            if after != before[path]:
                edits.append(files.FileEdit(path, before[path], after or b"", backups.get(path)))
            elif path in backups:
                os.unlink(backups[path])
        return Change(description, tuple(edits))

    def initialized(self):
        # type: () -> bool
        return self.host().multi_instance_ready

    def init(self):
        # type: () -> Change
        """``postmulti -e init`` unless the parent already has the wrapper and enable = yes."""
        if self.initialized():
            return Change("multi-instance support already initialised")
        return self._postmulti_edit("postmulti -e init", ["-e", "init"], [self.parent_main_cf])

    def create(self, name, group=None, config_directory=None, queue_directory=None,
               data_directory=None, tolerate_set_permissions=False):
        # type: (str, str, str, str, str, bool) -> Change
        """``postmulti -I NAME [-G GROUP] -e create`` with explicit directories.

        Missing directories default the way postmulti does it (the parent's, last component
        replaced by NAME) but computed from the real parent directory, so an alternate parent
        never leads to directories under the default locations. Runs init first when needed.
        """
        check_name(name)
        if group is not None and group and not _SAFE_NAME.match(group):
            raise ToolError("group name {!r} has characters postmulti refuses".format(group))
        host = self.host()
        wanted = default_child_dirs(host.parent, name)
        for key, value in (("config_directory", config_directory),
                           ("queue_directory", queue_directory),
                           ("data_directory", data_directory)):
            if value:
                if not os.path.isabs(value):
                    raise ToolError("{} must be an absolute path, not {!r}".format(key, value))
                wanted[key] = os.path.normpath(value)
        existing = [c for c in host.children if c.name == name]
        if existing:
            child = existing[0]
            have = {"config_directory": child.config_directory,
                    "queue_directory": child.queue_directory,
                    "data_directory": child.data_directory}
            if have != wanted or (group is not None and child.group != group):
                raise ToolError("instance {} already exists with other settings ({})".format(
                    name, ", ".join("{}={}".format(k, have[k]) for k in sorted(have))),
                    hint="choose another name or pass the existing directories")
            return Change("instance {} already exists".format(name))
        for inst in host.instances:
            for key in ("config_directory", "queue_directory", "data_directory"):
                if getattr(inst, key) and getattr(inst, key) in wanted.values():
                    raise ToolError("{} {} is already used by instance {}".format(
                        key, getattr(inst, key), inst.label))
        init_change = self.init()
        created = tuple(path for path in sorted(set(wanted.values())) if not os.path.exists(path))
        args = ["-I", name]
        if group:
            args += ["-G", group]
        args += ["-e", "create"] + ["{}={}".format(k, wanted[k]) for k in sorted(wanted)]
        def registered_with_config():
            # Under SELinux the create step's "postfix set-permissions" is denied (the child's
            # new directories carry generic labels), so postmulti exits non-zero although the
            # child is registered and configured; the SELinux plan finishes the job.
            return (tolerate_set_permissions and
                    any(c.matches(name) for c in self.host().children) and
                    os.path.isfile(os.path.join(wanted["config_directory"], "main.cf")))

        try:
            change = self._postmulti_edit("postmulti -e create " + name, args,
                                          [self.parent_main_cf], registered_with_config)
        except ToolError:
            for path in created:
                shutil.rmtree(path, ignore_errors=True)
            undo(init_change)
            raise
        return Change("create instance {}".format(name), init_change.edits + change.edits,
                      created)

    def _set_enabled(self, name, enabled):
        # type: (str, bool) -> Change
        child = self.child(name)
        action = "enable" if enabled else "disable"
        if child.enabled == enabled:
            return Change("instance {} already {}d".format(child.label, action))
        return self._postmulti_edit("postmulti -e {} {}".format(action, child.label),
                                    ["-i", child.config_directory, "-e", action],
                                    [os.path.join(child.config_directory, "main.cf")])

    def enable(self, name):
        # type: (str) -> Change
        return self._set_enabled(name, True)

    def disable(self, name):
        # type: (str) -> Change
        return self._set_enabled(name, False)

    def enable_each(self, names):
        # type: (typing.Sequence[str]) -> typing.List[typing.Union[Change, ToolError]]
        """``postmulti -e enable`` for each child, side by side: postmulti reads every
        instance's main.cf and so waits ~2 s for one just written, the previous enable's
        included; run one after another, N children cost 2N seconds. Each child's own
        outcome (a Change, or the ToolError it raised) in the order of ``names``."""
        def enable(name):
            try:
                return self.enable(name)
            except ToolError as exc:
                return exc
        if len(names) < 2:
            return [enable(name) for name in names]
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(32, len(names))) as pool:
            return list(pool.map(enable, names))

    # -- postconf edits on a scratch copy -------------------------------------------------
    def _known(self, name):
        # type: (str) -> Instance
        """Child ``name`` as last read, for what an edit cannot change (its directory and
        label): an edit reads the files it decides on from its scratch copy, not from the live
        directory, where postconf would wait for a main.cf written seconds ago to settle."""
        known = self._read.get(self._dirs.get(name, ""))
        if known is not None and known[1].matches(name):
            return known[1]
        return self.child(name)

    def _postconf_edit(self, config_dir, decide):
        # type: (str, typing.Callable[[str], typing.Tuple[str, list]]) -> Change
        """``decide(scratch)`` reads the scratch copy and says (description, postconf argument
        lists); the lists are applied to the copy and the files that changed are committed."""
        with ScratchCopy(config_dir) as scratch:
            description, steps = decide(scratch.path)
            for args in steps:
                self.postfix.postconf(args, scratch.path)
            edits = []
            done = []
            try:
                for name in ("main.cf", "master.cf"):
                    path = os.path.join(config_dir, name)
                    before = files.read_bytes(path)
                    after = scratch.read(name)
                    if steps and before != after:
                        edits.append(files.commit(path, before, after))
                        done.append(edits[-1])
            except ToolError:
                for edit in reversed(done):
                    files.restore(edit)
                raise
        return Change(description, tuple(edits))

    def set_main(self, name, settings):
        # type: (str, dict) -> Change
        """Set main.cf parameters of one child (``postconf -e``); no change if already set."""
        child = self._known(name)

        def decide(scratch):
            current = self.postfix.explicit_params(scratch)
            todo = ["{} = {}".format(k, v) for k, v in sorted(settings.items())
                    if current.get(k) != str(v).strip() or k not in current]
            if not todo:
                return "{}: main.cf already has {}".format(
                    child.label, ", ".join(sorted(settings))), []
            return "{}: postconf -e {}".format(child.label, "; ".join(todo)), [["-e"] + todo]
        return self._postconf_edit(child.config_directory, decide)

    def clear_master_service_disable(self, name):
        # type: (str) -> Change
        """Drop the ``inet`` entries of master_service_disable (comment it out when empty)."""
        child = self._known(name)

        def decide(scratch):
            current = self.postfix.explicit_params(scratch)
            value = current.get("master_service_disable", "")
            tokens = split_list(value)
            keep = [t for t in tokens if t != "inet" and not t.endswith("/inet")]
            if "master_service_disable" not in current or (keep == list(tokens)):
                return "{}: master_service_disable does not disable inet services".format(
                    child.label), []
            step = ["-e", "master_service_disable = " + " ".join(keep)] if keep else [
                "-#", "master_service_disable"]
            return "{}: clear master_service_disable = {}".format(child.label, value), [step]
        return self._postconf_edit(child.config_directory, decide)

    def set_listener(self, name, spec):
        # type: (str, str) -> Change
        """Make the child's SMTP listener ``PORT`` or ``ADDR:PORT``.

        Renames the default ``smtp inet`` entry (or the SMTP listener set earlier) with
        ``postconf -F``, keeping its other fields (postconf moves the renamed line to the end of
        master.cf); a no-op when it already listens there.
        """
        service = parse_listener_spec(spec)
        child = self._known(name)

        def decide(scratch):
            entries = [parse_master_line(line) for line in self.postfix.master_lines(scratch)]
            inet_smtpd = [e for e in entries if e.type == "inet" and e.command == "smtpd"]
            if any(e.service == service for e in inet_smtpd):
                stale = [e for e in inet_smtpd if e.service == "smtp"]
                if not stale:
                    return "{}: already listening on {}".format(child.label, service), []
                return "{}: comment out {}".format(child.label, stale[0].key), [
                    ["-M", "-#", stale[0].key]]
            if any(e.service == service and e.type == "inet" for e in entries):
                raise ToolError("{}: master.cf already uses {} for another service".format(
                    child.label, service))
            target = [e for e in inet_smtpd if e.service == "smtp"] or [
                e for e in inet_smtpd if e.service not in ("submission", "smtps", "submissions")]
            if not target:
                raise ToolError("{}: master.cf has no smtpd inet service to move".format(
                    child.label), hint="add one, e.g. postconf -c {} -Me '{}/inet = {} inet n - "
                                       "n - - smtpd'".format(child.config_directory, service,
                                                             service))
            return "{}: listen on {} instead of {}".format(
                child.label, service, target[0].service), [
                ["-F", "{}/service = {}".format(target[0].key, service)]]
        return self._postconf_edit(child.config_directory, decide)

    # -- run state ----------------------------------------------------------------------------
    def status(self, name):
        # type: (str) -> bool
        """True when the child's master process is running (``postfix status``)."""
        return self._running(self.child(name))

    def start(self, name):
        # type: (str) -> Change
        """``postmulti -i NAME -p start``; refuses a disabled child (postmulti would only check it)."""
        child = self.child(name)
        if not child.enabled:
            raise ToolError("instance {} is disabled: 'postmulti -p start' would only run "
                            "'postfix check' on it".format(child.label),
                            hint="enable it first: postmulti -i {} -e enable".format(child.label))
        if self._running(child):
            return Change("{} already running".format(child.label))
        self.postfix.postmulti(["-i", child.config_directory, "-p", "start"])
        return Change("start {}".format(child.label))

    def stop(self, name):
        # type: (str) -> Change
        """Stop the child (``postmulti -p stop``; ``postfix -c DIR stop`` when it is disabled)."""
        child = self.child(name)
        if not self._running(child):
            return Change("{} not running".format(child.label))
        pid = instance_running(child)
        if child.enabled:
            self.postfix.postmulti(["-i", child.config_directory, "-p", "stop"])
        else:
            self.postfix.postfix(child.config_directory, ["stop"])
        deadline = time.time() + STOP_TIMEOUT
        while pid and os.path.exists("/proc/{}".format(pid)) and time.time() < deadline:
            time.sleep(0.1)  # "postfix stop" returns before master has closed its sockets
        return Change("stop {}".format(child.label))

    def _running(self, child):
        # type: (object) -> bool
        return self.postfix.postfix(child.config_directory, ["status"], check=False).returncode == 0


def undo(change):
    # type: (Change) -> None
    """Revert a Change: files back to their old bytes, created directories removed."""
    for edit in reversed(change.edits):
        files.restore(edit)
    for path in reversed(change.created):
        shutil.rmtree(path, ignore_errors=True)
