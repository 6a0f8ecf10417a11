"""``postmulti-selinux labels``: current vs expected labels of a child's directories and ports."""

import json
import re

import click

from postmulti_selinux.cli.examples import examples
from postmulti_selinux.errors import ToolError
from postmulti_selinux.selinux import ExpectedLabels, PolicyRoot, PortCheck


def _pair(value):
    parent, sep, child = value.partition("=")
    if not sep or not parent or not child:
        raise ToolError("--dir takes PARENT=CHILD, got {!r}".format(value))
    return parent.rstrip("/") or "/", child.rstrip("/") or "/"


def _port(value):
    number, _, proto = value.partition("/")
    if not re.match(r"^[0-9]{1,5}$", number) or not 0 < int(number) < 65536:
        raise ToolError("--port takes PORT[/PROTO], got {!r}".format(value))
    return int(number), proto or "tcp"


def _children(policy_root, config_dir):
    """(parent_dir, child_dir) system-path pairs and PORT texts of every child of the parent."""
    from postmulti_selinux.plan.build import listener_ports
    from postmulti_selinux.plan.observe import child_dir_pairs
    from postmulti_selinux.plan.scope import resolve_scope
    from postmulti_selinux.postfix import discover
    scope = resolve_scope(policy_root.root, config_dir)
    host = discover(scope.config_dir)
    if not host.children:
        raise ToolError("{} has no child instances (multi_instance_directories is empty)".format(
            scope.config_dir), hint="give --dir PARENT=CHILD, or create a child with postmulti")
    system = policy_root.system_path
    pairs, ports = [], set()
    for child in host.children:
        pairs.extend((system(a), system(b)) for _, a, b in child_dir_pairs(host.parent, child))
        ports.update(str(p) for p in listener_ports(child))
    return pairs, sorted(ports, key=int)


@click.command("labels", epilog=examples(
    "postmulti-selinux labels                     # every child against its parent",
    "postmulti-selinux labels --port 2525 --json",
    "postmulti-selinux labels --root /mnt/image --dir /var/spool/postfix=/var/spool/postfix-sub"))
@click.option("--root", default="/", show_default=True, help="Root of the system (offline copy).")
@click.option("--policy-type", default=None, help="Policy type (default: from etc/selinux/config).")
@click.option("--dir", "dirs", multiple=True, metavar="PARENT=CHILD",
              help="A parent directory and the child's counterpart (repeatable).")
@click.option("--port", "ports", multiple=True, metavar="PORT[/PROTO]",
              help="A listener port of the child (repeatable).")
@click.option("--domain", default="postfix_master_t", show_default=True,
              help="The domain that binds the listeners.")
@click.option("--backend", type=click.Choice(["auto", "setools", "audit2why", "sesearch"]),
              default="auto", show_default=True,
              help="How to query the policy (audit2why: libselinux + the store, EL7; "
                   "sesearch: the setools commands seinfo/sesearch).")
@click.option("--config-dir", metavar="DIR", help="Without --dir and --port: the parent whose "
              "children are looked at [default: /etc/postfix, under --root when given].")
@click.option("--all", "show_all", is_flag=True, help="List matching paths too.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def labels(root, policy_type, dirs, ports, domain, backend, config_dir, show_all, as_json):
    """Report child paths whose label differs from the parent's counterpart, and ports the
    domain may not bind. Without --dir and --port, every child of the parent is looked at."""
    policy_root = PolicyRoot(root, policy_type)
    pairs = [_pair(value) for value in dirs]
    if not dirs and not ports:
        pairs, ports = _children(policy_root, config_dir)
    paths = ExpectedLabels(policy_root).for_child(pairs, only_differing=not show_all)
    checker = PortCheck(policy_root, backend=backend) if ports else None
    decisions = checker.check([_port(value) for value in ports], domain) if checker else []
    if as_json:
        click.echo(json.dumps({
            "root": policy_root.root, "policy_type": policy_root.policy_type,
            "paths": [item.as_dict() for item in paths],
            "ports": [dict(d._asdict()) for d in decisions],
            "backend": checker.backend_name if checker else None}, indent=2, sort_keys=True))
        return
    for item in paths:
        mark = "differs" if item.differs else "ok"
        click.echo("{}  {}  current={}  expected={} (as {})".format(
            mark, item.path, item.current or "<none>", item.expected, item.parent_path))
    for d in decisions:
        click.echo("port {}/{}  {}  {}  -> {}".format(
            d.port, d.proto, d.port_type, "bindable" if d.bindable else "NOT bindable",
            "no change" if d.action == "none" else "label " + d.new_type))
    if checker:
        click.echo("(policy queried with {})".format(checker.backend_name))
    if not paths and not decisions:
        click.echo("nothing differs")


def register(group):
    # type: (click.Group) -> None
    """Add the ``labels`` subcommand to the CLI group."""
    group.add_command(labels)
