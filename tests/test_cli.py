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
    (["--all", "-g", "mta"], "give a NAME or --all or -g GROUP"),
    (["-g", " "], "-g is empty"),
    (["postfix-a", "postfix-b", "--listen", "10025"], "give one NAME"),
    (["postfix-a", "postfix-a"], "a child is named twice"),
    (["postfix-a", "--instances-json", "-"], "--instances-json holds every child"),
])
def test_bad_secure_arguments_are_one_line_errors(args, message):
    exe = os.path.join(BIN, "secure-child")
    proc = subprocess.run([exe] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert proc.returncode != 0
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_every_help_ends_with_examples_that_use_real_options():
    """Each command's --help has an Examples epilog, and each example runs that command with
    only its own options (the examples cannot drift from the CLI)."""
    import shlex
    from postmulti_selinux.cli.main import main, secure_child
    commands = {"secure-child": secure_child, "postmulti-selinux": main}
    commands.update(("postmulti-selinux " + n, c) for n, c in main.commands.items())
    checked = 0
    for prog, command in sorted(commands.items()):
        assert command.epilog and "Examples:" in command.epilog, prog
        for line in command.epilog.splitlines()[2:]:
            words = shlex.split(line.split("#")[0].split("|")[-1])
            if words[0] == "postmulti-selinux":
                target, words = main.commands[words[1]], words[2:]
            else:
                assert words[0] == "secure-child", line
                target, words = secure_child, words[1:]
            assert command is main or target is command or (
                command is secure_child and target is main.commands["secure"]), (prog, line)
            names = {o for p in target.params for o in getattr(p, "opts", [])}
            for word in words:
                if word.startswith("-") and word != "-":
                    assert word in names, (prog, line, word)
                    checked += 1
    assert checked > 15
