"""Render the .te/.fc text of a module from findings, with jinja2 (StrictUndefined).

Nothing from a log line reaches a template unless it passed the SELinux grammar checks here:
identifiers (types, roles, classes, perms, module name), the version, contexts and paths. The
rendered text depends only on the rule set and on numbers (counts, audit stamps), so hostile
``comm=``/``exe=``/``name=`` values cannot change it.
"""

import hashlib
import re
from typing import NamedTuple, Optional

import jinja2

from postmulti_selinux.avc.records import Stamp, is_identifier, parse_context
from postmulti_selinux.avc.triage import MISLABEL, RoleRule, Rule
from postmulti_selinux.errors import ToolError
from postmulti_selinux.policy_templates import templates_dir

_MODULE_NAME = re.compile(r"\A[A-Za-z][A-Za-z0-9_]{0,63}\Z")
_VERSION = re.compile(r"\A[0-9]{1,9}(\.[0-9A-Za-z_]{1,32}){0,4}\Z")
_PERM = re.compile(r"\A[A-Za-z][A-Za-z0-9_]{0,63}\Z")
_SAFE_PATH = re.compile(r"\A(/[A-Za-z0-9._+@-]+)+/?\Z")
_FC_FILETYPE = {"file": "--", "dir": "-d", "lnk_file": "-l", "fifo_file": "-p", "sock_file": "-s",
                "chr_file": "-c", "blk_file": "-b"}


class Module(NamedTuple):
    """A rendered module: name, version, digest of its rule set, .te text, .fc text or None."""
    name: str
    version: str
    digest: str
    te: str
    fc: Optional[str]
    rules: tuple
    role_rules: tuple


def _check_ident(value, what):
    if not is_identifier(value):
        raise ToolError("refusing to render {} {!r}: not a valid SELinux identifier".format(what, value))
    return value


def check_module_name(name):
    if not isinstance(name, str) or not _MODULE_NAME.match(name):
        raise ToolError("invalid module name {!r}".format(name),
                        hint="use letters, digits and _ only, starting with a letter")
    return name


def _check_rule(rule):
    for value, what in ((rule.source, "source type"), (rule.target, "target type"), (rule.tclass, "class")):
        _check_ident(value, what)
    for perm in rule.perms:
        if not isinstance(perm, str) or not _PERM.match(perm):
            raise ToolError("refusing to render permission {!r}".format(perm))
    return rule


def merge_rules(rules):
    """Merge rules with the same (source, target, class); sorted, perms sorted."""
    merged = {}
    for rule in rules:
        merged.setdefault((rule.source, rule.target, rule.tclass), set()).update(rule.perms)
    return tuple(Rule(s, t, c, tuple(sorted(p))) for (s, t, c), p in sorted(merged.items()) if p)


def digest_of(rules, role_rules):
    # type: (tuple, tuple) -> str
    """A short hash of the canonical rule set; equal rule sets give equal digests."""
    text = "\n".join(["allow {} {}:{} {};".format(r.source, r.target, r.tclass, ",".join(r.perms)) for r in rules]
                     + ["role {} {};".format(r.role, r.type) for r in sorted(set(role_rules))])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _environment():
    return jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir()), autoescape=False,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _stamp_text(stamp):
    """Rebuilt from numbers only."""
    if not isinstance(stamp, Stamp):
        return "audit(?)"
    time = stamp.time if isinstance(stamp.time, float) else None
    serial = stamp.serial if isinstance(stamp.serial, int) else None
    return str(Stamp(time, serial))


def module_rules(findings, extra_rules=(), extra_role_rules=()):
    """(rules, role_rules) the findings call for, plus carried-forward ones (installed module)."""
    rules = [f.rule for f in findings if f.rule is not None] + list(extra_rules)
    roles = set(f.role_rule for f in findings if f.role_rule is not None) | set(extra_role_rules)
    # Merge first (findings repeat the same rule), then validate every merged identifier.
    return tuple(_check_rule(r) for r in merge_rules(rules)), tuple(sorted(roles))


def render_module(name, version, findings, extra_rules=(), extra_role_rules=(), fc_entries=None):
    # type: (...) -> Module
    """Render the module text. ``version`` must match checkmodule's version grammar."""
    check_module_name(name)
    if not isinstance(version, str) or not _VERSION.match(version):
        raise ToolError("invalid module version {!r}".format(version))
    rules, role_rules = module_rules(findings, extra_rules, extra_role_rules)
    for rr in role_rules:
        _check_ident(rr.role, "role")
        _check_ident(rr.type, "type")
    digest = digest_of(rules, role_rules)
    counts, firsts = {}, {}
    for finding in findings:
        key = None
        if finding.rule is not None:
            key = (finding.rule.source, finding.rule.target, finding.rule.tclass)
        elif finding.role_rule is not None:
            key = finding.role_rule
        if key is None:
            continue
        counts[key] = counts.get(key, 0) + int(finding.count)
        first = firsts.get(key)
        if first is None or (finding.first and finding.first.time is not None and
                             (first.time is None or finding.first.time < first.time)):
            firsts[key] = finding.first
    types = sorted(set([r.source for r in rules] + [r.target for r in rules] + [r.type for r in role_rules]))
    classes = {}
    for rule in rules:
        classes.setdefault(rule.tclass, set()).update(rule.perms)
    context = {
        "module": name, "version": version, "digest": digest, "types": types,
        "roles": sorted(set(r.role for r in role_rules)),
        "classes": [{"name": c, "perms": sorted(p)} for c, p in sorted(classes.items())],
        "rules": [{"source": r.source, "target": r.target, "tclass": r.tclass, "perms": list(r.perms),
                   "denials": counts.get(r[:3], 0), "first": _stamp_text(firsts.get(r[:3]))} for r in rules],
        "role_rules": [{"role": rr.role, "type": rr.type, "denials": counts.get(rr, 0),
                        "first": _stamp_text(firsts.get(rr))} for rr in role_rules],
    }
    env = _environment()
    te = env.get_template("avc_module.te.j2").render(**context)
    fc = None
    if fc_entries:
        fc = env.get_template("avc_module.fc.j2").render(entries=fc_entries).lstrip("\n") + "\n"
    return Module(name, version, digest, te, fc, rules, role_rules)


def fc_entries_for(findings):
    """.fc lines labeling mislabeled child paths like the parent's (validated; unsafe paths skipped)."""
    entries, seen = [], set()
    for finding in findings:
        if finding.kind != MISLABEL or not finding.path or not finding.expected:
            continue
        ctx = parse_context(finding.expected)
        if ctx is None or not _SAFE_PATH.match(finding.path) or "/../" in finding.path + "/" \
                or "/./" in finding.path + "/":
            continue
        filetype = _FC_FILETYPE.get(finding.tclass)
        if filetype is None:
            continue
        regex = re.sub(r"([.+@])", r"\\\1", finding.path.rstrip("/"))
        key = (regex, filetype)
        if key in seen:
            continue
        seen.add(key)
        entries.append({"regex": regex, "filetype": filetype, "context": str(ctx)})
    return entries
