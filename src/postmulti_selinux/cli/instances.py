"""``postmulti-selinux instances`` and ``postmulti-selinux preflight``."""

import json
import sys

import click

from postmulti_selinux.cli.examples import examples
from postmulti_selinux.postfix import discover
from postmulti_selinux.postfix.preflight import preflight as run_preflight

_CONFIG_DIR = click.option("--config-dir", "config_dir", default="/etc/postfix", show_default=True,
                           help="Configuration directory of the parent (primary) instance.")
_JSON = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _listener_text(listener):
    text = "{}:{}".format(listener.address, listener.port if listener.port else "?")
    if listener.address.count(":") > 1:
        text = "[{}]:{}".format(listener.address, listener.port)
    return text + (" (disabled)" if listener.disabled else "")


@click.command("instances", epilog=examples(
    "postmulti-selinux instances", "postmulti-selinux instances --json"))
@_CONFIG_DIR
@_JSON
def instances(config_dir, as_json):
    """List the parent and child Postfix instances with directories and listeners."""
    host = discover(config_dir)
    if as_json:
        click.echo(json.dumps(host.as_dict(), indent=2, sort_keys=True))
        return
    click.echo("Postfix {}; multi-instance {}".format(
        host.mail_version, "initialised" if host.multi_instance_ready else "not initialised "
        "(postmulti -e init never ran)"))
    for inst in host.instances:
        kind = "parent" if inst.primary else "child"
        click.echo("{} {} [{}{}]".format(kind, inst.label if not inst.primary else "-",
                                        "enabled" if inst.enabled else "disabled",
                                        ", group " + inst.group if inst.group else ""))
        if inst.error:
            click.echo("  error: {}".format(inst.error))
            continue
        click.echo("  config_directory: {}".format(inst.config_directory))
        click.echo("  queue_directory:  {}".format(inst.queue_directory))
        click.echo("  data_directory:   {}".format(inst.data_directory))
        click.echo("  listeners:        {}".format(
            ", ".join("{} {}".format(_listener_text(l), l.command) for l in inst.listeners)
            or "none"))


@click.command("preflight", epilog=examples(
    "postmulti-selinux preflight postfix-sub   # what would stop the child from starting",
    "postmulti-selinux preflight --json"))
@click.argument("name", required=False)
@_CONFIG_DIR
@_JSON
def preflight(name, config_dir, as_json):
    """Check the Postfix side of the host (or one child NAME) for known multi-instance traps.

    Exits 2 when an error-level problem is found, 0 otherwise (warnings included).
    """
    host = discover(config_dir)
    findings = run_preflight(host, name)
    if as_json:
        click.echo(json.dumps([f.as_dict() for f in findings], indent=2, sort_keys=True))
    elif not findings:
        click.echo("preflight: no problems found")
    else:
        for finding in findings:
            click.echo("{}: {} [{}] {}".format(finding.severity, finding.instance, finding.code,
                                               finding.message))
            click.echo("  fix: {}".format(finding.hint))
    if any(f.severity == "error" for f in findings):
        sys.exit(2)


def register(group):
    # type: (click.Group) -> None
    """Add the subcommands to the postmulti-selinux click group."""
    group.add_command(instances)
    group.add_command(preflight)
