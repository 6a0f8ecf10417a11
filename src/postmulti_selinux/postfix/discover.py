"""Read a multi-instance Postfix host the way postmulti does: through postconf -x and -M."""

import ipaddress
import os
import re
import socket

from postmulti_selinux.errors import ToolError
from postmulti_selinux.postfix.model import Host, Instance, Listener, MasterEntry
from postmulti_selinux.postfix.tools import DEFAULT_CONFIG_DIR, Postfix

INSTANCE_PARAMS = [
    "config_directory", "queue_directory", "data_directory",
    "multi_instance_name", "multi_instance_group", "multi_instance_enable",
    "master_service_disable", "inet_interfaces", "inet_protocols", "myhostname", "mydestination",
]
PARENT_PARAMS = INSTANCE_PARAMS + [
    "multi_instance_directories", "multi_instance_wrapper", "mail_version"]

_LIST_SPLIT = re.compile(r"[\s,]+")


def split_list(value):
    # type: (str) -> tuple
    """A Postfix list parameter (comma and/or whitespace separated) as a tuple."""
    return tuple(item for item in _LIST_SPLIT.split(value or "") if item)


def parse_master_line(line):
    # type: (str) -> MasterEntry
    fields = line.split()
    if len(fields) < 8:
        raise ToolError("unexpected postconf -M output line: {!r}".format(line))
    return MasterEntry(*fields[:8], args=tuple(fields[8:]))


def split_service(service):
    # type: (str) -> tuple
    """``host:port`` / ``[v6]:port`` / ``port`` -> (host or "", port text)."""
    if service.startswith("["):
        host, _, rest = service[1:].partition("]")
        return host, rest.lstrip(":")
    if ":" in service:
        host, _, port = service.rpartition(":")
        return host, port
    return "", service


def resolve_port(port):
    # type: (str) -> object
    """Port number from digits or an /etc/services name (tcp); None when unknown."""
    if re.match(r"^[0-9]+$", port):
        return int(port)
    try:
        return socket.getservbyname(port, "tcp")
    except (OSError, socket.error):
        return None


def _families(protocols):
    # type: (tuple) -> tuple
    wanted = set(p.lower() for p in protocols) or {"all"}
    v4 = bool(wanted & {"all", "ipv4"})
    v6 = bool(wanted & {"all", "ipv6"})
    return v4, v6


def resolve_host(host, protocols):
    # type: (str, tuple) -> tuple
    """Numeric addresses for an interface/host name, filtered by inet_protocols."""
    v4, v6 = _families(protocols)
    text = host.strip("[]")
    try:
        return (str(ipaddress.ip_address(text)),)
    except ValueError:
        pass
    addresses = []
    try:
        infos = socket.getaddrinfo(text, None, 0, socket.SOCK_STREAM)
    except (OSError, socket.error):
        return (text,)  # unresolvable: keep the name so the admin can see it
    for family, _, _, _, sockaddr in infos:
        if (family == socket.AF_INET and v4) or (family == socket.AF_INET6 and v6):
            if sockaddr[0] not in addresses:
                addresses.append(sockaddr[0])
    return tuple(addresses) or (text,)


def interface_addresses(inet_interfaces, protocols):
    # type: (tuple, tuple) -> tuple
    """Addresses an address-less listener binds, per inet_interfaces ("*" for all)."""
    v4, v6 = _families(protocols)
    lowered = [item.lower() for item in inet_interfaces]
    if not lowered or lowered == ["all"]:
        return ("*",)
    if lowered == ["loopback-only"]:
        return tuple(a for a, ok in (("127.0.0.1", v4), ("::1", v6)) if ok)
    addresses = []
    for item in inet_interfaces:
        for address in resolve_host(item, protocols):
            if address not in addresses:
                addresses.append(address)
    return tuple(addresses)


def service_disabled(entry, master_service_disable):
    # type: (MasterEntry, tuple) -> bool
    """True when master_service_disable names this entry's type or its service/type."""
    return any(token == entry.type or token == entry.key for token in master_service_disable)


def listeners_for(entries, inet_interfaces, protocols, master_service_disable):
    # type: (tuple, tuple, tuple, tuple) -> tuple
    listeners = []
    for entry in entries:
        if entry.type != "inet":
            continue
        host, port_text = split_service(entry.service)
        addresses = resolve_host(host, protocols) if host else interface_addresses(
            inet_interfaces, protocols)
        disabled = service_disabled(entry, master_service_disable)
        for address in addresses:
            listeners.append(Listener(address, resolve_port(port_text), entry.service,
                                      entry.command, disabled))
    return tuple(listeners)


def _is_yes(value):
    # type: (str) -> bool
    return value.strip().lower() == "yes"


def read_instance(postfix, config_dir, primary=False, values=None):
    # type: (Postfix, str, bool, dict) -> Instance
    """One instance from its main.cf/master.cf via postconf; raises ToolError on failure."""
    values = values or postfix.params(INSTANCE_PARAMS, config_dir)
    entries = tuple(parse_master_line(line) for line in postfix.master_lines(config_dir))
    interfaces = split_list(values["inet_interfaces"])
    protocols = split_list(values["inet_protocols"])
    disable = split_list(values["master_service_disable"])
    return Instance(
        name=values["multi_instance_name"],
        config_directory=config_dir,
        queue_directory=values["queue_directory"],
        data_directory=values["data_directory"],
        enabled=_is_yes(values["multi_instance_enable"]),
        group=values["multi_instance_group"],
        primary=primary,
        master_service_disable=disable,
        inet_interfaces=interfaces,
        inet_protocols=protocols,
        myhostname=values["myhostname"],
        mydestination=split_list(values["mydestination"]),
        listeners=listeners_for(entries, interfaces, protocols, disable),
        master_entries=entries,
    )


def discover(config_dir=DEFAULT_CONFIG_DIR, postfix=None):
    # type: (str, Postfix) -> Host
    """The parent at ``config_dir`` and every child in its multi_instance_directories.

    A child whose main.cf cannot be read is returned with ``error`` set instead of failing the
    whole host (preflight reports it); a broken parent raises ToolError.
    """
    postfix = postfix or Postfix(config_dir)
    config_dir = postfix.config_dir
    values = postfix.params(PARENT_PARAMS, config_dir)
    values["config_directory"] = config_dir
    child_dirs = split_list(values["multi_instance_directories"])
    parent = read_instance(postfix, config_dir, primary=True, values=values)
    if not child_dirs:
        parent = parent._replace(enabled=True)  # postmulti: single-instance mode
    children = []
    for child_dir in child_dirs:
        try:
            children.append(read_instance(postfix, child_dir))
        except ToolError as exc:
            children.append(Instance(name="", config_directory=child_dir, error=str(exc)))
    ready = bool(values["multi_instance_wrapper"]) and _is_yes(values["multi_instance_enable"])
    return Host(parent, tuple(children), values["mail_version"], ready)


def postmulti_list(postfix):
    # type: (Postfix) -> list
    """``postmulti -l -a`` rows as (name, group, enabled, config_directory), parent first.

    The parent row reports the parent's directory even when postmulti ran in a namespace
    where it appears under the default path.
    """
    rows = []
    for index, line in enumerate(postfix.postmulti(["-l", "-a"]).stdout.splitlines()):
        fields = line.split(None, 3)
        if len(fields) != 4:
            continue
        name, group, enabled, directory = fields
        if index == 0:
            directory = postfix.config_dir
        rows.append(("" if name == "-" else name, "" if group == "-" else group,
                     enabled == "y", directory))
    return rows


def instance_running(instance):
    # type: (Instance) -> int
    """PID of the instance's running master process, or 0."""
    if not instance.queue_directory:
        return 0
    try:
        with open(os.path.join(instance.queue_directory, "pid", "master.pid")) as handle:
            pid = int(handle.read().strip() or 0)
    except (OSError, IOError, ValueError):
        return 0
    if pid <= 0:
        return 0
    try:
        with open("/proc/{}/comm".format(pid)) as handle:
            return pid if handle.read().strip() == "master" else 0
    except (OSError, IOError):
        return 0
