"""Restart Postfix the way the host's service manager does it: one small class per init system,
chosen by :func:`service_manager` (as udica has one helper per container engine).

- Debian: a systemd generator turns multi_instance_directories into ``postfix@NAME`` units, so
  the manager reloads before a restart, and a child that fails stops only its own unit.
- EL7/8/9: one ``postfix.service`` whose ``postfix start`` runs the multi-instance wrapper for
  every instance: a child that fails fails the unit, and systemd stops the parent with it.
- Without systemd: the ``service`` command, which also starts every instance at once.
"""

import os
import shutil
import subprocess
import time
import typing

from postmulti_selinux import probes
from postmulti_selinux.errors import ToolError

GENERATORS = ("/lib/systemd/system-generators/postfix-instance-generator",
              "/usr/lib/systemd/system-generators/postfix-instance-generator")
TIMEOUT = 180


def _run(argv):
    # type: (list) -> None
    probes.process(argv)
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError("{} failed: {}".format(" ".join(argv), exc))
    if proc.returncode != 0:
        raise ToolError("{} failed (exit {}): {}".format(
            " ".join(argv), proc.returncode, proc.stdout.strip().splitlines()[-1:] or ""),
            hint="see 'journalctl -u postfix*' or the mail log")


def journal_fatals(since):
    # type: (float) -> list
    """Postfix's 'fatal:' lines in the journal since ``since`` (what made a start fail)."""
    probes.process(["journalctl"])
    try:
        proc = subprocess.run(["journalctl", "--no-pager", "-o", "cat", "--since",
                               "@{}".format(int(since)), "-u", "postfix*"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              universal_newlines=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in proc.stdout.splitlines() if "fatal:" in line]


def has_instance_units():
    # type: () -> bool
    """Whether Postfix's systemd generator makes one ``postfix@NAME`` unit per instance."""
    return any(os.path.exists(g) for g in GENERATORS)


def instance_unit(name):
    # type: (str) -> str
    """The unit that runs child ``name``: postfix@NAME.service where the generator exists."""
    return "postfix@{}.service".format(name) if has_instance_units() else "postfix.service"


class ServiceManager(object):
    """How this host starts Postfix. ``shared``: one service starts every instance, so a child
    that cannot start takes the parent down with it at the next restart or boot."""

    name = "?"
    shared = True

    def restart(self, children=(), log=None):
        # type: (typing.Sequence[str], typing.Optional[typing.Callable]) -> float
        """Restart Postfix (the parent and every child) once; return when it began."""
        raise NotImplementedError

    def __str__(self):
        return self.name


class PostfixService(ServiceManager):
    """EL's one ``postfix.service`` (``postfix start`` runs the multi-instance wrapper)."""

    name = "systemd (one postfix.service for every instance)"

    def restart(self, children=(), log=None):
        log = log or (lambda text: None)
        began = time.time()
        log("systemctl restart postfix")
        try:
            _run(["systemctl", "restart", "postfix"])
        except ToolError as exc:
            fatal = journal_fatals(began)
            if fatal:
                raise ToolError("{}; Postfix said: {}".format(exc.args[0], fatal[-1]),
                                hint=exc.hint)
            raise
        return began


class InstanceUnits(PostfixService):
    """Debian's ``postfix@NAME`` units, made by the generator from multi_instance_directories:
    reload first; ``postfix.service`` only pulls the instance units in, so the children's own
    units are restarted after it and waited for."""

    name = "systemd (postfix@NAME units from postfix-instance-generator)"
    shared = False

    def restart(self, children=(), log=None):
        log = log or (lambda text: None)
        log("systemctl daemon-reload (postfix-instance-generator)")
        _run(["systemctl", "daemon-reload"])
        began = super(InstanceUnits, self).restart(children, log)
        if children:
            _run(["systemctl", "restart"] + [instance_unit(name) for name in children])
        return began


class ServiceCommand(ServiceManager):
    """No systemd: ``service postfix restart`` starts every instance."""

    name = "service (SysV init script)"

    def restart(self, children=(), log=None):
        log = log or (lambda text: None)
        began = time.time()
        log("service postfix restart")
        _run(["service", "postfix", "restart"])
        return began


def service_manager():
    # type: () -> ServiceManager
    """The host's service manager: systemd when PID 1 is systemd (per-instance units where the
    generator exists, else one postfix.service), else the ``service`` command."""
    if os.path.isdir("/run/systemd/system") and shutil.which("systemctl"):
        return InstanceUnits() if has_instance_units() else PostfixService()
    return ServiceCommand()
