"""``check``: read-only health of a secured child, in the monitoring-plugin convention
(0 OK, 1 WARNING, 2 CRITICAL): SELinux mode, labels, listener ports' labels, the service, the
listeners, and recent Postfix denials."""

import os
import time
import typing

from postmulti_selinux.plan.build import listener_ports
from postmulti_selinux.plan.observe import Observation
from postmulti_selinux.plan.verify import label_check, live_checks, master_pid
from postmulti_selinux.postfix.preflight import preflight

OK, WARNING, CRITICAL = 0, 1, 2
Item = typing.NamedTuple("Item", [("name", str), ("status", int), ("detail", str)])


def check_child(name, config_dir="/etc/postfix", root="/", since=None):
    # type: (str, str, str, typing.Optional[float]) -> typing.List[Item]
    return check_children([name], config_dir, root, since)[0][1]


def check_children(names, config_dir="/etc/postfix", root="/", since=None):
    # type: (typing.List[str], str, str, typing.Optional[float]) -> typing.List[typing.Tuple[str, typing.List[Item]]]
    """(name, items) for each child, from one look at the host."""
    host = Observation(None, config_dir, root)
    return [(name, _check(host.for_child(name), since)) for name in names]


def _check(obs, since):
    # type: (Observation, typing.Optional[float]) -> typing.List[Item]
    name = obs.name
    items = []
    state = obs.selinux
    items.append(Item("selinux", OK if state.enforcing else WARNING if state.enabled else CRITICAL,
                      "enforcing" if state.enforcing else "permissive" if state.enabled else
                      "disabled"))
    child = obs.host.child(name)  # one-line error when there is no such child
    for finding in preflight(obs.host, name):
        items.append(Item("postfix:" + finding.code,
                          CRITICAL if finding.severity == "error" else WARNING, finding.message))
    labels = label_check(obs.policy_root, [(p, c) for _, p, c in obs.dir_pairs()])
    items.append(Item("labels", OK if labels.ok else WARNING, labels.detail))
    for decision in obs.port_decisions(listener_ports(child)):
        items.append(Item("port {}/{}".format(decision.port, decision.proto),
                          OK if decision.bindable else CRITICAL, decision.reason))
    if child.enabled and obs.policy_root.is_live:
        pid = master_pid(child.queue_directory)
        window = since if since is not None else (process_start(pid) if pid else None)
        window = window if window is not None else time.time() - 3600
        for probe in live_checks(child, window, what="since {}".format(
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(window)))):
            items.append(Item(probe.name, OK if probe.ok else
                              WARNING if probe.name == "avc" else CRITICAL, probe.detail))
    return items


def process_start(pid):
    # type: (int) -> typing.Optional[float]
    """When process PID started (epoch seconds), from /proc/PID/stat and the boot time."""
    try:
        with open("/proc/{}/stat".format(pid)) as handle:
            ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as handle:
            boot = next(int(l.split()[1]) for l in handle if l.startswith("btime "))
    except (OSError, IOError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / float(os.sysconf("SC_CLK_TCK"))


def worst(items):
    # type: (typing.List[Item]) -> int
    return max([i.status for i in items] or [OK])
