"""Path equivalences (``semanage fcontext -a -e PARENT CHILD``) and their conflicts.

An equivalence ``CHILD PARENT`` in ``file_contexts.subs`` makes libselinux look up every path
under CHILD as if it were under PARENT. semanage (seobject ``add_equal``) writes that file
directly, outside the libsemanage transaction; so does this module, keeping the prior bytes so
that a failed run or an undo puts them back exactly.
"""

import os
import re
import typing

from postmulti_selinux.errors import ToolError
from postmulti_selinux.selinux.policy_root import PolicyRoot

Equivalence = typing.NamedTuple("Equivalence", [("parent", str), ("child", str)])


def parse_subs(text):
    # type: (str) -> typing.List[typing.Tuple[str, str]]
    """``TARGET SUBSTITUTE`` lines (comments and blanks skipped) -> [(target, substitute)]."""
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) == 2:
            pairs.append((fields[0], fields[1]))
    return pairs


def _read_bytes(path):
    # type: (str) -> typing.Optional[bytes]
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_atomically(path, data, mode=0o644):
    # type: (str, typing.Optional[bytes], int) -> None
    """Replace ``path`` with ``data`` through a temp file and rename; None removes it."""
    if data is None:
        if os.path.exists(path):
            os.unlink(path)
        return
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        pass
    tmp = path + ".postmulti-selinux.tmp"
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, mode)
    os.rename(tmp, path)


class SubsFile(object):
    """The local equivalence file of one policy, with its dist counterpart for checks."""

    def __init__(self, policy_root):
        # type: (PolicyRoot) -> None
        self.policy_root = policy_root
        self.path = policy_root.subs_path
        self.original = _read_bytes(self.path)
        text = (self.original or b"").decode("utf-8", "replace")
        self.local = parse_subs(text)
        self.dist = parse_subs((_read_bytes(policy_root.subs_dist_path) or b"").decode(
            "utf-8", "replace"))

    def substitute_of(self, target):
        # type: (str) -> typing.Optional[str]
        for existing, substitute in self.local:
            if existing == target:
                return substitute
        return None

    def render(self, added, removed=()):
        # type: (typing.Iterable[Equivalence], typing.Iterable[str]) -> bytes
        """New file contents: the old lines minus ``removed`` targets, plus ``added``."""
        removed = set(removed)
        lines = []
        for line in (self.original or b"").decode("utf-8", "replace").splitlines():
            fields = line.split()
            if len(fields) == 2 and not line.strip().startswith("#") and fields[0] in removed:
                continue
            lines.append(line)
        lines.extend("{} {}".format(item.child, item.parent) for item in added)
        return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def _literal_prefix(spec):
    # type: (str) -> str
    """The leading literal part of a file_contexts regex: ``/srv/mail(/.*)?`` -> ``/srv/mail``."""
    match = re.match(r"[^.^$?*+|()\[\]{}\\]*", spec)
    return match.group(0) if match else ""


def local_rules_under(policy_root, child):
    # type: (PolicyRoot, str) -> typing.List[str]
    """Local fcontext specs (``file_contexts.local``) that apply at or below ``child``."""
    try:
        with open(policy_root.local_path) as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        prefix = _literal_prefix(fields[0]).rstrip("/")
        if prefix == child or prefix.startswith(child + "/"):
            found.append(fields[0])
    return found


def check_equivalence(subs, policy_root, item, pending=()):
    # type: (SubsFile, PolicyRoot, Equivalence, typing.Iterable[Equivalence]) -> bool
    """True when ``item`` is still to be added, False when it exists; ToolError on conflict.

    Conflicts (each would make libselinux ignore one of the rules): the child already has
    another equivalence; an existing equivalence sits below the child, or the child below one;
    local fcontext rules exist at or below the child.
    """
    parent, child = item
    for path in (parent, child):
        if not path.startswith("/") or path == "/" or path != os.path.normpath(path):
            raise ToolError("{!r} is not a normalised absolute directory path".format(path))
    if child == parent or child.startswith(parent + "/") or parent.startswith(child + "/"):
        raise ToolError("equivalence {} -> {} is circular or nested".format(child, parent))
    existing = subs.substitute_of(child)
    if existing == parent:
        return False
    if existing is not None:
        raise ToolError("{} is already equivalent to {}, not {}".format(child, existing, parent),
                        hint="remove it with: semanage fcontext -d {}".format(child))
    rules = [(t, s, "file_contexts.subs") for t, s in subs.local]
    rules += [(t, s, "file_contexts.subs_dist") for t, s in subs.dist]
    rules += [(p.child, p.parent, "this run") for p in pending if p != item]
    for target, substitute, origin in rules:
        if target == child:
            raise ToolError("{} already has the equivalence {} -> {} ({})".format(
                child, target, substitute, origin))
        if target.startswith(child + "/") or child.startswith(target + "/"):
            raise ToolError("equivalence {} -> {} would overlap {} -> {} ({})".format(
                child, parent, target, substitute, origin),
                hint="an equivalence cannot sit under another one")
    local = local_rules_under(policy_root, child)
    if local:
        raise ToolError("local file-context rules already cover {}: {}".format(
            child, ", ".join(local)),
            hint="an equivalence would hide them; remove them with semanage fcontext -d first")
    return True
