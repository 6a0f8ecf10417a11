"""One call for the whole pipeline: read -> collect -> triage, then (optionally) the module.

This is the API the CLI and the one-shot use; every collaborator can be replaced.
"""

from typing import NamedTuple, Optional

from postmulti_selinux.avc.collect import Collection
from postmulti_selinux.avc.reader import AuditReader, ReadStats, cyclic_gc_paused
from postmulti_selinux.avc.render import Module, fc_entries_for, module_rules, digest_of, render_module
from postmulti_selinux.avc.build import next_version
from postmulti_selinux.avc.triage import Scope, Triage


class Analysis(NamedTuple):
    findings: list
    stats: ReadStats
    policy_loads: int


def analyse(policy, files=None, lines=None, expected_context=None, mapper=None, domains=(),
            since=None, until=None, since_last_load=False, instance=None, installed=None,
            allow_sensitive=False):
    # type: (...) -> Analysis
    """Explain every denial in ``files`` (paths, oldest first) or ``lines`` (an iterable)."""
    scope = Scope(domains)
    reader = AuditReader(since=since, until=until)
    collection = Collection(scope, since_last_load=since_last_load)
    with cyclic_gc_paused():
        if files is not None:
            reader.collect(files, collection)
        else:
            collection.add_all(reader.read_lines(lines or ()))
        triage = Triage(policy, expected_context=expected_context, mapper=mapper, scope=scope,
                        installed=installed, allow_sensitive=allow_sensitive, instance=instance)
        findings = triage.run(collection)
    return Analysis(findings, reader.stats, collection.policy_loads)


def plan_module(findings, name, installed=None, with_fc=False):
    # type: (list, str, object, bool) -> tuple
    """(Module or None, unchanged): the module the findings need, versioned against ``installed``.

    Rules of the installed module are carried forward so that a rerun never drops them.
    """
    extra = installed.rules if installed else ()
    extra_roles = installed.role_rules if installed else ()
    rules, role_rules = module_rules(findings, extra, extra_roles)
    fc_entries = fc_entries_for(findings) if with_fc else None
    if not rules and not role_rules and not fc_entries:
        return None, installed is None
    version, unchanged = next_version(installed.version if installed else None,
                                      digest_of(rules, role_rules))
    module = render_module(name, version, findings, extra, extra_roles, fc_entries)
    return module, unchanged and not fc_entries
