"""Restart through the host's service manager: the command each kind of host gets."""

import os
import stat

import pytest

from postmulti_selinux.errors import ToolError
from postmulti_selinux.plan import service


def _recording_command(directory, name, rc=0):
    """An executable NAME on PATH that appends its arguments to NAME.calls and exits ``rc``."""
    path = directory / name
    path.write_text("#!/bin/sh\necho \"$@\" >>\"{}.calls\"\nexit {}\n".format(path, rc))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path) + ".calls"


def test_without_systemd_the_service_command_restarts_every_instance(tmp_path, monkeypatch):
    calls = _recording_command(tmp_path, "service")
    monkeypatch.setenv("PATH", "{}:{}".format(tmp_path, os.environ["PATH"]))
    service.restart_postfix("sysv", "postfix-sub")
    with open(calls) as handle:
        assert handle.read().split("\n")[:1] == ["postfix restart"]


def test_a_failing_restart_is_one_tool_error(tmp_path, monkeypatch):
    _recording_command(tmp_path, "service", rc=1)
    monkeypatch.setenv("PATH", "{}:{}".format(tmp_path, os.environ["PATH"]))
    with pytest.raises(ToolError, match="service postfix restart failed"):
        service.restart_postfix("sysv")


def test_the_unit_of_a_child(monkeypatch):
    monkeypatch.setattr(service, "GENERATORS", ("/nonexistent/generator",))
    assert service.instance_unit("postfix-sub") == "postfix.service"  # EL: one unit for all
    monkeypatch.setattr(service, "GENERATORS", (__file__,))
    assert service.instance_unit("postfix-sub") == "postfix@postfix-sub.service"  # Debian
