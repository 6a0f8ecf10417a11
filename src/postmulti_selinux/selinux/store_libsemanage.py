"""The policy store through the libsemanage Python binding (``import semanage``).

The binding is imported on first use: EL7 has none for Python 3, and ``--help`` must work in
a venv without the distribution's bindings (:mod:`store_cli` does the same work there).
"""

import os
import typing

from postmulti_selinux.errors import ToolError
from postmulti_selinux.selinux.bindings import libselinux, optional
from postmulti_selinux.selinux.policy_root import DEFAULT_STORE_ROOT, PolicyRoot


_MESSAGES_SHOWN = [False]


def show_messages(shown):
    # type: (bool) -> None
    """Let libsemanage print its own messages on stderr (``--verbose``). They are silenced
    otherwise: every commit on some hosts says e.g. ``libsemanage.add_user: user sddm not in
    password file``; a failed commit then says how to see them."""
    _MESSAGES_SHOWN[0] = bool(shown)


def _messages_shown():
    # type: () -> bool
    return _MESSAGES_SHOWN[0] or os.environ.get("POSTMULTI_SELINUX_DEBUG") == "1"


def _why_hint():
    # type: () -> str
    return ("the libsemanage messages above say why" if _messages_shown() else
            "rerun with --verbose to see libsemanage's own messages")


def binding_available():
    # type: () -> bool
    """True when ``import semanage`` works (a ``sys.modules`` entry of None hides it)."""
    try:
        _binding()
    except ImportError:
        return False
    return True


def _binding():
    semanage = optional("semanage")  # deferred on purpose, see the module docstring
    if semanage is None:
        raise ImportError("no semanage Python binding")
    return semanage


class LibsemanageStore(object):
    """A connected libsemanage handle on the store under a policy root."""

    name = "libsemanage"

    def __init__(self, policy_root):
        # type: (PolicyRoot) -> None
        self._sm = _binding()
        selinux = libselinux()
        self.policy_root = policy_root
        self._sm.semanage_set_root("" if policy_root.is_live else policy_root.root)
        self.handle = self._sm.semanage_handle_create()
        if not self.handle:
            raise ToolError("could not create a libsemanage handle")
        if not _messages_shown():
            self._sm.semanage_msg_set_callback(self.handle, None, None)
        self._sm.semanage_select_store(self.handle, policy_root.policy_type,
                                       self._sm.SEMANAGE_CON_DIRECT)
        if policy_root.store_root != DEFAULT_STORE_ROOT:  # e.g. EL7's /etc/selinux layout
            self._sm.semanage_set_store_root(self.handle, policy_root.store_root)
        if self._sm.semanage_is_managed(self.handle) != 1:
            self.close()
            raise ToolError("no policy store for {} at {}".format(
                policy_root.policy_type, policy_root.store_dir))
        if self._sm.semanage_access_check(self.handle) < self._sm.SEMANAGE_CAN_WRITE:
            self.close()
            raise ToolError("the policy store {} is not writable".format(policy_root.store_dir),
                            hint="run as root")
        live = policy_root.is_live and selinux.is_selinux_enabled() == 1
        self._sm.semanage_set_reload(self.handle, 1 if live else 0)
        if self._sm.semanage_connect(self.handle) < 0:
            self.close()
            raise ToolError("could not connect to the policy store {}".format(
                policy_root.store_dir), hint=_why_hint())
        self.connected = True
        self.in_transaction = False

    def begin(self):
        # type: () -> None
        if self._sm.semanage_begin_transaction(self.handle) < 0:
            raise ToolError("could not start a policy store transaction (is semanage running?)")
        self.in_transaction = True

    def _protocol(self, proto):
        # type: (str) -> int
        return getattr(self._sm, "SEMANAGE_PROTO_" + proto.upper())

    def _check(self, rc, what):
        # type: (int, str) -> None
        if rc < 0:
            raise ToolError("policy store: could not {}".format(what))

    def port_key(self, port, proto):
        rc, key = self._sm.semanage_port_key_create(self.handle, port, port,
                                                    self._protocol(proto))
        self._check(rc, "make a key for port {}/{}".format(port, proto))
        return key

    def local_port(self, port, proto):
        # type: (int, str) -> typing.Optional[str]
        """The context of a local record for exactly this port, or None."""
        key = self.port_key(port, proto)
        rc, exists = self._sm.semanage_port_exists_local(self.handle, key)
        self._check(rc, "query port {}/{}".format(port, proto))
        if not exists:
            return None
        rc, record = self._sm.semanage_port_query_local(self.handle, key)
        self._check(rc, "read port {}/{}".format(port, proto))
        rc, text = self._sm.semanage_context_to_string(
            self.handle, self._sm.semanage_port_get_con(record))
        self._check(rc, "read the context of port {}/{}".format(port, proto))
        return text

    def set_port(self, port, proto, context):
        # type: (int, str, typing.Optional[str]) -> None
        """Add/modify the local port record, or delete it when ``context`` is None."""
        key = self.port_key(port, proto)
        if context is None:
            self._check(self._sm.semanage_port_del_local(self.handle, key),
                        "delete port {}/{}".format(port, proto))
            return
        rc, record = self._sm.semanage_port_create(self.handle)
        self._check(rc, "create a port record")
        self._sm.semanage_port_set_range(record, port, port)
        self._sm.semanage_port_set_proto(record, self._protocol(proto))
        rc, con = self._sm.semanage_context_from_string(self.handle, context)
        if rc < 0 or con is None:
            raise ToolError("invalid port context {!r}".format(context))
        self._check(self._sm.semanage_port_set_con(self.handle, record, con),
                    "set the context of port {}/{}".format(port, proto))
        self._check(self._sm.semanage_port_modify_local(self.handle, key, record),
                    "label port {}/{}".format(port, proto))

    def _call(self, what, func, *args):
        """Call a libsemanage function; its failures (rc < 0 or OSError) become ToolError."""
        try:
            rc = func(self.handle, *args)
        except OSError as exc:
            raise ToolError("policy store: could not {} ({})".format(what, exc.strerror or exc))
        self._check(rc, what)
        return rc

    def install_module_file(self, path):
        # type: (str) -> None
        self._call("install the policy module {}".format(path),
                   self._sm.semanage_module_install_file, path)

    def remove_module(self, name):
        # type: (str) -> None
        self._call("remove the policy module {}".format(name), self._sm.semanage_module_remove,
                   name)

    def commit(self):
        # type: () -> None
        try:
            rc = self._sm.semanage_commit(self.handle)
        except OSError:
            rc = -1
        self.in_transaction = False
        if rc < 0:
            raise ToolError("the policy store rejected the changes; nothing was committed",
                            hint=_why_hint())

    def close(self):
        # type: () -> None
        if self.handle:
            if getattr(self, "connected", False):
                self._sm.semanage_disconnect(self.handle)
            self._sm.semanage_handle_destroy(self.handle)
            self.handle = None
        self._sm.semanage_set_root("")
