"""completion/postmulti-selinux offers exactly the click command tree's words.

The script is run by bash with bash-completion loaded, as an interactive shell would: for each
command line below, COMPREPLY must be what the click objects of postmulti_selinux.cli.main say
(subcommands, every option of each command, which options take a value, --backend's choices,
and an instance NAME where the command takes one). A subcommand or option added to the CLI
fails here until completion/postmulti-selinux lists it.
"""

import os
import shlex
import shutil
import subprocess

import click
import pytest

from postmulti_selinux.cli.main import main, secure_child
from tests.packaging.debs import ROOT

SCRIPT = os.path.join(ROOT, "completion", "postmulti-selinux")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
CHILDREN = ["postfix-out", "postfix-sub"]  # what the fake postmulti -l lists
NO_OPTIONS = "no options"  # an option's value: anything but option words

DRIVER = r"""
source {bash_completion}
source {script}
_pms_complete() {{  # WORD...: the command line, the last word the one being completed
    COMP_WORDS=("$@")
    COMP_CWORD=$(( $# - 1 ))
    COMP_LINE="$*"
    COMP_POINT=${{#COMP_LINE}}
    COMPREPLY=()
    local spec=($(complete -p "$1"))
    "${{spec[2]}}" "$1" "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
    echo "@@ ${{COMPREPLY[*]}}"
}}
complete -p postmulti-selinux secure-child
"""
FAKE_POSTMULTI = """#!/bin/sh
echo '-               -               y         /etc/postfix'
echo 'postfix-out     mta             y         /etc/postfix-out'
echo 'postfix-sub     -               y         /etc/postfix-sub'
"""


def _commands():
    """{(program words...): click command} for the group, each subcommand and secure-child."""
    tree = {("postmulti-selinux",): main, ("secure-child",): secure_child}
    for name, command in main.commands.items():
        if not getattr(command, "hidden", False):
            tree["postmulti-selinux", name] = command
    return tree


def _options(command, prefix):
    """The visible click.Option params of command (the help option included)."""
    # As at run time: a subcommand inherits the group's context settings (-h as --help).
    parent = None
    if len(prefix) > 1:
        parent = click.Context(main, info_name=prefix[0], **main.context_settings)
    ctx = click.Context(command, parent=parent, info_name=prefix[-1], **command.context_settings)
    return [p for p in command.get_params(ctx)
            if isinstance(p, click.Option) and not getattr(p, "hidden", False)]


def _words(option):
    return list(option.opts) + list(option.secondary_opts)


def _takes_value(option):
    return not (option.is_flag or getattr(option, "count", False))


def _cases():
    """{label: [(command line words, the set of words to offer, or NO_OPTIONS)]}: one label
    per command, and "values" for option values of a few kinds."""
    cases = {}
    subcommands = {name for name, command in main.commands.items()
                   if not getattr(command, "hidden", False)}
    for prefix, command in sorted(_commands().items()):
        own = cases.setdefault(" ".join(prefix), [])
        if prefix == ("postmulti-selinux",):
            own.append((["postmulti-selinux", ""], subcommands))
        else:
            takes_name = any(isinstance(p, click.Argument) for p in command.params)
            own.append((list(prefix) + [""], set(CHILDREN) if takes_name else set()))
        options = _options(command, prefix)
        every = {word for option in options for word in _words(option)}
        own.append((list(prefix) + ["-"], every))
        for option in options:
            for word in _words(option):
                if not _takes_value(option):
                    # A flag: the next word is an option again.
                    own.append((list(prefix) + [word, "-"], every))
                elif isinstance(option.type, click.Choice):
                    own.append((list(prefix) + [word, ""], set(option.type.choices)))
                else:
                    # A value, never an option or a subcommand (paths, instance names or nothing).
                    own.append((list(prefix) + [word, "-"], NO_OPTIONS))
    # Instance names, directories and files (the fixture's working directory holds bin/,
    # image/ and audit.log).
    cases["values"] = [
        (["postmulti-selinux", "avc", "--instance", ""], set(CHILDREN)),
        (["postmulti-selinux", "secure", "--root", ""], {"bin", "image"}),
        (["postmulti-selinux", "avc", "--input", ""], {"bin", "image", "audit.log"}),
        (["postmulti-selinux", "labels", "--dir", ""], set()),
    ]
    return cases


@pytest.fixture(scope="module")
def offered(tmp_path_factory):
    """{command line: set of words COMPREPLY holds} for every case, from one bash process."""
    if not shutil.which("bash") or not os.path.exists(BASH_COMPLETION):
        pytest.skip("bash-completion is not installed (make test installs it)")
    work = tmp_path_factory.mktemp("completion")
    bindir = work / "bin"
    bindir.mkdir()
    fake = bindir / "postmulti"
    fake.write_text(FAKE_POSTMULTI)
    fake.chmod(0o755)
    (work / "image").mkdir()
    (work / "audit.log").write_text("")
    lines = [DRIVER.format(bash_completion=shlex.quote(BASH_COMPLETION),
                           script=shlex.quote(SCRIPT))]
    cases = [case for label in sorted(_cases()) for case in _cases()[label]]
    for words, _ in cases:
        lines.append("_pms_complete " + " ".join(shlex.quote(w) for w in words))
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(lines)],
                            cwd=str(work), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True,
                            env=dict(os.environ, PATH="{}:{}".format(bindir, os.environ["PATH"])))
    assert result.returncode == 0, result.stderr
    output = result.stdout.splitlines()
    registered = [line for line in output if line.startswith("complete ")]
    replies = [line[3:] for line in output if line.startswith("@@ ")]
    assert len(replies) == len(cases), result.stdout + result.stderr
    return {"registered": registered, "replies": {
        " ".join(words): set(reply.split()) for (words, _), reply in zip(cases, replies)}}


def test_registered_for_both_commands(offered):
    assert offered["registered"] == ["complete -F _postmulti_selinux postmulti-selinux",
                                     "complete -F _postmulti_selinux secure-child"]


@pytest.mark.parametrize("label", sorted(_cases()))
def test_offers_the_click_words(offered, label):
    wrong = []
    for words, expected in _cases()[label]:
        got = offered["replies"][" ".join(words)]
        line = " ".join(shlex.quote(w) for w in words)
        if expected is NO_OPTIONS:
            if any(w.startswith("-") for w in got):
                wrong.append("{}: offers options for a value: {}".format(line, sorted(got)))
        elif got != expected:
            wrong.append("{}: missing {}, extra {}".format(
                line, sorted(expected - got), sorted(got - expected)))
    assert not wrong, "completion/postmulti-selinux is out of step with the CLI:\n" + \
        "\n".join(wrong)


def test_script_is_valid_bash():
    subprocess.run(["bash", "-n", SCRIPT], check=True)


def test_option_equals_value_form():
    """--backend=se: bash splits the word at '='; the value is completed all the same."""
    if not os.path.exists(BASH_COMPLETION):
        pytest.skip("bash-completion is not installed (make test installs it)")
    script = """
source {} && source {}
COMP_WORDS=(postmulti-selinux avc --backend = se); COMP_CWORD=4
COMP_LINE="postmulti-selinux avc --backend=se"; COMP_POINT=${{#COMP_LINE}}
_postmulti_selinux postmulti-selinux se =
echo "${{COMPREPLY[*]}}"
""".format(shlex.quote(BASH_COMPLETION), shlex.quote(SCRIPT))
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], check=True,
                            stdout=subprocess.PIPE, universal_newlines=True)
    expected = {c for c in main.commands["avc"].params if c.name == "backend"}.pop().type.choices
    assert set(result.stdout.split()) == {c for c in expected if c.startswith("se")}
