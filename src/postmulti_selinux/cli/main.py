"""The two console scripts.

``postmulti-selinux`` is a click group; each feature adds its subcommand in its own module and
is registered in ``_register``. ``secure-child NAME`` is the one-shot.
"""

import click

from postmulti_selinux import __version__
from postmulti_selinux.cli.errors import GuardedCommand, GuardedGroup
from postmulti_selinux.errors import ToolError


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="postmulti-selinux")
def main():
    """Keep SELinux enforcing while running Postfix multi-instance (postmulti) children."""


@click.command(cls=GuardedCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="secure-child")
@click.argument("name")
def secure_child(name):
    """Label, configure, restart and verify the Postfix child instance NAME (e.g. postfix-sub)."""
    raise ToolError("secure-child is not implemented yet in this version", exit_code=3)


def _register():
    # type: () -> None
    """Attach the subcommands that exist; nothing is listed before it works."""


_register()
