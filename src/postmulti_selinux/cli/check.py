"""``postmulti-selinux check``: read-only health for monitoring (exit 0 OK, 1 WARNING, 2 CRITICAL)."""

import json
import sys
import time

import click

from postmulti_selinux.cli.examples import examples
from postmulti_selinux.cli.selection import selection_options
from postmulti_selinux.errors import ToolError

LABELS = {0: "OK", 1: "WARNING", 2: "CRITICAL"}


@click.command("check", epilog=examples(
    "postmulti-selinux check postfix-sub          # exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
    "postmulti-selinux check --all --json         # for a monitoring system",
    "postmulti-selinux check -g mta               # every child of group mta",
    "postmulti-selinux check postfix-sub --since 3600   # denials of the last hour"))
@click.argument("names", metavar="[NAME]...", nargs=-1)
@selection_options
@click.option("--config-dir", metavar="DIR", help="The parent instance's config directory "
              "[default: /etc/postfix, under --root when given].")
@click.option("--root", default="/", show_default=True, help="Alternate root (offline mode).")
@click.option("--since", type=int, default=None, metavar="SECONDS",
              help="Count Postfix denials of the last SECONDS (default: since the child's "
                   "master started, else the last hour).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def check_command(names, all_children, in_group, config_dir, root, since, as_json):
    """Report labels, ports, service, listeners and recent denials of NAME; change nothing."""
    from postmulti_selinux.cli.selection import select_names
    from postmulti_selinux.plan.check import check_children, worst
    from postmulti_selinux.plan.scope import resolve_scope
    try:
        scope = resolve_scope(root, config_dir)
        start = time.time() - since if since is not None else None
        chosen, _ = select_names(names, all_children, in_group, scope.config_dir)
        results = check_children(chosen, scope.config_dir, scope.root, start)
    except ToolError as exc:
        raise ToolError(str(exc), exit_code=3)  # UNKNOWN in the plugin convention
    status = max(worst(items) for _, items in results)
    if as_json:
        click.echo(json.dumps({
            "status": status, "ok": status == 0,
            "instances": [{"instance": child, "status": worst(items),
                           "checks": [i._asdict() for i in items]} for child, items in results]},
            indent=2, sort_keys=True))
    else:
        bad = ["{}: {}".format(child, i.detail) for child, items in results for i in items
               if i.status == status and status]
        click.echo("POSTMULTI-SELINUX {} - {}".format(
            LABELS[status], "; ".join(bad) if bad else ", ".join(c for c, _ in results)))
        for child, items in results:
            for item in items:
                click.echo("  [{}] {} {}: {}".format(LABELS[item.status], child, item.name,
                                                     item.detail))
    sys.exit(status)


check_command.usage_exit_code = 3  # usage errors are UNKNOWN too, never CRITICAL


def register(group):
    group.add_command(check_command)
