"""Preflight checks for the problems a postmulti setup runs into (see the seed walkthrough).

Each check returns Findings with a stable ``code``, a ``severity`` ("error" or "warning"), the
instance label, a message and a fix hint; ``as_dict`` gives the machine-readable form.
"""

import ipaddress
import os
import re
from typing import NamedTuple

from postmulti_selinux.postfix.discover import instance_running, listeners_for
from postmulti_selinux.postfix.layout import (  # noqa: F401 - the start-ability checks
    child_start_problems, missing_daemons, postfix_check_problems)
from postmulti_selinux.postfix.manage import name_problem, parse_listener_spec
from postmulti_selinux.postfix.model import MasterEntry

MIN_VERSION = (2, 6)
SMTP_COMMANDS = ("smtpd", "postscreen")


class Finding(NamedTuple):
    code: str
    severity: str
    instance: str
    message: str
    hint: str

    def as_dict(self):
        # type: () -> dict
        return dict(self._asdict())


def check_version(mail_version):
    # type: (str) -> list
    """Postfix older than 2.6 has no postmulti / multi-instance support."""
    match = re.match(r"(\d+)\.(\d+)", mail_version or "")
    if match and (int(match.group(1)), int(match.group(2))) >= MIN_VERSION:
        return []
    return [Finding("postfix-too-old", "error", "-",
                    "Postfix {} has no multi-instance support (postmulti needs 2.6 or later)"
                    .format(mail_version or "of unknown version"),
                    "upgrade Postfix to 2.6 or later")]


def check_name(label, name):
    # type: (str, str) -> list
    problem = name_problem(name)
    if not problem:
        return []
    return [Finding("bad-instance-name", "error", label, problem + "; postmulti refuses it",
                    "name instances postfix-<something> using letters, digits and -_.")]


def check_master_service_disable(instance):
    # type: (object) -> list
    """An enabled child whose inet listeners master_service_disable switches off."""
    if instance.primary or not instance.enabled:
        return []
    dead = sorted(set(l.service for l in instance.listeners if l.disabled))
    if not dead:
        return []
    return [Finding("inet-disabled", "error", instance.label,
                    "master_service_disable = {} is still set, so the port(s) of {} will never "
                    "open".format(" ".join(instance.master_service_disable), ", ".join(dead)),
                    "postconf -c {} -# master_service_disable (or postmulti-selinux's "
                    "clear_master_service_disable)".format(instance.config_directory))]


def check_directories(instance):
    # type: (object) -> list
    """Config/queue/data directories of a child that are missing on disk."""
    if instance.primary:
        return []
    findings = []
    if instance.error:
        findings.append(Finding("unreadable-instance", "error", instance.label,
                                "cannot read instance at {}: {}".format(
                                    instance.config_directory, instance.error),
                                "restore {0}/main.cf and master.cf or remove {0} from "
                                "multi_instance_directories (postmulti -e deport)".format(
                                    instance.config_directory)))
    for key in ("config_directory", "queue_directory", "data_directory"):
        path = getattr(instance, key)
        if path and not os.path.isdir(path):
            findings.append(Finding("missing-directory", "error", instance.label,
                                    "{} {} does not exist".format(key, path),
                                    "recreate it with 'postfix -c {} set-permissions' or fix {} "
                                    "in main.cf".format(instance.config_directory, key)))
    return findings


def _overlap(a, b):
    # type: (str, str) -> bool
    wild = ("*", "0.0.0.0", "::")
    return a == b or a in wild or b in wild


def _active(instance):
    # type: (object) -> list
    return [l for l in instance.listeners if not l.disabled and l.port]


def _runs(instance):
    # type: (object) -> bool
    return instance.enabled and not instance.error


def check_listener_clashes(host, selected=None):
    # type: (object, object) -> list
    """Two instances that would bind the same address:port."""
    findings = []
    instances = [i for i in host.instances if _runs(i) or i is selected]
    for index, first in enumerate(instances):
        for second in instances[index + 1:]:
            if selected is not None and selected not in (first, second):
                continue
            for mine in _active(second):
                for other in _active(first):
                    if mine.port == other.port and _overlap(mine.address, other.address):
                        findings.append(Finding(
                            "listener-clash", "error", second.label,
                            "{} listener {}:{} clashes with {} of instance {}".format(
                                second.label, mine.address, mine.port, other.service,
                                first.label),
                            "give {} another port or address: set_listener / edit {}/master.cf"
                            .format(second.label, second.config_directory)))
    return findings


def listen_clashes(host, spec, child=None):
    # type: (object, str, object) -> list
    """Where ``--listen``/``--port`` SPEC, as ``child``'s SMTP listener (a child still to be
    created: with the parent's inet_interfaces), would take another instance's address:port.

    Both sides are numeric addresses (names resolved, ``[::1]`` and ``::1`` alike, ``*`` for
    every address), so any spelling of the same socket is a clash. Every instance counts,
    disabled ones too: enabling one later must not take a child's port.
    """
    owner = child if child is not None else host.parent
    entry = MasterEntry(parse_listener_spec(spec), "inet", "n", "-", "n", "-", "-", "smtpd")
    wanted = listeners_for((entry,), owner.inet_interfaces, owner.inet_protocols, ())
    findings = []
    for inst in host.instances:
        if child is not None and inst.config_directory == child.config_directory:
            continue
        for other in _active(inst):
            for mine in wanted:
                if mine.port == other.port and _overlap(mine.address, other.address):
                    findings.append(Finding(
                        "listener-clash", "error", owner.label,
                        "--listen {} would take {}:{}, which {} already listens on ({})".format(
                            spec, mine.address if mine.address != "*" else "every address",
                            mine.port, "the parent" if inst.primary else inst.label,
                            other.service),
                        "give the child another port or address"))
                    break
    return findings


def listening_sockets():
    # type: () -> list
    """(address, port, inode) of every listening TCP socket in /proc/net/tcp{,6}."""
    sockets = []
    for name, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            with open(name) as handle:
                lines = handle.readlines()[1:]
        except (OSError, IOError):
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A":  # 0A = LISTEN
                continue
            hex_addr, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_addr)
            # /proc prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            address = ipaddress.ip_address(raw)
            if address.version == 6 and address.ipv4_mapped:
                address = address.ipv4_mapped
            sockets.append((str(address), int(hex_port, 16), fields[9]))
    return sockets


def socket_owners(inodes):
    # type: (set) -> dict
    """inode -> set of PIDs holding it (scans /proc/*/fd)."""
    owners = {}  # type: dict
    wanted = dict(("socket:[{}]".format(i), i) for i in inodes)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fd_dir = "/proc/{}/fd".format(pid)
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target in wanted:
                owners.setdefault(wanted[target], set()).add(int(pid))
    return owners


def parent_pid(pid):
    # type: (int) -> int
    """The parent PID from /proc/PID/stat (0 when the process is gone)."""
    try:
        with open("/proc/{}/stat".format(pid)) as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IOError, ValueError, IndexError):
        return 0


def check_bound_ports(host, selected=None, sockets=None):
    # type: (object, object, list) -> list
    """Listeners whose address:port is already taken by a process that is not this instance."""
    sockets = listening_sockets() if sockets is None else sockets
    instances = [i for i in host.instances if (selected is None and _runs(i)) or i is selected]
    clashes = []
    for inst in instances:
        for listener in _active(inst):
            for address, port, inode in sockets:
                if port == listener.port and _overlap(address, listener.address):
                    clashes.append((inst, listener, address, inode))
    if not clashes:
        return []
    owners = socket_owners(set(c[3] for c in clashes))
    masters = dict((instance_running(i), i) for i in host.instances)
    masters.pop(0, None)
    findings = []
    for inst, listener, address, inode in clashes:
        pids = owners.get(inode, set())
        if pids and all(pid in masters or parent_pid(pid) in masters for pid in pids):
            continue  # held by a Postfix master (and the smtpd it forked): its own listener
        findings.append(Finding(
            "port-in-use", "error", inst.label,
            "{}:{} ({}) is already bound on this host by {}".format(
                listener.address, listener.port, listener.service,
                "PID " + ", ".join(str(p) for p in sorted(pids)) if pids else "another process"),
            "stop that process or move {} to a free port (ss -ltnp shows the owner)".format(
                inst.label)))
    return findings


def check_mail_loop(host, selected=None):
    # type: (object, object) -> list
    """Settings that make Postfix report "mail for X loops back to myself"."""
    findings = []
    instances = [i for i in host.instances if (selected is None and _runs(i)) or i is selected]
    for inst in instances:
        if inst.error or not any(l.command in SMTP_COMMANDS for l in _active(inst)):
            continue
        local = set(d.lower() for d in inst.mydestination)
        own = [n for n in (inst.myhostname, "localhost") if n and n.lower() not in local]
        if own:
            findings.append(Finding(
                "mail-loop", "warning", inst.label,
                "mydestination of {} does not list {}: mail for its own name is relayed to this "
                "host again and bounces with 'mail for {} loops back to myself'".format(
                    inst.label, ", ".join(own), own[0]),
                "add the domain(s) it receives for: postconf -c {} -e 'mydestination = "
                "$myhostname, localhost, <your mail domain>'".format(inst.config_directory)))
        if inst.primary:
            continue
        for other in host.instances:
            if other is inst or other.error or not other.myhostname:
                continue
            if other.myhostname.lower() == inst.myhostname.lower() and (
                    other.primary or _runs(other)):
                findings.append(Finding(
                    "shared-myhostname", "warning", inst.label,
                    "{} and {} both use myhostname {}: SMTP between them fails with 'mail for "
                    "... loops back to myself'".format(inst.label, other.label, inst.myhostname),
                    "give the child its own name: postconf -c {} -e myhostname=<unique name>"
                    .format(inst.config_directory)))
                break
    return findings


def preflight(host, name=None, sockets=None):
    # type: (object, str, list) -> list
    """Every check, for the whole host or (with ``name``) for one child."""
    findings = check_version(host.mail_version)
    selected = None
    if name is not None:
        matches = [c for c in host.children if c.matches(name)]
        if not matches:
            problems = check_name(name, name) or [Finding(
                "unknown-instance", "error", name, "no child instance named {}".format(name),
                "create it: postmulti -I {} -e create".format(name))]
            return findings + problems
        selected = matches[0]
    targets = [selected] if selected is not None else list(host.children)
    for inst in targets:
        if inst.name:
            findings += check_name(inst.label, inst.name)
        elif not inst.error:
            findings.append(Finding(
                "bad-instance-name", "warning", inst.label,
                "instance at {} has no multi_instance_name".format(inst.config_directory),
                "postmulti -i {} -e assign -I postfix-<name>".format(inst.config_directory)))
        findings += check_directories(inst)
        findings += check_master_service_disable(inst)
    findings += check_listener_clashes(host, selected)
    findings += check_bound_ports(host, selected, sockets)
    findings += check_mail_loop(host, selected)
    return findings

