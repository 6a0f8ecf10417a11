"""Value objects describing a multi-instance Postfix host."""

from typing import NamedTuple, Optional, Tuple

from postmulti_selinux.errors import ToolError


class Listener(NamedTuple):
    """One TCP socket a master.cf ``inet`` service opens.

    ``address`` is a numeric IP address, or ``*`` for every address; ``port`` is the number
    (None when the service name is not in /etc/services); ``service`` is the master.cf service
    field as written (``smtp``, ``10025``, ``127.0.0.1:10025``); ``command`` the daemon
    (``smtpd``, ``postscreen``); ``disabled`` is True when master_service_disable switches the
    service off, so the port will not open.
    """
    address: str
    port: Optional[int]
    service: str
    command: str
    disabled: bool = False


class MasterEntry(NamedTuple):
    """One master.cf service line as normalised by ``postconf -M``."""
    service: str
    type: str
    private: str
    unprivileged: str
    chroot: str
    wakeup: str
    process_limit: str
    command: str
    args: Tuple[str, ...] = ()

    @property
    def key(self):
        # type: () -> str
        """``service/type``, the name postconf -M/-F/-MX use for this entry."""
        return "{}/{}".format(self.service, self.type)


class Instance(NamedTuple):
    """A Postfix instance (the parent or one child) as Postfix itself reads it.

    ``name`` is multi_instance_name ("" when nameless); ``enabled`` follows postmulti (the parent
    of a single-instance host counts as enabled); ``error`` is set (and most fields are empty)
    when the instance's main.cf could not be read.
    """
    name: str
    config_directory: str
    queue_directory: str = ""
    data_directory: str = ""
    enabled: bool = False
    group: str = ""
    primary: bool = False
    master_service_disable: Tuple[str, ...] = ()
    inet_interfaces: Tuple[str, ...] = ()
    inet_protocols: Tuple[str, ...] = ()
    myhostname: str = ""
    mydestination: Tuple[str, ...] = ()
    listeners: Tuple[Listener, ...] = ()
    master_entries: Tuple[MasterEntry, ...] = ()
    error: str = ""

    @property
    def label(self):
        # type: () -> str
        """How postmulti -l names the instance: its name, or its config directory."""
        return self.name or self.config_directory

    def matches(self, selector):
        # type: (str) -> bool
        """postmulti's -i matching: name, name without "postfix-", config directory, "-"."""
        if selector == "-":
            return self.primary
        if selector.startswith("/") or not self.name:
            return selector.rstrip("/") == self.config_directory.rstrip("/")
        if not selector.startswith("postfix-") and self.name.startswith("postfix-"):
            return selector == self.name[len("postfix-"):]
        return selector == self.name

    def as_dict(self):
        # type: () -> dict
        """A JSON-friendly form (listeners as dicts, tuples as lists)."""
        data = {}
        for field in self._fields:
            value = getattr(self, field)
            if field == "listeners":
                value = [dict(item._asdict()) for item in value]
            elif field == "master_entries":
                continue
            elif isinstance(value, tuple):
                value = list(value)
            data[field] = value
        return data


class Host(NamedTuple):
    """The parent instance, its children in multi_instance_directories order, and the version."""
    parent: Instance
    children: Tuple[Instance, ...]
    mail_version: str
    multi_instance_ready: bool  # "postmulti -e init" was run (wrapper set and enable = yes)

    @property
    def instances(self):
        # type: () -> Tuple[Instance, ...]
        return (self.parent,) + tuple(self.children)

    def child(self, name):
        # type: (str) -> Instance
        """The child selected like ``postmulti -i NAME``; ToolError when there is none."""
        for inst in self.children:
            if inst.matches(name):
                return inst
        known = ", ".join(c.label for c in self.children) or "none"
        raise ToolError("no Postfix child instance named {!r} (children: {})".format(name, known),
                        hint="list them with 'postmulti -l -a' or 'postmulti-selinux instances'")

    def as_dict(self):
        # type: () -> dict
        return {"mail_version": self.mail_version,
                "multi_instance_ready": self.multi_instance_ready,
                "parent": self.parent.as_dict(),
                "children": [c.as_dict() for c in self.children]}
