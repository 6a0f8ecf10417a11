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
    service.ServiceCommand().restart(["postfix-sub"])
    with open(calls) as handle:
        assert handle.read().split("\n")[:1] == ["postfix restart"]


def test_a_failing_restart_is_one_tool_error(tmp_path, monkeypatch):
    _recording_command(tmp_path, "service", rc=1)
    monkeypatch.setenv("PATH", "{}:{}".format(tmp_path, os.environ["PATH"]))
    with pytest.raises(ToolError, match="service postfix restart failed"):
        service.ServiceCommand().restart()


def test_the_unit_of_a_child(monkeypatch):
    monkeypatch.setattr(service, "GENERATORS", ("/nonexistent/generator",))
    assert service.instance_unit("postfix-sub") == "postfix.service"  # EL: one unit for all
    monkeypatch.setattr(service, "GENERATORS", (__file__,))
    assert service.instance_unit("postfix-sub") == "postfix@postfix-sub.service"  # Debian


def test_one_class_per_init_system_chosen_by_the_host(tmp_path, monkeypatch):
    """Debian's generator units, EL's one postfix.service, the service command: each restarts
    the parent once; only per-instance units restart the children's own units after it."""
    systemctl = _recording_command(tmp_path, "systemctl")
    monkeypatch.setenv("PATH", "{}:{}".format(tmp_path, os.environ["PATH"]))
    monkeypatch.setattr(service.os.path, "isdir", lambda path: path == "/run/systemd/system")
    monkeypatch.setattr(service, "GENERATORS", ("/nonexistent/generator",))
    el = service.service_manager()
    assert isinstance(el, service.PostfixService) and el.shared
    el.restart(["postfix-a", "postfix-b"])
    monkeypatch.setattr(service, "GENERATORS", (__file__,))
    debian = service.service_manager()
    assert isinstance(debian, service.InstanceUnits) and not debian.shared
    debian.restart(["postfix-a", "postfix-b"])
    with open(systemctl) as handle:
        assert handle.read().splitlines() == [
            "restart postfix",  # EL: one unit starts them all
            "daemon-reload", "restart postfix",
            "restart postfix@postfix-a.service postfix@postfix-b.service"]
    monkeypatch.setattr(service.os.path, "isdir", lambda path: False)
    assert isinstance(service.service_manager(), service.ServiceCommand)
    assert service.service_manager().shared
