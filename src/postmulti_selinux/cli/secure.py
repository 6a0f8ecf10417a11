"""``secure-child NAME`` / ``postmulti-selinux secure|plan|undo``: the one-shot and its undo."""

import json
import sys

import click

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
        click.option("--config-dir", default="/etc/postfix", show_default=True,
                     help="The parent instance's config directory."),
        click.option("--root", default="/", show_default=True,
                     help="Alternate root (offline mode: policy store and Postfix tree under it)."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object."),
        click.option("-v", "--verbose", is_flag=True, help="Show each step and which backend "
                     "answered policy questions."),
    ]):
        func = option(func)
    return func


def _names(name, all_children, config_dir):
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
    return [name]


def _listen(port, listen):
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
    from postmulti_selinux.plan.execute import Options, secure
    log = (lambda text: click.echo("... " + text, err=True)) if verbose and not as_json else None
    if all_children and (port or listen or create):
        raise ToolError("--all secures the existing children as they are: --listen, --port and "
                        "--create need one NAME")
    reports = []
    for child in _names(name, all_children, config_dir):
        options = Options(listen=_listen(port, listen), create=create, group=group,
                          dry_run=dry_run, restart=not no_restart, config_dir=config_dir,
                          root=root, state=state_dir)
        reports.append(secure(child, options, log))
    _emit(reports, as_json, verbose)
    if not all(r.ok for r in reports):
        sys.exit(1)


def _json_errors(func):
    """With --json, errors are also one JSON object on stdout (for Ansible and friends)."""
    def wrapper(**kwargs):
        try:
            return func(**kwargs)
        except ToolError as exc:
            if kwargs.get("as_json"):
                click.echo(json.dumps({"ok": False, "error": str(exc)}))
            raise
    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


@click.command("secure")
@click.argument("name", required=False)
@_common
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask (the tool never asks; kept for scripts).")
@click.option("--no-restart", is_flag=True, help="Do not restart Postfix (and so do not verify).")
@click.option("--state-dir", metavar="DIR", help="Journal/lock directory "
              "(default /var/lib/postmulti-selinux).")
@_json_errors
def secure_command(name, port, listen, group, create, all_children, config_dir, root, as_json,
                   verbose, dry_run, yes, no_restart, state_dir):
    """Label, configure, restart and verify Postfix child NAME while SELinux stays enforcing."""
    _secure(name, port, listen, group, create, all_children, config_dir, root, as_json, verbose,
            dry_run, no_restart, state_dir)


@click.command("plan")
@click.argument("name", required=False)
@_common
@_json_errors
def plan_command(name, port, listen, group, create, all_children, config_dir, root, as_json,
                 verbose):
    """Show what secure would do for NAME, and why; change nothing."""
    _secure(name, port, listen, group, create, all_children, config_dir, root, as_json, verbose,
            True, True, None)


@click.command("undo")
@click.argument("name")
@click.option("--root", default="/", show_default=True, help="Alternate root (offline mode).")
@click.option("--state-dir", metavar="DIR", help="Journal directory.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--restart/--no-restart", default=True, show_default=True,
              help="Restart Postfix afterwards through the service manager.")
@click.option("--dry-run", is_flag=True, help="Show what would be undone; change nothing.")
@_json_errors
def undo_command(name, root, state_dir, as_json, restart, dry_run):
    """Put back everything secure changed for NAME (files, labels, ports, modules), exactly."""
    from postmulti_selinux.plan.journal import state_dir as default_state
    from postmulti_selinux.plan.observe import service_manager
    from postmulti_selinux.plan.recovery import restart_after_undo
    from postmulti_selinux.plan.undo import undo
    undone = undo(name, default_state(state_dir), root, dry_run=dry_run)
    restarted = False
    notes = []  # type: list
    if undone and restart and root == "/" and not dry_run:
        notes = restart_after_undo(name, service_manager())
        restarted = True
    if as_json:
        click.echo(json.dumps({"instance": name, "changed": bool(undone), "undone": undone,
                               "dry_run": dry_run, "restarted": restarted, "notes": notes,
                               "ok": True}, indent=2, sort_keys=True))
    elif not undone:
        click.echo("{}: nothing to undo".format(name))
    else:
        for item in undone:
            click.echo("  {}: {}".format("would undo" if dry_run else "undone", item["title"]))
        for note in notes:
            click.echo("  note: " + note)


def register(group):
    """Add secure, plan and undo to the postmulti-selinux group."""
    for command in (secure_command, plan_command, undo_command):
        group.add_command(command)
