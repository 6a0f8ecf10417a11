"""Observe the host: SELinux state, Postfix instances, labels, listener ports, service manager."""

import copy
import os
import typing

from postmulti_selinux.errors import ToolError
from postmulti_selinux.plan.service import service_manager
from postmulti_selinux.postfix.manage import Manager
from postmulti_selinux.selinux import PolicyRoot, PortCheck
from postmulti_selinux.selinux.bindings import kernel_mode

DOMAIN = "postfix_master_t"  # the domain that binds a child's listeners (smtpd inherits them)

SELinuxState = typing.NamedTuple("SELinuxState", [
    ("enabled", bool), ("enforcing", bool), ("policy_type", str)])


def selinux_state(root="/"):
    # type: (str) -> SELinuxState
    """The live kernel's answer on "/"; for an alternate root (offline mode: an image or a test
    tree) what that root's /etc/selinux/config says."""
    policy_root = PolicyRoot(root)
    if not policy_root.is_live:
        mode = _config_mode(policy_root.path("/etc/selinux/config"))
        return SELinuxState(mode in ("enforcing", "permissive"), mode == "enforcing",
                            policy_root.policy_type)
    enabled, enforcing = kernel_mode()
    return SELinuxState(enabled, enforcing, policy_root.policy_type)


def _config_mode(path):
    # type: (str) -> str
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                if key == "SELINUX":
                    return value.strip().lower()
    except (IOError, OSError):
        pass
    return "disabled"


def child_dir_pairs(parent, child):
    # type: (typing.Any, typing.Any) -> typing.List[typing.Tuple[str, str, str]]
    """(role, parent_dir, child_dir) for the config, queue and data directories."""
    pairs = []
    for role in ("config_directory", "queue_directory", "data_directory"):
        theirs, mine = getattr(parent, role), getattr(child, role)
        if theirs and mine and theirs != mine:
            pairs.append((role, theirs, mine))
    return pairs


class Observation(object):
    """Everything the plan is built from, read once: the host's Postfix instances, its policy
    and service manager. :meth:`for_child` gives one child's view of it, sharing what was read
    (one port check, one discover) with the other children of the run."""

    def __init__(self, name, config_dir="/etc/postfix", root="/", port_backend="auto"):
        # type: (typing.Optional[str], str, str, str) -> None
        self.name = name
        self.manager = Manager(config_dir)
        self.policy_root = PolicyRoot(root)
        self.selinux = selinux_state(root)
        self.service_manager = service_manager()
        self.port_backend = port_backend
        self.host = None  # the Postfix Host, read by refresh()
        self.child = None  # set by refresh() once the child exists
        self._shared = {}  # type: dict  # the port check, shared by every child's view
        self.refresh()

    def refresh(self):
        # type: () -> None
        """Re-read Postfix state (after a create or listener change)."""
        self.host = self.manager.host()
        existing = [c for c in self.host.children if self.name and c.matches(self.name)]
        self.child = existing[0] if existing else None

    def for_child(self, name):
        # type: (str) -> Observation
        """This observation as child ``name`` sees it (no new look at the host)."""
        view = copy.copy(self)
        view.name = name
        existing = [c for c in self.host.children if c.matches(name)]
        view.child = existing[0] if existing else None
        return view

    @property
    def parent(self):
        return self.host.parent

    def system_path(self, path):
        # type: (str) -> str
        """A Postfix path as the policy sees it: offline, the Postfix tree lives under the
        alternate root, so /ROOT/etc/postfix-sub is /etc/postfix-sub to the policy."""
        return path if self.policy_root.is_live else self.policy_root.system_path(path)

    def dir_pairs(self):
        # type: () -> typing.List[typing.Tuple[str, str, str]]
        """(role, parent_dir, child_dir) as system paths."""
        if not self.child:
            return []
        return [(role, self.system_path(a), self.system_path(b))
                for role, a, b in child_dir_pairs(self.parent, self.child)]

    def port_check(self):
        # type: () -> PortCheck
        if "ports" not in self._shared:
            self._shared["ports"] = PortCheck(self.policy_root, backend=self.port_backend)
        return self._shared["ports"]

    def port_decisions(self, ports):
        # type: (typing.Iterable[int]) -> list
        return self.port_check().check([(p, "tcp") for p in sorted(set(ports))], DOMAIN)


def require_selinux(state):
    # type: (SELinuxState) -> None
    """Refuse to apply on a host where SELinux is disabled: there is nothing to keep enforcing."""
    if not state.enabled:
        raise ToolError("SELinux is disabled on this host; postmulti-selinux only changes hosts "
                        "that run SELinux", hint="enable SELinux first (and relabel), then rerun")
