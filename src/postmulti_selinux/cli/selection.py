"""Which children a command works on: NAME..., ``--all``, ``-g GROUP`` or ``--instances-json``.

One NAME is the one-child run with the child's own report; anything else is one run over
several children (one transaction, one restart) with one host report.
"""

import json
import typing

import click

from postmulti_selinux.errors import ToolError

USAGE = 2  # the exit code of a usage error, as click gives it


def selection_options(func):
    """--all and -g GROUP (NAME... is the command's own argument)."""
    func = click.option("-g", "--in-group", "in_group", metavar="GROUP",
                        help="Every child of multi_instance_group GROUP (postmulti -g).")(func)
    func = click.option("--all", "all_children", is_flag=True,
                        help="Every child in multi_instance_directories.")(func)
    return func


def _group_names(config_dir, group):
    # type: (str, str) -> typing.List[str]
    from postmulti_selinux.postfix import discover
    children = [c for c in discover(config_dir).children if c.name]
    names = [c.name for c in children if c.group == group]
    if not names:
        known = sorted(set(c.group for c in children if c.group))
        raise ToolError("no child is in multi_instance_group {!r} (groups: {})".format(
            group, ", ".join(known) or "none"))
    return names


def select_names(names, all_children, in_group, config_dir, journalled=None):
    # type: (typing.Sequence[str], bool, typing.Optional[str], str, typing.Optional[typing.Callable]) -> typing.Tuple[typing.List[str], bool]
    """(names, host_form) for NAME..., --all or -g GROUP; ``journalled`` (undo) lists the
    children --all means instead of the configured ones."""
    from postmulti_selinux.postfix.manage import check_name
    given = [bool(names), bool(all_children), in_group is not None]
    if sum(given) > 1:
        raise ToolError("give a NAME or --all or -g GROUP, not two of them", exit_code=USAGE)
    if in_group is not None:
        if not in_group.strip():
            raise ToolError("-g is empty", hint="give the multi_instance_group, e.g. mta")
        return _group_names(config_dir, in_group), True
    if all_children:
        if journalled is not None:
            return journalled(), True
        from postmulti_selinux.postfix import discover
        found = [c.name for c in discover(config_dir).children if c.name]
        if not found:
            raise ToolError("multi_instance_directories lists no named child")
        return found, True
    if not names:
        raise ToolError("give the child instance NAME (e.g. postfix-sub), --all or -g GROUP",
                        exit_code=USAGE)
    for name in names:
        check_name(name)
    if len(set(names)) != len(names):
        raise ToolError("a child is named twice: {}".format(" ".join(names)))
    return list(names), len(names) > 1


def read_instances_json(path):
    # type: (str) -> list
    """The specs in ``--instances-json FILE`` ('-': stdin): a list of {"name", "listen",
    "port", "group", "create"}; anything else is one clear error."""
    from postmulti_selinux.plan.build import Spec
    from postmulti_selinux.postfix.manage import check_name
    try:
        if path == "-":
            data = json.load(click.get_text_stream("stdin"))
        else:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
    except (IOError, OSError) as exc:
        raise ToolError("cannot read --instances-json {}: {}".format(path, exc.strerror or exc))
    except ValueError as exc:
        raise ToolError("--instances-json {} is not JSON: {}".format(path, exc))
    if not isinstance(data, list) or not data or not all(isinstance(i, dict) for i in data):
        raise ToolError("--instances-json must hold a non-empty list of objects with a name")
    specs = []
    for item in data:
        unknown = sorted(set(item) - {"name", "listen", "port", "group", "create"})
        if unknown:
            raise ToolError("--instances-json: unknown key {!r} for {}".format(
                unknown[0], item.get("name")))
        name = item.get("name")
        if not isinstance(name, str):
            raise ToolError("--instances-json: every item needs a name (a string)")
        check_name(name)
        listen, port = item.get("listen"), item.get("port")
        if listen is not None and port is not None:
            raise ToolError("--instances-json: {} gives listen and port, not both".format(name))
        if port is not None and (not isinstance(port, int) or isinstance(port, bool)
                                 or not 0 < port < 65536):
            raise ToolError("--instances-json: {} port must be 1-65535".format(name))
        if listen is not None and (not isinstance(listen, str) or not listen.strip()):
            raise ToolError("--instances-json: {} listen must be ADDR:PORT or PORT".format(name))
        if listen is not None:
            from postmulti_selinux.postfix.manage import parse_listener_spec
            parse_listener_spec(listen)
        specs.append(Spec(name, listen if listen is not None else
                          (str(port) if port is not None else None),
                          bool(item.get("create", False)), item.get("group")))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ToolError("--instances-json names a child twice")
    return specs
