"""The console scripts exist, answer --help/--version, and never pretend to work."""

import subprocess
import sys
import os

import pytest

from postmulti_selinux import __version__

BIN = os.path.dirname(sys.executable)


@pytest.mark.parametrize("script", ["secure-child", "postmulti-selinux"])
def test_help_and_version(script):
    exe = os.path.join(BIN, script)
    out = subprocess.run([exe, "--help"], stdout=subprocess.PIPE, universal_newlines=True, check=True)
    assert "Usage:" in out.stdout
    out = subprocess.run([exe, "--version"], stdout=subprocess.PIPE, universal_newlines=True, check=True)
    assert __version__ in out.stdout


def test_errors_are_one_line_without_traceback():
    exe = os.path.join(BIN, "postmulti-selinux")
    proc = subprocess.run([exe, "no-such-subcommand"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--all", "--listen", "10025"], "--all secures the existing children"),
    (["postfix-sub", "--port", "2525", "--listen", "1.2.3.4:25"], "give --port or --listen"),
    ([], "give the child instance NAME"),
    (["postfix-sub", "--all"], "give a NAME or --all"),
])
def test_bad_secure_arguments_are_one_line_errors(args, message):
    exe = os.path.join(BIN, "secure-child")
    proc = subprocess.run([exe] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert proc.returncode != 0
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
