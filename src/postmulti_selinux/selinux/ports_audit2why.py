"""Port questions without setools: libselinux's ``selinux.audit2why`` and the policy store.

``audit2why.analyze(scon, tcon, tclass, perms)`` computes one access decision against a policy
file with the booleans as that file holds them (their persistent states at its last rebuild;
runtime-only ``setsebool`` changes are not in the file). It returns ALLOW, or why not: TERULE
(no rule), BOOLEAN (a conditional rule exists; the list names single booleans whose flip would
allow it, so under the file's states it is denied), DONTAUDIT, CONSTRAINT, RBAC, BOUNDS. Only
ALLOW counts as bindable. The module holds one policy per process: each query (re)loads ours.

Port types come from the root's store (:mod:`store_portcons`), never from the host's.
"""

import contextlib
import os
import typing

from postmulti_selinux.errors import ToolError
from postmulti_selinux.selinux.bindings import audit2why
from postmulti_selinux.selinux.policy_root import PolicyRoot
from postmulti_selinux.selinux.store_portcons import StorePortcons

_LOADED = [None]  # type: typing.List[typing.Optional[str]]


def audit2why_available():
    # type: () -> bool
    return audit2why() is not None


@contextlib.contextmanager
def _quiet_stderr():
    """libsepol prints unknown types to fd 2; a probe for a type must not."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class Audit2whyBackend(object):
    name = "audit2why"
    description = "libselinux's audit2why with port types from the policy store"

    def __init__(self, policy_file, policy_root):
        # type: (str, PolicyRoot) -> None
        self._a2w = audit2why()
        self.policy_file = policy_file
        self._portcons = StorePortcons(policy_root)
        self._level = None  # type: typing.Optional[str]
        self._types = {}  # type: typing.Dict[str, bool]
        self._known_domain = "init_t"  # a source for probing object types; the last domain seen
        self.last_booleans = None  # type: typing.Optional[list]

    def _load(self):
        if _LOADED[0] != self.policy_file:
            if _LOADED[0] is not None:
                self._a2w.finish()
                _LOADED[0] = None
            try:
                self._a2w.init(self.policy_file)
            except (OSError, ValueError, RuntimeError) as exc:
                raise ToolError("audit2why cannot load {}: {}".format(self.policy_file, exc))
            _LOADED[0] = self.policy_file

    def _analyze(self, domain, target_type, tclass, perm):
        # type: (str, str, str, str) -> typing.Tuple[int, typing.Any]
        """One decision; contexts get an ``s0`` level where the policy is MLS/MCS."""
        self._load()
        levels = [self._level] if self._level is not None else [":s0", ""]
        with _quiet_stderr():
            for level in levels:
                rc, bools = self._a2w.analyze("system_u:system_r:{}{}".format(domain, level),
                                              "system_u:object_r:{}{}".format(target_type, level),
                                              tclass, [perm])
                if rc != self._a2w.BADSCON or level == levels[-1]:
                    if rc not in (self._a2w.BADSCON, self._a2w.BADTCON):
                        self._level = level
                    return rc, bools
        return self._a2w.BADSCON, None  # pragma: no cover - the loop always returns

    def port_type(self, port, proto):
        # type: (int, str) -> str
        return self._portcons.port_type(port, proto)

    def may_bind(self, domain, port_type, proto):
        # type: (str, str, str) -> bool
        rc, bools = self._analyze(domain, port_type, "{}_socket".format(proto), "name_bind")
        if rc < 0 and rc not in (self._a2w.BADSCON, self._a2w.BADTCON):
            raise ToolError("audit2why could not decide {} name_bind {} (code {})".format(
                domain, port_type, rc))
        self.last_booleans = bools if rc == self._a2w.BOOLEAN else None
        return rc == self._a2w.ALLOW

    def has_type(self, name):
        # type: (str) -> bool
        """Probed as the source of a query (domains), else as its target (object types)."""
        if name not in self._types:
            rc, _ = self._analyze(name, "port_t", "tcp_socket", "name_bind")
            if rc != self._a2w.BADSCON:
                self._known_domain = name
                self._types[name] = True
            else:
                rc, _ = self._analyze(self._known_domain, name, "tcp_socket", "name_bind")
                self._types[name] = rc not in (self._a2w.BADSCON, self._a2w.BADTCON)
        return self._types[name]
