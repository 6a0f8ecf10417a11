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
from postmulti_selinux.plan.service import instance_unit, restart_postfix
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
            _child_files(child))

    def satisfied(self, ctx):
        return not ctx.manager.child(self.name).enabled

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


def keep_parent_up(obs, ctx, apply_action, report, why, log):
    # type: (typing.Any, typing.Any, typing.Callable, typing.Any, str, typing.Callable) -> None
    """After ``why`` (the child cannot start): make sure the parent runs. Where one service
    starts every instance (EL's postfix.service, or the ``service`` command), the child is taken
    out of the start set first, since the next restart or boot would stop the parent with it;
    with per-instance units (Debian's postfix@NAME) it stays as it is."""
    report.verification.append(Check("child startable", False, why)._asdict())
    shared = obs.service_manager != "systemd" or instance_unit(obs.child.name) == "postfix.service"
    if shared and obs.child.enabled:
        apply_action(TakeChildOutOfStartSet(obs.child, why),
                     "one service starts every instance here: with {} in its start set, a "
                     "restart or a boot stops the parent too".format(obs.child.label))
    if parent_up(obs.parent, wait=2.0):
        report.notes.append("{} is not secured ({}); the parent kept running{}".format(
            obs.child.label, why, "; the child was taken out of the start set" if shared else ""))
        return
    try:
        restart_postfix(obs.service_manager, None, log)
        report.restarts += 1
    except ToolError as exc:
        log("restart without {} failed too: {}".format(obs.child.label, exc))
    up = parent_up(obs.parent, wait=PARENT_WAIT)
    report.verification.append(Check(
        "parent", up, "the parent's master {}".format(
            "runs again" if up else "is still not running: see 'journalctl -u postfix'"))._asdict())
    report.notes.append(
        "{} is not secured ({}); {}Postfix was started again so that the parent runs: fix the "
        "child and rerun secure-child, or undo".format(
            obs.child.label, why, "it was taken out of the start set and " if shared else ""))


def restart_after_undo(name, manager_kind, log=None, config_dir="/etc/postfix"):
    # type: (str, str, typing.Optional[typing.Callable], str) -> typing.List[str]
    """Restart Postfix after ``undo`` put child ``name`` back as it was. A child restored to a
    state that cannot start (a seed-like child under enforcing) must not keep the parent down:
    it is taken out of the start set and Postfix started again. Returns notes for the admin."""
    from postmulti_selinux.postfix.manage import Manager
    log = log or (lambda text: None)
    try:
        restart_postfix(manager_kind, None, log)
        return []
    except ToolError as exc:
        failure = str(exc)
    manager = Manager(config_dir)
    host = manager.host()
    if parent_up(host.parent, wait=2.0):
        return ["{}; the parent kept running".format(failure)]
    restored = [c for c in host.children if c.matches(name) and c.enabled]
    if not restored:
        raise ToolError(failure)
    manager.disable(name)
    # "postfix start" still runs "postfix check" for a disabled instance (postmulti(1),
    # postmulti_start_commands), which fails where its queue directories are missing: make them.
    made = layout.complete_layout(layout.expected_directories(manager.postfix,
                                                              restored[0]))["created"]
    restart_postfix(manager_kind, None, log)
    if not parent_up(host.parent, wait=PARENT_WAIT):
        raise ToolError("{}; the parent is still not running after taking {} out of the start "
                        "set".format(failure, restored[0].label))
    return ["{} is back as it was, and as it was it cannot start ({}): it was taken out of the "
            "start set{} so that the parent runs; 'postmulti -i {} -e enable' puts it back".format(
                restored[0].label, failure, " and its {} missing queue directories made (postfix "
                "start checks a disabled instance too)".format(len(made)) if made else "",
                restored[0].label)]
