"""Never leave the parent down.

On EL one ``postfix.service`` starts every instance (``postfix start`` runs the multi-instance
wrapper), so a child that cannot start fails the unit and systemd stops the parent with it.
Before a restart the child is checked (``postfix check``, the queue layout, its daemons); when it
cannot start, or a restart fails anyway while the parent is down, the child is taken out of the
start set (``multi_instance_enable = no``, journalled: ``undo`` or a rerun puts it back) and
Postfix is started again, so the parent serves mail within seconds.
"""

import time
import typing

from postmulti_selinux.errors import ToolError
from postmulti_selinux.plan.actions import ConfigAction, _change_data, _child_files
from postmulti_selinux.plan.verify import Check, master_pid
from postmulti_selinux.postfix import layout

PARENT_WAIT = 10.0  # seconds a just-started parent master gets to write its pid file


class TakeChildOutOfStartSet(ConfigAction):
    """``postmulti -i CHILD -e disable``: the service manager starts the others without it."""
    kind = "disable-child"

    def __init__(self, child, why):
        super(TakeChildOutOfStartSet, self).__init__(
            "{}: multi_instance_enable = no (out of the start set)".format(child.label),
            "{}; the parent must not stay down with it".format(why), child.name,
            _child_files(child, "main.cf"))

    def holds(self, ctx):
        return not self.current(ctx).enabled

    def apply(self, ctx):
        return _change_data(ctx.manager.disable(self.name))


def parent_up(parent, wait=0.0):
    # type: (typing.Any, float) -> bool
    """Whether the parent's master runs (waiting up to ``wait`` seconds for it)."""
    deadline = time.time() + wait
    while True:
        if master_pid(parent.queue_directory) is not None:
            return True
        if time.time() >= deadline:
            return False
        time.sleep(0.5)


def set_aside(obs, ctx, apply_action, result, why, others_continue=False):
    # type: (typing.Any, typing.Any, typing.Callable, typing.Any, str, bool) -> None
    """Child ``obs.child`` cannot start (``why``): record it in ``result`` (its ChildResult).
    Where one service starts every instance (EL's postfix.service, or the ``service``
    command), it is taken out of the start set, since the next restart or boot would stop the
    parent with it; with per-instance units (Debian's postfix@NAME) it stays as it is. With
    ``others_continue`` the run goes on restarting the other children without it."""
    result.verification.append(Check("child startable", False, why)._asdict())
    shared = obs.service_manager.shared
    if shared and obs.child.enabled:
        action = TakeChildOutOfStartSet(obs.child, why)
        action.instance = obs.name
        apply_action(action, "one service starts every instance here: with {} in its start "
                     "set, a restart or a boot stops the parent too".format(obs.child.label))
    result.set_aside = (obs.child.label, why, shared)
    if others_continue:
        result.notes.append("{} is not secured ({}){}; the parent and the other children were "
                            "started without it".format(obs.child.label, why, "; it was taken "
                                                        "out of the start set" if shared else ""))
        result.set_aside = None


def keep_parent_running(obs, report, log):
    # type: (typing.Any, typing.Any, typing.Callable) -> None
    """No child of the run could be started: make sure the parent runs, and say so for each
    child set aside (see :func:`set_aside`)."""
    aside = [r for r in report.children.values() if getattr(r, "set_aside", None)]
    if parent_up(obs.parent, wait=2.0):
        for result in aside:
            label, why, shared = result.set_aside
            result.notes.append("{} is not secured ({}); the parent kept running{}".format(
                label, why, "; the child was taken out of the start set" if shared else ""))
        return
    try:
        obs.service_manager.restart((), log)
        report.restarts += 1
    except ToolError as exc:
        log("restart without {} failed too: {}".format(
            ", ".join(r.set_aside[0] for r in aside), exc))
    up = parent_up(obs.parent, wait=PARENT_WAIT)
    for result in aside:
        label, why, shared = result.set_aside
        result.verification.append(Check("parent", up, "the parent's master {}".format(
            "runs again" if up else "is still not running: see 'journalctl -u postfix'"))._asdict())
        result.notes.append(
            "{} is not secured ({}); {}Postfix was started again so that the parent runs: fix "
            "the child and rerun secure-child, or undo".format(
                label, why, "it was taken out of the start set and " if shared else ""))


def restart_after_undo(names, manager, log=None, config_dir="/etc/postfix"):
    # type: (typing.Union[str, typing.List[str]], typing.Any, typing.Optional[typing.Callable], str) -> typing.List[str]
    """Restart Postfix once after ``undo`` put children ``names`` back as they were. A child
    restored to a state that cannot start (a seed-like child under enforcing) must not keep the
    parent down: it is taken out of the start set and Postfix started again. Returns notes for
    the admin."""
    from postmulti_selinux.postfix.manage import Manager
    names = [names] if isinstance(names, str) else list(names)
    log = log or (lambda text: None)
    try:
        manager.restart((), log)
        return []
    except ToolError as exc:
        failure = str(exc)
    postfix = Manager(config_dir)
    host = postfix.host()
    if parent_up(host.parent, wait=2.0):
        return ["{}; the parent kept running".format(failure)]
    restored = [c for c in host.children if c.enabled and any(c.matches(n) for n in names)]
    if not restored:
        raise ToolError(failure)
    made = []  # type: typing.List[str]
    for child in restored:
        postfix.disable(child.name)
        # "postfix start" still runs "postfix check" for a disabled instance (postmulti(1),
        # postmulti_start_commands), which fails where its queue directories are missing.
        made += layout.complete_layout(layout.expected_directories(postfix.postfix,
                                                                   child))["created"]
    labels = ", ".join(c.label for c in restored)
    manager.restart((), log)
    if not parent_up(host.parent, wait=PARENT_WAIT):
        raise ToolError("{}; the parent is still not running after taking {} out of the start "
                        "set".format(failure, labels))
    return ["{} {} back as it was, and as it was it cannot start ({}): it was taken out of the "
            "start set{} so that the parent runs; {} puts it back".format(
                labels, "is" if len(restored) == 1 else "are", failure,
                " and its {} missing queue directories made (postfix start checks a disabled "
                "instance too)".format(len(made)) if made else "",
                " and ".join("'postmulti -i {} -e enable'".format(c.label) for c in restored))]
