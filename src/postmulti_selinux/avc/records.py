"""Plain record types shared by the reader, triage and rendering; identifiers validated here."""

import re
from typing import NamedTuple, Optional, Tuple

# SELinux policy language identifiers (checkpolicy's lexer: letter, then letters/digits/_/-/.).
_IDENT = re.compile(r"\A[A-Za-z][A-Za-z0-9_.-]{0,254}\Z")
# MLS/MCS part of a context: levels, categories and ranges only.
_MLS = re.compile(r"\A[A-Za-z0-9_.,:-]{1,255}\Z")


def printable(text):
    # type: (str) -> str
    """``text`` fit for a terminal: characters that are not printable (control characters and so
    escape sequences, bidi overrides, line separators) as backslash escapes (bytes of a log that
    are not UTF-8 are escapes already: see :data:`.reader.DECODE_ERRORS`)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def is_identifier(text):
    # type: (object) -> bool
    """True when ``text`` is a single SELinux identifier (type, role, user, class, perm, boolean)."""
    return isinstance(text, str) and bool(_IDENT.match(text)) and ".." not in text


class Context(NamedTuple):
    """A validated security context user:role:type[:mls]."""
    user: str
    role: str
    type: str
    mls: str

    def __str__(self):
        base = "{}:{}:{}".format(self.user, self.role, self.type)
        return base + ":" + self.mls if self.mls else base


def parse_context(text):
    # type: (Optional[str]) -> Optional[Context]
    """Parse ``user:role:type[:mls]``; None for anything that is not a well-formed context."""
    if not text:
        return None
    parts = text.split(":", 3)
    if len(parts) < 3:
        return None
    user, role, type_ = parts[0], parts[1], parts[2]
    mls = parts[3] if len(parts) == 4 else ""
    if not (is_identifier(user) and is_identifier(role) and is_identifier(type_)):
        return None
    if mls and not _MLS.match(mls):
        return None
    return Context(user, role, type_, mls)


class Stamp(NamedTuple):
    """The audit(…) stamp of an event: seconds since the epoch (None if unknown) and serial."""
    time: Optional[float]
    serial: Optional[int]

    def __str__(self):
        if self.time is None and self.serial is None:
            return "audit(?)"
        time = "?" if self.time is None else "{:.3f}".format(self.time)
        serial = "?" if self.serial is None else str(self.serial)
        return "audit({}:{})".format(time, serial)


class Denial(NamedTuple):
    """One AVC record, joined with its event's SYSCALL/CWD/PATH records."""
    stamp: Stamp
    result: str                      # "denied" or "granted"
    perms: Tuple[str, ...]
    scontext: Context
    tcontext: Context
    tclass: str
    path: Optional[str]              # absolute path when the event tells it
    name: Optional[str]
    dev: Optional[str]
    ino: Optional[int]
    comm: Optional[str]
    exe: Optional[str]
    pid: Optional[int]
    permissive: Optional[bool]       # None when the kernel did not say (older kernels)
    port: Optional[int]              # src= / dest= of name_bind / name_connect
    ioctlcmd: Optional[str]
    capability: Optional[int]
    success: Optional[bool]          # the syscall's outcome, when a SYSCALL record came with it
    path_from: Optional[str] = None  # "record" (path=/PATH), "argv" (PROCTITLE) or None
    count: int = 1                   # identical records this one stands for (the fast reader folds)


class SelinuxError(NamedTuple):
    """A SELINUX_ERR record (role/user/MLS validity, bounds, transition constraints)."""
    stamp: Stamp
    op: Optional[str]
    reason: Optional[str]
    invalid_context: Optional[Context]
    scontext: Optional[Context]
    tcontext: Optional[Context]
    tclass: Optional[str]
    comm: Optional[str]
    exe: Optional[str]


class PolicyLoad(NamedTuple):
    """A MAC_POLICY_LOAD record: everything before it was judged by an older policy."""
    stamp: Stamp
