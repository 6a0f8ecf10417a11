"""Questions to a binary policy: which allow/dontaudit rules match, under which boolean, which
types an attribute holds, which roles/users exist.

Two interchangeable backends: :class:`SetoolsPolicy` (the setools Python library) and
:class:`SesearchPolicy` (the ``sesearch``/``seinfo`` command-line tools, for hosts such as EL7
where the library is not importable). :func:`open_policy` picks one; both are tested.
"""

import os
import re
import subprocess
from typing import NamedTuple, Optional, Tuple

from postmulti_selinux import probes
from postmulti_selinux.errors import ToolError
from postmulti_selinux.selinux.bindings import (
    EX_UNAVAILABLE, install_hint, optional, setools_available)


class RuleHit(NamedTuple):
    """One TE rule matching a query; ``boolean`` is None for unconditional rules."""
    ruletype: str
    source: str
    target: str
    tclass: str
    perms: frozenset
    boolean: Optional[str]        # the conditional expression, e.g. "allow_ypbind" or "a && b"
    booleans: Tuple[str, ...]     # the booleans in that expression
    when: Optional[bool]          # the rule applies when the expression is this value


class _DomainIndex(object):
    """Answer rule queries from all allow/dontaudit rules of a source domain, fetched once and
    filtered in memory. :meth:`prefetch` fetches several domains at once (the setools backend
    does it in one pass over the policy's rules: a pass costs well under a second, the same as
    a query for a single domain)."""

    cache = None        # an IndexCache, or None

    def use_cache(self, cache):
        """Keep rules and attributes in ``cache`` (:class:`.index_cache.IndexCache`)."""
        self.cache = cache
        return self

    def prefetch(self, sources):
        """Fetch the rules of every domain in ``sources`` not fetched yet."""
        missing = sorted(set(s for s in sources if s and s not in self._rules))
        if self.cache is not None:
            for source in list(missing):
                rows = self.cache.rules(source)
                if rows is not None:
                    self._rules[source] = [_hit_of(row) for row in rows]
                    missing.remove(source)
        if missing:
            fetched = self._fetch_many(missing)
            self._rules.update(fetched)
            if self.cache is not None:
                for source, hits in fetched.items():
                    self.cache.put_rules(source, [_row_of(hit) for hit in hits])

    def save_cache(self):
        if self.cache is not None:
            self.cache.save()

    def _fetch_many(self, sources):
        return dict((source, self._fetch(source)) for source in sources)

    def te_rules(self, ruletypes, source, target=None, tclass=None, perms=None):
        """Rules of ``ruletypes`` whose source (and target) cover the given types, attributes
        expanded; with ``perms``, rules granting any of them."""
        perms = frozenset(perms) if perms else None
        key = (tuple(ruletypes), source, target, tclass, perms)
        cache = self.__dict__.setdefault("_answers", {})
        if key in cache:
            return cache[key]
        if source not in self._rules:
            self.prefetch([source])
        targets = self.type_and_attributes(target) if target else None
        hits = [hit for hit in self._rules[source]
                if hit.ruletype in ruletypes and (tclass is None or hit.tclass == tclass)
                and (targets is None or hit.target in targets)
                and (perms is None or hit.perms & perms)]
        if len(cache) > 50000:
            cache.clear()
        cache[key] = hits
        return hits

    # Questions other than rules, answered once and kept in the cache too.
    def expand(self, name):
        """Types in an attribute (or the type itself)."""
        return self._answer("expand", name, self._compute_expand)

    def has_type(self, name):
        return self._answer("has_type", name, self._compute_has_type)

    def role_types(self, role):
        """Types a role may enter, or None when the role does not exist."""
        return self._answer("role_types", role, self._compute_role_types)

    def user_roles(self, user):
        return self._answer("user_roles", user, self._compute_user_roles)

    def class_perms(self, tclass):
        return self._answer("class_perms", tclass, self._compute_class_perms)

    def _answer(self, kind, name, compute):
        key = "{}:{}".format(kind, name)
        memo = self.__dict__.setdefault("_memo", {})
        if key in memo:
            return memo[key]
        value = self.cache.answer(key) if self.cache is not None else None
        if value is None:
            value = compute(name)
            if self.cache is not None:
                self.cache.put_answer(key, sorted(value) if isinstance(value, frozenset) else value)
        else:
            value = value[0]
            value = frozenset(value) if isinstance(value, list) else value
        memo[key] = value
        return value

    def type_and_attributes(self, name):
        if name not in self._attrs:
            attrs = self.cache.attributes(name) if self.cache is not None else None
            if attrs is None:
                attrs = self._attributes_of(name)
                if self.cache is not None:
                    self.cache.put_attributes(name, attrs)
            self._attrs[name] = frozenset([name]) | frozenset(attrs)
        return self._attrs[name]


def _row_of(hit):
    return [hit.ruletype, hit.source, hit.target, hit.tclass, sorted(hit.perms), hit.boolean,
            list(hit.booleans), hit.when]


def _hit_of(row):
    ruletype, source, target, tclass, perms, boolean, booleans, when = row
    return RuleHit(ruletype, source, target, tclass, frozenset(perms), boolean, tuple(booleans), when)


class SetoolsPolicy(_DomainIndex):
    """Policy questions answered by the setools library."""

    backend = "setools"

    def __init__(self, path):
        if not setools_available():
            raise ToolError("the setools Python library is not importable",
                            hint="install python3-setools, or use the sesearch backend")
        if not os.access(path, os.R_OK):
            raise ToolError("cannot load policy {}: not readable".format(path))
        self.path = path
        self._loaded = None
        self._expand = {}
        self._rules = {}
        self._attrs = {}

    @property
    def _policy(self):
        """The loaded policy, read on first use (answers from the cache need none)."""
        if self._loaded is None:
            setools = optional("setools")  # here: it takes longer than a warm triage
            if setools is None:
                raise ToolError("the setools Python binding is not importable",
                                hint=install_hint("setools"), exit_code=EX_UNAVAILABLE)
            self._setools = setools
            try:
                self._loaded = setools.SELinuxPolicy(self.path)
            except Exception as exc:  # setools raises its own InvalidPolicy/OSError types
                raise ToolError("cannot load policy {}: {}".format(self.path, exc))
        return self._loaded

    def _attributes_of(self, name):
        try:
            return frozenset(str(a) for a in self._policy.lookup_type(name).attributes())
        except Exception:
            return frozenset()

    def _fetch(self, source):
        return self._fetch_many([source])[source]

    def _fetch_many(self, sources):
        """One pass over the policy's TE rules for all ``sources``: a rule belongs to a domain
        when its source is the domain or one of the domain's attributes."""
        rules = self._policy.terules      # loads the policy (and setools) if not yet done
        covers = {}
        for source in sources:
            if self.has_type(source):
                for name in self.type_and_attributes(source):
                    covers.setdefault(name, []).append(source)
        found = dict((source, []) for source in sources)
        if not covers:
            return found
        wanted = (self._setools.TERuletype.allow, self._setools.TERuletype.dontaudit)
        for rule in rules():
            domains = covers.get(str(rule.source))
            if domains is None or rule.ruletype not in wanted:
                continue
            try:
                expr = rule.conditional
                boolean = str(expr)
                booleans = tuple(sorted(str(b) for b in expr.booleans))
                when = bool(rule.conditional_block)
            except Exception:  # RuleNotConditional
                boolean, booleans, when = None, (), None
            hit = RuleHit(str(rule.ruletype), str(rule.source), str(rule.target),
                          str(rule.tclass), frozenset(str(p) for p in rule.perms),
                          boolean, booleans, when)
            for domain in domains:
                found[domain].append(hit)
        return found

    def _compute_expand(self, name):
        """Types in an attribute (or the type itself)."""
        if name not in self._expand:
            try:
                obj = self._policy.lookup_type_or_attr(name)
                self._expand[name] = frozenset(str(t) for t in obj.expand())
            except Exception:
                self._expand[name] = frozenset()
        return self._expand[name]

    def _compute_has_type(self, name):
        try:
            self._policy.lookup_type(name)
            return True
        except Exception:
            return False

    def _compute_role_types(self, role):
        try:
            return frozenset(str(t) for t in self._policy.lookup_role(role).types())
        except Exception:
            return None

    def _compute_user_roles(self, user):
        try:
            return frozenset(str(r) for r in self._policy.lookup_user(user).roles)
        except Exception:
            return None

    def _compute_class_perms(self, tclass):
        try:
            obj = self._policy.lookup_class(tclass)
        except Exception:
            return None
        perms = set(str(p) for p in obj.perms)
        try:
            perms.update(str(p) for p in obj.common.perms)
        except Exception:  # no common
            pass
        return frozenset(perms)


_RULE_LINE = re.compile(
    r"(?P<ruletype>allow|dontaudit|auditallow)\s+(?P<source>\S+)\s+(?P<target>\S+)\s*:\s*"
    r"(?P<tclass>\{[^}]*\}|[\w-]+)\s+(?P<perms>\{[^}]*\}|[\w-]+)\s*;"
    r"(?:\s*\[\s*(?P<cond>[^\]]*?)\s*\](?:\s*:\s*(?P<when>True|False))?)?")
_EL7_FLAG = re.compile(r"\A\s*([ED][TF])\s+")


class SesearchPolicy(_DomainIndex):
    """Policy questions answered by the ``sesearch`` and ``seinfo`` tools (setools 3 or 4)."""

    backend = "sesearch"

    def __init__(self, path, sesearch="sesearch", seinfo="seinfo"):
        self.path = path
        self._sesearch = sesearch
        self._seinfo = seinfo
        self._expand = {}
        self._rules = {}
        self._attrs = {}
        self._all_types = None
        self._run([self._seinfo, "--version"], "seinfo")

    def _run(self, argv, tool):
        try:
            probes.process(argv)
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    universal_newlines=True)
            out, err = proc.communicate()
        except OSError as exc:
            raise ToolError("cannot run {}: {}".format(tool, exc.strerror or exc),
                            hint="install setools (setools-console on EL)")
        return proc.returncode, out, err

    def _fetch(self, source):
        code, out, _ = self._run([self._sesearch, "--allow", "--dontaudit", "-s", source, self.path], "sesearch")
        return [] if code != 0 else self._parse(out)

    def _types(self):
        """type -> its attributes, from one ``seinfo -t -x`` run."""
        if self._all_types is None:
            code, out, _ = self._run([self._seinfo, "-t", "-x", self.path], "seinfo")
            types = {}
            if code == 0:
                for line in out.splitlines():
                    match = re.match(r"\s*type\s+([\w.-]+)\s*(?:,([^;]*))?;", line)
                    if match:
                        types[match.group(1)] = frozenset(
                            x.strip() for x in (match.group(2) or "").split(",") if x.strip())
            self._all_types = types
        return self._all_types

    def _attributes_of(self, name):
        return self._types().get(name, frozenset())

    @staticmethod
    def _parse(out):
        hits = []
        for line in out.splitlines():
            flag = _EL7_FLAG.match(line)
            body = line[flag.end():] if flag else line
            match = _RULE_LINE.search(body)
            if not match:
                continue
            perms = frozenset(match.group("perms").strip("{} ").split())
            classes = match.group("tclass").strip("{} ").split()
            cond = match.group("cond")
            when = match.group("when")
            if cond and when is None and flag:
                when = "True" if flag.group(1)[1] == "T" else "False"
            booleans = tuple(sorted(set(re.findall(r"[A-Za-z_][\w]*", cond or "")) - {"and", "or", "not", "xor"}))
            for tclass in classes:
                hits.append(RuleHit(match.group("ruletype"), match.group("source"),
                                    match.group("target"), tclass, perms, cond or None,
                                    booleans, None if when is None else when == "True"))
        return hits

    def _seinfo_list(self, option, name):
        code, out, _ = self._run([self._seinfo, option, name, "-x", self.path], "seinfo")
        return code, out

    def _compute_expand(self, name):
        if not self._expand:
            code, out, _ = self._run([self._seinfo, "-a", "-x", self.path], "seinfo")
            current = None
            for line in out.splitlines() if code == 0 else ():
                match = re.match(r"\s*attribute\s+([\w.-]+)\s*;", line)
                if match:
                    current = self._expand.setdefault(match.group(1), set())
                elif current is not None and line.strip() and line[:1] == "\t":
                    current.add(line.strip().rstrip(",;"))
            self._expand[None] = set()
        if name in self._expand:
            return frozenset(self._expand[name])
        return frozenset([name]) if self.has_type(name) else frozenset()

    def _compute_has_type(self, name):
        return name in self._types()

    def _braced(self, option, name, keyword):
        code, out = self._seinfo_list(option, name)
        match = re.search(r"\b{}\s+\{{([^}}]*)\}}".format(keyword), out)
        if code != 0:
            return None
        if match:
            return frozenset(match.group(1).split())
        single = re.search(r"\b{}\s+([\w.-]+)".format(keyword), out)
        return frozenset([single.group(1)]) if single else None

    def _compute_role_types(self, role):
        return self._braced("-r", role, "types")

    def _compute_user_roles(self, user):
        return self._braced("-u", user, "roles")

    def _compute_class_perms(self, tclass):
        return None  # seinfo prints inherited commons by name only; not needed for triage


def open_policy(path, backend="auto", cache=True):
    """A policy query object over the binary policy ``path``.

    ``backend``: "setools" (library), "sesearch" (CLI tools) or "auto" (library when importable).
    ``cache``: keep domain rules on disk between runs (:mod:`.index_cache`); a directory, True
    for the default one, or False.
    """
    if backend == "setools":
        query = SetoolsPolicy(path)
    elif backend == "sesearch":
        query = SesearchPolicy(path)
    elif backend != "auto":
        raise ToolError("unknown policy backend {!r}".format(backend), hint="use setools or sesearch")
    else:
        query = SetoolsPolicy(path) if setools_available() else SesearchPolicy(path)
    if cache:
        from postmulti_selinux.avc.index_cache import IndexCache
        query.use_cache(IndexCache(path, query.backend, None if cache is True else cache))
    return query
