"""Turn every failure into one clear line on stderr and a non-zero exit, never a traceback."""

import os
import sys
import traceback

import click

from postmulti_selinux.errors import ToolError


def run_guarded(prog, func, *args, **kwargs):
    """Call ``func``; map ToolError and unexpected exceptions to a one-line error and exit code.

    Set POSTMULTI_SELINUX_DEBUG=1 to see the traceback of an unexpected error.
    """
    try:
        return func(*args, **kwargs)
    except ToolError as exc:
        click.echo("{}: error: {}".format(prog, exc), err=True)
        sys.exit(exc.exit_code)
    except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
        raise
    except KeyboardInterrupt:
        click.echo("{}: interrupted".format(prog), err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - last line of defence for the CLI
        if os.environ.get("POSTMULTI_SELINUX_DEBUG"):
            traceback.print_exc()
        click.echo("{}: internal error: {}: {} (set POSTMULTI_SELINUX_DEBUG=1 for details)".format(
            prog, type(exc).__name__, exc), err=True)
        sys.exit(70)


class GuardedGroup(click.Group):
    """A click group whose subcommands report errors through run_guarded."""

    def invoke(self, ctx):
        return run_guarded(ctx.info_name or "postmulti-selinux", super(GuardedGroup, self).invoke, ctx)


class GuardedCommand(click.Command):
    """A click command that reports errors through run_guarded."""

    def invoke(self, ctx):
        return run_guarded(ctx.info_name or "secure-child", super(GuardedCommand, self).invoke, ctx)
