"""``secure-child NAME`` / ``postmulti-selinux secure|plan|undo``: the one-shot and its undo."""

import json
import sys

import click

from postmulti_selinux.cli.examples import examples, secure_examples
from postmulti_selinux.cli.selection import selection_options
from postmulti_selinux.errors import ToolError


def _common(func):
    """Options shared by secure and plan."""
    for option in reversed([
        click.option("--port", type=click.IntRange(1, 65535), help="Listen on PORT (all of "
                     "inet_interfaces)."),
        click.option("--listen", metavar="ADDR:PORT", help="Listen on ADDR:PORT (or PORT)."),
        click.option("-G", "--group", metavar="G", help="multi_instance_group for --create."),
        click.option("--create", is_flag=True, help="Create the child with postmulti if missing."),
        click.option("--instances-json", metavar="FILE", help="Children from a JSON list of "
                     "{name, listen, port, group, create} ('-': stdin; for automation)."),
        click.option("--config-dir", metavar="DIR", help="The parent instance's config "
                     "directory [default: /etc/postfix, under --root when given]."),
        click.option("--root", default="/", show_default=True,
                     help="Alternate root (offline mode: policy store and Postfix tree under it)."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object."),
        click.option("-v", "--verbose", is_flag=True, help="Show each step and which backend "
                     "answered policy questions."),
    ]):
        func = option(func)
    return selection_options(func)


def _listen(port, listen):
    if listen is not None and not listen.strip():
        raise ToolError("--listen is empty", hint="give PORT or ADDR:PORT, e.g. 127.0.0.1:10025")
    if port and listen:
        raise ToolError("give --port or --listen, not both")
    return str(port) if port else listen


def _specs(names, all_children, in_group, instances_json, port, listen, create, group,
           config_dir):
    """The Specs a run secures, and whether it prints the host report."""
    from postmulti_selinux.cli.selection import read_instances_json, select_names
    from postmulti_selinux.plan.build import Spec
    listen = _listen(port, listen)
    if instances_json is not None:
        if names or all_children or in_group is not None or listen or create or group:
            raise ToolError("--instances-json holds every child and its options: give nothing "
                            "else to choose or configure children")
        return read_instances_json(instances_json), True
    if (all_children or in_group is not None) and (listen or create):
        raise ToolError("--all secures the existing children as they are: --listen, --port and "
                        "--create need NAME")
    chosen, host_form = select_names(names, all_children, in_group, config_dir)
    if listen and len(chosen) > 1:
        raise ToolError("--listen and --port set one child's listener: give one NAME",
                        hint="set each child's listener in its master.cf, or use "
                        "--instances-json")
    return [Spec(name, listen, create, group) for name in chosen], host_form


def _emit(report, as_json, verbose):
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True))
        return
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
    for result in report.children.values():
        who = "{}: ".format(result.instance) if report.host_form else ""
        if result.error:
            click.echo("  FAIL {}not secured: {}".format(who, result.error))
        for check in result.verification:
            click.echo("  {} {}{}: {}".format("OK  " if check["ok"] else "FAIL", who,
                                              check["name"], check["detail"]))
    notes = data["plan"]["notes"] + report.notes + [
        n for r in report.children.values() for n in r.notes]
    for note in notes:
        if verbose or not report.dry_run:
            click.echo("  note: {}".format(note))
    if verbose:
        figures = data["probes"]
        click.echo("  probes: {} process(es) ({}), {} label walk(s); seconds: {}".format(
            figures.get("processes_total", 0), ", ".join("{} {}".format(v, k) for k, v in sorted(
                figures.get("processes", {}).items())) or "none", figures.get("label_walks", 0),
            ", ".join("{} {}".format(k, v) for k, v in data["timings"].items())))


def _secure(names, port, listen, group, create, all_children, in_group, instances_json,
            config_dir, root, as_json, verbose, dry_run, no_restart, state_dir):
    from postmulti_selinux.cli.progress import terminal_meter
    from postmulti_selinux.plan.execute import Options, secure_children
    from postmulti_selinux.plan.scope import resolve_scope
    scope = resolve_scope(root, config_dir, state_dir)
    log = (lambda text: click.echo("... " + text, err=True)) if verbose and not as_json else None
    specs, host_form = _specs(names, all_children, in_group, instances_json, port, listen,
                              create, group, scope.config_dir)
    options = Options(dry_run=dry_run, restart=not no_restart, config_dir=scope.config_dir,
                      root=scope.root, state=scope.state_dir)
    report = secure_children(specs, options, log, None if as_json else terminal_meter,
                             host_form=host_form)
    _emit(report, as_json, verbose)
    if not report.ok:
        sys.exit(1)


_YES = click.option("--yes", is_flag=True,
                    help="Do not ask (the tool never asks; accepted for scripts).")
_STATE_DIR = click.option("--state-dir", metavar="DIR", help="Journal and lock directory "
                          "[default: /var/lib/postmulti-selinux, under --root when given].")


@click.command("secure", epilog=secure_examples("postmulti-selinux secure"))
@click.argument("names", metavar="[NAME]...", nargs=-1)
@_common
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@_YES
@click.option("--no-restart", is_flag=True, help="Do not restart Postfix (and so do not verify).")
@_STATE_DIR
def secure_command(names, port, listen, group, create, all_children, in_group, instances_json,
                   config_dir, root, as_json, verbose, dry_run, yes, no_restart, state_dir):
    """Label, configure, restart and verify Postfix child NAME while SELinux stays enforcing.

    Several children (NAME..., --all, -g GROUP) are secured in one run: one policy
    transaction, one relabel, one restart, then verification of each."""
    _secure(names, port, listen, group, create, all_children, in_group, instances_json,
            config_dir, root, as_json, verbose, dry_run, no_restart, state_dir)


@click.command("plan", epilog=examples(
    "postmulti-selinux plan postfix-sub",
    "postmulti-selinux plan postfix-out --create --listen 127.0.0.1:2525 --json",
    "postmulti-selinux plan --all --verbose"))
@click.argument("names", metavar="[NAME]...", nargs=-1)
@_common
def plan_command(names, port, listen, group, create, all_children, in_group, instances_json,
                 config_dir, root, as_json, verbose):
    """Show what secure would do for NAME, and why; change nothing."""
    _secure(names, port, listen, group, create, all_children, in_group, instances_json,
            config_dir, root, as_json, verbose, True, True, None)


@click.command("undo", epilog=examples(
    "postmulti-selinux undo postfix-sub --dry-run   # what would be put back",
    "postmulti-selinux undo postfix-sub",
    "postmulti-selinux undo --all                   # every child the tool secured",
    "postmulti-selinux undo postfix-sub --root /mnt/image   # offline; nothing restarted"))
@click.argument("names", metavar="[NAME]...", nargs=-1)
@selection_options
@click.option("--root", default="/", show_default=True, help="Alternate root (offline mode).")
@click.option("--config-dir", metavar="DIR", help="The parent instance's config directory, "
              "for -g [default: /etc/postfix, under --root when given].")
@_STATE_DIR
@_YES
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--restart/--no-restart", default=True, show_default=True,
              help="Restart Postfix afterwards through the service manager.")
@click.option("--dry-run", is_flag=True, help="Show what would be undone; change nothing.")
def undo_command(names, all_children, in_group, root, config_dir, state_dir, yes, as_json,
                 restart, dry_run):
    """Put back everything secure changed for NAME (files, labels, ports, modules), exactly.

    Children secured together in one run (--all, -g, several NAMEs) are undone together."""
    from postmulti_selinux.cli.selection import select_names
    from postmulti_selinux.plan.recovery import restart_after_undo
    from postmulti_selinux.plan.scope import resolve_scope
    from postmulti_selinux.plan.service import service_manager
    from postmulti_selinux.plan.undo import journalled_children, undo_children
    scope = resolve_scope(root, config_dir, state_dir)
    chosen, host_form = select_names(names, all_children, in_group, scope.config_dir,
                                     journalled=lambda: journalled_children(scope.state_dir,
                                                                            scope.root))
    undone = undo_children(chosen, scope.state_dir, scope.root, dry_run=dry_run) \
        if chosen else []
    reversed_any = any(item.get("reversed", True) for item in undone)
    restarted = False
    notes = []  # type: list
    if reversed_any and restart and not scope.offline and not dry_run:
        notes = restart_after_undo(chosen, service_manager(), config_dir=scope.config_dir)
        restarted = True
    if as_json:
        data = {"changed": reversed_any, "undone": undone, "dry_run": dry_run,
                "restarted": restarted, "notes": notes, "ok": True}
        data.update({"instances": chosen} if host_form else {"instance": chosen[0]})
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    elif not undone:
        click.echo("{}: nothing to undo".format(", ".join(chosen) or "no child"))
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
