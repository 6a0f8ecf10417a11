"""run_command: what a Postfix command inherits from the tool, and what it leaves behind."""

import time

from postmulti_selinux.postfix.tools import run_command


def test_output_goes_through_pipes_never_the_tools_temporary_files():
    # A Postfix command may enter postfix_master_t, which may use a pipe of the caller's domain
    # but not the caller's temporary files (the Ansible run's AVC on initrc_tmp_t).
    for tty in (False, True):
        result = run_command(["sh", "-c", "readlink /proc/self/fd/1; readlink /proc/self/fd/2 >&2"],
                             tty_stderr=tty)
        assert result.returncode == 0
        assert result.stdout.startswith("pipe:["), result.stdout
        assert result.stderr.startswith("/dev/pts/" if tty else "pipe:["), result.stderr


def test_a_daemon_left_holding_the_pipes_does_not_block_the_caller():
    began = time.time()
    result = run_command(["sh", "-c", "echo started; echo warning >&2; (sleep 30 &) ; exit 3"])
    assert time.time() - began < 10
    assert result.returncode == 3
    assert result.stdout == "started\n" and result.stderr == "warning\n"
    assert result.message() == "warning"
