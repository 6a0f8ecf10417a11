"""Where a path "should" be labeled: map a child instance's path to the parent's corresponding
path, then ask file_contexts (selabel) for that path's label.

Instances come from discovery on the host (``InstanceDirs``); for a log copied from another
machine the mapping is inferred from Postfix's layout convention (``/etc/postfix-NAME`` ↔
``/etc/postfix``, likewise ``/var/spool`` and ``/var/lib``) and reported as inferred.
"""

import contextlib
import os
import re
import stat
import sys
import tempfile
from typing import NamedTuple, Optional

from postmulti_selinux.avc.records import printable
from postmulti_selinux.errors import ToolError
from postmulti_selinux.selinux.bindings import libselinux

PARENT_DIRS = ("/etc/postfix", "/var/spool/postfix", "/var/lib/postfix")
_CONVENTION = re.compile(r"\A(?P<base>/etc/postfix|/var/spool/postfix|/var/lib/postfix)-(?P<name>[A-Za-z0-9_.+-]+)(?P<rest>/.*)?\Z")

CLASS_MODES = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "lnk_file": stat.S_IFLNK,
               "fifo_file": stat.S_IFIFO, "sock_file": stat.S_IFSOCK, "chr_file": stat.S_IFCHR,
               "blk_file": stat.S_IFBLK}


class InstanceDirs(NamedTuple):
    """One Postfix instance's directories (``postconf -h config_directory`` etc.)."""
    name: str
    config_directory: str
    queue_directory: str
    data_directory: str


DEFAULT_PARENT = InstanceDirs("postfix", *PARENT_DIRS)


class Mapped(NamedTuple):
    """A path judged as another one: ``how`` is "instance" (from discovery) or "inferred"."""
    path: str
    instance: Optional[str]
    how: Optional[str]


def _under(path, base):
    base = base.rstrip("/")
    return path == base or path.startswith(base + "/")


class PathMapper(object):
    """Child path -> parent's corresponding path."""

    def __init__(self, instances=(), parent=DEFAULT_PARENT, infer=True):
        self.parent = parent
        self.children = [i for i in instances if i.name != parent.name]
        self.infer = infer

    def map(self, path):
        # type: (str) -> Mapped
        """The parent's equivalent of ``path`` (or ``path`` itself with how=None)."""
        for child in self.children:
            pairs = ((child.config_directory, self.parent.config_directory),
                     (child.queue_directory, self.parent.queue_directory),
                     (child.data_directory, self.parent.data_directory))
            for child_dir, parent_dir in pairs:
                if child_dir and _under(path, child_dir) and child_dir.rstrip("/") != parent_dir.rstrip("/"):
                    rest = path[len(child_dir.rstrip("/")):]
                    return Mapped(parent_dir.rstrip("/") + rest, child.name, "instance")
        if self.infer:
            match = _CONVENTION.match(path)
            if match:
                return Mapped(match.group("base") + (match.group("rest") or ""),
                              "postfix-" + match.group("name"), "inferred")
        return Mapped(path, None, None)

    def instance_dirs(self, name):
        # type: (Optional[str]) -> Optional[InstanceDirs]
        """The directories of instance ``name``: discovered, else by Postfix's layout convention
        (``postfix-NAME`` -> ``/etc/postfix-NAME`` …) when inference is on; None otherwise."""
        if not name:
            return None
        if name == self.parent.name:
            return self.parent
        for child in self.children:
            if child.name == name:
                return child
        if self.infer and name.startswith("postfix-"):
            return InstanceDirs(name, *(base + name[len("postfix"):] for base in PARENT_DIRS))
        return None

    def instance_of(self, path, mapped=None):
        # type: (str, Optional[Mapped]) -> Optional[str]
        """The instance a path belongs to (parent included), or None (``mapped``: its
        :meth:`map`, when the caller has it already)."""
        mapped = mapped or self.map(path)
        if mapped.instance:
            return mapped.instance
        if any(_under(path, d) for d in self.parent[1:]):
            return self.parent.name
        return None


class SelabelExpected(object):
    """``expected_context(path, tclass)`` from a file_contexts file via libselinux's selabel.

    The default collaborator for triage; the labeling engine's own lookup (which also knows
    local equivalences) can be passed instead.
    """

    def __init__(self, file_contexts):
        # type: (str) -> None
        selinux = libselinux()
        if not os.path.exists(file_contexts):
            raise ToolError("file_contexts not found: {}".format(file_contexts))
        _check_file_contexts(file_contexts)
        self._selinux = selinux
        opt = selinux.selinux_opt()
        opt.type = selinux.SELABEL_OPT_PATH
        opt.value = file_contexts
        self._keep = opt
        # On a file it cannot parse, selabel_open prints why on stderr and returns NULL (a
        # lookup on which would crash the process): the first line it printed is the error.
        with _stderr_captured() as complaints:
            try:
                self._handle = selinux.selabel_open(selinux.SELABEL_CTX_FILE, opt, 1)
            except OSError as exc:
                self._handle, complaints[:] = None, [exc.strerror or str(exc)]
        if not self._handle:
            why = next((line.split(":  ", 1)[-1].strip() for line in complaints if line.strip()),
                       "not a file_contexts file")
            raise ToolError(printable("cannot load file contexts {}: {}".format(file_contexts, why)),
                            hint="pass the policy's contexts/files/file_contexts with --file-contexts")
        self._cache = {}

    def __call__(self, path, tclass=None):
        # type: (str, Optional[str]) -> Optional[str]
        key = (path, tclass)
        if key not in self._cache:
            mode = CLASS_MODES.get(tclass, 0)
            try:
                self._cache[key] = self._selinux.selabel_lookup_raw(self._handle, path, mode)[1]
            except OSError:
                self._cache[key] = None
            if len(self._cache) > 100000:
                self._cache.clear()
        return self._cache[key]


def _check_file_contexts(path):
    """A ToolError unless ``path`` can be read and holds a line that is not a comment (an
    empty file_contexts labels nothing: every path would be "expected: null")."""
    try:
        with open(path, "rb") as handle:
            for line in iter(lambda: handle.readline(1 << 16), b""):
                if line.strip() and not line.lstrip().startswith(b"#"):
                    return
    except (IOError, OSError) as exc:
        raise ToolError(printable("cannot read file contexts {}: {}".format(path, exc.strerror or exc)))
    raise ToolError(printable("file contexts {} has no entries: not a file_contexts file".format(path)),
                    hint="pass the policy's contexts/files/file_contexts with --file-contexts")


@contextlib.contextmanager
def _stderr_captured():
    """Collect what C code writes on file descriptor 2 meanwhile (a list of lines, at most 4 KiB)."""
    lines = []
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield lines
            finally:
                os.dup2(saved, 2)
                sink.seek(0)
                lines.extend(sink.read(4096).decode("utf-8", "backslashreplace").splitlines())
    finally:
        os.close(saved)


def file_contexts_path(root="/", policy_name=None):
    # type: (str, Optional[str]) -> str
    """``ROOT/etc/selinux/NAME/contexts/files/file_contexts`` (NAME from ROOT's config)."""
    name = policy_name or selinux_type(root)
    return os.path.join(root, "etc/selinux", name, "contexts/files/file_contexts")


def selinux_type(root="/"):
    # type: (str) -> str
    """SELINUXTYPE from ROOT/etc/selinux/config (``targeted`` if unset)."""
    config = os.path.join(root, "etc/selinux/config")
    try:
        with open(config, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                if key.strip() == "SELINUXTYPE" and value.strip():
                    return value.strip()
    except (IOError, OSError):
        pass
    for name in ("targeted", "default"):
        if os.path.isdir(os.path.join(root, "etc/selinux", name)):
            return name
    raise ToolError("no SELinux policy found under {}".format(os.path.join(root, "etc/selinux")),
                    hint="pass --policy and --file-contexts")


def binary_policy_path(root="/", policy_name=None):
    # type: (str, Optional[str]) -> str
    """The highest-versioned ``policy.NN`` of the policy under ROOT."""
    directory = os.path.join(root, "etc/selinux", policy_name or selinux_type(root), "policy")
    try:
        names = [n for n in os.listdir(directory) if re.match(r"\Apolicy\.\d+\Z", n)]
    except OSError:
        names = []
    if not names:
        raise ToolError("no binary policy in {}".format(directory), hint="pass --policy FILE")
    return os.path.join(directory, max(names, key=lambda n: int(n.split(".")[1])))
