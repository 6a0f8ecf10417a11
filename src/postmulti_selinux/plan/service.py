"""Restart Postfix the way the host's service manager does it, parent and children together.

Debian: a systemd generator turns multi_instance_directories into postfix@NAME units, so the
manager must reload before a restart. EL7/8/9: one postfix.service whose ``postfix start`` runs
the multi-instance wrapper. Without systemd: the ``service`` command.
"""

import os
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
    try:
        probes.process(argv)
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
    try:
        probes.process(["journalctl"])
        proc = subprocess.run(["journalctl", "--no-pager", "-o", "cat", "--since",
                               "@{}".format(int(since)), "-u", "postfix*"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              universal_newlines=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in proc.stdout.splitlines() if "fatal:" in line]


def instance_unit(name):
    # type: (str) -> str
    """The unit that runs child ``name``: postfix@NAME.service where the generator exists."""
    if any(os.path.exists(g) for g in GENERATORS):
        return "postfix@{}.service".format(name)
    return "postfix.service"


def restart_postfix(manager_kind, children=None, log=None):
    # type: (str, typing.Union[str, typing.Sequence[str], None], object) -> float
    """Restart Postfix (the parent and every child) once through the service manager; where
    each child has its own unit, wait for ``children``'s units too. Returns when it began."""
    log = log or (lambda text: None)
    names = [children] if isinstance(children, str) else list(children or [])
    began = time.time()
    if manager_kind == "systemd":
        if any(os.path.exists(g) for g in GENERATORS):
            log("systemctl daemon-reload (postfix-instance-generator)")
            _run(["systemctl", "daemon-reload"])
        log("systemctl restart postfix")
        try:
            _run(["systemctl", "restart", "postfix"])
        except ToolError as exc:
            fatal = journal_fatals(began)
            if fatal:
                raise ToolError("{}; Postfix said: {}".format(exc.args[0], fatal[-1]),
                                hint=exc.hint)
            raise
        units = [instance_unit(n) for n in names if instance_unit(n) != "postfix.service"]
        if units:
            # postfix.service only pulls the instance units in; wait for the children's.
            _run(["systemctl", "restart"] + units)
    else:
        log("service postfix restart")
        _run(["service", "postfix", "restart"])
    return began
