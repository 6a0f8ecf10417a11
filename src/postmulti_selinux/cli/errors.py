"""Turn every failure into one clear line on stderr and a non-zero exit, never a traceback.

With ``--json`` anywhere on the command line, the same error is also one JSON object on stdout
(``{"ok": false, "error": ...}``), usage errors included. A command may set
``usage_exit_code`` (``check`` uses 3, UNKNOWN in the monitoring-plugin convention).
"""

import json
import os
import sys
import traceback

import click

from postmulti_selinux.errors import ToolError

# click >= 7.0 raises click.exceptions.Exit from ctx.exit() (--help, --version); click 6.7 (EL8)
# has no such class and calls sys.exit() itself, so SystemExit stands in for it there.
_CLICK_EXIT = getattr(click.exceptions, "Exit", SystemExit)


def json_error(message, code):
    # type: (str, int) -> None
    """Print the one JSON error object on stdout (exit 3, UNKNOWN: also its ``status``)."""
    data = {"ok": False, "error": message}
    if code == 3:
        data["status"] = code
    click.echo(json.dumps(data, sort_keys=True))


def _json_requested():
    # type: () -> bool
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    return bool(root is not None and root.meta.get("postmulti_selinux.json"))


def run_guarded(prog, func, *args, **kwargs):
    """Call ``func``; map ToolError and unexpected exceptions to a one-line error and exit code.

    Set POSTMULTI_SELINUX_DEBUG=1 to see the traceback of an unexpected error.
    """
    try:
        return func(*args, **kwargs)
    except ToolError as exc:
        if _json_requested():
            json_error(str(exc), exc.exit_code)
        click.echo("{}: error: {}".format(prog, exc), err=True)
        sys.exit(exc.exit_code)
    except (_CLICK_EXIT, click.exceptions.Abort, click.ClickException, SystemExit):
        raise
    except KeyboardInterrupt:
        click.echo("{}: interrupted".format(prog), err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - last line of defence for the CLI
        if os.environ.get("POSTMULTI_SELINUX_DEBUG"):
            traceback.print_exc()
        if _json_requested():
            json_error("internal error: {}: {}".format(type(exc).__name__, exc), 70)
        click.echo("{}: internal error: {}: {} (set POSTMULTI_SELINUX_DEBUG=1 for details)".format(
            prog, type(exc).__name__, exc), err=True)
        sys.exit(70)


class _Guarded(object):
    """What GuardedGroup and GuardedCommand add to click: errors through run_guarded, and
    usage errors as one line (and one JSON object with --json)."""
    default_prog = "postmulti-selinux"

    def main(self, args=None, prog_name=None, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        extra.pop("standalone_mode", None)
        try:
            value = super(_Guarded, self).main(args=argv, prog_name=prog_name,
                                               standalone_mode=False, **extra)
        except click.ClickException as exc:
            failed = getattr(getattr(exc, "ctx", None), "command", None)
            code = getattr(failed, "usage_exit_code", None) or exc.exit_code
            if "--json" in argv:
                json_error(exc.format_message(), code)
            where = getattr(getattr(exc, "ctx", None), "command_path", None) or prog_name or \
                self.name
            click.echo("{}: error: {} (see --help)".format(where, exc.format_message()),
                       err=True)
            sys.exit(code)
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(value if isinstance(value, int) else 0)

    def make_context(self, info_name, args, parent=None, **extra):
        wants_json = "--json" in args  # before parsing: click consumes the list
        ctx = super(_Guarded, self).make_context(info_name, args, parent=parent, **extra)
        ctx.meta["postmulti_selinux.json"] = wants_json
        return ctx

    def invoke(self, ctx):
        return run_guarded(ctx.info_name or self.default_prog, super(_Guarded, self).invoke, ctx)


class GuardedGroup(_Guarded, click.Group):
    """A click group whose subcommands report errors through run_guarded."""


class GuardedCommand(_Guarded, click.Command):
    """A click command that reports errors through run_guarded."""
    default_prog = "secure-child"
