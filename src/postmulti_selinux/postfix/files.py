"""Backed-up, atomic, undoable edits of Postfix configuration files."""

import datetime
import os
import shutil
import stat
import tempfile
import time
from typing import NamedTuple, Optional, Tuple

from postmulti_selinux.errors import ToolError

BACKUP_TAG = "postmulti-selinux"


class FileEdit(NamedTuple):
    """One file that changed: its bytes before (None: did not exist), after, and the backup."""
    path: str
    before: Optional[bytes]
    after: bytes
    backup: Optional[str] = None


class Change(NamedTuple):
    """What one operation did; ``edits`` and ``created`` are enough to undo it."""
    description: str
    edits: Tuple[FileEdit, ...] = ()
    created: Tuple[str, ...] = ()  # directories that did not exist before

    @property
    def changed(self):
        # type: () -> bool
        return bool(self.edits or self.created)


def read_bytes(path):
    # type: (str) -> Optional[bytes]
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (OSError, IOError) as exc:
        if not os.path.exists(path):
            return None
        raise ToolError("cannot read {}: {}".format(path, exc.strerror or exc))


def atomic_write(path, data, like=None):
    # type: (str, bytes, Optional[str]) -> None
    """Write ``data`` to ``path`` through a temp file + rename, keeping mode and owner."""
    directory = os.path.dirname(path) or "."
    reference = like or path
    try:
        st = os.stat(reference)
    except OSError:
        st = None
    fd, tmp = tempfile.mkstemp(prefix=".{}.".format(os.path.basename(path)), dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if st is not None:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except OSError:
                pass
        else:
            os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except (OSError, IOError) as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise ToolError("cannot write {}: {}".format(path, exc.strerror or exc))
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def backup_file(path, data):
    # type: (str, bytes) -> str
    """Save ``data`` next to ``path`` as PATH.postmulti-selinux-<UTC time>.bak; return its path."""
    stamp = datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ")
    base = "{}.{}-{}".format(path, BACKUP_TAG, stamp)
    candidate, counter = base + ".bak", 1
    while os.path.exists(candidate):
        counter += 1
        candidate = "{}-{}.bak".format(base, counter)
    atomic_write(candidate, data, like=path)
    return candidate


def commit(path, before, after):
    # type: (str, Optional[bytes], bytes) -> FileEdit
    """Back up ``before`` (if any) then atomically replace ``path`` with ``after``."""
    backup = backup_file(path, before) if before is not None else None
    atomic_write(path, after)
    return FileEdit(path, before, after, backup)


def restore(edit):
    # type: (FileEdit) -> None
    """Put a file back byte for byte (or remove it when it did not exist before)."""
    if edit.before is None:
        if os.path.exists(edit.path):
            os.unlink(edit.path)
    else:
        atomic_write(edit.path, edit.before)


# postconf rereads a main.cf modified within the last second or two until it has settled (up to
# ~2 s a run); a scratch copy is private and complete, so its files are dated this far back.
SETTLED_AGE = 10.0


class ScratchCopy(object):
    """A private copy of a config directory's main.cf/master.cf for postconf to edit, dated as
    settled so that postconf does not wait on it."""

    def __init__(self, config_dir):
        # type: (str) -> None
        self.config_dir = config_dir
        self.path = None  # type: Optional[str]

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="{}-scratch-".format(BACKUP_TAG))
        for name in ("main.cf", "master.cf"):
            src = os.path.join(self.config_dir, name)
            if os.path.exists(src):
                copy = os.path.join(self.path, name)
                shutil.copyfile(src, copy)
                settled = time.time() - SETTLED_AGE
                os.utime(copy, (settled, settled))
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
        return False

    def read(self, name):
        # type: (str) -> bytes
        return read_bytes(os.path.join(self.path, name)) or b""
