"""Where one policy lives: the running system (root ``/``) or a copy under a temp root.

Every other part of the engine asks a :class:`PolicyRoot` for paths, so the same code works on
the live host and offline against an extracted store (image builders, the test suite).
"""

import glob
import os
import re

from postmulti_selinux.errors import ToolError

DEFAULT_STORE_ROOT = "/var/lib/selinux"
EL7_STORE_ROOT = "/etc/selinux"  # libsemanage 2.5's built-in default


def _join(root, path):
    # type: (str, str) -> str
    """``root`` + absolute ``path`` (``os.path.join`` would drop the root)."""
    if root in ("", "/"):
        return path
    return root.rstrip("/") + "/" + path.lstrip("/")


def _read_setting(path, key):
    # type: (str, str) -> str
    """Value of ``key=value`` / ``key = value`` in a small config file, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                match = re.match(r"\s*{}\s*=\s*(\S+)".format(re.escape(key)), line)
                if match:
                    return match.group(1)
    except (IOError, OSError):
        return None
    return None


class PolicyRoot(object):
    """Paths of one policy type (``default``, ``targeted`` ...) under a root directory."""

    def __init__(self, root="/", policy_type=None):
        # type: (str, str) -> None
        self.root = os.path.abspath(root or "/")
        if not os.path.isdir(self.root):
            raise ToolError("policy root {} is not a directory".format(self.root))
        self.policy_type = policy_type or self._detect_type()
        if not os.path.isfile(self.file_contexts):
            raise ToolError("no file_contexts for policy type {!r} under {}".format(
                self.policy_type, self.root),
                hint="give the policy type explicitly, or check {}".format(self.selinux_dir))

    def _detect_type(self):
        # type: () -> str
        configured = _read_setting(self.path("/etc/selinux/config"), "SELINUXTYPE")
        if configured:
            return configured
        found = sorted(os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(p))))
                       for p in glob.glob(self.path("/etc/selinux/*/contexts/files/file_contexts")))
        if len(found) == 1:
            return found[0]
        raise ToolError("cannot tell which SELinux policy type to use under {} (found: {})".format(
            self.root, ", ".join(found) or "none"), hint="pass the policy type (e.g. targeted)")

    def path(self, absolute):
        # type: (str) -> str
        """The on-disk location of ``absolute`` (a path as the target system sees it)."""
        return _join(self.root, absolute)

    def system_path(self, on_disk):
        # type: (str) -> str
        """Inverse of :meth:`path`: strip the root prefix."""
        if self.root == "/":
            return on_disk
        if on_disk == self.root:
            return "/"
        prefix = self.root.rstrip("/") + "/"
        if not on_disk.startswith(prefix):
            raise ToolError("{} is not under the policy root {}".format(on_disk, self.root))
        return "/" + on_disk[len(prefix):]

    @property
    def is_live(self):
        # type: () -> bool
        return self.root == "/"

    @property
    def selinux_dir(self):
        # type: () -> str
        return self.path("/etc/selinux/{}".format(self.policy_type))

    @property
    def file_contexts(self):
        # type: () -> str
        return os.path.join(self.selinux_dir, "contexts", "files", "file_contexts")

    @property
    def subs_path(self):
        # type: () -> str
        return self.file_contexts + ".subs"

    @property
    def subs_dist_path(self):
        # type: () -> str
        return self.file_contexts + ".subs_dist"

    @property
    def local_path(self):
        # type: () -> str
        return self.file_contexts + ".local"

    @property
    def policy_file(self):
        # type: () -> str
        """The newest ``policy.NN`` of this type (what the kernel would load)."""
        candidates = glob.glob(os.path.join(self.selinux_dir, "policy", "policy.[0-9]*"))
        if not candidates:
            raise ToolError("no binary policy under {}/policy".format(self.selinux_dir))
        return max(candidates, key=lambda p: int(p.rsplit(".", 1)[1]))

    @property
    def semanage_conf(self):
        # type: () -> str
        """libsemanage reads the root's semanage.conf, else the host's (same rule here)."""
        inside = self.path("/etc/selinux/semanage.conf")
        return inside if os.path.exists(inside) else "/etc/selinux/semanage.conf"

    @property
    def store_root(self):
        # type: () -> str
        """libsemanage's store-root as the target sees it: semanage.conf's, else the default.

        libsemanage 2.5 (EL7) keeps its stores in ``/etc/selinux`` (``/etc/selinux/TYPE/active``);
        without a setting, that layout is recognised when ``/var/lib/selinux/TYPE`` is absent.
        """
        configured = _read_setting(self.semanage_conf, "store-root")
        if configured:
            return configured.rstrip("/") or "/"
        if (not os.path.isdir(self.path("{}/{}".format(DEFAULT_STORE_ROOT, self.policy_type)))
                and os.path.isdir(os.path.join(self.selinux_dir, "active"))):
            return EL7_STORE_ROOT
        return DEFAULT_STORE_ROOT

    @property
    def store_dir(self):
        # type: () -> str
        """The module store (``/var/lib/selinux/TYPE``; EL7: ``/etc/selinux/TYPE``)."""
        return self.path("{}/{}".format(self.store_root.rstrip("/"), self.policy_type))

    def commit_number(self):
        # type: () -> int
        """libsemanage's commit counter: it grows by one with every policy rebuild."""
        try:
            with open(os.path.join(self.store_dir, "active", "commit_num"), "rb") as handle:
                data = handle.read()
        except (IOError, OSError):
            return 0
        text = data.split(b"\0", 1)[0].strip()
        if text.isdigit():
            return int(text)
        return int.from_bytes(data[:4], "little") if len(data) >= 4 else 0

    def __repr__(self):
        return "PolicyRoot({!r}, {!r})".format(self.root, self.policy_type)
