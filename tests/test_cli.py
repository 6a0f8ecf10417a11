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
