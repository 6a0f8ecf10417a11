"""Recursive in-process relabel: set each file's label to what the policy says, if it differs.

Same job as ``restorecon -R``/``setfiles`` with full contexts, but in process (one selabel
handle, raw xattr reads and writes, no per-file process or translation), counting what it
changed, and working on an alternate root without an SELinux kernel.
"""

import os
import stat
import sys
import time
import typing

from postmulti_selinux import probes
from postmulti_selinux.errors import ToolError
from postmulti_selinux.selinux.bindings import libselinux
from postmulti_selinux.selinux.labels import XATTR, FileContexts
from postmulti_selinux.selinux.policy_root import PolicyRoot

RelabelResult = typing.NamedTuple("RelabelResult", [
    ("changed", int), ("examined", int), ("errors", typing.List[str]), ("seconds", float)])
RelabelResult.__doc__ = "How many files were relabeled, how many were looked at, and failures."


class _Progress(object):
    """A one-line counter on a terminal, refreshed at most a few times a second."""

    def __init__(self, stream):
        self.stream = stream
        self.enabled = stream is not None and hasattr(stream, "isatty") and stream.isatty()
        self.last = 0.0

    def update(self, examined, changed, force=False):
        # type: (int, int, bool) -> None
        if not self.enabled:
            return
        now = time.monotonic()
        if force or now - self.last >= 0.2:
            self.last = now
            self.stream.write("\rrelabel: {} examined, {} changed".format(examined, changed))
            self.stream.flush()

    def done(self, examined, changed):
        # type: (int, int) -> None
        if self.enabled:
            self.update(examined, changed, force=True)
            self.stream.write("\n")
            self.stream.flush()


def relabel(paths, root="/", policy_type=None, file_contexts=None, dry_run=False, progress=None):
    # type: (typing.Iterable[str], typing.Any, typing.Optional[str], typing.Optional[FileContexts], bool, typing.Any) -> RelabelResult
    """Relabel each of ``paths`` (system paths, e.g. ``/var/spool/postfix-sub``) recursively.

    ``root`` is the directory the paths live under (``/`` on a live host). Only files whose
    label differs are written; files the policy has no rule for (``<<none>>``) are left alone.
    ``progress`` is a stream (default stderr) that gets a live counter when it is a terminal, or
    a meter (``begin(tops)``, ``update(examined, changed)``, ``done(examined, changed)``).
    """
    policy_root = root if isinstance(root, PolicyRoot) else PolicyRoot(root, policy_type)
    contexts = file_contexts or FileContexts(policy_root)
    handle = contexts._handle  # noqa: SLF001 - the hot loop calls libselinux directly
    lookup = libselinux().selabel_lookup_raw
    getxattr, setxattr = os.getxattr, os.setxattr
    meter = progress if hasattr(progress, "done") else _Progress(
        sys.stderr if progress is None else progress)
    if hasattr(meter, "begin"):
        meter.begin([policy_root.path(os.path.normpath(p)) for p in paths])
    started = time.monotonic()
    counts = [0, 0]  # changed, examined
    errors = []  # type: typing.List[str]
    strip = 0 if policy_root.is_live else len(policy_root.root.rstrip("/"))

    def visit(on_disk, mode):
        counts[1] += 1
        try:
            wanted = lookup(handle, on_disk[strip:] if strip else on_disk, mode)[1]
        except OSError:
            return  # no rule for this path: leave it as it is
        try:
            current = getxattr(on_disk, XATTR, follow_symlinks=False)
        except OSError:
            current = b""
        encoded = wanted.encode("ascii") + b"\0"
        if current != encoded and current.rstrip(b"\0") != encoded[:-1]:
            if not dry_run:
                try:
                    setxattr(on_disk, XATTR, encoded, follow_symlinks=False)
                except OSError as exc:
                    errors.append("{}: {}".format(on_disk, exc.strerror))
                    return
            counts[0] += 1

    for path in paths:
        if not path.startswith("/"):
            raise ToolError("relabel path {!r} is not absolute".format(path))
        top = policy_root.path(os.path.normpath(path))
        try:
            top_mode = os.lstat(top).st_mode
        except FileNotFoundError:
            raise ToolError("cannot relabel {}: it does not exist".format(top))
        probes.count("walk", "relabel")
        visit(top, stat.S_IFMT(top_mode))
        if not stat.S_ISDIR(top_mode):
            continue
        stack = [top]
        while stack:
            directory = stack.pop()
            try:
                iterator = os.scandir(directory)
            except OSError as exc:
                errors.append("{}: {}".format(directory, exc.strerror))
                continue
            with iterator:
                for entry in iterator:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                        visit(entry.path, stat.S_IFDIR)
                    elif entry.is_file(follow_symlinks=False):
                        visit(entry.path, stat.S_IFREG)
                    else:
                        try:
                            mode = entry.stat(follow_symlinks=False).st_mode
                        except FileNotFoundError:
                            continue
                        visit(entry.path, stat.S_IFMT(mode))
            meter.update(counts[1], counts[0])
    meter.done(counts[1], counts[0])
    return RelabelResult(counts[0], counts[1], errors, time.monotonic() - started)
