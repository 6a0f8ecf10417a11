"""The two console scripts.

``postmulti-selinux`` is a click group; each feature adds its subcommand in its own module and
is registered in ``_register``. ``secure-child NAME`` is the one-shot.
"""

import click

from postmulti_selinux import __version__
from postmulti_selinux.cli.errors import GuardedCommand, GuardedGroup
from postmulti_selinux.cli.examples import examples


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=examples(
                 "secure-child postfix-sub              # the one-shot (= postmulti-selinux secure)",
                 "postmulti-selinux plan postfix-sub    # dry run: each action and its reason",
                 "postmulti-selinux check postfix-sub   # monitoring: 0 OK, 1 WARNING, 2 CRITICAL",
                 "postmulti-selinux avc --since today   # explain Postfix denials",
                 "postmulti-selinux undo postfix-sub    # put back what secure changed"))
@click.version_option(__version__, prog_name="postmulti-selinux")
def main():
    """Keep SELinux enforcing while running Postfix multi-instance (postmulti) children."""


def _register():
    # type: () -> None
    """Attach the subcommands that exist; nothing is listed before it works."""
    from postmulti_selinux.cli import avc, check, instances, labels, secure
    for module in (instances, labels, avc, secure, check):
        module.register(main)


_register()


def _secure_child_command():
    """``secure-child``: the ``secure`` subcommand as a program of its own."""
    from postmulti_selinux.cli.examples import secure_examples
    from postmulti_selinux.cli.secure import secure_command
    command = GuardedCommand(
        name="secure-child", params=list(secure_command.params),
        callback=secure_command.callback, help=secure_command.help,
        epilog=secure_examples("secure-child"),
        context_settings={"help_option_names": ["-h", "--help"]})
    click.version_option(__version__, prog_name="secure-child")(command)
    return command


secure_child = _secure_child_command()
