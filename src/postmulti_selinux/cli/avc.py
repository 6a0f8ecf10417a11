"""``postmulti-selinux avc``: explain denials; write/compile/install a module only on request."""

import json
import os

import click

from postmulti_selinux.cli.examples import examples
from postmulti_selinux.errors import ToolError

DEFAULT_LOG = "/var/log/audit/audit.log"


def _is_device(path):
    # type: (str) -> bool
    """A character or block device (/dev/zero, a disk); a pipe, FIFO or file is read as given."""
    import stat
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode)


@click.command("avc", epilog=examples(
    "postmulti-selinux avc --since today                  # explain Postfix denials",
    "ausearch -m AVC -ts recent | postmulti-selinux avc --input -",
    "postmulti-selinux avc --instance postfix-sub --module postfix_sub   # .te/.pp for true gaps",
    "postmulti-selinux avc --module postfix_sub --install"))
@click.option("--input", "inputs", multiple=True, metavar="FILE",
              help="Audit log(s) to read (raw audit.log, ausearch [-i] output, syslog/journal "
                   "text; a pipe or FIFO is read until it ends; '-' for stdin). Default: {} and "
                   "its rotations.".format(DEFAULT_LOG))
@click.option("--since", metavar="TIME",
              help="Only records from TIME on (date/time, epoch, today, recent, boot), or 'load' "
                   "for records since the last policy load.")
@click.option("--instance", metavar="NAME", help="Only denials on this instance's paths (e.g. postfix-sub).")
@click.option("--domain", "domains", multiple=True, metavar="TYPE",
              help="Also analyse this domain (default scope: postfix_*_t).")
@click.option("--explain", is_flag=True, help="Explain every finding (the default action).")
@click.option("--module", "module_name", metavar="NAME",
              help="Write NAME.te/.pp (and .fc with --fc) for the true policy gaps.")
@click.option("--output-dir", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Where --module writes its files.")
@click.option("--fc", "with_fc", is_flag=True, help="Also label mislabeled child paths in the module's .fc.")
@click.option("--install", is_flag=True, help="Install the module (requires --module).")
@click.option("--allow-sensitive", is_flag=True,
              help="Do not refuse security-sensitive rules (shadow_t, load_policy, sys_module, …).")
@click.option("--root", type=click.Path(file_okay=False), default="/", show_default=True,
              help="Alternate root holding etc/selinux and var/lib/selinux (offline mode).")
@click.option("--policy-type", "store", metavar="NAME",
              help="Policy type, e.g. targeted (default: SELINUXTYPE under --root).")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="Binary policy file.")
@click.option("--file-contexts", type=click.Path(dir_okay=False), help="file_contexts for expected labels.")
@click.option("--backend", type=click.Choice(["auto", "setools", "sesearch"]), default="auto",
              show_default=True, help="How to query the policy (sesearch: the setools command).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Say which files, policy and backend were used.")
def avc_command(inputs, since, instance, domains, explain, module_name, output_dir, with_fc, install,
                allow_sensitive, root, store, policy_file, file_contexts, backend, as_json, verbose):
    """Explain SELinux denials of Postfix and fix by labels first; a module only for true gaps."""
    from postmulti_selinux.avc import analysis, build, paths, policy, reader
    from postmulti_selinux.avc.records import is_identifier, printable

    def say(text):
        click.echo(printable(text))     # nothing from a log reaches the terminal raw

    if install and not module_name:
        raise ToolError("--install needs --module NAME")
    for domain in domains:
        if not is_identifier(domain):
            raise ToolError("invalid domain {!r}".format(domain))
    store = store or paths.selinux_type(root)
    policy_file = policy_file or paths.binary_policy_path(root, store)
    file_contexts = file_contexts or paths.file_contexts_path(root, store)
    query = policy.open_policy(policy_file, backend)
    expected = paths.SelabelExpected(file_contexts)

    since_time, since_load = None, False
    if since == "load":
        since_load = True
    elif since:
        since_time = reader.parse_since(since)
    files = []
    for name in inputs or (DEFAULT_LOG,):
        found = [name] if name == "-" else (reader.expand_rotated(name) if not inputs else [name])
        if not found or (name != "-" and not all(os.path.exists(f) for f in found)):
            raise ToolError("audit log not found: {}".format(name), hint="pass --input FILE")
        if name != "-" and any(_is_device(f) for f in found):
            raise ToolError("--input {} is a device, not an audit log (it would be read "
                            "forever)".format(printable(name)),
                            hint="pass a file, a pipe or '-' for stdin")
        files.extend(found)

    installed = build.read_installed(module_name, store, root) if module_name else None
    result = analysis.analyse(query, files=files, expected_context=expected, domains=domains,
                              since=since_time, since_last_load=since_load, instance=instance,
                              installed=installed, allow_sensitive=allow_sensitive)
    module, unchanged, built, commit = None, False, None, None
    if module_name:
        module, unchanged = analysis.plan_module(result.findings, module_name, installed, with_fc)
        if module is not None:
            built = build.compile_module(module, output_dir)
            if install and not unchanged:
                commit = _install(built.pp_path, root, store)
    installed_now = bool(commit and commit.changes)

    if as_json:
        click.echo(json.dumps({
            "ok": True,
            "findings": [f.as_dict() for f in result.findings],
            "stats": result.stats.as_dict(),
            "policy": {"file": policy_file, "backend": query.backend, "store": store},
            "module": None if module is None else {
                "name": module.name, "version": module.version, "digest": module.digest,
                "unchanged": unchanged, "installed": installed_now,
                "rebuilds": commit.rebuilds if commit else 0,
                "te": built.te_path, "fc": built.fc_path, "pp": built.pp_path},
        }, indent=2, sort_keys=True))
        return
    if verbose:
        say("read {} ({} lines, {} denials, {} SELINUX_ERR, {} foreign/{} malformed skipped); "
            "policy {} via {}".format(", ".join(files), result.stats.lines, result.stats.avc,
                                      result.stats.selinux_err, result.stats.foreign,
                                      result.stats.malformed, policy_file, query.backend))
        walker = {"native": "native walker; ", "pattern": "pure-Python pattern; "}.get(result.stats.walker, "")
        say("{} of {} file(s) read by the fast raw-log scanner ({}split between up to {} "
            "processes), the rest line by line; {}".format(
                result.stats.scanned, len(result.stats.files), walker, result.stats.processes,
                query.cache.describe() if query.cache is not None else "no policy-rule index"))
    if not result.findings:
        say("no denials of Postfix domains found")
    for finding in result.findings:
        say(finding.line())
        if finding.fix and finding.kind not in ("out_of_scope",):
            say("    fix: {}".format(finding.fix))
    for line in _skipped(result.stats):
        say(line)
    if module_name:
        if module is None:
            say("no module needed: every finding is fixed without an allow rule")
        else:
            if unchanged and install:
                state = "unchanged (already installed)"
            elif installed_now:
                state = "installed ({} policy rebuild{})".format(
                    commit.rebuilds, "" if commit.rebuilds == 1 else "s")
            elif commit is not None:
                state = "already in the store, nothing installed"
            else:
                state = "written, not installed"
            say("module {} {}: {} ({})".format(module.name, module.version, built.pp_path, state))


def _skipped(stats):
    """Lines saying what of the input was skipped, unread (none when nothing was)."""
    from postmulti_selinux.avc.reader import MAX_LINE
    for count, what, why in (
            (stats.truncated, "truncated record", "the input ends in the middle of it"),
            (stats.too_long, "over-long line", "more than {} KiB".format(MAX_LINE >> 10)),
            (stats.malformed, "malformed record", "AVC/SELINUX_ERR fields incomplete or invalid")):
        if count:
            yield "{} {}{} skipped ({})".format(count, what, "" if count == 1 else "s", why)


def _install(pp_path, root, store):
    """Install through the labeling engine's single policy transaction (one rebuild at most;
    libsemanage runs in a forked worker, so any --root works from one process)."""
    from postmulti_selinux.selinux import PolicyTransaction

    transaction = PolicyTransaction(root, store)
    transaction.install_module(pp_path)
    return transaction.commit()


def register(group):
    """Add the ``avc`` subcommand to the ``postmulti-selinux`` click group."""
    group.add_command(avc_command)
