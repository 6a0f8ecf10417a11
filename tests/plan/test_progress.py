"""Progress on a terminal: the relabel drives a meter (click.progressbar in the CLI), and the
policy commit says that it runs and how long it took; nothing of it without a terminal."""

import os
import pty
import subprocess
import sys

import pytest

from postmulti_selinux.selinux import PolicyRoot, relabel
from tests.plan.conftest import offline_tree


class _Recorder(object):
    def __init__(self):
        self.calls = []

    def begin(self, tops):
        self.calls.append(("begin", list(tops)))

    def update(self, examined, changed):
        self.calls.append(("update", examined, changed))

    def done(self, examined, changed):
        self.calls.append(("done", examined, changed))


@pytest.mark.parametrize("family", ["debian"], indirect=True)
def test_relabel_drives_a_meter(offline_host):
    meter = _Recorder()
    root = PolicyRoot(offline_host.root)
    result = relabel(["/var/spool/postfix-sub"], root, progress=meter)
    assert meter.calls[0] == ("begin", [os.path.join(offline_host.root, "var/spool/postfix-sub")])
    assert meter.calls[-1] == ("done", result.examined, result.changed)
    seen = [c[1] for c in meter.calls if c[0] == "update"]
    assert seen and seen == sorted(seen) and seen[-1] <= result.examined


def _run_on_a_terminal(argv):
    """(exit status, everything the terminal showed) of ``argv`` with a pty as stdout."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            env=dict(os.environ, COLUMNS="100"))
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return proc.wait(), shown.decode(errors="replace")


# The meter is the CLI's, not the policy's: one family is enough.
@pytest.mark.parametrize("family", ["debian"], indirect=True)
def test_a_terminal_shows_the_relabel_bar_and_the_commit(family):
    tree = offline_tree(family["pristine"], family["type"])
    try:
        exe = os.path.join(os.path.dirname(sys.executable), "secure-child")
        argv = [exe, "postfix-sub", "--root", tree.root, "--listen", "127.0.0.1:2526"]
        code, shown = _run_on_a_terminal(argv)
        assert code == 0, shown
        assert "relabel" in shown and "100%" in shown, shown
        assert "policy store: rebuilding the policy" in shown and "policy store: done in" in shown
    finally:
        tree.remove()


@pytest.mark.parametrize("family", ["debian"], indirect=True)
def test_no_terminal_no_progress(offline_host):
    exe = os.path.join(os.path.dirname(sys.executable), "secure-child")
    proc = subprocess.run([exe, "postfix-sub", "--root", offline_host.root, "--listen",
                           "127.0.0.1:2526"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert proc.returncode == 0, proc.stderr
    assert "100%" not in proc.stdout and "rebuilding the policy" not in proc.stdout
