"""Questions to a binary policy: which allow/dontaudit rules match, under which boolean, which
types an attribute holds, which roles/users exist.

Two interchangeable backends: :class:`SetoolsPolicy` (the setools Python library) and
:class:`SesearchPolicy` (the ``sesearch``/``seinfo`` command-line tools, for hosts such as EL7
where the library is not importable). :func:`open_policy` picks one; both are tested.
"""

import re
import subprocess
from typing import NamedTuple, Optional, Tuple

from postmulti_selinux.errors import ToolError


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


class SetoolsPolicy(object):
    """Policy questions answered by the setools library."""

    backend = "setools"

    def __init__(self, path):
        try:
            import setools
        except ImportError:
            raise ToolError("the setools Python library is not importable",
                            hint="install python3-setools, or use the sesearch backend")
        self._setools = setools
        self.path = path
        try:
            self._policy = setools.SELinuxPolicy(path)
        except Exception as exc:  # setools raises its own InvalidPolicy/OSError types
            raise ToolError("cannot load policy {}: {}".format(path, exc))
        self._expand = {}

    def te_rules(self, ruletypes, source, target=None, tclass=None, perms=None):
        """Rules of ``ruletypes`` whose source (target) covers the given type, attributes expanded."""
        kwargs = dict(ruletype=list(ruletypes), source=source)
        if target:
            kwargs["target"] = target
        if tclass:
            kwargs["tclass"] = [tclass]
        if perms:
            kwargs["perms"] = set(perms)
        try:
            query = self._setools.TERuleQuery(self._policy, **kwargs)
            results = list(query.results())
        except Exception:  # unknown type/class names: nothing matches
            return []
        hits = []
        for rule in results:
            try:
                expr = rule.conditional
                boolean = str(expr)
                booleans = tuple(sorted(str(b) for b in expr.booleans))
                when = bool(rule.conditional_block)
            except Exception:  # RuleNotConditional
                boolean, booleans, when = None, (), None
            hits.append(RuleHit(str(rule.ruletype), str(rule.source), str(rule.target),
                                str(rule.tclass), frozenset(str(p) for p in rule.perms),
                                boolean, booleans, when))
        return hits

    def expand(self, name):
        """Types in an attribute (or the type itself)."""
        if name not in self._expand:
            try:
                obj = self._policy.lookup_type_or_attr(name)
                self._expand[name] = frozenset(str(t) for t in obj.expand())
            except Exception:
                self._expand[name] = frozenset()
        return self._expand[name]

    def has_type(self, name):
        try:
            self._policy.lookup_type(name)
            return True
        except Exception:
            return False

    def role_types(self, role):
        try:
            return frozenset(str(t) for t in self._policy.lookup_role(role).types())
        except Exception:
            return None

    def user_roles(self, user):
        try:
            return frozenset(str(r) for r in self._policy.lookup_user(user).roles)
        except Exception:
            return None

    def class_perms(self, tclass):
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


class SesearchPolicy(object):
    """Policy questions answered by the ``sesearch`` and ``seinfo`` tools (setools 3 or 4)."""

    backend = "sesearch"

    def __init__(self, path, sesearch="sesearch", seinfo="seinfo"):
        self.path = path
        self._sesearch = sesearch
        self._seinfo = seinfo
        self._expand = {}
        self._cache = {}
        self._run([self._seinfo, "--version"], "seinfo")

    def _run(self, argv, tool):
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    universal_newlines=True)
            out, err = proc.communicate()
        except OSError as exc:
            raise ToolError("cannot run {}: {}".format(tool, exc.strerror or exc),
                            hint="install setools (setools-console on EL)")
        return proc.returncode, out, err

    def te_rules(self, ruletypes, source, target=None, tclass=None, perms=None):
        key = (tuple(ruletypes), source, target, tclass, tuple(sorted(perms or ())))
        if key in self._cache:
            return self._cache[key]
        argv = [self._sesearch]
        for ruletype in ruletypes:
            argv.append({"allow": "--allow", "dontaudit": "--dontaudit",
                         "auditallow": "--auditallow"}[ruletype])
        argv += ["-s", source]
        if target:
            argv += ["-t", target]
        if tclass:
            argv += ["-c", tclass]
        if perms:
            argv += ["-p", ",".join(sorted(perms))]
        argv.append(self.path)
        code, out, _ = self._run(argv, "sesearch")
        hits = [] if code != 0 else self._parse(out)
        self._cache[key] = hits
        return hits

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

    def expand(self, name):
        if name not in self._expand:
            code, out = self._seinfo_list("-a", name)
            members = [l.strip().rstrip(",;") for l in out.splitlines()
                       if l.startswith(("\t", "      ")) and l.strip()]
            if code == 0 and members:
                self._expand[name] = frozenset(members)
            else:
                self._expand[name] = frozenset([name]) if self.has_type(name) else frozenset()
        return self._expand[name]

    def has_type(self, name):
        code, out, _ = self._run([self._seinfo, "-t", name, self.path], "seinfo")
        return code == 0 and re.search(r"^\s*(type\s+)?{}\b".format(re.escape(name)), out, re.M) is not None

    def _braced(self, option, name, keyword):
        code, out = self._seinfo_list(option, name)
        match = re.search(r"\b{}\s+\{{([^}}]*)\}}".format(keyword), out)
        if code != 0:
            return None
        if match:
            return frozenset(match.group(1).split())
        single = re.search(r"\b{}\s+([\w.-]+)".format(keyword), out)
        return frozenset([single.group(1)]) if single else None

    def role_types(self, role):
        return self._braced("-r", role, "types")

    def user_roles(self, user):
        return self._braced("-u", user, "roles")

    def class_perms(self, tclass):
        return None  # seinfo prints inherited commons by name only; not needed for triage


def open_policy(path, backend="auto"):
    """A policy query object over the binary policy ``path``.

    ``backend``: "setools" (library), "sesearch" (CLI tools) or "auto" (library when importable).
    """
    if backend == "setools":
        return SetoolsPolicy(path)
    if backend == "sesearch":
        return SesearchPolicy(path)
    if backend != "auto":
        raise ToolError("unknown policy backend {!r}".format(backend), hint="use setools or sesearch")
    try:
        import setools  # noqa: F401
    except ImportError:
        return SesearchPolicy(path)
    return SetoolsPolicy(path)
