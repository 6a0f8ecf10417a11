"""Which type a port has, and whether a domain may ``name_bind`` it, asked of the policy.

Three backends give the same answers; ``auto`` takes the first that is there: libselinux's
``selinux.audit2why`` with port types read off the root's store (:mod:`ports_audit2why`; in the
python3 bindings of every family, EL7 included, and about eight times faster than loading the
policy into setools), then setools' Python API, then the setools 4 ``seinfo``/``sesearch``
command-line tools. Conditional rules count only when their boolean expression is true with the
policy's boolean states.
"""

import re
import shutil
import subprocess
import typing

from postmulti_selinux import probes
from postmulti_selinux.errors import ToolError
from postmulti_selinux.selinux.bindings import (
    EX_UNAVAILABLE, install_hint, optional, setools_available)
from postmulti_selinux.selinux.policy_root import PolicyRoot
from postmulti_selinux.selinux.ports_audit2why import Audit2whyBackend, audit2why_available

# The type given to a child's listener the policy does not let the domain bind. smtp_port_t is
# the type of the ports Postfix's master binds by design (25, 465, 587): every policy family
# lets postfix_master_t bind it, and the domains allowed to connect to it are mail clients —
# which is what a child SMTP listener is for. It is only used after checking that the policy
# really allows the bind.
PREFERRED_PORT_TYPES = ("smtp_port_t",)

PortDecision = typing.NamedTuple("PortDecision", [
    ("port", int), ("proto", str), ("port_type", str), ("bindable", bool),
    ("action", str), ("new_type", typing.Optional[str]), ("reason", str)])
PortDecision.__doc__ = """``action`` is ``none`` or ``label``; ``new_type`` the type to add."""

_CONDITION_TOKEN = re.compile(r"\s*(\|\||&&|\^|==|!=|!|\(|\)|[A-Za-z_][\w.]*)")


def evaluate_condition(expression, states):
    # type: (str, typing.Dict[str, bool]) -> bool
    """Evaluate an infix boolean expression as printed by sesearch (``a && !b``)."""
    tokens = []
    position = 0
    while position < len(expression.rstrip()):
        match = _CONDITION_TOKEN.match(expression, position)
        if not match:
            raise ValueError("cannot parse condition {!r}".format(expression))
        tokens.append(match.group(1))
        position = match.end()
    python = []
    for token in tokens:
        if token in ("&&", "||", "!", "^", "==", "!=", "(", ")"):
            python.append({"&&": " and ", "||": " or ", "!": " not ", "^": " != "}.get(token, token))
        elif token in states:
            python.append(" {} ".format(bool(states[token])))
        else:
            raise ValueError("unknown boolean {!r}".format(token))
    return bool(eval("".join(python), {"__builtins__": {}}, {}))  # noqa: S307 - fixed alphabet


class _SetoolsBackend(object):
    name = "setools"
    description = "setools (Python API)"

    def __init__(self, policy_file):
        # type: (str) -> None
        setools = optional("setools")  # EL7 has none: the other backends serve there
        if setools is None:
            raise ToolError("the setools Python binding is not importable",
                            hint=install_hint("setools"), exit_code=EX_UNAVAILABLE)
        self._setools = setools
        self.policy = setools.SELinuxPolicy(policy_file)
        self._states = {str(b): bool(b.state) for b in self.policy.bools()}

    def port_type(self, port, proto):
        # type: (int, str) -> str
        matches = []
        for index, portcon in enumerate(self.policy.portcons()):
            low, high = portcon.ports
            if str(portcon.protocol) == proto and low <= port <= high:
                matches.append((high - low, index, str(portcon.context.type_)))
        if matches:
            return min(matches)[2]
        for sid in self.policy.initialsids():
            if str(sid) == "port":
                return str(sid.context.type_)
        raise ToolError("the policy gives port {}/{} no type".format(port, proto))

    def may_bind(self, domain, port_type, proto):
        # type: (str, str, str) -> bool
        query = self._setools.TERuleQuery(self.policy, ruletype=["allow"], source=domain,
                                          target=port_type, tclass=["{}_socket".format(proto)],
                                          perms=["name_bind"])
        for rule in query.results():
            try:
                condition = rule.conditional
            except self._setools.exception.RuleNotConditional:
                return True
            if condition.evaluate(**self._states) == rule.conditional_block:
                return True
        return False

    def has_type(self, name):
        # type: (str) -> bool
        try:
            self.policy.lookup_type(name)
            return True
        except Exception:  # noqa: BLE001 - setools raises InvalidType
            return False


class _SesearchBackend(object):
    name = "sesearch"
    description = "the setools CLI tools (seinfo/sesearch: no setools Python binding here)"

    def __init__(self, policy_file):
        # type: (str) -> None
        self.policy_file = policy_file
        for tool in ("seinfo", "sesearch"):
            if not shutil.which(tool):
                raise ToolError("neither the setools Python module nor {} is available".format(tool),
                                hint="install setools (EL7: setools-console)")
        self._states = {}  # type: typing.Dict[str, bool]
        self._portcon_cache = None  # type: typing.Optional[list]
        self._types = {}  # type: typing.Dict[str, bool]

    def _run(self, *args):
        # type: (*str) -> str
        command = [args[0], self.policy_file] + list(args[1:])
        probes.process(command)
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True)
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise ToolError("{} failed: {}".format(" ".join(args), (err or out).strip()[:300]))
        return out

    def _portcons(self):
        # type: () -> typing.List[typing.Tuple[str, int, int, str]]
        """Every portcon statement (one seinfo run, cached): (proto, low, high, type)."""
        if self._portcon_cache is None:
            self._portcon_cache = []
            for line in self._run("seinfo", "--portcon").splitlines():
                match = re.match(r"\s*portcon\s+(\w+)\s+(\d+)(?:-(\d+))?\s+(\S+)", line)
                if match:
                    low = int(match.group(2))
                    self._portcon_cache.append((match.group(1), low, int(match.group(3) or low),
                                                match.group(4).split(":")[2]))
        return self._portcon_cache

    def port_type(self, port, proto):
        # type: (int, str) -> str
        matches = [(high - low, index, setype)
                   for index, (kind, low, high, setype) in enumerate(self._portcons())
                   if kind == proto and low <= port <= high]
        if matches:
            return min(matches)[2]
        out = self._run("seinfo", "--initialsid=port", "-x")
        match = re.search(r"sid\s+port\s+(\S+)", out)
        if match:
            return match.group(1).split(":")[2]
        raise ToolError("the policy gives port {}/{} no type".format(port, proto))

    def _boolean_states(self, names):
        # type: (typing.Iterable[str]) -> typing.Dict[str, bool]
        for name in names:
            if name not in self._states:
                out = self._run("seinfo", "-b", name, "-x")
                match = re.search(r"bool\s+{}\s+(true|false)".format(re.escape(name)), out)
                self._states[name] = bool(match and match.group(1) == "true")
        return self._states

    def may_bind(self, domain, port_type, proto):
        # type: (str, str, str) -> bool
        out = self._run("sesearch", "-A", "-s", domain, "-t", port_type,
                        "-c", "{}_socket".format(proto), "-p", "name_bind")
        for line in out.splitlines():
            line = line.strip()
            if not re.match(r"(?:[ED]T\s+)?allow\s", line):
                continue
            # setools 4: "allow a b:c p; [ bool && x ]:True"; setools 3: "ET allow ... [ bool ]"
            conditional = re.search(r"\[\s*(.*?)\s*\](?::(True|False))?\s*$", line)
            if not conditional:
                return True
            if line.startswith("ET "):
                return True
            if line.startswith("DT "):
                continue
            expression, block = conditional.group(1), conditional.group(2) or "True"
            names = re.findall(r"[A-Za-z_][\w.]*", expression)
            try:
                value = evaluate_condition(expression, self._boolean_states(names))
            except ValueError:
                continue  # an expression we cannot read does not count as permission
            if value == (block == "True"):
                return True
        return False

    def has_type(self, name):
        # type: (str) -> bool
        if name not in self._types:
            probes.process(["seinfo"])
            proc = subprocess.Popen(["seinfo", "-t", name, self.policy_file],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    universal_newlines=True)
            out, _ = proc.communicate()
            self._types[name] = proc.returncode == 0 and re.search(
                r"\b{}\b".format(re.escape(name)), out) is not None
        return self._types[name]


class PortCheck(object):
    """Decide, per listener port, whether a label must be added for ``domain`` to bind it."""

    def __init__(self, root="/", policy_type=None, backend="auto", policy_file=None):
        # type: (typing.Any, str, str, typing.Optional[str]) -> None
        self.policy_root = root if isinstance(root, PolicyRoot) else PolicyRoot(root, policy_type)
        policy_file = policy_file or self.policy_root.policy_file
        if backend == "auto":
            backend = ("audit2why" if audit2why_available() else
                       "setools" if setools_available() else "sesearch")
        if backend == "setools":
            self.backend = _SetoolsBackend(policy_file)
        elif backend == "audit2why":
            self.backend = Audit2whyBackend(policy_file, self.policy_root)
        elif backend == "sesearch":
            self.backend = _SesearchBackend(policy_file)
        else:
            raise ToolError("unknown policy query backend {!r} (setools, audit2why, "
                            "sesearch, auto)".format(backend))

    @property
    def backend_name(self):
        # type: () -> str
        """``setools``, ``audit2why`` or ``sesearch``."""
        return self.backend.name

    @property
    def backend_description(self):
        # type: () -> str
        """The backend in words, for --verbose."""
        return self.backend.description

    def check(self, ports, domain="postfix_master_t"):
        # type: (typing.Iterable[typing.Tuple[int, str]], str) -> typing.List[PortDecision]
        if not self.backend.has_type(domain):
            raise ToolError("the policy has no domain {}".format(domain))
        decisions = []
        for port, proto in ports:
            port, proto = _validate_port(port, proto)
            port_type = self.backend.port_type(port, proto)
            if self.backend.may_bind(domain, port_type, proto):
                decisions.append(PortDecision(port, proto, port_type, True, "none", None,
                                              "{} may name_bind {}".format(domain, port_type)))
                continue
            new_type = self._label_for(domain, proto)
            decisions.append(PortDecision(
                port, proto, port_type, False, "label", new_type,
                "{} may not name_bind {}; {} is the type {} binds by design".format(
                    domain, port_type, new_type, domain)))
        return decisions

    def _label_for(self, domain, proto):
        # type: (str, str) -> str
        for candidate in PREFERRED_PORT_TYPES:
            if self.backend.has_type(candidate) and self.backend.may_bind(domain, candidate, proto):
                return candidate
        raise ToolError("the policy lets {} bind none of {} over {}".format(
            domain, ", ".join(PREFERRED_PORT_TYPES), proto),
            hint="label the port by hand with a type {} may bind".format(domain))


def _validate_port(port, proto):
    # type: (typing.Any, typing.Any) -> typing.Tuple[int, str]
    try:
        number = int(port)
    except (TypeError, ValueError):
        raise ToolError("port {!r} is not a number".format(port))
    if not 1 <= number <= 65535:
        raise ToolError("port {} is out of range 1-65535".format(number))
    proto = str(proto).lower()
    if proto not in ("tcp", "udp", "sctp", "dccp"):
        raise ToolError("unknown protocol {!r} for port {}".format(proto, number))
    return number, proto
