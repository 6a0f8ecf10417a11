"""``secure-child NAME`` / ``postmulti-selinux secure|plan|undo``: the one-shot and its undo."""

import json
import sys

import click

from postmulti_selinux.cli.examples import examples, secure_examples
from postmulti_selinux.errors import ToolError


def _common(func):
    """Options shared by secure and plan."""
    for option in reversed([
        click.option("--port", type=click.IntRange(1, 65535), help="Listen on PORT (all of "
                     "inet_interfaces)."),
        click.option("--listen", metavar="ADDR:PORT", help="Listen on ADDR:PORT (or PORT)."),
        click.option("--group", metavar="G", help="multi_instance_group for --create."),
        click.option("--create", is_flag=True, help="Create the child with postmulti if missing."),
        click.option("--all", "all_children", is_flag=True,
                     help="Every child in multi_instance_directories."),
        click.option("--config-dir", metavar="DIR", help="The parent instance's config "
                     "directory [default: /etc/postfix, under --root when given]."),
        click.option("--root", default="/", show_default=True,
                     help="Alternate root (offline mode: policy store and Postfix tree under it)."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object."),
        click.option("-v", "--verbose", is_flag=True, help="Show each step and which backend "
                     "answered policy questions."),
    ]):
        func = option(func)
    return func


def _names(name, all_children, config_dir):
    """The children a command works on: NAME (checked as postmulti checks names) or --all."""
    from postmulti_selinux.postfix.manage import check_name
    if all_children:
        if name:
            raise ToolError("give a NAME or --all, not both")
        from postmulti_selinux.postfix import discover
        names = [c.name for c in discover(config_dir).children if c.name]
        if not names:
            raise ToolError("multi_instance_directories lists no named child")
        return names
    if not name:
        raise ToolError("give the child instance NAME (e.g. postfix-sub) or --all")
    check_name(name)
    return [name]


def _listen(port, listen):
    if listen is not None and not listen.strip():
        raise ToolError("--listen is empty", hint="give PORT or ADDR:PORT, e.g. 127.0.0.1:10025")
    if port and listen:
        raise ToolError("give --port or --listen, not both")
    return str(port) if port else listen


def _emit(reports, as_json, verbose):
    if as_json:
        data = [r.as_dict() for r in reports]
        click.echo(json.dumps(data[0] if len(data) == 1 else data, indent=2, sort_keys=True))
        return
    for report in reports:
        _summary(report, verbose)


def _summary(report, verbose):
    data = report.as_dict()
    head = "{}: {}".format(report.instance, "plan (dry run, nothing changed)" if report.dry_run
                           else "changed" if report.changed else "nothing to do")
    click.echo(head)
    if report.dry_run:
        for action in data["plan"]["actions"]:
            mark = "ok " if action.get("satisfied") else "-> "
            click.echo("  {}{}\n       why: {}".format(mark, action["title"], action["reason"]))
    for item in report.applied:
        click.echo("  done: {}".format(item["title"]))
        if verbose:
            click.echo("        why: {}".format(item["reason"]))
    if report.restarts:
        click.echo("  restarted Postfix {} time(s) through the service manager; {} policy "
                   "rebuild(s)".format(report.restarts, report.store_rebuilds))
    for rnd in report.rounds:
        for line in rnd.get("findings", []):
            click.echo("  round {}: {}".format(rnd["round"], line))
    for check in report.verification:
        click.echo("  {} {}: {}".format("OK  " if check["ok"] else "FAIL", check["name"],
                                        check["detail"]))
    for note in data["plan"]["notes"] + report.notes:
        if verbose or not report.dry_run:
            click.echo("  note: {}".format(note))


def _secure(name, port, listen, group, create, all_children, config_dir, root, as_json, verbose,
            dry_run, no_restart, state_dir):
    from postmulti_selinux.cli.progress import terminal_meter
    from postmulti_selinux.plan.execute import Options, secure
    from postmulti_selinux.plan.scope import resolve_scope
    scope = resolve_scope(root, config_dir, state_dir)
    log = (lambda text: click.echo("... " + text, err=True)) if verbose and not as_json else None
    if all_children and (port or listen or create):
        raise ToolError("--all secures the existing children as they are: --listen, --port and "
                        "--create need one NAME")
    reports = []
    for child in _names(name, all_children, scope.config_dir):
        options = Options(listen=_listen(port, listen), create=create, group=group,
                          dry_run=dry_run, restart=not no_restart, config_dir=scope.config_dir,
                          root=scope.root, state=scope.state_dir)
        reports.append(secure(child, options, log, None if as_json else terminal_meter))
    _emit(reports, as_json, verbose)
    if not all(r.ok for r in reports):
        sys.exit(1)


_YES = click.option("--yes", is_flag=True,
                    help="Do not ask (the tool never asks; accepted for scripts).")
_STATE_DIR = click.option("--state-dir", metavar="DIR", help="Journal and lock directory "
                          "[default: /var/lib/postmulti-selinux, under --root when given].")


@click.command("secure", epilog=secure_examples("postmulti-selinux secure"))
@click.argument("name", required=False)
@_common
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@_YES
@click.option("--no-restart", is_flag=True, help="Do not restart Postfix (and so do not verify).")
@_STATE_DIR
def secure_command(name, port, listen, group, create, all_children, config_dir, root, as_json,
                   verbose, dry_run, yes, no_restart, state_dir):
    """Label, configure, restart and verify Postfix child NAME while SELinux stays enforcing."""
    _secure(name, port, listen, group, create, all_children, config_dir, root, as_json, verbose,
            dry_run, no_restart, state_dir)


@click.command("plan", epilog=examples(
    "postmulti-selinux plan postfix-sub",
    "postmulti-selinux plan postfix-out --create --listen 127.0.0.1:2525 --json",
    "postmulti-selinux plan --all --verbose"))
@click.argument("name", required=False)
@_common
def plan_command(name, port, listen, group, create, all_children, config_dir, root, as_json,
                 verbose):
    """Show what secure would do for NAME, and why; change nothing."""
    _secure(name, port, listen, group, create, all_children, config_dir, root, as_json, verbose,
            True, True, None)


@click.command("undo", epilog=examples(
    "postmulti-selinux undo postfix-sub --dry-run   # what would be put back",
    "postmulti-selinux undo postfix-sub",
    "postmulti-selinux undo postfix-sub --root /mnt/image   # offline; nothing restarted"))
@click.argument("name")
@click.option("--root", default="/", show_default=True, help="Alternate root (offline mode).")
@_STATE_DIR
@_YES
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--restart/--no-restart", default=True, show_default=True,
              help="Restart Postfix afterwards through the service manager.")
@click.option("--dry-run", is_flag=True, help="Show what would be undone; change nothing.")
def undo_command(name, root, state_dir, yes, as_json, restart, dry_run):
    """Put back everything secure changed for NAME (files, labels, ports, modules), exactly."""
    from postmulti_selinux.plan.observe import service_manager
    from postmulti_selinux.plan.recovery import restart_after_undo
    from postmulti_selinux.plan.scope import resolve_scope
    from postmulti_selinux.plan.undo import undo
    from postmulti_selinux.postfix.manage import check_name
    check_name(name)
    scope = resolve_scope(root, None, state_dir)
    undone = undo(name, scope.state_dir, scope.root, dry_run=dry_run)
    reversed_any = any(item.get("reversed", True) for item in undone)
    restarted = False
    notes = []  # type: list
    if reversed_any and restart and not scope.offline and not dry_run:
        notes = restart_after_undo(name, service_manager())
        restarted = True
    if as_json:
        click.echo(json.dumps({"instance": name, "changed": reversed_any, "undone": undone,
                               "dry_run": dry_run, "restarted": restarted, "notes": notes,
                               "ok": True}, indent=2, sort_keys=True))
    elif not undone:
        click.echo("{}: nothing to undo".format(name))
    else:
        for item in undone:
            verb = ("would undo" if dry_run else "undone") if item.get("reversed", True) \
                else "nothing to reverse"
            click.echo("  {}: {}{}".format(verb, item["title"], " ({})".format(item["detail"])
                                           if item.get("detail") else ""))
        for note in notes:
            click.echo("  note: " + note)


def register(group):
    """Add secure, plan and undo to the postmulti-selinux group."""
    for command in (secure_command, plan_command, undo_command):
        group.add_command(command)
