"""A child's queue and data directories as Postfix's own ``postfix-files`` describes them.

``postmulti -e create`` ends with ``postfix set-permissions`` (post-install), which reads
``$meta_directory/postfix-files`` and ``postfix-files.d/*`` (records
``path:type:owner:group:mode:flags``) and makes each directory with its owner, group and mode.
Under SELinux that step is denied, so a new child's queue is left incomplete. This module reads
the same records for one instance (its own postconf values expand the ``$names``), keeps the
directories under its queue_directory and data_directory (nothing shared: no executables, no
configuration files), says what is missing or wrong, and makes it right as post-install would.
``child_start_problems`` adds ``postfix check`` and master.cf's daemons: whether a child can
start at all, asked before the service manager restarts it.
"""

import errno
import grp
import os
import pwd
import re
import stat
import typing
from typing import List, NamedTuple

from postmulti_selinux.errors import ToolError
from postmulti_selinux.postfix.discover import read_instance, service_disabled

PARAMS = ("config_directory", "meta_directory", "queue_directory", "data_directory",
          "mail_owner", "setgid_group")
_NAME = re.compile(r"\$(\{(\w+)\}|(\w+))")


class Record(NamedTuple):
    """One postfix-files line, fields as written ("-" made empty); ``source`` is file:line."""
    path: str
    type: str
    owner: str
    group: str
    mode: str
    flags: str
    source: str


class ExpectedDir(NamedTuple):
    """A directory post-install would make; ``gid`` (``mode``) -1: the group (mode) is kept."""
    path: str
    uid: int
    gid: int
    mode: int
    owner: str
    group: str
    flags: str
    source: str

    def describe(self):
        # type: () -> str
        mode = "{:04o}".format(self.mode) if self.mode != -1 else "-"
        return "{}:{} {}".format(self.owner, self.group or "-", mode)


class LayoutProblem(NamedTuple):
    """``kind`` is missing, not-a-directory, owner, group or mode."""
    path: str
    kind: str
    expected: str
    actual: str
    entry: ExpectedDir

    def line(self):
        # type: () -> str
        if self.kind == "missing":
            return "{} is missing (postfix-files: {})".format(self.path, self.entry.describe())
        if self.kind == "not-a-directory":
            return "{} is not a directory".format(self.path)
        return "{} has {} {} instead of {}".format(self.path, self.kind, self.actual,
                                                    self.expected)


def parse_records(text, source="postfix-files"):
    # type: (str, str) -> List[Record]
    """The records of one postfix-files text; like post-install, only paths starting with $."""
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith("$"):
            continue  # comments, blank lines, literal paths (post-install skips them too)
        fields = (line.split(":") + [""] * 6)[:6]
        fields = ["" if f.strip() == "-" else f.strip() for f in fields]
        records.append(Record(*fields, source="{}:{}".format(source, number)))
    return records


def postfix_files_paths(meta_directory):
    # type: (str) -> List[str]
    """postfix-files, then every file below postfix-files.d in sorted order (as post-install)."""
    paths = [os.path.join(meta_directory, "postfix-files")]
    extra = os.path.join(meta_directory, "postfix-files.d")
    found = []
    for top, dirs, names in os.walk(extra):
        found.extend(os.path.join(top, n) for n in names if os.path.isfile(os.path.join(top, n)))
    return paths + sorted(found)


def read_records(meta_directory):
    # type: (str) -> List[Record]
    records = []
    for path in postfix_files_paths(meta_directory):
        try:
            with open(path) as handle:
                text = handle.read()
        except (IOError, OSError) as exc:
            raise ToolError("cannot read {}: {}".format(path, exc.strerror or exc),
                            hint="reinstall the postfix package (its meta files are missing)")
        records.extend(parse_records(text, path))
    return records


def expand(text, values):
    # type: (str, dict) -> str
    """``$name``/``${name}`` replaced from ``values``; KeyError names an unknown one."""
    return _NAME.sub(lambda m: values[m.group(2) or m.group(3)], text)


def _names(records):
    # type: (List[Record]) -> set
    names = set(PARAMS)
    for record in records:
        for field in (record.path, record.owner, record.group):
            names.update(m.group(2) or m.group(3) for m in _NAME.finditer(field))
    return names


def instance_values(postfix, config_dir, names):
    # type: (object, str, set) -> dict
    """postconf -x values of ``names`` for one instance (names postconf does not know omitted)."""
    values = {}
    for line in postfix.postconf(["-x"] + sorted(names), config_dir).splitlines():
        name, sep, value = line.partition("=")
        if sep:
            values[name.strip()] = value.strip()
    missing = [n for n in PARAMS if n not in values]
    if missing:
        raise ToolError("postconf did not report {} for {}".format(", ".join(missing), config_dir))
    return values


def _within(path, top):
    # type: (str, str) -> bool
    return bool(top) and (path == top or path.startswith(top.rstrip("/") + "/"))


def _uid(name):
    # type: (str) -> int
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        raise ToolError("postfix-files names the user {} but there is no such user".format(name),
                        hint="check mail_owner in main.cf")


def _gid(name):
    # type: (str) -> int
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ToolError("postfix-files names the group {} but there is no such group".format(name),
                        hint="check setgid_group in main.cf")


def expected_directories(postfix, child, records=None):
    # type: (object, object, List[Record]) -> List[ExpectedDir]
    """The directories under ``child``'s queue_directory and data_directory, in file order.

    ``child`` is an Instance or a configuration directory; ``postfix`` the tools wrapper. The
    records come from the child's own $meta_directory unless given. Owner "-" is root, group
    "-" keeps the group; obsolete ("o") records are skipped, as are optional ("1"/"i") ones
    that do not exist (post-install's rule for a non-default instance)."""
    config_dir = getattr(child, "config_directory", child)
    values = instance_values(postfix, config_dir, set(PARAMS))
    if records is None:
        records = read_records(values["meta_directory"])
    extra = _names(records) - set(values)
    if extra:
        values.update(instance_values(postfix, config_dir, extra | set(PARAMS)))
    tops = [os.path.normpath(values[k]) for k in ("queue_directory", "data_directory")
            if values[k]]
    wanted = []
    seen = set()
    for record in records:
        if record.type != "d" or "o" in record.flags:
            continue
        try:
            path = os.path.normpath(expand(record.path, values))
            owner = expand(record.owner, values) or "root"
            group = expand(record.group, values)
        except KeyError:
            continue  # a parameter this Postfix does not know: not one of ours
        if path in seen or not any(_within(path, top) for top in tops):
            continue
        if ("1" in record.flags or "i" in record.flags) and not os.path.exists(path):
            continue
        try:
            mode = int(record.mode, 8) if record.mode else -1
        except ValueError:
            raise ToolError("{}: bad mode {!r}".format(record.source, record.mode))
        seen.add(path)
        wanted.append(ExpectedDir(path, _uid(owner), _gid(group) if group else -1, mode,
                                  owner, group, record.flags, record.source))
    return wanted


def entry_problems(entries):
    # type: (List[ExpectedDir]) -> List[LayoutProblem]
    """What differs on disk from ``entries`` (symlinks followed, like post-install's test -d)."""
    problems = []
    for entry in entries:
        try:
            st = os.stat(entry.path)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise ToolError("cannot examine {}: {}".format(entry.path, exc.strerror))
            problems.append(LayoutProblem(entry.path, "missing", entry.describe(), "", entry))
            continue
        if not stat.S_ISDIR(st.st_mode):
            problems.append(LayoutProblem(entry.path, "not-a-directory", "directory", "", entry))
            continue
        if st.st_uid != entry.uid:
            problems.append(LayoutProblem(entry.path, "owner", entry.owner, _user(st.st_uid),
                                          entry))
        if entry.gid != -1 and st.st_gid != entry.gid:
            problems.append(LayoutProblem(entry.path, "group", entry.group, _group(st.st_gid),
                                          entry))
        if entry.mode != -1 and stat.S_IMODE(st.st_mode) != entry.mode:
            problems.append(LayoutProblem(entry.path, "mode", "{:04o}".format(entry.mode),
                                          "{:04o}".format(stat.S_IMODE(st.st_mode)), entry))
    return problems


def layout_problems(postfix, child):
    # type: (object, object) -> List[LayoutProblem]
    """What is missing or wrong in ``child``'s queue and data directories."""
    return entry_problems(expected_directories(postfix, child))


def _user(uid):
    # type: (int) -> str
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid):
    # type: (int) -> str
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def path_state(path):
    # type: (str) -> dict
    """JSON-friendly owner/group/mode of ``path`` (``exists`` False when there is none)."""
    try:
        st = os.stat(path)
    except OSError:
        return {"path": path, "exists": False}
    return {"path": path, "exists": True, "uid": st.st_uid, "gid": st.st_gid,
            "mode": stat.S_IMODE(st.st_mode)}


def complete_layout(entries):
    # type: (List[ExpectedDir]) -> dict
    """Make, chown and chmod what differs (parents first); return {"created": [...]}.

    Only the directories themselves change: like post-install's "r" flag would, nothing below
    them is re-owned (a new child's queue directories are empty)."""
    created = []
    for problem in entry_problems(sorted(entries, key=lambda e: e.path.count("/"))):
        entry = problem.entry
        try:
            if problem.kind == "not-a-directory":
                raise ToolError("{} should be a directory ({}) but is not".format(
                    entry.path, entry.source), hint="move it away and run again")
            if problem.kind == "missing":
                if os.path.isdir(entry.path):
                    continue  # made for an earlier problem of the same entry
                os.mkdir(entry.path, 0o700 if entry.mode != -1 else 0o755)
                created.append(entry.path)
            if problem.kind in ("missing", "owner", "group"):
                os.chown(entry.path, entry.uid, entry.gid)
            if problem.kind == "mode" or (problem.kind == "missing" and entry.mode != -1):
                os.chmod(entry.path, entry.mode)
        except OSError as exc:
            raise ToolError("cannot make {} {}: {}".format(entry.path, entry.describe(),
                                                           exc.strerror or exc))
    return {"created": created}


def restore_layout(states, created):
    # type: (List[dict], List[str]) -> None
    """Undo complete_layout: remove ``created`` directories that are empty (deepest first),
    put back the owner, group and mode ``states`` (path_state dicts) recorded before."""
    for path in sorted(created, key=lambda p: -p.count("/")):
        try:
            os.rmdir(path)
        except OSError:
            pass  # gone already, or Postfix has put files there since: keep it
    for state in states:
        if not state.get("exists"):
            continue
        now = path_state(state["path"])
        if not now["exists"]:
            continue
        if (now["uid"], now["gid"]) != (state["uid"], state["gid"]):
            os.chown(state["path"], state["uid"], state["gid"])
        if now["mode"] != state["mode"]:
            os.chmod(state["path"], state["mode"])


def missing_daemons(postfix, child):
    # type: (object, object) -> typing.List[str]
    """master.cf services (not switched off by master_service_disable) whose command is not an
    executable in the child's daemon_directory (master(8) runs daemon_directory/command)."""
    config_dir = child.config_directory
    daemon_dir = postfix.params(["daemon_directory"], config_dir)["daemon_directory"]
    current = read_instance(postfix, config_dir)
    problems = []
    for entry in current.master_entries:
        if service_disabled(entry, current.master_service_disable):
            continue
        path = daemon_dir + "/" + entry.command
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            problems.append("{}: master.cf service {} runs {}, which is not an executable in "
                            "daemon_directory {}".format(child.label, entry.key, entry.command,
                                                         daemon_dir))
    return problems


def postfix_check_problems(postfix, child, notes=None):
    # type: (object, object, typing.Optional[list]) -> typing.List[str]
    """``postfix -c DIR check``: its fatal lines, or its exit status when it fails silently.

    Warning lines (and a refused exec, e.g. an admin role that may not enter
    postfix_master_t) are not start problems; they go to ``notes`` when a list is given. Note
    that ``postfix check`` runs post-install create-missing: it may create missing queue
    directories (as the caller)."""
    notes = [] if notes is None else notes
    try:
        result = postfix.postfix(child.config_directory, ["check"], check=False)
    except ToolError as exc:
        notes.append("{}: postfix check could not run: {}".format(child.label, exc))
        return []
    lines = [l.strip() for l in (result.stderr + "\n" + result.stdout).splitlines() if l.strip()]
    fatal = [l for l in lines if "fatal:" in l]
    notes.extend("{}: postfix check: {}".format(child.label, l) for l in lines
                 if "warning:" in l)
    problems = ["{}: postfix check: {}".format(child.label, l) for l in fatal]
    if result.returncode != 0 and not problems:
        problems.append("{}: postfix check failed: {}".format(child.label, result.message()))
    return problems


def child_start_problems(postfix, child, notes=None):
    # type: (object, object, typing.Optional[list]) -> typing.List[str]
    """One-line reasons why ``child`` (an Instance) would not start; [] when it can.

    The queue layout postfix-files asks for (checked first, read only), ``postfix check``
    (see postfix_check_problems; its warnings go to ``notes``) and master.cf services whose
    daemon is missing. ``postfix`` is the parent's tools wrapper (postfix.tools.Postfix)."""
    problems = []
    try:
        problems.extend("{}: {}".format(child.label, p.line())
                        for p in layout_problems(postfix, child))
    except ToolError as exc:
        problems.append("{}: queue layout: {}".format(child.label, exc))
    problems.extend(postfix_check_problems(postfix, child, notes))
    try:
        problems.extend(missing_daemons(postfix, child))
    except ToolError as exc:
        problems.append("{}: master.cf: {}".format(child.label, exc))
    return problems
