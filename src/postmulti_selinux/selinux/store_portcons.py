"""Port types read off a policy store (module CIL + ``ports.local``), without setools.

Every module in a libsemanage 2.4+ store (EL7 included) is kept as CIL under
``active/modules/PRIORITY/NAME/cil`` (bzip2-compressed by default); its ``portcon`` statements
plus the store's local records are what the rebuilt policy's port contexts are made of.
The highest priority of each module counts, disabled modules do not.
"""

import bz2
import glob
import os
import re
import typing

from postmulti_selinux.errors import ToolError
from postmulti_selinux.selinux.policy_root import PolicyRoot
from postmulti_selinux.selinux.store_cli import read_local_ports

Portcon = typing.NamedTuple("Portcon", [("proto", str), ("low", int), ("high", int),
                                        ("setype", str)])

_PORTCON = re.compile(
    br"\(portcon\s+(\w+)\s+(?:\(\s*(\d+)\s+(\d+)\s*\)|(\d+))\s+(?:\(\s*\S+\s+\S+\s+(\w+)|(\w+))")
_NAMED_CONTEXT = re.compile(br"\(context\s+(\w+)\s+\(\s*\S+\s+\S+\s+(\w+)")
_PORT_SID = re.compile(br"\(sidcontext\s+port\s+\(\s*\S+\s+\S+\s+(\w+)")


def _active_module_files(store_dir):
    # type: (str) -> typing.List[str]
    """The cil file of each enabled module at its highest priority."""
    modules = os.path.join(store_dir, "active", "modules")
    disabled = set(os.listdir(os.path.join(modules, "disabled"))) if os.path.isdir(
        os.path.join(modules, "disabled")) else set()
    chosen = {}  # type: typing.Dict[str, typing.Tuple[int, str]]
    for path in glob.glob(os.path.join(modules, "[0-9]*", "*", "cil")):
        name = os.path.basename(os.path.dirname(path))
        priority = int(os.path.basename(os.path.dirname(os.path.dirname(path))))
        if name not in disabled and priority >= chosen.get(name, (-1, ""))[0]:
            chosen[name] = (priority, path)
    return sorted(path for _, path in chosen.values())


def _read_cil(path):
    # type: (str) -> bytes
    with open(path, "rb") as handle:
        data = handle.read()
    return bz2.decompress(data) if data.startswith(b"BZh") else data


class StorePortcons(object):
    """The port contexts a store's policy is built from; :meth:`port_type` answers lookups."""

    def __init__(self, policy_root):
        # type: (PolicyRoot) -> None
        files = _active_module_files(policy_root.store_dir)
        if not files:
            raise ToolError("no policy modules in the store {} to read port types from".format(
                policy_root.store_dir))
        self.policy = []  # type: typing.List[Portcon]
        self.port_sid_type = None  # type: typing.Optional[str]
        for path in files:
            text = _read_cil(path)
            if b"portcon" not in text and b"sidcontext port" not in text:
                continue
            named = {m.group(1): m.group(2) for m in _NAMED_CONTEXT.finditer(text)}
            for match in _PORTCON.finditer(text):
                low = int(match.group(2) or match.group(4))
                high = int(match.group(3) or low)
                setype = match.group(5) or named.get(match.group(6))
                if setype:
                    self.policy.append(Portcon(match.group(1).decode(), low, high,
                                               setype.decode()))
            sid = _PORT_SID.search(text)
            if sid:
                self.port_sid_type = sid.group(1).decode()
        self.local = [Portcon(r.proto, r.low, r.high, r.context.split(":")[2])
                      for r in read_local_ports(policy_root)]

    def port_type(self, port, proto):
        # type: (int, str) -> str
        """libsemanage puts local records before the policy's (sorted narrowest first)."""
        for records in (self.local, self.policy):
            matches = [(r.high - r.low, index, r.setype) for index, r in enumerate(records)
                       if r.proto == proto and r.low <= port <= r.high]
            if matches:
                return min(matches)[2]
        if self.port_sid_type:
            return self.port_sid_type
        raise ToolError("the policy gives port {}/{} no type".format(port, proto))
