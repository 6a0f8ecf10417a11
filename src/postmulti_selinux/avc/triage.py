"""Explain each denial and decide its fix: labels, ports and booleans before any allow rule.

Collaborators are injected so that the labeling engine and discovery can supply their own:
``policy`` (see :mod:`.policy`), ``expected_context(path, tclass) -> context or None``,
``mapper`` (:class:`.paths.PathMapper`, child path -> parent path) and ``installed`` (the rules
already in our module, so a rerun recognises denials it has answered before).
"""

import os
import re
import shlex
from typing import NamedTuple, Optional, Tuple

from postmulti_selinux.avc import guard
from postmulti_selinux.avc.paths import PathMapper
from postmulti_selinux.avc.records import is_identifier, parse_context

# Machine-readable kinds.
MISLABEL, PORT, BOOLEAN, DONTAUDIT, CONSTRAINT, ROLE, MISSING_RULE, OUT_OF_SCOPE, GRANTED, STATE = (
    "mislabel", "port", "boolean", "dontaudit", "constraint", "role", "missing_rule",
    "out_of_scope", "granted", "state")
SOCKET_CLASSES = frozenset(["tcp_socket", "udp_socket", "sctp_socket", "dccp_socket"])
PORT_PERMS = frozenset(["name_bind", "name_connect"])
_PATH_NOTES = {"inode": " (path taken from another record of the same inode)",
               "name": " (path taken from the only record with that file name)",
               "argv": " (path taken from the command line in the PROCTITLE record)",
               "directory": " (path guessed: the one directory this domain is seen working in)"}
POSTFIX_DOMAIN = re.compile(r"\Apostfix_[A-Za-z0-9_]+_t\Z")


class Rule(NamedTuple):
    source: str
    target: str
    tclass: str
    perms: Tuple[str, ...]


class RoleRule(NamedTuple):
    role: str
    type: str


class Finding(object):
    """One explained denial (or SELinux error): ``kind``, a one-line ``reason`` and the fix."""

    def __init__(self, kind, reason, source=None, target=None, tclass=None, perms=(), count=1,
                 first=None, path=None, path_from=None, mapped=None, expected=None, fix=None,
                 rule=None, role_rule=None, booleans=(), permissive=None, instance=None):
        self.kind = kind
        self.reason = reason
        self.source, self.target, self.tclass = source, target, tclass
        self.perms = tuple(sorted(perms))
        self.count = count
        self.first = first
        self.path, self.path_from = path, path_from
        self.mapped = mapped
        self.expected = expected
        self.fix = fix
        self.rule = rule
        self.role_rule = role_rule
        self.booleans = tuple(booleans)
        self.permissive = permissive
        self.instance = instance
        self.refused = None     # guard.Refusal when (part of) the rule was refused

    def as_dict(self):
        return {
            "kind": self.kind, "reason": self.reason, "source": self.source,
            "target": self.target, "tclass": self.tclass, "perms": list(self.perms),
            "count": self.count, "first": str(self.first) if self.first else None,
            "path": self.path, "path_from": self.path_from,
            "judged_as": self.mapped.path if self.mapped and self.mapped.how else None,
            "mapping": self.mapped.how if self.mapped else None,
            "instance": self.instance, "expected": self.expected, "fix": self.fix,
            "booleans": list(self.booleans), "permissive": self.permissive,
            "rule": list(self.rule[:3]) + [list(self.rule.perms)] if self.rule else None,
            "role_rule": list(self.role_rule) if self.role_rule else None,
            "refused": {"perms": list(self.refused.perms), "reason": self.refused.reason}
            if self.refused else None,
        }

    def line(self):
        """The one-line human explanation."""
        text = "[{}] {}".format(self.kind, self.reason)
        if self.refused:
            text += " -- REFUSED {{ {} }}: {}".format(" ".join(self.refused.perms), self.refused.reason)
        return text


class Scope(object):
    """Postfix domains (``postfix_*_t``) plus domains named on the command line."""

    def __init__(self, extra=()):
        self.extra = frozenset(extra)
        self._known = {}        # domain -> answer (a log names few domains; bounded anyway)

    def __call__(self, domain):
        known = self._known.get(domain)
        if known is None:
            known = bool(domain) and (domain in self.extra or bool(POSTFIX_DOMAIN.match(domain)))
            if len(self._known) < 4096:
                self._known[domain] = known
        return known


class Triage(object):
    """Classify denial groups and SELinux errors into :class:`Finding` objects."""

    def __init__(self, policy, expected_context=None, mapper=None, scope=None, installed=None,
                 allow_sensitive=False, instance=None):
        self.policy = policy
        self.expected_context = expected_context
        self.mapper = mapper or PathMapper()
        self.scope = scope or Scope()
        self.installed = installed
        self.allow_sensitive = allow_sensitive
        self.instance = instance
        self._verdicts = {}     # (what, source, target, tclass, perms) -> policy verdict

    # -- entry point --------------------------------------------------------------------------
    def run(self, collection):
        """All findings for a :class:`.collect.Collection`, in log order."""
        findings = []
        groups = collection.resolved_groups()
        prefetch = getattr(self.policy, "prefetch", None)
        if prefetch is not None:      # one policy pass for all domains, not one per domain
            prefetch(set(g.source for g in groups))
        for group in groups:
            finding = self.denial(group)
            if self.instance and finding.instance not in (None, self.instance):
                continue
            findings.append(self._guarded(finding))
        for err, count in collection.errors.values():
            finding = self.selinux_error(err, count)
            if finding is not None:
                findings.append(self._guarded(finding))
        for (source, target, tclass), (perms, count) in collection.out_of_scope.items():
            findings.append(Finding(
                OUT_OF_SCOPE, "{} is not a Postfix domain (add it with --domain to analyse it); "
                "no rule is written".format(source), source, target, tclass, perms, count))
        save = getattr(self.policy, "save_cache", None)
        if save is not None:
            save()
        return findings

    def _guarded(self, finding):
        if finding.rule is not None:
            rule = finding.rule
            kept, refusal = guard.check_rule(rule.source, rule.target, rule.tclass, rule.perms,
                                             self.scope, self.allow_sensitive)
            finding.refused = refusal
            finding.rule = Rule(rule.source, rule.target, rule.tclass, tuple(sorted(kept))) if kept else None
            if refusal and not kept:
                finding.fix = "none: refused by the least-privilege guard (fix the cause; override only with --allow-sensitive)"
        if finding.role_rule is not None:
            reason = guard.check_role(finding.role_rule.role, finding.role_rule.type, self.scope,
                                      self.allow_sensitive)
            if reason:
                finding.refused = guard.Refusal((), reason)
                finding.role_rule = None
                finding.fix = "none: refused by the least-privilege guard"
        return finding

    # -- AVC denials ------------------------------------------------------------------------
    def denial(self, group):
        g = group
        perms = frozenset(g.perms)
        base = dict(source=g.source, target=g.target, tclass=g.tclass, perms=perms, count=g.count,
                    first=g.first, path=g.path, path_from=g.path_from, permissive=g.permissive)
        what = "{} {} {}:{} {{ {} }}".format(g.result, g.source, g.target, g.tclass, " ".join(sorted(perms)))
        if g.path:
            mapped = self.mapper.map(g.path)
            base["mapped"] = mapped
            base["instance"] = self.mapper.instance_of(g.path, mapped)
        if g.result == "granted":
            return Finding(GRANTED, "{}: logged by an auditallow rule, nothing was denied".format(what), **base)
        installed = self._installed_rule(g.source, g.target, g.tclass, perms)
        if installed:
            return Finding(MISSING_RULE, "{}: already answered by the installed module".format(what),
                           rule=installed, fix="keep the module", **base)
        if g.tclass in SOCKET_CLASSES and perms & PORT_PERMS:
            finding = self._port(g, perms, what, base)
            if finding:
                return finding
        finding = self._mislabel(g, perms, what, base)
        if finding:
            return finding
        if self._set_permissions_chown(g, perms):
            allowed, _ = self._allowed(g.source, g.target, g.tclass, perms)
            if perms - allowed:
                return Finding(STATE, "{}: {}".format(what, self._chown_reason(g, g.target)),
                               fix=self._chown_fix(base.get("instance")), **base)
        return self._by_policy(g.source, g.target, g.tclass, perms, what, base)

    def _set_permissions_chown(self, g, perms):
        """True for ``postfix set-permissions`` (post-install) running ``chown root`` on an
        instance's config directory: a setattr on a directory by chown, where the directory is
        (or maps to) the parent's config directory. Deciding on comm/exe can only ever withhold
        a rule, never add one."""
        if g.tclass != "dir" or perms != frozenset(["setattr"]):
            return False
        if g.comm != "chown" and os.path.basename(g.exe or "") != "chown":
            return False
        config_dir = self.mapper.parent.config_directory.rstrip("/")
        if g.path:
            return self.mapper.map(g.path).path.rstrip("/") == config_dir
        if self.expected_context is None:
            return False
        expected = parse_context(self.expected_context(config_dir, "dir") or "")
        return expected is not None and expected.type == g.target

    def _chown_reason(self, g, config_type):
        return ("`postfix set-permissions` runs `chown root` on the instance's config directory "
                "{} in {}, and this policy gives {} no setattr on {} directories. No allow rule "
                "is the fix: the directory is root-owned already; what set-permissions then "
                "fails to do (data directory owned by mail_owner, mode 0700) is done as a state "
                "fix".format(g.path or "(" + (g.name or "?") + ")", g.source, g.source, config_type))

    def _chown_fix(self, instance):
        dirs = self.mapper.instance_dirs(instance)
        if dirs is None:
            return ("no module: chown the instance's data_directory to its mail_owner, mode 0700 "
                    "(postmulti-selinux secure does this)")
        return ("no module: chown \"$({})\" {} && {} (postmulti-selinux secure does this)".format(
            command("postconf", "-c", dirs.config_directory, "-h", "mail_owner"),
            shlex.quote(dirs.data_directory), command("chmod", "0700", dirs.data_directory)))

    def _installed_rule(self, source, target, tclass, perms):
        if not self.installed:
            return None
        have = set()
        for rule in self.installed.rules:
            if (rule.source, rule.target, rule.tclass) == (source, target, tclass):
                have.update(rule.perms)
        if perms <= have:
            return Rule(source, target, tclass, tuple(sorted(perms)))
        return None

    def _allowed(self, source, target, tclass, perms):
        """(unconditionally allowed perms, [conditional hits covering the rest])."""
        hits = self.policy.te_rules(["allow"], source, target, tclass, perms)
        allowed = set()
        conditional = []
        for hit in hits:
            if hit.boolean is None:
                allowed |= hit.perms & perms
            else:
                conditional.append(hit)
        return allowed, conditional

    def _mislabel(self, g, perms, what, base):
        if not g.path or self.expected_context is None:
            return None
        mapped = base["mapped"]
        expected_text = self.expected_context(mapped.path, g.tclass)
        expected = parse_context(expected_text) if expected_text else None
        if expected is None or expected.type == g.target or expected.type == "<<none>>":
            return None
        if mapped.how:
            how = "Postfix's layout convention (inferred)" if mapped.how == "inferred" else "instance {}".format(mapped.instance)
            reason = ("{} is {}, but the parent's {} is {} (mapping by {}): relabel it like the "
                      "parent's, no rule needed".format(g.path, g.target, mapped.path, expected.type, how))
            fix = "label {} as the parent's {} ({}; {})".format(
                g.path, mapped.path,
                command("semanage", "fcontext", "-a", "-e", _root_of(mapped.path), _root_of(g.path)),
                command("restorecon", "-R", g.path))
        else:
            reason = "{} is {}, but file contexts say {}: relabel, no rule needed".format(
                g.path, g.target, expected.type)
            fix = command("restorecon", "-v", g.path)
        reason += _PATH_NOTES.get(g.path_from, "")
        allowed, _ = self._allowed(g.source, expected.type, g.tclass, perms)
        if perms - allowed and self._set_permissions_chown(g, perms):
            reason += "; even then: {}".format(self._chown_reason(g, expected.type))
            fix += "; then, with no module: " + self._chown_fix(base.get("instance"))[len("no module: "):]
        elif perms - allowed:
            reason += " (even then {} lacks {{ {} }} on {}: re-run after relabeling)".format(
                g.source, " ".join(sorted(perms - allowed)), expected.type)
        reason = "{}: {}".format(what, reason)
        return Finding(MISLABEL, reason, expected=str(expected), fix=fix, **base)

    def _port(self, g, perms, what, base):
        for perm in sorted(perms & PORT_PERMS):
            hits = self.policy.te_rules(["allow"], g.source, None, g.tclass, [perm])
            usable = set()
            for hit in hits:
                if hit.boolean is None:
                    usable |= self.policy.expand(hit.target)
            port_types = self.policy.expand("port_type")
            if port_types:
                usable &= port_types
            if g.target in usable or not usable:
                continue
            proto = g.tclass.split("_")[0]
            choice = "smtp_port_t" if "smtp_port_t" in usable else sorted(usable)[0]
            port = str(g.port) if g.port is not None else "PORT"
            reason = ("{}: {} may not {} {} port {} ({}); it may use {}: label the port, no rule "
                      "needed".format(what, g.source, perm, proto, port, g.target,
                                      ", ".join(sorted(usable)[:8]) + (" …" if len(usable) > 8 else "")))
            fix = command("semanage", "port", "-a", "-t", choice, "-p", proto, port)
            return Finding(PORT, reason, fix=fix, **base)
        return None

    def _by_policy(self, source, target, tclass, perms, what, base):
        """What the policy says about a denial that no label explains (the same answer for
        every group with the same types, class and permissions: asked once)."""
        key = (what, source, target, tclass, perms)
        verdict = self._verdicts.get(key)
        if verdict is None:
            if len(self._verdicts) >= 4096:
                self._verdicts.clear()
            verdict = self._verdicts[key] = self._policy_verdict(source, target, tclass, perms, what)
        kind, reason, extra = verdict
        return Finding(kind, reason, **dict(extra, **base))

    def _policy_verdict(self, source, target, tclass, perms, what):
        """(kind, reason, other Finding fields) for :meth:`_by_policy`."""
        allowed, conditional = self._allowed(source, target, tclass, perms)
        missing = perms - allowed
        if not missing:
            return (CONSTRAINT, "{}: the TE rules allow this, so a constraint (user/role/MLS) "
                    "denied it, or the log comes from another policy version".format(what),
                    dict(fix="compare the users/roles of scontext and tcontext; no allow rule helps"))
        by_bool = {}
        for hit in conditional:
            covered = hit.perms & missing
            if covered:
                by_bool.setdefault((hit.boolean, hit.when), set()).update(covered)
        for (expr, when), covered in sorted(by_bool.items(), key=lambda kv: -len(kv[1])):
            if covered >= missing:
                names = sorted(set(re.findall(r"[A-Za-z_]\w*", expr)) - {"and", "or", "not", "xor"})
                state = "on" if when else "off"
                return (BOOLEAN, "{}: allowed when the boolean expression [{}] is {}; "
                        "decide whether to set it (not changed)".format(what, expr, "true" if when else "false"),
                        dict(booleans=names, fix=command("setsebool", "-P", names[0], state) if len(names) == 1 else
                             "set booleans so that [{}] is {}".format(expr, "true" if when else "false")))
        hidden = self.policy.te_rules(["dontaudit"], source, target, tclass, missing)
        hidden_perms = set()
        for hit in hidden:
            hidden_perms |= hit.perms & missing
        if hidden_perms >= missing:
            return (DONTAUDIT, "{}: a dontaudit rule normally hides this (seen because "
                    "dontaudit rules are disabled, semodule -DB); harmless probing, no rule".format(what),
                    dict(fix="semodule -B to hide it again"))
        rule = Rule(source, target, tclass, tuple(sorted(missing)))
        return (MISSING_RULE, "{}: no rule allows {{ {} }}; a policy gap: allow rule".format(
            what, " ".join(sorted(missing))), dict(rule=rule, fix="install the generated module"))

    # -- SELINUX_ERR ------------------------------------------------------------------------
    def selinux_error(self, err, count):
        ctx = err.invalid_context
        source = ctx.type if ctx else (err.scontext.type if err.scontext else None)
        if not (self.scope(source) or (err.scontext and self.scope(err.scontext.type))):
            return Finding(OUT_OF_SCOPE, "SELINUX_ERR op={} for {}: not a Postfix domain".format(
                err.op, source), source=source, count=count, first=err.stamp)
        base = dict(source=source, target=err.tcontext.type if err.tcontext else None,
                    tclass=err.tclass if err.tclass and is_identifier(err.tclass) else None,
                    count=count, first=err.stamp)
        if ctx is not None:
            role_types = self.policy.role_types(ctx.role)
            user_roles = self.policy.user_roles(ctx.user)
            if role_types is not None and ctx.type not in role_types:
                entry = err.tcontext.type if err.tcontext else "its entrypoint"
                reason = ("SELINUX_ERR: role {} is not authorized for {}: running {} from a {} "
                          "shell cannot enter the domain. Start Postfix through systemd/run_init "
                          "(system_r), or authorize the role (role {} types {};)".format(
                              ctx.role, ctx.type, entry, ctx.role, ctx.role, ctx.type))
                return Finding(ROLE, reason, role_rule=RoleRule(ctx.role, ctx.type),
                               fix="systemctl restart postfix, or install the generated module", **base)
            if user_roles is not None and ctx.role not in user_roles:
                return Finding(ROLE, "SELINUX_ERR: SELinux user {} may not use role {} (context {}): "
                               "a user mapping, not a module, decides this".format(ctx.user, ctx.role, ctx),
                               fix=command("semanage", "user", "-m", "-R", "... " + ctx.role, ctx.user), **base)
            return Finding(CONSTRAINT, "SELINUX_ERR: context {} is invalid for another reason (MLS range "
                           "or a missing type in this policy)".format(ctx), fix="check the user's MLS range", **base)
        return Finding(CONSTRAINT, "SELINUX_ERR op={} reason={}: a constraint or bounds check failed; "
                       "no allow rule fixes it".format(err.op, err.reason), **base)


def command(*argv):
    # type: (*str) -> str
    """A command line for the admin to paste: every argument shell-quoted (a path from the log
    may hold spaces, ``;`` or quotes: audit hex-encodes such names)."""
    return " ".join(shlex.quote(str(arg)) for arg in argv)


def _root_of(path):
    """The instance directory of a path (``/var/spool/postfix-sub/public/x`` -> ``/var/spool/postfix-sub``)."""
    parts = path.split("/")
    for depth in (3, 4):
        head = "/".join(parts[:depth + 1])
        if re.search(r"/postfix(-[^/]+)?\Z", head):
            return head
    return path
