"""What the policy says a path's label is, what it is now, and what a child's path should be.

Lookups go through libselinux's selabel with the policy's own file_contexts path
(``SELABEL_OPT_PATH``), which also loads ``.local``, ``.homedirs``, ``.subs`` and ``.subs_dist``
next to it, so the answer is the installed policy's, for any root. Labels are read and written as
the raw ``security.selinux`` xattr: that needs no SELinux kernel (offline roots) and is what
``lgetfilecon_raw``/``lsetfilecon_raw`` do on a live host.
"""

import errno
import os
import stat
import typing

from postmulti_selinux import probes
from postmulti_selinux.errors import ToolError
from postmulti_selinux.selinux.bindings import libselinux
from postmulti_selinux.selinux.policy_root import PolicyRoot

XATTR = "security.selinux"
# A directory with more entries than this is treated as a queue: its plain files are not walked
# when comparing parent and child trees (queue files all share their directory's rule).
QUEUE_DIR_THRESHOLD = 256


def read_label(path):
    # type: (str) -> typing.Optional[str]
    """The raw context stored on ``path`` (not following symlinks), or None when unlabeled."""
    try:
        value = os.getxattr(path, XATTR, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.ENOENT):
            return None
        raise
    return value.rstrip(b"\0").decode("ascii", "replace")


def write_label(path, context):
    # type: (str, str) -> None
    """Store the raw context on ``path`` (NUL-terminated, as lsetfilecon_raw does)."""
    os.setxattr(path, XATTR, context.encode("ascii") + b"\0", follow_symlinks=False)


def context_type(context):
    # type: (typing.Optional[str]) -> typing.Optional[str]
    """``system_u:object_r:postfix_spool_t:s0`` -> ``postfix_spool_t``."""
    if not context:
        return None
    parts = context.split(":")
    return parts[2] if len(parts) >= 3 else context


class FileContexts(object):
    """An open selabel handle on one policy's file_contexts (with .local/.subs/.homedirs)."""

    def __init__(self, policy_root):
        # type: (PolicyRoot) -> None
        self.policy_root = policy_root
        self._handle = None
        self.reload()

    def reload(self):
        # type: () -> None
        """Re-read the specification files (after an equivalence or store change)."""
        self.close()
        selinux = libselinux()
        self._selinux = selinux
        option = selinux.selinux_opt()
        option.type = selinux.SELABEL_OPT_PATH
        option.value = self.policy_root.file_contexts
        self._option = option  # keep the string alive as long as the handle
        try:
            self._handle = selinux.selabel_open(selinux.SELABEL_CTX_FILE, option, 1)
        except OSError as exc:
            raise ToolError("cannot read file contexts {}: {}".format(
                self.policy_root.file_contexts, exc.strerror or exc))
        if not self._handle:  # libselinux returns NULL for a file it cannot parse
            self._handle = None
            raise ToolError("cannot load file contexts {}: not a file_contexts file".format(
                self.policy_root.file_contexts))

    def close(self):
        # type: () -> None
        if self._handle is not None:
            self._selinux.selabel_close(self._handle)
            self._handle = None

    def lookup(self, path, mode):
        # type: (str, int) -> typing.Optional[str]
        """The raw context the policy gives ``path`` (a system path) of file type ``mode``.

        None means the policy has no rule (``<<none>>``): such files are left alone.
        """
        try:
            return self._selinux.selabel_lookup_raw(self._handle, path, stat.S_IFMT(mode))[1]
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class PathLabel(typing.NamedTuple("PathLabel", [
        ("path", str), ("current", typing.Optional[str]), ("expected", typing.Optional[str]),
        ("policy", typing.Optional[str]), ("parent_path", str)])):
    """One child path: its label now, the label its parent's counterpart gets (expected), and
    what the policy gives the child path itself today (``policy``; differs before equivalence)."""

    @property
    def differs(self):
        # type: () -> bool
        return self.expected is not None and self.current != self.expected

    def as_dict(self):
        # type: () -> dict
        return {"path": self.path, "parent_path": self.parent_path, "current": self.current,
                "expected": self.expected, "policy": self.policy}


def iter_tree(top, skip_queue_files=False):
    # type: (str, bool) -> typing.Iterator[typing.Tuple[str, int]]
    """Yield ``(path, file-type mode)`` for ``top`` and everything below, never following links.

    With ``skip_queue_files`` the plain files of very large directories are not listed.
    """
    try:
        yield top, os.lstat(top).st_mode
    except FileNotFoundError:
        return
    if not os.path.isdir(top) or os.path.islink(top):
        return
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        skip_files = skip_queue_files and len(entries) > QUEUE_DIR_THRESHOLD
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
                yield entry.path, stat.S_IFDIR
            elif entry.is_file(follow_symlinks=False):
                if not skip_files:
                    yield entry.path, stat.S_IFREG
            else:
                try:
                    yield entry.path, stat.S_IFMT(entry.stat(follow_symlinks=False).st_mode)
                except FileNotFoundError:
                    continue


def _check_pair(parent, child):
    # type: (str, str) -> None
    for path in (parent, child):
        if not path.startswith("/") or path != os.path.normpath(path) or path == "/":
            raise ToolError("{!r} is not a normalised absolute directory path".format(path))
    if parent == child:
        raise ToolError("child path {} is the parent's own path".format(child))
    if child.startswith(parent + "/") or parent.startswith(child + "/"):
        raise ToolError("child path {} and parent path {} are nested".format(child, parent),
                        hint="give the child instance its own directory next to the parent's")


class ExpectedLabels(object):
    """Compare each child path with the label of the parent's corresponding path."""

    def __init__(self, root="/", policy_type=None, file_contexts=None):
        # type: (str, str, typing.Optional[FileContexts]) -> None
        self.policy_root = root if isinstance(root, PolicyRoot) else PolicyRoot(root, policy_type)
        self.contexts = file_contexts or FileContexts(self.policy_root)

    def for_child(self, pairs, only_differing=True):
        # type: (typing.Iterable[typing.Tuple[str, str]], bool) -> typing.List[PathLabel]
        """``pairs`` are (parent_dir, child_dir) system paths; walk each child tree.

        A child directory that does not exist yet is reported with ``current`` None.
        """
        result = []
        for parent, child in pairs:
            _check_pair(parent, child)
            on_disk = self.policy_root.path(child)
            if not os.path.lexists(on_disk):
                expected = self.contexts.lookup(parent, stat.S_IFDIR)
                result.append(PathLabel(child, None, expected,
                                        self.contexts.lookup(child, stat.S_IFDIR), parent))
                continue
            probes.count("walk", "labels")
            for path, mode in iter_tree(on_disk):
                system = self.policy_root.system_path(path)
                parent_path = parent + system[len(child):]
                label = PathLabel(system, read_label(path), self.contexts.lookup(parent_path, mode),
                                  self.contexts.lookup(system, mode), parent_path)
                if label.differs or not only_differing:
                    result.append(label)
        result.sort(key=lambda item: item.path)
        return result

    def policy_differences(self, parent, child):
        # type: (str, str) -> typing.List[typing.Tuple[str, typing.Optional[str], typing.Optional[str]]]
        """Where the policy labels child and parent trees differently today, as
        ``(relative_path, child_context, parent_context)``; both trees' directories and
        non-queue files are compared. Empty means no equivalence is needed right now."""
        _check_pair(parent, child)
        relatives = {"": stat.S_IFDIR}
        for top in (parent, child):
            on_disk = self.policy_root.path(top)
            for path, mode in iter_tree(on_disk, skip_queue_files=True):
                relatives.setdefault(self.policy_root.system_path(path)[len(top):], mode)
        differences = []
        for relative in sorted(relatives):
            mode = relatives[relative]
            mine = self.contexts.lookup(child + relative, mode)
            theirs = self.contexts.lookup(parent + relative, mode)
            if mine != theirs:
                differences.append((relative or "/", mine, theirs))
        return differences
