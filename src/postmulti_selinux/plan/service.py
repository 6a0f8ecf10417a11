"""Restart Postfix the way the host's service manager does it, parent and children together.

Debian: a systemd generator turns multi_instance_directories into postfix@NAME units, so the
manager must reload before a restart. EL7/8/9: one postfix.service whose ``postfix start`` runs
the multi-instance wrapper. Without systemd: the ``service`` command.
"""

import os
import subprocess
import time

from postmulti_selinux.errors import ToolError

GENERATORS = ("/lib/systemd/system-generators/postfix-instance-generator",
              "/usr/lib/systemd/system-generators/postfix-instance-generator")
TIMEOUT = 180


def _run(argv):
    # type: (list) -> None
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
    try:
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


def restart_postfix(manager_kind, child_name=None, log=None):
    # type: (str, str, object) -> float
    """Restart Postfix through the service manager; return the time the restart began."""
    log = log or (lambda text: None)
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
        if child_name and instance_unit(child_name) != "postfix.service":
            # postfix.service only pulls the instance units in; wait for this child's to settle.
            _run(["systemctl", "restart", instance_unit(child_name)])
    else:
        log("service postfix restart")
        _run(["service", "postfix", "restart"])
    return began
